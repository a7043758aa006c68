//! The reproductions of library bugs this battery found, kept as regressions;
//! each runs its scenario in a helper process.

use super::descriptors::close_on_exec_check;
use super::security::{mode_is_busy_safe, shm_left_after_kill};
use super::*;

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
    // (Mapped writable, made read-only by mm_protect: EFAULT, the contract's
    // "a page that mm_protect later made inaccessible".)
    assert_eq!(result_of(&out, "write").0, -libc::EFAULT, "{out}");
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
