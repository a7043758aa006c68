//! Reliability and security battery (issue 6): descriptors, durability,
//! threads, resource exhaustion, file permissions and symlinks, /dev/shm.
//!
//! Everything goes through the C ABI (`mmkit::ffi`), as a C program calls it.
//! The tests of this module run one at a time (`serial()`). Those that count
//! descriptors or change process-wide state (umask) run alone in a process of
//! their own (`alone!`): the other modules' tests share this one. Two look for
//! names left in /dev/shm: no test that makes them runs meanwhile (`serial()`
//! takes `support::naming_in_dev_shm()` for the others). Whatever needs a limit
//! (`prlimit`), a signal or a possible crash runs in a child process: this
//! test binary re-executed with one of its `#[ignore]`d `helper_*` tests
//! (they do nothing when run directly). The tests after "found bugs" are the
//! reproductions of library bugs this battery found, kept as regressions.
#![cfg(target_os = "linux")]

use std::ffi::{c_int, CStr};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex, MutexGuard, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use crate::support::{self, alone, cstr, helper, pattern, test_name, TempDir};
use mmkit::ffi::*;
use mmkit::*;

const RO_SHARED: u32 = MM_READ | MM_SHARED;
const RW_SHARED: u32 = MM_READ | MM_WRITE | MM_SHARED;
const RW_PRIVATE: u32 = MM_READ | MM_WRITE | MM_PRIVATE;

static SERIAL: Mutex<()> = Mutex::new(());

/// One test at a time, as when this module was a test binary of its own; and
/// any of them may put names in /dev/shm (shareable regions in the portable
/// build), here or in a helper.
fn serial() -> (MutexGuard<'static, ()>, RwLockReadGuard<'static, ()>) {
    let one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    (one, support::naming_in_dev_shm())
}

/// As [`serial`], for a test that looks for names left in /dev/shm.
fn serial_listing_dev_shm() -> (MutexGuard<'static, ()>, RwLockWriteGuard<'static, ()>) {
    let one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    (one, support::listing_dev_shm())
}

fn disabled(cap: &str) -> bool {
    option_env!("MMKIT_DISABLE").is_some_and(|v| v.split(',').any(|c| c.trim() == cap))
}

fn last_error() -> String {
    // SAFETY: mm_last_error never returns NULL; the string is NUL-terminated.
    unsafe { CStr::from_ptr(mm_last_error()) }
        .to_string_lossy()
        .into_owned()
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// This process's open descriptors and what they are.
fn fd_table() -> Vec<(i32, String)> {
    let mut v: Vec<_> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            Some((n, target.to_string_lossy().into_owned()))
        })
        .collect();
    v.sort();
    v
}

/// Map, check, unmap: one call that must succeed.
fn map_ok(what: &str, rc: c_int, r: *mut mm_region) {
    assert_eq!(rc, 0, "{what}: {}", last_error());
    // SAFETY: the region was just mapped and is unmapped once.
    assert_eq!(unsafe { mm_unmap(r) }, 0);
}

