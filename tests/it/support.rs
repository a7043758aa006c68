//! Helpers shared by the integration tests: temporary directories, forked
//! children, re-executing this test binary as a helper process (`helper`,
//! `test_name!`) or to run a test alone in a process of its own (`alone!`),
//! and the lock on /dev/shm (`naming_in_dev_shm`, `listing_dev_shm`).
#![allow(dead_code)]

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A directory removed (with its contents) on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let base = std::env::temp_dir().join(format!(
            "mmkit-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&base).unwrap();
        TempDir(base)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    /// A file in this directory with the given contents.
    pub fn file(&self, name: &str, contents: &[u8]) -> PathBuf {
        let p = self.join(name);
        std::fs::write(&p, contents).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap()
}

/// Deterministic, non-repeating-looking bytes.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2654435761).rotate_left(7) as u8 ^ seed)
        .collect()
}

/// How a forked child ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

/// Run `f` in a forked child and return how it ended. The child must only make
/// system calls and touch memory (the test harness is multi-threaded, so no
/// allocation or locks): it exits with `f`'s return value via `_exit`.
pub fn in_child(f: impl FnOnce() -> i32) -> Exit {
    // SAFETY: the child only runs `f` (async-signal-safe by the caller's
    // contract) and then _exit, never returning into the test harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = f();
        // SAFETY: _exit ends the child without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    wait(pid)
}

pub fn wait(pid: libc::pid_t) -> Exit {
    let mut status = 0;
    loop {
        // SAFETY: waits for our own child; status is a valid out pointer.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc == pid {
            break;
        }
        assert_eq!(
            std::io::Error::last_os_error().kind(),
            std::io::ErrorKind::Interrupted
        );
    }
    if libc::WIFEXITED(status) {
        Exit::Code(libc::WEXITSTATUS(status))
    } else {
        Exit::Signal(libc::WTERMSIG(status))
    }
}

/// The name libtest gives test `$f` of the calling module (`beyond::helper_peer`),
/// as `--exact` wants it when this binary is run again as a helper process.
/// `$f` must be a test function of that module.
macro_rules! test_name {
    ($f:ident) => {{
        let _: fn() = $f;
        $crate::support::in_this_binary(concat!(module_path!(), "::", stringify!($f)))
    }};
}
pub(crate) use test_name;

/// A module path without this crate's name (`it::beyond::x` -> `beyond::x`).
pub fn in_this_binary(path: &'static str) -> &'static str {
    path.split_once("::").map_or(path, |(_, rest)| rest)
}

/// `alone!(this_test)`, first in test `this_test`: run it again, alone, in a
/// process of its own (this binary with `--exact`), and return once that
/// passed; that process goes on past the call and runs the test's body.
/// For a test that counts this process's descriptors, or changes or depends on
/// what all its threads share (the umask, what an exec'd child inherits, the
/// `RLIMIT_MEMLOCK` budget), as it could when each module was a test binary of
/// its own: the other modules' tests run in threads of this process.
macro_rules! alone {
    ($this_test:ident) => {
        let _: fn() = $this_test;
        if $crate::support::run_alone(concat!(module_path!(), "::", stringify!($this_test))) {
            return;
        }
    };
}
pub(crate) use alone;

/// Set in the process [`alone!`] starts: the test it is to run.
const ALONE: &str = "MMKIT_TEST_ALONE";

/// [`alone!`]'s work: true in the calling process once the test passed alone
/// (its output shown through this test's, each line after "| "), false in
/// the process that is to run it.
pub fn run_alone(path: &'static str) -> bool {
    use std::io::BufRead;
    let name = in_this_binary(path);
    if std::env::var_os(ALONE).is_some_and(|v| v == name) {
        return false;
    }
    // libtest names a test's thread after the test.
    if let Some(thread) = std::thread::current().name() {
        assert!(
            thread == name || thread == "main",
            "alone!({name}) in test {thread}"
        );
    }
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(ALONE, name)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Line by line as they come (a long `make fuzz` shows its progress).
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let errors = std::thread::spawn(move || {
        for line in stderr.lines() {
            eprintln!("| {}", line.unwrap_or_default());
        }
    });
    let mut passed = false;
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap_or_default();
        passed |= line.starts_with("test result: ok. 1 passed;");
        println!("| {line}");
    }
    errors.join().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{name}, run alone: {status}");
    assert!(
        passed,
        "{name}, run alone: no test passed (is it named right?)"
    );
    true
}

