//! Behaviour that needs real processes: SIGKILL after mm_sync, mlock under a
//! small RLIMIT_MEMLOCK as an unprivileged user. The helpers are `#[ignore]`d
//! tests of this binary that the real tests run as child processes.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use crate::support::{helper, pattern, run_limited, test_name, TempDir};
use mmkit::{Flags, Region, SyncFlags};

/// Helper: map MMKIT_TEST_FILE shared, write the pattern, mm_sync(MM_SYNC),
/// say "synced", then wait on stdin (to be killed).
#[test]
#[ignore = "helper process for sync_then_sigkill_loses_nothing"]
fn helper_sync_writer() {
    let path = std::env::var_os("MMKIT_TEST_FILE").expect("helper run directly");
    let mut r = Region::file(&path, 0, 0, Flags::READ | Flags::WRITE | Flags::SHARED).unwrap();
    let data = pattern(r.len(), 9);
    // SAFETY: this process is the only writer of the file.
    unsafe { r.as_mut_slice() }.copy_from_slice(&data);
    r.sync(0, 0, SyncFlags::SYNC).unwrap();
    println!("synced");
    std::io::stdout().flush().unwrap();
    let mut line = String::new();
    // Blocks until killed.
    std::io::stdin().read_line(&mut line).unwrap();
    panic!("helper_sync_writer was not killed");
}

#[test]
fn sync_then_sigkill_loses_nothing() {
    let d = TempDir::new("kill");
    let len = 3 * mmkit::page_size() + 11;
    let path = d.file("f", &vec![0u8; len]);
    let mut child = helper(test_name!(helper_sync_writer))
        .env("MMKIT_TEST_FILE", &path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut said = String::new();
    loop {
        said.clear();
        assert!(
            out.read_line(&mut said).unwrap() > 0,
            "helper exited before syncing"
        );
        // libtest may print "test helper_sync_writer ... " before the helper's output.
        if said.trim_end().ends_with("synced") {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL: no destructors, no munmap, no exit handlers.
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert_eq!(std::fs::read(&path).unwrap(), pattern(len, 9));
}

/// Helper: mm_lock 1 MiB and print the return code and message.
#[test]
#[ignore = "helper process for lock_refusal_names_rlimit_memlock"]
fn helper_lock() {
    use mmkit::ffi::*;
    use mmkit::{MM_PRIVATE, MM_READ, MM_WRITE};
    let mut r = std::ptr::null_mut();
    // SAFETY: valid out pointer; r is unmapped before returning.
    unsafe {
        assert_eq!(
            mm_map_anon(1 << 20, MM_READ | MM_WRITE | MM_PRIVATE, &mut r),
            0
        );
        let rc = mm_lock(r, 0, 0);
        let msg = std::ffi::CStr::from_ptr(mm_last_error()).to_string_lossy();
        println!("rc={rc}");
        println!("msg={msg}");
        mm_unmap(r);
    }
}

/// prlimit's arguments for a helper under `RLIMIT_MEMLOCK` 64 KiB, run by
/// `setpriv` as nobody when the tests run as root (unprivileged, so
/// `CAP_IPC_LOCK` cannot lift the limit).
fn memlock_64k_unprivileged() -> Vec<&'static str> {
    let mut args = vec!["--memlock=65536:65536"];
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        args.extend([
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ]);
    }
    args
}

#[test]
fn lock_refusal_names_rlimit_memlock() {
    let text = run_limited(test_name!(helper_lock), &memlock_64k_unprivileged(), &[]);
    let rc: i32 = text
        .lines()
        .find_map(|l| l.split_once("rc=").map(|(_, v)| v))
        .expect("no rc line")
        .parse()
        .unwrap();
    assert!(
        rc == -libc::ENOMEM || rc == -libc::EPERM || rc == -libc::EAGAIN,
        "rc {rc}: {text}"
    );
    let msg = text
        .lines()
        .find_map(|l| l.split_once("msg=").map(|(_, v)| v))
        .expect("no msg line");
    assert!(
        msg.starts_with("mm_lock: mlock(1048576 bytes) refused: RLIMIT_MEMLOCK is 65536 bytes"),
        "{msg}"
    );
    assert!(msg.contains("VmLck"), "{msg}");
}

/// Helper: mm_lock 16 KiB (shrunk from 1 MiB: the addresses after them are
/// free), grow them to 1 MiB and print the return code, the message and the
/// length afterwards.
#[test]
#[ignore = "helper process for growing_a_locked_region_past_rlimit_memlock_names_it"]
fn helper_grow_locked() {
    use mmkit::ffi::*;
    use mmkit::{MM_PRIVATE, MM_READ, MM_WRITE};
    let mut r = std::ptr::null_mut();
    // SAFETY: valid out pointer; r is unmapped before returning.
    unsafe {
        assert_eq!(
            mm_map_anon(1 << 20, MM_READ | MM_WRITE | MM_PRIVATE, &mut r),
            0
        );
        assert_eq!(mm_resize(r, 16384), 0);
        assert_eq!(mm_lock(r, 0, 0), 0);
        let rc = mm_resize(r, 1 << 20);
        let msg = std::ffi::CStr::from_ptr(mm_last_error()).to_string_lossy();
        println!("rc={rc}");
        println!("msg={msg}");
        println!("len={}", mm_len(r));
        mm_unmap(r);
    }
}

#[test]
fn growing_a_locked_region_past_rlimit_memlock_names_it() {
    // With mremap the kernel locks the pages a grow adds to a locked kernel
    // mapping, in place or moved: past RLIMIT_MEMLOCK that is EAGAIN, which
    // the message explains as mm_lock's do. (Without mremap the new pages
    // are a mapping of their own, unlocked: the grow in place succeeds.)
    let without_mremap =
        option_env!("MMKIT_DISABLE").is_some_and(|v| v.split(',').any(|c| c.trim() == "mremap"));
    let text = run_limited(
        test_name!(helper_grow_locked),
        &memlock_64k_unprivileged(),
        &[],
    );
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.split_once(name).map(|(_, v)| v.to_string()))
            .unwrap_or_else(|| panic!("no {name} line: {text}"))
    };
    let rc: i32 = field("rc=").parse().unwrap();
    if without_mremap {
        assert_eq!(rc, 0, "{text}");
        return;
    }
    assert_eq!(rc, -libc::EAGAIN, "{text}");
    let msg = field("msg=");
    assert!(
        msg.starts_with(
            "mm_resize: growing the region from 16384 to 1048576 bytes would lock more memory than \
             RLIMIT_MEMLOCK (65536 bytes) allows"
        ) && msg.contains("mm_unlock"),
        "{msg}"
    );
    assert_eq!(field("len="), "16384", "{text}");
}