/// A helper's stdout "key rc message" lines, as (rc, message) by key.
fn results(out: &str) -> std::collections::HashMap<String, (i32, String)> {
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

fn say(key: &str, rc: c_int) {
    println!(
        "RESULT {key} {rc} {}",
        if rc < 0 { last_error() } else { String::new() }
    );
}

/// Run helper `name` of this binary under `prlimit` with `limits`.
fn run_limited(name: &str, limits: &[&str], env: &[(&str, &Path)]) -> String {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new("prlimit");
    cmd.args(limits).arg(exe).args([
        "--exact",
        name,
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("prlimit (util-linux) is needed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} under {limits:?} failed ({:?}): {text}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Start helper `name` with piped stdin/stdout and wait until it prints
/// `ready`. The caller kills and reaps it (`kill_9`).
#[allow(clippy::zombie_processes)]
fn start_helper(
    name: &str,
    env: &[(&str, &Path)],
) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut c = helper(name);
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 {
            let status = child.wait().unwrap();
            panic!("{name} exited before it was ready: {status:?}");
        }
        if line.trim_end().ends_with("ready") {
            return (child, out);
        }
    }
}

/// A map call of the "freed" rounds of the exhaustion helpers.
type MapCall<'a> = (&'a str, &'a dyn Fn(&mut *mut mm_region) -> c_int);

fn kill_9(mut child: Child) {
    child.kill().unwrap(); // SIGKILL: no destructors, no munmap, no exit handlers
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
}

// ------------------------------------------------------------------ descriptors

#[test]
fn ten_thousand_maps_through_the_c_abi_leak_no_descriptor() {
    let _s = serial();
    alone!(ten_thousand_maps_through_the_c_abi_leak_no_descriptor);
    let d = TempDir::new("rel-fds");
    let file = cstr(&d.file("f", &pattern(20_000, 1)));
    let dir = cstr(d.path());
    let missing = cstr(&d.join("missing"));
    let fd = std::fs::File::open(d.join("f")).unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&fd);
    let before = fd_table();
    let mut r = ptr::null_mut();
    for i in 0..10_000usize {
        // SAFETY: valid pointers; every region is unmapped in the same iteration.
        unsafe {
            map_ok(
                "file",
                mm_map_file(file.as_ptr(), (i % 20_000) as u64, 0, RO_SHARED, &mut r),
                r,
            );
            map_ok("fd", mm_map_fd(fd, i as u64, 1, RW_PRIVATE, &mut r), r);
            // Failures after the open must close what they opened.
            assert_eq!(
                mm_map_file(file.as_ptr(), 30_000, 0, RO_SHARED, &mut r),
                -libc::EINVAL
            );
            assert_eq!(
                mm_map_file(dir.as_ptr(), 0, 0, RO_SHARED, &mut r),
                -libc::EISDIR
            );
            assert_eq!(
                mm_map_file(missing.as_ptr(), 0, 0, RO_SHARED, &mut r),
                -libc::ENOENT
            );
            // A shareable region keeps its descriptor until unmapped.
            assert_eq!(
                mm_map_shareable(c"rel-fds".as_ptr(), 100, RW_SHARED, &mut r),
                0
            );
            assert!(mm_fd(r) >= 0);
            assert_eq!(mm_resize(r, 9000), 0, "{}", last_error());
            assert_eq!(mm_unmap(r), 0);
            map_ok(
                "devzero",
                mm_map_anon(100, RW_SHARED | MM_DEVZERO, &mut r),
                r,
            );
            if i % 50 == 0 {
                // MM_CREATE opens the file and its directory (to fsync both);
                // a grow reopens the file.
                let p = cstr(&d.join(&format!("c{}", i % 7)));
                let _ = std::fs::remove_file(d.join(&format!("c{}", i % 7)));
                assert_eq!(
                    mm_map_file(p.as_ptr(), 0, 10, RW_SHARED | MM_CREATE, &mut r),
                    0,
                    "{}",
                    last_error()
                );
                assert_eq!(mm_resize(r, 5000), 0, "{}", last_error());
                assert_eq!(mm_unmap(r), 0);
                assert_eq!(
                    mm_map_file(p.as_ptr(), 0, 10, RW_SHARED | MM_CREATE | MM_EXCL, &mut r),
                    -libc::EEXIST
                );
            }
        }
    }
    assert_eq!(fd_table(), before, "descriptors leaked");
}

/// What an exec'd child inherits that mmkit opened: our files, memfds,
/// /dev/zero, POSIX shared memory, pipes (fds 0-2 are the child's own).
fn leaked_into_child(ls_output: &str, dir: &Path) -> Vec<String> {
    let dir = dir.to_string_lossy();
    ls_output
        .lines()
        .filter_map(|l| {
            let (left, target) = l.split_once(" -> ")?;
            let fd: i32 = left.split_whitespace().last()?.parse().ok()?;
            let suspicious = target.starts_with(dir.as_ref())
                || target.contains("memfd:")
                || target.contains("/dev/zero")
                || target.contains("/dev/shm")
                || target.starts_with("pipe:");
            (fd > 2 && suspicious).then(|| l.to_string())
        })
        .collect()
}

fn ls_fds(dir: &Path) -> Vec<String> {
    let out = Command::new("ls")
        .args(["-l", "/proc/self/fd"])
        .stderr(Stdio::null())
        .output()
        .expect("ls");
    leaked_into_child(&String::from_utf8_lossy(&out.stdout), dir)
}

fn close_on_exec_check(with_copies: bool) -> Vec<String> {
    let d = Arc::new(TempDir::new("rel-cloexec"));
    d.file("f", &pattern(3 * 4096, 2));
    // What the child inherits anyway (descriptors our own parent left open
    // without close-on-exec), as "fd -> target".
    let key = |l: &str| {
        let (left, target) = l.split_once(" -> ").unwrap_or((l, ""));
        format!(
            "{} -> {target}",
            left.split_whitespace().last().unwrap_or("")
        )
    };
    let baseline: Vec<String> = ls_fds(d.path()).iter().map(|l| key(l)).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..3)
        .map(|t| {
            let (d, stop) = (d.clone(), stop.clone());
            std::thread::spawn(move || {
                let file = cstr(&d.join("f"));
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) && n < 200_000 {
                    n += 1;
                    let mut r = ptr::null_mut();
                    let new = d.join(&format!("new{t}"));
                    let newc = cstr(&new);
                    let mut buf = [0u8; 64];
                    // SAFETY: valid pointers; regions unmapped in the iteration.
                    unsafe {
                        map_ok(
                            "file",
                            mm_map_file(file.as_ptr(), 0, 0, RO_SHARED, &mut r),
                            r,
                        );
                        assert_eq!(
                            mm_map_file(newc.as_ptr(), 0, 64, RW_SHARED | MM_CREATE, &mut r),
                            0,
                            "{}",
                            last_error()
                        );
                        assert_eq!(mm_resize(r, 8192), 0, "{}", last_error());
                        if with_copies {
                            assert_eq!(mm_write(r, 0, buf.as_ptr().cast(), 64), 0);
                            assert_eq!(mm_read(r, 0, buf.as_mut_ptr().cast(), 64), 0);
                        }
                        assert_eq!(mm_unmap(r), 0);
                        let _ = std::fs::remove_file(&new);
                        map_ok(
                            "devzero",
                            mm_map_anon(64, RW_SHARED | MM_DEVZERO, &mut r),
                            r,
                        );
                        assert_eq!(
                            mm_map_shareable(c"rel-cloexec".as_ptr(), 64, RW_SHARED, &mut r),
                            0
                        );
                        if with_copies {
                            assert_eq!(mm_read(r, 0, buf.as_mut_ptr().cast(), 64), 0);
                        }
                        assert_eq!(mm_unmap(r), 0);
                    }
                }
            })
        })
        .collect();
    let mut leaks = vec![];
    let start = Instant::now();
    let mut execs = 0;
    while execs < 150 || (start.elapsed() < Duration::from_millis(300) && execs < 1000) {
        leaks.extend(
            ls_fds(d.path())
                .into_iter()
                .filter(|l| !baseline.contains(&key(l))),
        );
        execs += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    leaks
}

#[test]
fn descriptors_are_close_on_exec_while_other_threads_map() {
    let _s = serial();
    alone!(descriptors_are_close_on_exec_while_other_threads_map);
    // The fault-safe copies are left out where they use a pipe (builds
    // without process_vm_readv): it is not close-on-exec at once
    // (copy_pipe_never_reaches_exec_d_children).
    let leaks = close_on_exec_check(!disabled("process_vm"));
    assert!(
        leaks.is_empty(),
        "descriptors reached an exec'd child: {leaks:#?}"
    );
}

/// Helper: fill the descriptor table (run under prlimit --nofile), then try
/// every call that needs a descriptor; free three and try again.
#[test]
#[ignore = "helper process for descriptor_exhaustion_is_emfile_and_recovers"]
fn helper_emfile() {
    let Some(dir) = std::env::var_os("MMKIT_TEST_DIR") else {
        return;
    };
    let dir = PathBuf::from(dir);
    let file = cstr(&dir.join("f"));
    let created = dir.join("created");
    let create = cstr(&created);
    let mut grow = ptr::null_mut();
    // SAFETY: valid pointers; every region is unmapped before returning.
    unsafe {
        assert_eq!(
            mm_map_file(file.as_ptr(), 0, 100, RW_SHARED | MM_CREATE, &mut grow),
            0
        );
    }
    let mut held = vec![];
    loop {
        // SAFETY: plain open; the descriptors are closed below.
        let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            assert_eq!(errno(), libc::EMFILE);
            break;
        }
        held.push(fd);
    }
    println!("held {}", held.len());
    let mut r = ptr::null_mut();
    let mut buf = [0u8; 8];
    for round in ["full", "freed"] {
        // SAFETY: as above.
        unsafe {
            let rc = mm_map_file(file.as_ptr(), 0, 0, RO_SHARED, &mut r);
            say(&format!("{round}:map_file"), rc);
            if rc == 0 {
                mm_unmap(r);
            }
            let rc = mm_map_file(create.as_ptr(), 0, 100, RW_SHARED | MM_CREATE, &mut r);
            say(&format!("{round}:map_file_create"), rc);
            println!("{round}:created_exists {}", created.exists());
            if rc == 0 {
                mm_unmap(r);
                std::fs::remove_file(&created).unwrap();
            }
            let rc = mm_map_shareable(c"rel-emfile".as_ptr(), 4096, RW_SHARED, &mut r);
            say(&format!("{round}:map_shareable"), rc);
            if rc == 0 {
                mm_unmap(r);
            }
            let rc = mm_map_anon(4096, RW_SHARED | MM_DEVZERO, &mut r);
            say(&format!("{round}:map_anon_devzero"), rc);
            if rc == 0 {
                mm_unmap(r);
            }
            let rc = mm_map_anon(4096, RW_PRIVATE, &mut r);
            say(&format!("{round}:map_anon"), rc);
            if rc == 0 {
                mm_unmap(r);
            }
            let rc = mm_resize(grow, if round == "full" { 20_000 } else { 30_000 });
            say(&format!("{round}:resize_grow"), rc);
            let rc = mm_read(grow, 0, buf.as_mut_ptr().cast(), 8);
            say(&format!("{round}:read"), rc);
        }
        if round == "full" {
            for fd in held.drain(..3) {
                // SAFETY: descriptors opened above.
                unsafe { libc::close(fd) };
            }
        }
    }
    // SAFETY: a live handle.
    unsafe { mm_unmap(grow) };
}

#[test]
fn descriptor_exhaustion_is_emfile_and_recovers() {
    let _s = serial();
    let d = TempDir::new("rel-emfile");
    d.file("f", &pattern(10_000, 3));
    let out = run_limited(
        test_name!(helper_emfile),
        &["--nofile=64:64"],
        &[("MMKIT_TEST_DIR", d.path())],
    );
    let res = results(&out);
    let get = |k: &str| {
        res.get(k)
            .unwrap_or_else(|| panic!("no {k} in {out}"))
            .clone()
    };
    let need_fd = [
        ("map_file", "mm_map_file"),
        ("map_file_create", "mm_map_file"),
        ("map_shareable", "mm_map_shareable"),
        ("map_anon_devzero", "mm_map_anon"),
        ("resize_grow", "mm_resize"),
    ];
    for (key, call) in need_fd {
        let (rc, msg) = get(&format!("full:{key}"));
        assert_eq!(rc, -libc::EMFILE, "{key}: {msg}");
        assert!(msg.starts_with(&format!("{call}: ")), "{key}: {msg}");
        assert!(msg.contains("Too many open files"), "{key}: {msg}");
    }
    assert!(get("full:map_file")
        .1
        .contains(&d.path().to_string_lossy().to_string()));
    assert!(out.contains("full:created_exists false"), "{out}");
    // MAP_ANONYMOUS needs no descriptor; builds without it use /dev/zero.
    let (rc, _) = get("full:map_anon");
    if disabled("map_anonymous") {
        assert_eq!(rc, -libc::EMFILE);
    } else {
        assert_eq!(rc, 0);
    }
    // process_vm_readv needs no descriptor; the pipe fallback does.
    let (rc, msg) = get("full:read");
    assert!(
        rc == 0 || (rc == -libc::EMFILE && msg.starts_with("mm_read: ")),
        "{rc} {msg}"
    );
    for key in [
        "map_file",
        "map_file_create",
        "map_shareable",
        "map_anon_devzero",
        "map_anon",
        "resize_grow",
        "read",
    ] {
        let (rc, msg) = get(&format!("freed:{key}"));
        assert_eq!(rc, 0, "after freeing descriptors, {key}: {msg}");
    }
}