/// /dev/shm, which every process sees, and which some tests search for names
/// with "mmkit" in them. See [`naming_in_dev_shm`] and [`listing_dev_shm`].
static DEV_SHM: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Held (shared) by a test that puts a name with "mmkit" in /dev/shm, even
/// for a moment, itself or in a helper process: a directory there, or a
/// shareable region where memfd and `O_TMPFILE` are not used (the portable
/// build: `shm_open` under "/mmkit-PID-...", then `shm_unlink`).
pub fn naming_in_dev_shm() -> std::sync::RwLockReadGuard<'static, ()> {
    DEV_SHM.read().unwrap_or_else(|e| e.into_inner())
}

/// Held (exclusively) by a test that looks for names left in /dev/shm: no
/// test that makes them runs meanwhile.
pub fn listing_dev_shm() -> std::sync::RwLockWriteGuard<'static, ()> {
    DEV_SHM.write().unwrap_or_else(|e| e.into_inner())
}

/// The arguments that make this test binary run only its `#[ignore]`d
/// helper test `name` (its full name, [`test_name!`]), printing its output.
pub fn helper_args(name: &str) -> [&str; 5] {
    [
        "--exact",
        name,
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]
}

/// A command that runs the `#[ignore]`d helper test `name` (its full name,
/// [`test_name!`]) of this test binary.
pub fn helper(name: &str) -> std::process::Command {
    let mut c = std::process::Command::new(std::env::current_exe().unwrap());
    c.args(helper_args(name));
    c
}

/// Run `cmd` (a helper, as it is or under a wrapper) with `env` added; it
/// must succeed (`what` names it if not). Its standard output.
pub fn output_ok(mut cmd: std::process::Command, env: &[(&str, &Path)], what: &str) -> String {
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed ({:?}): {text}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Run helper `name` of this binary under `prlimit` with `limits` (prlimit's
/// arguments: its limits, and optionally a program that runs the helper, such
/// as `setpriv` with its own arguments); its standard output.
pub fn run_limited(name: &str, limits: &[&str], env: &[(&str, &Path)]) -> String {
    let mut cmd = std::process::Command::new("prlimit");
    cmd.args(limits)
        .arg(std::env::current_exe().unwrap())
        .args(helper_args(name));
    output_ok(
        cmd,
        env,
        &format!("{name} under prlimit {limits:?} (prlimit is util-linux)"),
    )
}

/// Number of open descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// The value of field `key` (e.g. "VmFlags:") in /proc/self/smaps for the
/// mapping containing `addr`.
pub fn smaps_field(addr: *const u8, key: &str) -> String {
    // Lossy: a memfd's name (in its mapping's line) need not be UTF-8.
    let smaps = String::from_utf8_lossy(&std::fs::read("/proc/self/smaps").unwrap()).into_owned();
    let a = addr as usize;
    let mut inside = false;
    for line in smaps.lines() {
        if let Some((range, _)) = line.split_once(' ') {
            if let Some((s, e)) = range.split_once('-') {
                if let (Ok(s), Ok(e)) = (usize::from_str_radix(s, 16), usize::from_str_radix(e, 16))
                {
                    inside = s <= a && a < e;
                    continue;
                }
            }
        }
        if inside {
            if let Some(rest) = line.strip_prefix(key) {
                return rest.trim().to_string();
            }
        }
    }
    panic!("no mapping contains {addr:p}");
}

/// The `VmFlags` of the mapping containing `addr` ("rd wr sh mr ...").
pub fn vm_flags(addr: *const u8) -> String {
    smaps_field(addr, "VmFlags:")
}

/// `Rss` in kB of the mapping containing `addr`.
pub fn vm_rss_kb(addr: *const u8) -> usize {
    smaps_field(addr, "Rss:")
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap()
}

/// How many of the pages of `[addr, addr+len)` are resident (mincore).
pub fn resident_pages(addr: *mut u8, len: usize) -> usize {
    let page = mmkit::page_size();
    let pages = len.div_ceil(page);
    let mut vec = vec![0u8; pages];
    // SAFETY: the range is a live mapping owned by the caller; vec has one byte per page.
    let rc = unsafe { libc::mincore(addr.cast(), len, vec.as_mut_ptr().cast()) };
    assert_eq!(rc, 0, "mincore: {}", std::io::Error::last_os_error());
    vec.iter().filter(|&&b| b & 1 != 0).count()
}

/// One data byte and room for one descriptor, as `sendmsg`/`recvmsg` want them.
struct FdMessage {
    byte: [u8; 1],
    iov: libc::iovec,
    cbuf: Vec<u8>,
    msg: libc::msghdr,
}

impl FdMessage {
    /// Boxed so the pointers inside `msg` stay valid.
    fn new(byte: u8) -> Box<FdMessage> {
        // SAFETY: CMSG_SPACE is a pure size computation.
        let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) } as usize;
        // SAFETY: iovec and msghdr are plain data; zeroed is a valid empty value.
        let mut m = Box::new(FdMessage {
            byte: [byte],
            iov: unsafe { std::mem::zeroed() },
            cbuf: vec![0u8; space],
            msg: unsafe { std::mem::zeroed() },
        });
        m.iov.iov_base = m.byte.as_mut_ptr().cast();
        m.iov.iov_len = 1;
        m.msg.msg_iov = &mut m.iov;
        m.msg.msg_iovlen = 1;
        m.msg.msg_control = m.cbuf.as_mut_ptr().cast();
        m.msg.msg_controllen = space as _;
        m
    }
}

