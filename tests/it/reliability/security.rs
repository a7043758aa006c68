//! Security: created files are 0600 whatever the umask; `MM_EXCL` refuses a
//! symlink; nothing is left in /dev/shm, also after `SIGKILL`.

use super::*;

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
pub(super) fn shm_left_after_kill(mode: &str, wait_ms: u64) -> (Vec<String>, Vec<String>) {
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
pub(super) fn mode_is_busy_safe() -> bool {
    !disabled("memfd") || !disabled("o_tmpfile")
}