// ------------------------------------------------------------------ durability

/// Helper: MM_CREATE a file and say "ready" as soon as the map returns; wait
/// to be killed.
#[test]
#[ignore = "helper process for create_keeps_its_size_when_the_writer_is_killed"]
fn helper_create_then_wait() {
    let Some(p) = std::env::var_os("MMKIT_TEST_FILE") else {
        return;
    };
    let p = cstr(Path::new(&p));
    let mut r = ptr::null_mut();
    // SAFETY: valid pointers; the region is never unmapped (the process is killed).
    let rc = unsafe {
        mm_map_file(
            p.as_ptr(),
            4096 + 5,
            3 << 20,
            RW_SHARED | MM_CREATE | MM_EXCL,
            &mut r,
        )
    };
    assert_eq!(rc, 0, "{}", last_error());
    println!("ready");
    std::io::stdout().flush().unwrap();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
}

#[test]
fn create_keeps_its_size_when_the_writer_is_killed() {
    let _s = serial();
    // (tests/it/process.rs: bytes written then mm_sync'd survive SIGKILL.)
    let d = TempDir::new("rel-create-kill");
    let p = d.join("created");
    let (child, _out) = start_helper(
        test_name!(helper_create_then_wait),
        &[("MMKIT_TEST_FILE", &p)],
    );
    kill_9(child);
    let m = std::fs::metadata(&p).expect("the created file is gone");
    assert_eq!(m.len(), 4096 + 5 + (3 << 20), "size after SIGKILL");
    assert_eq!(m.permissions().mode() & 0o777, 0o600);
    assert!(
        m.blocks() * 512 >= 3 << 20,
        "blocks not allocated: {}",
        m.blocks()
    );
    assert!(std::fs::read(&p).unwrap().iter().all(|&b| b == 0));
}

// ------------------------------------------------------------------ threads