/// Send descriptor `fd` over the Unix socket `sock` (SCM_RIGHTS), with one data byte.
pub fn send_fd(sock: std::os::fd::BorrowedFd<'_>, fd: std::os::fd::BorrowedFd<'_>) {
    use std::os::fd::AsRawFd;
    let m = FdMessage::new(b'F');
    // SAFETY: msg_control points at a buffer of CMSG_SPACE bytes for one int.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&m.msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>(), fd.as_raw_fd());
        assert_eq!(
            libc::sendmsg(sock.as_raw_fd(), &m.msg, 0),
            1,
            "sendmsg: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Receive one descriptor sent with [`send_fd`] (close-on-exec).
pub fn recv_fd(sock: std::os::fd::BorrowedFd<'_>) -> std::os::fd::OwnedFd {
    use std::os::fd::{AsRawFd, FromRawFd};
    let mut m = FdMessage::new(0);
    // SAFETY: the buffers of `m` outlive the call; the received header is checked.
    unsafe {
        let n = libc::recvmsg(sock.as_raw_fd(), &mut m.msg, libc::MSG_CMSG_CLOEXEC);
        assert_eq!(n, 1, "recvmsg: {}", std::io::Error::last_os_error());
        let c = libc::CMSG_FIRSTHDR(&m.msg);
        assert!(
            !c.is_null() && (*c).cmsg_type == libc::SCM_RIGHTS,
            "no descriptor received"
        );
        std::os::fd::OwnedFd::from_raw_fd(std::ptr::read_unaligned(
            libc::CMSG_DATA(c).cast::<libc::c_int>(),
        ))
    }
}

/// [`results`] as a lookup by key; a missing key panics, showing `out`.
pub fn results_by_key(out: &str) -> impl Fn(&str) -> (i32, String) + '_ {
    let res = results(out);
    move |k| {
        res.get(k)
            .unwrap_or_else(|| panic!("no {k} in {out}"))
            .clone()
    }
}

/// A helper's "RESULT key rc message" lines, as (rc, message) by key.
pub fn results(out: &str) -> std::collections::HashMap<String, (i32, String)> {
    out.lines()
        .filter_map(|l| {
            // libtest may print "test helper_x ... " before the first line.
            let l = &l[l.find("RESULT ")? + "RESULT ".len()..];
            let mut it = l.splitn(3, ' ');
            let key = it.next()?.to_string();
            let rc = it.next()?.parse().ok()?;
            Some((key, (rc, it.next().unwrap_or("").to_string())))
        })
        .collect()
}
