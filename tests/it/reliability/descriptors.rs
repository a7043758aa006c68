//! Descriptors: none leaks, none reaches an exec'd program, and a full
//! descriptor table is `EMFILE`, from which every call recovers.

use super::*;

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
                -libc::ENODEV
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

pub(super) fn close_on_exec_check(with_copies: bool) -> Vec<String> {
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
    let get = support::results_by_key(&out);
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