#[test]
fn eight_threads_map_sync_lock_and_unmap() {
    let _s = serial();
    alone!(eight_threads_map_sync_lock_and_unmap);
    let d = Arc::new(TempDir::new("rel-threads"));
    let page = mm_page_size();
    // One region all threads use at once, each in its own pages.
    let shared_file = cstr(&d.file("shared", &vec![0u8; 8 * 4 * page]));
    let mut common = ptr::null_mut();
    // SAFETY: valid pointers; unmapped after the threads are joined.
    assert_eq!(
        unsafe { mm_map_file(shared_file.as_ptr(), 0, 0, RW_SHARED, &mut common) },
        0
    );
    let common_addr = common as usize;
    let handles: Vec<_> = (0..8usize)
        .map(|t| {
            let d = d.clone();
            std::thread::spawn(move || {
                let common = common_addr as *mut mm_region;
                let mine = cstr(&d.file(&format!("t{t}"), &vec![0u8; 3 * page + 1]));
                let mut buf = vec![0u8; 3 * page + 1];
                for i in 0..150usize {
                    let data = pattern(3 * page + 1, (t * 31 + i) as u8);
                    let mut r = ptr::null_mut();
                    let mut a = ptr::null_mut();
                    let mut s = ptr::null_mut();
                    // SAFETY: valid pointers; this thread's regions are its own.
                    unsafe {
                        assert_eq!(mm_map_file(mine.as_ptr(), 0, 0, RW_SHARED, &mut r), 0);
                        assert_eq!(mm_map_anon(data.len(), RW_PRIVATE, &mut a), 0);
                        assert_eq!(
                            mm_map_shareable(c"rel-t".as_ptr(), data.len(), RW_SHARED, &mut s),
                            0
                        );
                        for x in [r, a, s] {
                            assert_eq!(mm_write(x, 0, data.as_ptr().cast(), data.len()), 0);
                            let rc = mm_lock(x, 0, 0);
                            assert!(
                                rc == 0 || last_error().contains("RLIMIT_MEMLOCK"),
                                "{}",
                                last_error()
                            );
                            assert_eq!(mm_sync(x, 0, 0, MM_SYNC), 0, "{}", last_error());
                            assert_eq!(mm_unlock(x, 0, 0), 0);
                            assert_eq!(mm_advise(x, page, 0, MM_ADV_WILLNEED), 0);
                            assert_eq!(mm_read(x, 0, buf.as_mut_ptr().cast(), buf.len()), 0);
                            assert_eq!(buf, data, "thread {t} iteration {i}");
                        }
                        assert_eq!(mm_unmap(r), 0);
                        assert_eq!(mm_unmap(a), 0);
                        assert_eq!(mm_unmap(s), 0);
                        // The shared region: this thread's 4 pages, concurrently
                        // with the others' sync/lock/advise/read of theirs.
                        let off = t * 4 * page;
                        assert_eq!(mm_write(common, off, data.as_ptr().cast(), data.len()), 0);
                        assert_eq!(mm_sync(common, off, 4 * page, MM_ASYNC), 0);
                        let rc = mm_lock(common, off, 4 * page);
                        assert!(rc == 0 || last_error().contains("RLIMIT_MEMLOCK"));
                        assert_eq!(mm_unlock(common, off, 4 * page), 0);
                        assert_eq!(mm_advise(common, off, 4 * page, MM_ADV_RANDOM), 0);
                        assert_eq!(mm_read(common, off, buf.as_mut_ptr().cast(), buf.len()), 0);
                        assert_eq!(buf, data, "thread {t} iteration {i} (shared region)");
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    // SAFETY: the threads are done with it.
    unsafe {
        assert_eq!(mm_sync(common, 0, 0, MM_SYNC), 0);
        assert_eq!(mm_unmap(common), 0);
    }
}

#[test]
fn each_thread_keeps_its_own_last_error() {
    let _s = serial();
    const THREADS: usize = 8;
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut r = ptr::null_mut();
                let mut buf = [0u8; 4];
                // SAFETY: valid pointers; r is unmapped at the end.
                unsafe { assert_eq!(mm_map_anon(4096, RW_PRIVATE, &mut r), 0) };
                for round in 0..50usize {
                    // A value only this thread, this round, uses.
                    let n = 1_000_000 + t * 1000 + round;
                    // SAFETY: n bytes are out of range, refused before any copy.
                    let rc = unsafe { mm_read(r, 0, buf.as_mut_ptr().cast(), n) };
                    assert_eq!(rc, -libc::EINVAL);
                    // Successes in between leave the message alone.
                    // SAFETY: in range.
                    assert_eq!(unsafe { mm_read(r, 0, buf.as_mut_ptr().cast(), 4) }, 0);
                    // Every other thread fails (with its own value) before
                    // anybody passes the barrier.
                    barrier.wait();
                    let m = last_error();
                    assert!(
                        m.starts_with("mm_read: ") && m.contains(&format!("{n} bytes")),
                        "thread {t} round {round} sees {m:?}"
                    );
                    barrier.wait();
                }
                // SAFETY: a live handle.
                unsafe { mm_unmap(r) };
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

// ------------------------------------------------------------------ exhaustion

/// Helper (under prlimit --as): map 16 MiB at a time until the address space
/// is full, check every mapping call fails cleanly, free two, map again.
#[test]
#[ignore = "helper process for address_space_exhaustion_is_enomem_and_recovers"]
fn helper_address_space() {
    let Some(dir) = std::env::var_os("MMKIT_TEST_DIR") else {
        return;
    };
    const MIB16: usize = 16 << 20;
    let dir = PathBuf::from(dir);
    let file = cstr(&dir.join("big"));
    let mut regions = Vec::with_capacity(1024);
    let mut small = ptr::null_mut();
    // SAFETY: valid pointers; every region is unmapped before returning.
    unsafe {
        assert_eq!(mm_map_anon(4096, RW_PRIVATE, &mut small), 0);
        let fds = std::fs::read_dir("/proc/self/fd").unwrap().count();
        let first_failure = loop {
            let mut r = ptr::null_mut();
            let rc = mm_map_anon(MIB16, RW_PRIVATE, &mut r);
            if rc != 0 {
                break rc;
            }
            regions.push(r);
            assert!(regions.len() < 1000, "RLIMIT_AS is not enforced");
        };
        println!("mapped {} x 16 MiB", regions.len());
        say("full:map_anon", first_failure);
        let mut r = ptr::null_mut();
        say(
            "full:map_anon_devzero",
            mm_map_anon(2 * MIB16, RW_SHARED | MM_DEVZERO, &mut r),
        );
        say(
            "full:map_file",
            mm_map_file(file.as_ptr(), 0, 0, RO_SHARED, &mut r),
        );
        say(
            "full:map_shareable",
            mm_map_shareable(c"rel-as".as_ptr(), 2 * MIB16, RW_SHARED, &mut r),
        );
        say("full:resize_grow", mm_resize(small, 2 * MIB16));
        let now = std::fs::read_dir("/proc/self/fd").unwrap().count();
        println!("fds before {fds} after {now}");
        for r in regions.drain(..3) {
            mm_unmap(r);
        }
        let calls: [MapCall; 3] = [
            ("freed:map_anon", &|r| mm_map_anon(MIB16, RW_PRIVATE, r)),
            ("freed:map_file", &|r| {
                mm_map_file(file.as_ptr(), 0, 0, RO_SHARED, r)
            }),
            ("freed:map_shareable", &|r| {
                mm_map_shareable(c"rel-as".as_ptr(), MIB16, RW_SHARED, r)
            }),
        ];
        for (key, call) in calls {
            let rc = call(&mut r);
            say(key, rc);
            if rc == 0 {
                mm_unmap(r);
            }
        }
        say("freed:resize_grow", mm_resize(small, MIB16));
        mm_unmap(small);
        for r in regions {
            mm_unmap(r);
        }
    }
}

#[test]
fn address_space_exhaustion_is_enomem_and_recovers() {
    let _s = serial();
    let d = TempDir::new("rel-as");
    std::fs::File::create(d.join("big"))
        .unwrap()
        .set_len(32 << 20)
        .unwrap();
    let out = run_limited(
        test_name!(helper_address_space),
        // 512 MiB: room for the test harness itself (its threads' malloc
        // arenas reserve address space too), then 16 MiB maps fill the rest.
        &["--as=536870912"],
        &[("MMKIT_TEST_DIR", d.path())],
    );
    let res = results(&out);
    let get = |k: &str| {
        res.get(k)
            .unwrap_or_else(|| panic!("no {k} in {out}"))
            .clone()
    };
    for (key, call) in [
        ("map_anon", "mm_map_anon"),
        ("map_anon_devzero", "mm_map_anon"),
        ("map_file", "mm_map_file"),
        ("map_shareable", "mm_map_shareable"),
        ("resize_grow", "mm_resize"),
    ] {
        let (rc, msg) = get(&format!("full:{key}"));
        assert_eq!(rc, -libc::ENOMEM, "{key}: {msg}");
        assert!(msg.starts_with(&format!("{call}: ")), "{key}: {msg}");
        assert!(msg.contains("Cannot allocate memory"), "{key}: {msg}");
        if key != "map_anon_devzero" {
            let (rc, msg) = get(&format!("freed:{key}"));
            assert_eq!(rc, 0, "after freeing, {key}: {msg}");
        }
    }
    assert!(get("full:map_anon").1.contains("16777216"), "{out}");
    let fds = out
        .lines()
        .find_map(|l| Some(&l[l.find("fds before")?..]))
        .unwrap();
    let v: Vec<&str> = fds.split_whitespace().collect();
    assert_eq!(v[2], v[4], "failed maps leaked descriptors: {fds}");
}

/// Helper: map one-page regions with alternating protections (so their VMAs
/// cannot merge) until vm.max_map_count is reached; then as above.
#[test]
#[ignore = "helper process for map_count_exhaustion_is_enomem_and_recovers"]
fn helper_map_count() {
    let Some(dir) = std::env::var_os("MMKIT_TEST_DIR") else {
        return;
    };
    let dir = PathBuf::from(dir);
    let file = cstr(&dir.join("f"));
    let limit: usize = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(65530);
    // Room for every handle before the map count is exhausted: a Vec that
    // grows then would need a new mapping itself.
    let mut regions = Vec::with_capacity(limit + 16);
    let start = Instant::now();
    // SAFETY: valid pointers; every region is unmapped before returning.
    unsafe {
        let fds = std::fs::read_dir("/proc/self/fd").unwrap().count();
        let first_failure = loop {
            let mut r = ptr::null_mut();
            let prot = if regions.len() % 2 == 0 {
                MM_READ
            } else {
                MM_READ | MM_WRITE
            };
            let rc = mm_map_anon(4096, prot | MM_PRIVATE, &mut r);
            if rc != 0 {
                break rc;
            }
            regions.push(r);
            assert!(
                regions.len() <= limit + 8,
                "vm.max_map_count is not enforced"
            );
        };
        println!("mapped {} regions in {:?}", regions.len(), start.elapsed());
        say("full:map_anon", first_failure);
        let mut r = ptr::null_mut();
        say(
            "full:map_file",
            mm_map_file(file.as_ptr(), 0, 0, RO_SHARED, &mut r),
        );
        say(
            "full:map_shareable",
            mm_map_shareable(c"rel-mc".as_ptr(), 4096, RW_SHARED, &mut r),
        );
        // Splitting a region needs one more VMA too: free one, map two
        // pages in its place, and protect half of them.
        mm_unmap(regions.pop().unwrap());
        let mut two = ptr::null_mut();
        assert_eq!(
            mm_map_anon(2 * 4096, RW_PRIVATE, &mut two),
            0,
            "{}",
            last_error()
        );
        say("full:protect_split", mm_protect(two, 0, 4096, MM_READ));
        // A region in three parts whose end is taken cannot grow in place
        // nor move: -EBUSY, with the map count full or not, and the region
        // as it was, bytes and protection intact.
        for r in regions.drain(regions.len() - 8..) {
            mm_unmap(r);
        }
        let mut split = ptr::null_mut();
        assert_eq!(
            mm_map_anon(4 * 4096, RW_PRIVATE, &mut split),
            0,
            "{}",
            last_error()
        );
        for i in 0..4u8 {
            assert_eq!(
                mm_write(
                    split,
                    i as usize * 4096,
                    [b'q', b'0' + i].as_ptr().cast(),
                    2
                ),
                0
            );
        }
        assert_eq!(
            mm_protect(split, 4096, 4096, MM_READ),
            0,
            "{}",
            last_error()
        );
        let after = mm_ptr(split).cast::<u8>().add(4 * 4096);
        libc::mmap(
            after.cast(),
            4096,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | 0x10_0000, // MAP_FIXED_NOREPLACE
            -1,
            0,
        );
        // Fill the map count again, then leave room for two more mappings
        // (the refused grow needs none).
        loop {
            let mut r = ptr::null_mut();
            let prot = if regions.len() % 2 == 0 {
                MM_READ
            } else {
                MM_READ | MM_WRITE
            };
            if mm_map_anon(4096, prot | MM_PRIVATE, &mut r) != 0 {
                break;
            }
            regions.push(r);
        }
        for r in regions.drain(regions.len() - 2..) {
            mm_unmap(r);
        }
        let before = mm_ptr(split);
        say("full:resize_split", mm_resize(split, 64 * 4096));
        let mut tags = String::new();
        for i in 0..4 {
            let mut tag = [0u8; 2];
            let rc = mm_read(split, i * 4096, tag.as_mut_ptr().cast(), 2);
            tags += &format!("{rc}:{} ", String::from_utf8_lossy(&tag));
        }
        println!(
            "split after failed grow: same address {} len {} tags {tags}",
            mm_ptr(split) == before,
            mm_len(split)
        );
        say(
            "full:split_ro",
            mm_write(split, 4096, b"x".as_ptr().cast(), 1),
        );
        for r in regions.drain(..16) {
            mm_unmap(r);
        }
        say("freed:resize_split", mm_resize(split, 64 * 4096));
        say(
            "freed:split_ro",
            mm_write(split, 4096, b"x".as_ptr().cast(), 1),
        );
        mm_unmap(split);
        let now = std::fs::read_dir("/proc/self/fd").unwrap().count();
        println!("fds before {fds} after {now}");
        for r in regions.drain(..20) {
            mm_unmap(r);
        }
        let calls: [MapCall; 3] = [
            ("freed:map_anon", &|r| mm_map_anon(4096, RW_PRIVATE, r)),
            ("freed:map_file", &|r| {
                mm_map_file(file.as_ptr(), 0, 0, RO_SHARED, r)
            }),
            ("freed:map_shareable", &|r| {
                mm_map_shareable(c"rel-mc".as_ptr(), 4096, RW_SHARED, r)
            }),
        ];
        for (key, call) in calls {
            let rc = call(&mut r);
            say(key, rc);
            if rc == 0 {
                mm_unmap(r);
            }
        }
        say("freed:protect_split", mm_protect(two, 0, 4096, MM_READ));
        mm_unmap(two);
        for r in regions {
            mm_unmap(r);
        }
    }
}

#[test]
fn map_count_exhaustion_is_enomem_and_recovers() {
    let _s = serial();
    let limit: usize = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(65530);
    if limit > 1 << 20 {
        // Some distributions set it to ~2^31: exhausting that is not a test.
        eprintln!("map_count_exhaustion: vm.max_map_count is {limit}; not exhausting it");
        return;
    }
    let d = TempDir::new("rel-mapcount");
    d.file("f", &pattern(5000, 4));
    let start = Instant::now();
    let out = run_limited(
        test_name!(helper_map_count),
        &[],
        &[("MMKIT_TEST_DIR", d.path())],
    );
    eprintln!("map count exhaustion took {:?}", start.elapsed());
    let res = results(&out);
    let get = |k: &str| {
        res.get(k)
            .unwrap_or_else(|| panic!("no {k} in {out}"))
            .clone()
    };
    for (key, call) in [
        ("map_anon", "mm_map_anon"),
        ("map_file", "mm_map_file"),
        ("map_shareable", "mm_map_shareable"),
        ("protect_split", "mm_protect"),
    ] {
        let (rc, msg) = get(&format!("full:{key}"));
        assert_eq!(rc, -libc::ENOMEM, "{key}: {msg}");
        assert!(msg.starts_with(&format!("{call}: ")), "{key}: {msg}");
        let (rc, msg) = get(&format!("freed:{key}"));
        assert_eq!(rc, 0, "after freeing, {key}: {msg}");
    }
    let (rc, msg) = get("full:resize_split");
    // A region in parts with no room after it does not grow at all (EBUSY).
    assert_eq!(rc, -libc::EBUSY, "resize_split: {msg}");
    assert!(msg.starts_with("mm_resize: "), "{msg}");
    assert!(
        out.contains(&format!(
            "split after failed grow: same address true len {} tags 0:q0 0:q1 0:q2 0:q3 ",
            4 * 4096
        )),
        "{out}"
    );
    assert_eq!(get("full:split_ro").0, -libc::EFAULT, "{out}");
    assert_eq!(get("freed:resize_split").0, -libc::EBUSY, "{out}");
    assert_eq!(get("freed:split_ro").0, -libc::EFAULT, "{out}");
    let fds = out
        .lines()
        .find_map(|l| Some(&l[l.find("fds before")?..]))
        .unwrap();
    let v: Vec<&str> = fds.split_whitespace().collect();
    assert_eq!(v[2], v[4], "failed maps leaked descriptors: {fds}");
}

// ------------------------------------------------------------------ security

#[test]
fn created_files_are_0600_even_with_umask_0() {
    let _s = serial();
    alone!(created_files_are_0600_even_with_umask_0);
    let d = TempDir::new("rel-umask");
    // SAFETY: umask is process-wide; this test runs alone in its process.
    let old = unsafe { libc::umask(0) };
    let mut modes = vec![];
    let mut r = ptr::null_mut();
    for (name, flags) in [
        ("create", RW_SHARED | MM_CREATE),
        ("excl", RW_SHARED | MM_CREATE | MM_EXCL),
        ("private", MM_READ | MM_PRIVATE | MM_CREATE),
        ("empty", RW_SHARED | MM_CREATE),
    ] {
        let p = d.join(name);
        let len = if name == "empty" { 0 } else { 100 };
        // SAFETY: valid pointers; the region is unmapped at once.
        unsafe {
            assert_eq!(
                mm_map_file(cstr(&p).as_ptr(), 0, len, flags, &mut r),
                0,
                "{}",
                last_error()
            );
            mm_unmap(r);
        }
        modes.push((
            name,
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777,
        ));
    }
    let mut shm_mode = None;
    if disabled("memfd") {
        // shm_open's object: 0600 too (it is unlinked at once, but still).
        // SAFETY: valid pointers; fstat writes one struct.
        unsafe {
            assert_eq!(
                mm_map_shareable(c"rel-umask".as_ptr(), 100, RW_SHARED, &mut r),
                0
            );
            let mut st: libc::stat = std::mem::zeroed();
            assert_eq!(libc::fstat(mm_fd(r), &mut st), 0);
            shm_mode = Some(st.st_mode & 0o7777);
            mm_unmap(r);
        }
    }
    // SAFETY: restores the umask.
    unsafe { libc::umask(old) };
    for (name, mode) in modes {
        assert_eq!(
            mode, 0o600,
            "{name}: created with mode {mode:o} under umask 0"
        );
    }
    if let Some(m) = shm_mode {
        assert_eq!(m, 0o600, "shm object mode {m:o}");
    }
}

#[test]
fn excl_refuses_a_symlink_to_an_existing_file() {
    let _s = serial();
    // (tests/it/file.rs: MM_EXCL refuses existing files and dangling symlinks.)
    let d = TempDir::new("rel-symlink");
    let victim = d.file("victim", b"precious");
    let link = d.join("link");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let mut r = ptr::null_mut();
    for flags in [
        RW_SHARED | MM_CREATE | MM_EXCL,
        MM_READ | MM_PRIVATE | MM_CREATE | MM_EXCL,
    ] {
        // SAFETY: valid pointers; nothing is mapped.
        let rc = unsafe { mm_map_file(cstr(&link).as_ptr(), 0, 1 << 20, flags, &mut r) };
        assert_eq!(rc, -libc::EEXIST, "{}", last_error());
        assert!(last_error().starts_with("mm_map_file: "));
    }
    assert_eq!(
        std::fs::read(&victim).unwrap(),
        b"precious",
        "the victim was changed"
    );
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    // In a sticky world-writable directory, as in /tmp.
    let sticky = d.join("tmp");
    std::fs::create_dir(&sticky).unwrap();
    std::fs::set_permissions(&sticky, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let planted = sticky.join("app.data");
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    // SAFETY: lchown of our own link to another owner, as an attacker would plant it.
    if unsafe { libc::geteuid() } == 0 {
        let c = cstr(&planted);
        unsafe { libc::lchown(c.as_ptr(), 65534, 65534) };
    }
    // SAFETY: valid pointers; nothing is mapped.
    let rc = unsafe {
        mm_map_file(
            cstr(&planted).as_ptr(),
            0,
            1 << 20,
            RW_SHARED | MM_CREATE | MM_EXCL,
            &mut r,
        )
    };
    assert_eq!(rc, -libc::EEXIST, "{}", last_error());
    assert_eq!(
        std::fs::metadata(&victim).unwrap().len(),
        8,
        "the victim grew"
    );
}

fn dev_shm_mmkit() -> Vec<String> {
    std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains("mmkit"))
                .collect()
        })
        .unwrap_or_default()
}

/// Helper: shareable regions (and peers of them) exist; say "ready", then
/// wait to be killed (MMKIT_TEST_SHM=idle) or keep making and dropping more
/// until killed (busy).
#[test]
#[ignore = "helper process for the /dev/shm tests"]
fn helper_shareable_then_wait() {
    let Ok(mode) = std::env::var("MMKIT_TEST_SHM") else {
        return;
    };
    let mut keep = vec![];
    // SAFETY: valid pointers; the process is killed with the regions mapped.
    unsafe {
        for i in 0..16usize {
            let mut r = ptr::null_mut();
            assert_eq!(
                mm_map_shareable(c"rel-shm".as_ptr(), 4096 * (i + 1), RW_SHARED, &mut r),
                0
            );
            let mut peer = ptr::null_mut();
            assert_eq!(mm_map_fd(mm_fd(r), 0, 0, RW_SHARED, &mut peer), 0);
            keep.push((r, peer));
        }
    }
    println!("ready");
    std::io::stdout().flush().unwrap();
    if mode == "idle" {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).unwrap();
        return;
    }
    loop {
        let mut r = ptr::null_mut();
        // SAFETY: as above.
        unsafe {
            assert_eq!(
                mm_map_shareable(c"rel-shm".as_ptr(), 4096, RW_SHARED, &mut r),
                0
            );
            mm_unmap(r);
        }
    }
}

/// Kill the helper (after `wait_ms`) and return what it left in /dev/shm
/// (removing it).
fn shm_left_after_kill(mode: &str, wait_ms: u64) -> (Vec<String>, Vec<String>) {
    let before = dev_shm_mmkit();
    let (child, _out) = start_helper(
        test_name!(helper_shareable_then_wait),
        &[("MMKIT_TEST_SHM", Path::new(mode))],
    );
    let pid = child.id();
    let during: Vec<_> = dev_shm_mmkit()
        .into_iter()
        .filter(|n| !before.contains(n))
        .collect();
    std::thread::sleep(Duration::from_millis(wait_ms));
    kill_9(child);
    let after: Vec<_> = dev_shm_mmkit()
        .into_iter()
        .filter(|n| !before.contains(n))
        .collect();
    for n in after
        .iter()
        .filter(|n| n.starts_with(&format!("mmkit-{pid}-")))
    {
        let _ = std::fs::remove_file(Path::new("/dev/shm").join(n));
    }
    (during, after)
}

#[test]
fn nothing_is_left_in_dev_shm_after_sigkill() {
    let _s = serial_listing_dev_shm();
    let (during, after) = shm_left_after_kill("idle", 0);
    if mode_is_busy_safe() {
        // memfd objects have no name at all, whenever the process dies.
        for round in 0..5 {
            let (d2, a2) = shm_left_after_kill("busy", 3 * round);
            assert!(
                d2.is_empty() && a2.is_empty(),
                "round {round}: {d2:?} {a2:?}"
            );
        }
    }
    assert!(
        during.is_empty(),
        "in /dev/shm while the regions exist: {during:?}"
    );
    assert!(
        after.is_empty(),
        "left in /dev/shm after SIGKILL: {after:?}"
    );
}

/// With memfd or O_TMPFILE nothing is ever named; with plain shm_open (the
/// last fallback) a name exists between shm_open and shm_unlink.
fn mode_is_busy_safe() -> bool {
    !disabled("memfd") || !disabled("o_tmpfile")
}

// ------------------------------------------------------------------ found bugs

/// Run helper `name`; return how it ended and what it printed.
fn run_helper(
    name: &str,
    env: &[(&str, &str)],
    timeout: Duration,
) -> (Option<i32>, Option<i32>, String) {
    let mut c = helper(name);
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > timeout {
            child.kill().unwrap();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code(), status.signal(), out + &err)
}

/// Helper for the found-bug regressions: runs scenario MMKIT_BUG.
#[test]
#[ignore = "helper process for the found-bug regressions"]
fn helper_bug() {
    let Ok(bug) = std::env::var("MMKIT_BUG") else {
        return;
    };
    let page = mm_page_size();
    let mut r = ptr::null_mut();
    let mut buf = [0u8; 16];
    // SAFETY: each scenario makes valid calls (except where the bug is).
    unsafe {
        match bug.as_str() {
            "tail_zero" => {
                assert_eq!(mm_map_anon(2 * page - 192, RW_PRIVATE, &mut r), 0);
                // The last page read-only, as a guard page would be.
                assert_eq!(mm_protect(r, page, 0, MM_READ), 0);
                // Grow within that page: its tail already reads as zeros.
                say("resize", mm_resize(r, 2 * page - 100));
                let mut tail = [1u8; 92];
                say(
                    "read",
                    mm_read(r, 2 * page - 192, tail.as_mut_ptr().cast(), 92),
                );
                println!("tail zero {}", tail.iter().all(|&b| b == 0));
            }
            "tail_stale" => {
                // Bytes left past the end by a shrink, in a page then made
                // read-only: growing over them must not expose them.
                assert_eq!(mm_map_anon(2 * page, RW_PRIVATE, &mut r), 0);
                let ones = vec![1u8; 2 * page];
                assert_eq!(mm_write(r, 0, ones.as_ptr().cast(), 2 * page), 0);
                assert_eq!(mm_resize(r, 2 * page - 100), 0);
                assert_eq!(mm_protect(r, page, 0, MM_READ), 0);
                say("resize", mm_resize(r, 2 * page));
                println!("len {}", mm_len(r));
                // Made writable, the grow zeroes them.
                assert_eq!(mm_protect(r, page, 0, MM_READ | MM_WRITE), 0);
                say("resize2", mm_resize(r, 2 * page));
                let mut tail = [1u8; 100];
                say(
                    "read",
                    mm_read(r, 2 * page - 100, tail.as_mut_ptr().cast(), 100),
                );
                println!("tail zero {}", tail.iter().all(|&b| b == 0));
            }
            "efault_after_advise" => {
                // Four pages, each with its own state: advice, read-only,
                // locked, plain. Optionally the range after the end is taken,
                // so the grow can neither extend the region nor move it.
                // Shrunk from 64 pages, so the range after the end is free
                // (this helper has one thread; nothing else maps meanwhile).
                assert_eq!(mm_map_anon(64 * page, RW_PRIVATE, &mut r), 0);
                assert_eq!(mm_resize(r, 4 * page), 0);
                for i in 0..4 {
                    let tag = [b'p', b'0' + i as u8];
                    assert_eq!(mm_write(r, i * page, tag.as_ptr().cast(), 2), 0);
                }
                if std::env::var_os("MMKIT_BLOCK").is_some() {
                    let after = mm_ptr(r).add(4 * page);
                    let p = libc::mmap(
                        after.cast(),
                        page,
                        libc::PROT_NONE,
                        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | 0x10_0000, // MAP_FIXED_NOREPLACE
                        -1,
                        0,
                    );
                    println!("blocked {}", p == after.cast());
                }
                let before = mm_ptr(r);
                assert_eq!(mm_advise(r, 0, page, MM_ADV_SEQUENTIAL), 0);
                assert_eq!(mm_protect(r, page, page, MM_READ), 0);
                let locked = mm_lock(r, 2 * page, page) == 0;
                let grown = mm_resize(r, 64 * page);
                say("resize", grown);
                println!("moved {}", mm_ptr(r) != before);
                for i in 0..4 {
                    let mut tag = [0u8; 2];
                    assert_eq!(mm_read(r, i * page, tag.as_mut_ptr().cast(), 2), 0);
                    println!("page {i} {}", String::from_utf8_lossy(&tag));
                }
                if grown == 0 {
                    let mut z = [1u8; 8];
                    assert_eq!(mm_read(r, 63 * page, z.as_mut_ptr().cast(), 8), 0);
                    println!("new zero {}", z == [0; 8]);
                }
                say("write_ro", mm_write(r, page, b"x".as_ptr().cast(), 1));
                say("write_rw", mm_write(r, 3 * page, b"x".as_ptr().cast(), 1));
                let p = mm_ptr(r).cast::<u8>();
                println!("flags0 {}", support::vm_flags(p));
                if locked {
                    println!("flags2 {}", support::vm_flags(p.add(2 * page)));
                }
            }
            "portable_copy_fault" => {
                assert_eq!(mm_map_anon(2 * page, RW_PRIVATE, &mut r), 0);
                assert_eq!(mm_write(r, page, b"kept".as_ptr().cast(), 4), 0);
                // The range after the end taken (by this page, or by what
                // is there already): the grow has to move.
                let after = mm_ptr(r).add(2 * page);
                let p = libc::mmap(
                    after.cast(),
                    page,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | 0x10_0000, // MAP_FIXED_NOREPLACE
                    -1,
                    0,
                );
                let taken = p == libc::MAP_FAILED
                    && std::io::Error::last_os_error().raw_os_error() == Some(libc::EEXIST);
                println!("blocked {}", p == after.cast() || taken);
                // One page inaccessible: two kernel mappings, which cannot move.
                assert_eq!(mm_protect(r, 0, page, 0), 0);
                say("resize", mm_resize(r, 4 * page));
                say("read", mm_read(r, page, buf.as_mut_ptr().cast(), 4));
                println!("bytes {:?}", &buf[..4]);
                say("read_none", mm_read(r, 0, buf.as_mut_ptr().cast(), 1));
                // All of it inaccessible: one kernel mapping, which moves
                // (without mremap: a copy, which cannot read it).
                assert_eq!(mm_protect(r, 0, 0, 0), 0);
                say("resize_none", mm_resize(r, 4 * page));
                assert_eq!(mm_protect(r, 0, 0, MM_READ), 0);
                say("read2", mm_read(r, page, buf.as_mut_ptr().cast(), 4));
                println!("bytes2 {:?}", &buf[..4]);
            }
            "portable_copy_lost" => {
                assert_eq!(mm_map_anon(100, RW_PRIVATE, &mut r), 0);
                assert_eq!(mm_write(r, 0, b"hello".as_ptr().cast(), 5), 0);
                assert_eq!(mm_protect(r, 0, 0, MM_READ), 0);
                say("resize", mm_resize(r, 4 * page));
                say("read", mm_read(r, 0, buf.as_mut_ptr().cast(), 5));
                println!("bytes {:?}", &buf[..5]);
                say("write", mm_write(r, 0, b"x".as_ptr().cast(), 1));
            }
            "huge_n" => {
                assert_eq!(mm_map_anon(page, RW_PRIVATE, &mut r), 0);
                say("read", mm_read(r, 0, buf.as_mut_ptr().cast(), usize::MAX));
                say("write", mm_write(r, 0, buf.as_ptr().cast(), usize::MAX));
            }
            "dangling_create" => {
                let dir = std::env::var("MMKIT_TEST_DIR").unwrap();
                let link = Path::new(&dir).join("link");
                std::os::unix::fs::symlink(Path::new(&dir).join("target"), &link).unwrap();
                say(
                    "map",
                    mm_map_file(cstr(&link).as_ptr(), 0, 100, RW_SHARED | MM_CREATE, &mut r),
                );
            }
            "shareable_revert" => {
                assert_eq!(
                    mm_map_shareable(c"rel-bug".as_ptr(), 1, RW_SHARED, &mut r),
                    0
                );
                let mut peer = ptr::null_mut();
                // The peer grows the object to 3 pages and writes into page 2.
                assert_eq!(
                    mm_map_fd(mm_fd(r), 0, 3 * page, RW_SHARED | MM_CREATE, &mut peer),
                    0,
                    "{}",
                    last_error()
                );
                assert_eq!(mm_write(peer, 2 * page, b"peer".as_ptr().cast(), 4), 0);
                // A grow that fails after the ftruncate...
                say("resize", mm_resize(r, 1 << 62));
                // ...truncates the object to the region's old length (1 byte).
                say(
                    "peer_read",
                    mm_read(peer, 2 * page, buf.as_mut_ptr().cast(), 4),
                );
                println!("bytes {:?}", &buf[..4]);
            }
            "lock_message" => {
                assert_eq!(mm_map_anon(page, RW_PRIVATE, &mut r), 0);
                assert_eq!(mm_protect(r, 0, 0, 0), 0);
                say("lock", mm_lock(r, 0, 0));
            }
            other => panic!("unknown scenario {other}"),
        }
    }
}

fn result_of(out: &str, key: &str) -> (i32, String) {
    results(out)
        .remove(key)
        .unwrap_or_else(|| panic!("no {key} result: {out}"))
}

/// Expect the scenario to finish normally (no signal) within 10 s.
fn bug_scenario(bug: &str, env: &[(&str, &str)]) -> String {
    // One at a time, as the other tests of this module.
    let _s = serial();
    let mut all = vec![("MMKIT_BUG", bug)];
    all.extend_from_slice(env);
    let (code, signal, out) = run_helper(test_name!(helper_bug), &all, Duration::from_secs(10));
    assert_eq!(
        (code, signal),
        (Some(0), None),
        "scenario {bug}: the process did not finish cleanly (signal {signal:?}, killed after 10 s if none): {out}"
    );
    out
}

#[test]
fn resize_into_a_read_only_last_page_is_clean() {
    // Found bug: Region::resize zeroed the grown tail with a plain store,
    // whatever mm_protect did to that page (SIGSEGV). Now the tail is read
    // first (it is zero here), fault-safely.
    let out = bug_scenario("tail_zero", &[]);
    let (rc, msg) = result_of(&out, "resize");
    assert_eq!(rc, 0, "{msg}");
    assert_eq!(result_of(&out, "read").0, 0, "{out}");
    assert!(out.contains("tail zero true"), "{out}");
}

#[test]
fn resize_over_old_bytes_in_a_read_only_page_is_eacces_and_keeps_the_region() {
    // The tail holds bytes left by a shrink and cannot be written: the grow
    // is refused (they would show through), the region unchanged; once the
    // page is writable again the grow zeroes them.
    let out = bug_scenario("tail_stale", &[]);
    let (rc, msg) = result_of(&out, "resize");
    assert_eq!(rc, -libc::EACCES, "{msg}");
    assert!(
        msg.starts_with("mm_resize: bytes [") && msg.contains("mm_protect"),
        "{msg}"
    );
    let page = mm_page_size();
    assert!(out.contains(&format!("len {}", 2 * page - 100)), "{out}");
    assert_eq!(result_of(&out, "resize2").0, 0, "{out}");
    assert!(out.contains("tail zero true"), "{out}");
}

/// The grow succeeded in place (`grew`) or was refused with EBUSY (the
/// region in parts, no room after it), and every part kept bytes and state.
fn check_parts_kept(out: &str, grew: bool) {
    let (rc, msg) = result_of(out, "resize");
    if grew {
        assert_eq!(rc, 0, "{msg}");
        assert!(out.contains("new zero true"), "{out}");
    } else {
        assert_eq!(rc, -libc::EBUSY, "{msg}");
        assert!(
            msg.starts_with("mm_resize: ")
                && msg.contains("mm_protect")
                && msg.contains("unmap it and map it again"),
            "{msg}"
        );
    }
    assert!(out.contains("moved false"), "{out}");
    for i in 0..4 {
        assert!(out.contains(&format!("page {i} p{i}")), "page {i}: {out}");
    }
    // The read-only part is still read-only, the plain part writable.
    assert_eq!(result_of(out, "write_ro").0, -libc::EFAULT, "{out}");
    assert_eq!(result_of(out, "write_rw").0, 0, "{out}");
    // Advice and lock went with their pages (smaps VmFlags sr / lo).
    let flags0 = out.lines().find(|l| l.starts_with("flags0 ")).unwrap();
    assert!(flags0.split(' ').any(|f| f == "sr"), "{flags0}");
    if let Some(flags2) = out.lines().find(|l| l.starts_with("flags2 ")) {
        assert!(flags2.split(' ').any(|f| f == "lo"), "{flags2}");
    }
}

#[test]
fn resize_after_partial_advice_grows_and_keeps_each_part() {
    // Found bug: mremap cannot grow a range made of several kernel mappings,
    // and mm_advise(SEQUENTIAL), mm_protect or mm_lock of a part splits the
    // region's: mm_resize failed with "Bad address". Now the kernel mapping
    // that holds the last page grows in place when the range after it is
    // free (without mremap: new pages mapped there)...
    let out = bug_scenario("efault_after_advise", &[]);
    check_parts_kept(&out, true);
}

#[test]
fn resize_after_partial_advice_is_ebusy_and_keeps_each_part_when_the_end_is_taken() {
    // ...and otherwise the grow is refused (-EBUSY, saying to map the region
    // again or undo the split), the region as it was.
    let out = bug_scenario("efault_after_advise", &[("MMKIT_BLOCK", "1")]);
    assert!(out.contains("blocked true"), "{out}");
    check_parts_kept(&out, false);
}

#[test]
fn resize_with_an_inaccessible_page_is_clean() {
    // Found bug (builds without mremap): growing copied the old pages with
    // memcpy, and a PROT_NONE page was SIGSEGV. A region with one such page
    // (two kernel mappings) and no room after it now cannot grow (-EBUSY).
    // All of it PROT_NONE, it moves: with mremap the pages move; without it
    // the copy is the fault-safe one (-EFAULT). Either way the bytes stay
    // and the page stays closed.
    let out = bug_scenario("portable_copy_fault", &[]);
    assert!(out.contains("blocked true"), "{out}");
    let (rc, msg) = result_of(&out, "resize");
    assert_eq!(rc, -libc::EBUSY, "{msg}");
    assert!(msg.starts_with("mm_resize: "), "{msg}");
    assert!(out.contains("bytes [107, 101, 112, 116]"), "{out}");
    assert_eq!(result_of(&out, "read_none").0, -libc::EFAULT, "{out}");
    let (rc, msg) = result_of(&out, "resize_none");
    if disabled("mremap") {
        assert_eq!(rc, -libc::EFAULT, "{msg}");
        assert!(msg.starts_with("mm_resize: "), "{msg}");
    } else {
        assert_eq!(rc, 0, "{msg}");
    }
    assert_eq!(result_of(&out, "read2").0, 0, "{out}");
    assert!(out.contains("bytes2 [107, 101, 112, 116]"), "{out}");
}

#[test]
fn resize_of_a_read_only_private_region_keeps_its_bytes() {
    // Found bug (builds without mremap): the copy into the new mapping was
    // skipped unless the region was MM_READ|MM_WRITE, so a written region
    // made read-only read zeros after growing. Its protection stays too.
    let out = bug_scenario("portable_copy_lost", &[]);
    assert_eq!(result_of(&out, "resize").0, 0, "{out}");
    assert!(out.contains("bytes [104, 101, 108, 108, 111]"), "{out}");
    assert_eq!(result_of(&out, "write").0, -libc::EACCES, "{out}");
}

#[test]
fn copy_of_more_than_isize_max_bytes_is_einval() {
    // Found bug: ffi.rs built `slice::from_raw_parts(dst, n)` before the
    // range check; n > isize::MAX violated its precondition (a debug build
    // aborted). Now the range is checked before the buffer is touched.
    let out = bug_scenario("huge_n", &[]);
    assert_eq!(result_of(&out, "read").0, -libc::EINVAL, "{out}");
    assert_eq!(result_of(&out, "write").0, -libc::EINVAL, "{out}");
}

#[test]
fn create_on_a_dangling_symlink_is_eloop() {
    // Found bug: open() follows the link (ENOENT), open(O_CREAT|O_EXCL) does
    // not (EEXIST), retry forever at 100% CPU: anyone able to plant a
    // dangling symlink hung a program mapping with MM_CREATE. Now MM_CREATE
    // never creates through a link: -ELOOP, and nothing is created.
    let d = TempDir::new("rel-dangling");
    let out = bug_scenario(
        "dangling_create",
        &[("MMKIT_TEST_DIR", &d.path().to_string_lossy())],
    );
    let (rc, msg) = result_of(&out, "map");
    assert_eq!(rc, -libc::ELOOP, "{msg}");
    assert!(
        msg.starts_with("mm_map_file: ") && msg.contains("symbolic link"),
        "{msg}"
    );
    assert!(!d.join("target").exists());
}

#[test]
fn failed_shareable_grow_keeps_a_peer_grown_object() {
    // Found bug: when a shareable region's grow failed after its ftruncate,
    // the object was truncated back to the region's old length, not its
    // previous size: a peer that had grown it lost its pages.
    let out = bug_scenario("shareable_revert", &[]);
    assert!(result_of(&out, "resize").0 < 0, "{out}");
    assert_eq!(result_of(&out, "peer_read").0, 0, "{out}");
    assert!(out.contains("bytes [112, 101, 101, 114]"), "{out}");
}

#[test]
fn copy_pipe_never_reaches_exec_d_children() {
    // Found bug (builds without process_vm_*): the fault-safe copy's pipe was
    // made with pipe() then FD_CLOEXEC; a thread exec'ing in between handed
    // both ends to the new program. Now pipe2(O_CLOEXEC) where it exists.
    let _s = serial();
    alone!(copy_pipe_never_reaches_exec_d_children);
    let leaks = close_on_exec_check(true);
    assert!(
        leaks.is_empty(),
        "descriptors reached an exec'd child: {leaks:#?}"
    );
}

#[test]
fn no_shm_name_survives_a_kill_during_shareable_maps() {
    // Found limitation: shm_open + shm_unlink leaves a name when the process
    // is killed between the two. memfd (Linux), O_TMPFILE on /dev/shm (Linux
    // without memfd) and SHM_ANON (FreeBSD) never name the object; only the
    // last fallback (other systems) keeps that window, documented in
    // RELIABILITY.md.
    if !mode_is_busy_safe() {
        println!("skipped: this build uses plain shm_open, which has the documented window");
        return;
    }
    let _s = serial_listing_dev_shm();
    for round in 0..20 {
        let (_, after) = shm_left_after_kill("busy", 2 * round);
        assert!(
            after.is_empty(),
            "round {round}: left in /dev/shm: {after:?}"
        );
    }
}

#[test]
fn lock_of_inaccessible_pages_does_not_blame_rlimit_memlock() {
    // Found bug (message): mlock also fails with ENOMEM when it cannot bring
    // the pages in (PROT_NONE, past the end of a truncated file); the message
    // said "refused: RLIMIT_MEMLOCK is ..." for a one-page request.
    let out = bug_scenario("lock_message", &[]);
    let (rc, msg) = result_of(&out, "lock");
    assert!(
        rc == 0 || !msg.contains("refused") && msg.contains("cannot be brought in"),
        "{msg}"
    );
}