/// Helper: under a small RLIMIT_FSIZE, MM_CREATE past it must be an error
/// (EFBIG), not SIGXFSZ.
#[test]
#[ignore = "helper process for create_past_rlimit_fsize_is_efbig_not_sigxfsz"]
fn helper_fsize() {
    let dir = std::path::PathBuf::from(std::env::var_os("MMKIT_TEST_DIR").unwrap());
    let e = Region::file(
        dir.join("big"),
        0,
        1 << 20,
        Flags::READ | Flags::WRITE | Flags::SHARED | Flags::CREATE,
    )
    .unwrap_err();
    println!("errno={} msg={e}", e.errno());
    println!("left={}", dir.join("big").exists());
    // Within the limit it works.
    Region::file(
        dir.join("small"),
        0,
        4096,
        Flags::READ | Flags::WRITE | Flags::SHARED | Flags::CREATE,
    )
    .unwrap();
    println!("small ok");
}

#[test]
fn create_past_rlimit_fsize_is_efbig_not_sigxfsz() {
    let d = TempDir::new("fsize");
    let text = crate::support::run_limited(
        test_name!(helper_fsize),
        &["--fsize=65536:65536"],
        &[("MMKIT_TEST_DIR", d.path())],
    );
    assert!(text.contains(&format!("errno={} ", libc::EFBIG)), "{text}");
    assert!(text.contains("RLIMIT_FSIZE"), "{text}");
    assert!(text.contains("left=false"), "{text}");
    assert!(text.contains("small ok"), "{text}");
}
