//! Issue 15 ("Hardening"): an `ENOMEM` from `mmap`, `mremap`, `mprotect` or
//! `mlock` names the limit that was likely met, with its value and the
//! process's count (mappings against `vm.max_map_count`, address space
//! against `RLIMIT_AS`, else the overcommit mode); and a failed `mm_lock`
//! leaves nothing of its range locked that was not locked before.
//!
//! Everything goes through the C ABI. Whatever lowers a limit or exhausts
//! the map count runs in a helper process: this test binary re-executed
//! with one of its `#[ignore]`d `helper_*` tests (they do nothing when run
//! directly).
#![cfg(target_os = "linux")]

use std::ffi::{c_int, CStr};
use std::fmt::Write as _;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::ptr;

use crate::support::{cstr, helper, results, test_name, vm_flags, TempDir};
use mmkit::ffi::*;
use mmkit::*;

const RO_SHARED: u32 = MM_READ | MM_SHARED;
const RW_SHARED: u32 = MM_READ | MM_WRITE | MM_SHARED;
const RW_PRIVATE: u32 = MM_READ | MM_WRITE | MM_PRIVATE;

fn last_error() -> String {
    // SAFETY: mm_last_error never returns NULL; the string is NUL-terminated.
    unsafe { CStr::from_ptr(mm_last_error()) }
        .to_string_lossy()
        .into_owned()
}

/// A number from a /proc file holding one.
fn proc_number(path: &str) -> u64 {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A "Key:   N kB" field of a /proc file, in bytes.
fn proc_kb(path: &str, key: &str) -> u64 {
    let text = std::fs::read_to_string(path).unwrap();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in {path}"));
    let kb: u64 = line.trim().trim_end_matches("kB").trim().parse().unwrap();
    kb * 1024
}

/// The number right after `before` in `msg`.
fn number_after(msg: &str, before: &str) -> u64 {
    let at = msg
        .find(before)
        .unwrap_or_else(|| panic!("no {before:?} in: {msg}"));
    let digits: String = msg[at + before.len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number after {before:?} in: {msg}"))
}

/// Record a call's result as a "RESULT key rc message" line in `out`, whose
/// capacity was reserved: near the map count a new heap mapping may be
/// impossible, so nothing here allocates.
fn record(out: &mut String, key: &str, rc: c_int) {
    // SAFETY: mm_last_error never returns NULL; the string is NUL-terminated.
    let msg = unsafe { CStr::from_ptr(mm_last_error()) };
    let msg = if rc < 0 {
        std::str::from_utf8(msg.to_bytes()).unwrap_or("(not UTF-8)")
    } else {
        ""
    };
    assert!(out.capacity() - out.len() > msg.len() + 64, "reserve more");
    let _ = writeln!(out, "RESULT {key} {rc} {msg}");
}

/// Run helper `name` with `env`; it must succeed. Returns its output.
fn run(name: &str, env: &[(&str, &std::path::Path)]) -> String {
    crate::support::output_ok(helper(name), env, name)
}

// ------------------------------------------------------------------ RLIMIT_AS

/// A mapping call, by name.
type MapCall<'a> = (&'a str, &'a dyn Fn(&mut *mut mm_region) -> c_int);

const MIB256: usize = 256 << 20;

/// Helper: lower RLIMIT_AS to 64 MiB above the address space in use, then
/// ask every mapping call for 256 MiB.
#[test]
#[ignore = "helper process for an_address_space_limit_is_named_with_its_value"]
fn helper_address_space_limit() {
    let Some(dir) = std::env::var_os("MMKIT_TEST_DIR") else {
        return;
    };
    let path = PathBuf::from(dir).join("big");
    let big = cstr(&path);
    let file = std::fs::File::open(&path).unwrap();
    let mut out = String::with_capacity(1 << 16);
    let mut small = ptr::null_mut();
    // SAFETY: valid pointers; every region made is unmapped before returning.
    unsafe {
        assert_eq!(mm_map_anon(4096, RW_PRIVATE, &mut small), 0);
        let limit = proc_kb("/proc/self/status", "VmSize:") + (64 << 20);
        let rl = libc::rlimit {
            rlim_cur: limit,
            rlim_max: libc::RLIM_INFINITY,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_AS, &rl), 0);
        let _ = writeln!(out, "LIMIT {limit}");
        let mut r = ptr::null_mut();
        let calls: [MapCall; 5] = [
            ("map_anon", &|r| mm_map_anon(MIB256, RW_PRIVATE, r)),
            ("map_anon_devzero", &|r| {
                mm_map_anon(MIB256, RW_PRIVATE | MM_DEVZERO, r)
            }),
            ("map_file", &|r| {
                mm_map_file(big.as_ptr(), 0, 0, RO_SHARED, r)
            }),
            ("map_fd", &|r| {
                mm_map_fd(file.as_raw_fd(), 0, 0, RO_SHARED, r)
            }),
            ("map_shareable", &|r| {
                mm_map_shareable(c"limits-as".as_ptr(), MIB256, RW_SHARED, r)
            }),
        ];
        for (key, call) in calls {
            let rc = call(&mut r);
            record(&mut out, key, rc);
            if rc == 0 {
                mm_unmap(r);
            }
        }
        record(&mut out, "resize", mm_resize(small, MIB256));
        mm_unmap(small);
    }
    print!("{out}");
}

#[test]
fn an_address_space_limit_is_named_with_its_value() {
    // The helper's shareable region is named for a moment in the portable build.
    let _shm = crate::support::naming_in_dev_shm();
    let d = TempDir::new("limits-as");
    std::fs::File::create(d.join("big"))
        .unwrap()
        .set_len(MIB256 as u64)
        .unwrap();
    let out = run(
        test_name!(helper_address_space_limit),
        &[("MMKIT_TEST_DIR", d.path())],
    );
    let limit = number_after(&out, "LIMIT ");
    let res = results(&out);
    for (key, call) in [
        ("map_anon", "mm_map_anon"),
        ("map_anon_devzero", "mm_map_anon"),
        ("map_file", "mm_map_file"),
        ("map_fd", "mm_map_fd"),
        ("map_shareable", "mm_map_shareable"),
        ("resize", "mm_resize"),
    ] {
        let (rc, msg) = res.get(key).unwrap_or_else(|| panic!("no {key} in {out}"));
        assert_eq!(*rc, -libc::ENOMEM, "{key}: {msg}");
        assert!(msg.starts_with(&format!("{call}: ")), "{key}: {msg}");
        assert!(msg.contains("Cannot allocate memory"), "{key}: {msg}");
        assert!(
            msg.contains(&format!("RLIMIT_AS is {limit} bytes")),
            "{key}: {msg}"
        );
        let used = number_after(msg, "the process already uses ");
        assert!(
            used > 0 && used <= limit && used + MIB256 as u64 > limit,
            "{key}: {used} bytes in use against a limit of {limit}: {msg}"
        );
    }
}

// ------------------------------------------------------------------ map count

/// Whether `vm.max_map_count` is small enough to exhaust in a test.
fn map_count_testable() -> Option<u64> {
    let max = proc_number("/proc/sys/vm/max_map_count");
    if max > 1 << 20 {
        // Some distributions set it to ~2^31: exhausting that is not a test.
        eprintln!("vm.max_map_count is {max}; not exhausting it");
        return None;
    }
    Some(max)
}

/// Helper: split one large unpopulated region into one-page kernel mappings
/// until vm.max_map_count refuses, then call what needs one more mapping or
/// a split.
#[test]
#[ignore = "helper process for the map count tests"]
fn helper_map_count_limit() {
    let Some(dir) = std::env::var_os("MMKIT_TEST_DIR") else {
        return;
    };
    let Some(max) = map_count_testable() else {
        return;
    };
    let page = mm_page_size();
    let file = cstr(&PathBuf::from(dir).join("f"));
    let mut out = String::with_capacity(1 << 16);
    let pages = max as usize + 64;
    let mut big = ptr::null_mut();
    let mut small = ptr::null_mut();
    let mut extra = Vec::with_capacity(64);
    // SAFETY: valid pointers; every region made is unmapped before returning.
    unsafe {
        assert_eq!(mm_map_anon(page, RW_PRIVATE, &mut small), 0);
        assert_eq!(
            mm_map_anon(pages * page, RW_PRIVATE | MM_NORESERVE, &mut big),
            0,
            "{}",
            last_error()
        );
        let locked_before = proc_kb("/proc/self/status", "VmLck:");
        // Page t, the first of the read-write rest, gets read-only or no
        // access (the other of what page t - 1 has): one split a call, so
        // the refused call leaves the kernel mappings as they were, the
        // count at the limit.
        let mut t = 0;
        let rc = loop {
            let prot = if t % 2 == 0 { MM_READ } else { 0 };
            let rc = mm_protect(big, t * page, page, prot);
            if rc != 0 {
                break rc;
            }
            t += 1;
            assert!(t + 8 < pages, "vm.max_map_count is not enforced");
        };
        record(&mut out, "protect", rc);
        // Locking [t - 4, t + 4) locks the one-page mappings before t whole,
        // then must split the rest at t + 4: refused, after the small ones
        // were locked.
        record(&mut out, "lock", mm_lock(big, (t - 4) * page, 8 * page));
        let locked_after = proc_kb("/proc/self/status", "VmLck:");
        let _ = writeln!(out, "VMLCK {locked_before} {locked_after}");
        // mmap itself may go one mapping past the limit: map until refused.
        let rc = loop {
            let mut r = ptr::null_mut();
            let prot = if extra.len() % 2 == 0 {
                MM_READ
            } else {
                MM_READ | MM_WRITE
            };
            let rc = mm_map_anon(page, prot | MM_PRIVATE, &mut r);
            if rc != 0 {
                break rc;
            }
            extra.push(r);
            assert!(extra.len() < 32, "vm.max_map_count is not enforced");
        };
        record(&mut out, "map_anon", rc);
        let mut r = ptr::null_mut();
        let rc = mm_map_file(file.as_ptr(), 0, 0, RO_SHARED, &mut r);
        record(&mut out, "map_file", rc);
        let rc = mm_map_shareable(c"limits-mc".as_ptr(), page, RW_SHARED, &mut r);
        record(&mut out, "map_shareable", rc);
        // (Without mremap a grow is a new mapping, which mmap allowed until
        // now.)
        record(&mut out, "resize", mm_resize(small, 64 * page));
        for r in extra {
            mm_unmap(r);
        }
        mm_unmap(big);
        mm_unmap(small);
    }
    let _ = writeln!(out, "MAX {max}");
    print!("{out}");
}

/// The output of [`helper_map_count_limit`], run once for the tests that
/// read it.
fn map_count_output() -> &'static str {
    static OUT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    OUT.get_or_init(|| {
        // The helper's shareable region is named for a moment in the portable build.
        let _shm = crate::support::naming_in_dev_shm();
        let d = TempDir::new("limits-mc");
        d.file("f", &[7u8; 5000]);
        let start = std::time::Instant::now();
        let out = run(
            test_name!(helper_map_count_limit),
            &[("MMKIT_TEST_DIR", d.path())],
        );
        eprintln!("map count exhaustion took {:?}", start.elapsed());
        out
    })
}

#[test]
fn the_map_count_limit_is_named_with_its_values() {
    let Some(max) = map_count_testable() else {
        return;
    };
    let out = map_count_output();
    assert_eq!(number_after(out, "MAX "), max, "{out}");
    let res = results(out);
    for (key, call) in [
        ("protect", "mm_protect"),
        ("lock", "mm_lock"),
        ("map_anon", "mm_map_anon"),
        ("map_file", "mm_map_file"),
        ("map_shareable", "mm_map_shareable"),
        ("resize", "mm_resize"),
    ] {
        let (rc, msg) = res.get(key).unwrap_or_else(|| panic!("no {key} in {out}"));
        assert_eq!(*rc, -libc::ENOMEM, "{key}: {msg}");
        assert!(msg.starts_with(&format!("{call}: ")), "{key}: {msg}");
        assert!(
            msg.contains(&format!("vm.max_map_count is {max}")),
            "{key}: {msg}"
        );
        let maps = number_after(msg, "the process has ");
        assert!(
            maps + 4 >= max && maps <= max + 1,
            "{key}: {maps} mappings against vm.max_map_count {max}: {msg}"
        );
    }
}

#[test]
fn a_lock_refused_at_the_map_count_leaves_nothing_locked() {
    // mlock locks the range's kernel mappings one by one and stops at the
    // first that cannot be split: the ones before it stayed locked.
    if map_count_testable().is_none() {
        return;
    }
    let out = map_count_output();
    let at = out.find("VMLCK ").unwrap_or_else(|| panic!("{out}"));
    let v: Vec<&str> = out[at..].split_whitespace().take(3).collect();
    assert_eq!(
        v[1], v[2],
        "VmLck before and after the failed mm_lock: {out}"
    );
}

// ------------------------------------------------------------------ overcommit

#[test]
fn the_overcommit_mode_is_named_when_no_limit_explains() {
    // One terabyte of private writable memory: more than RAM + swap here, so
    // the heuristic (0) and the strict (2) modes refuse it; with neither the
    // map count nor RLIMIT_AS near.
    let mode = proc_number("/proc/sys/vm/overcommit_memory");
    let total = proc_kb("/proc/meminfo", "MemTotal:") + proc_kb("/proc/meminfo", "SwapTotal:");
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only into rl.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut rl) }, 0);
    if total >= 1 << 40 || rl.rlim_cur != libc::RLIM_INFINITY {
        eprintln!("1 TiB fits in RAM + swap here, or RLIMIT_AS is set: nothing to provoke");
        return;
    }
    let mut r = ptr::null_mut();
    // SAFETY: valid pointers; a region made is unmapped.
    let rc = unsafe { mm_map_anon(1 << 40, RW_PRIVATE, &mut r) };
    if rc == 0 {
        // SAFETY: the region was just made.
        unsafe { mm_unmap(r) };
        assert_eq!(
            mode, 1,
            "1 TiB was committed with vm.overcommit_memory {mode}"
        );
        eprintln!("vm.overcommit_memory is 1: nothing to refuse (the text is unit-tested)");
        return;
    }
    let msg = last_error();
    eprintln!("{msg}");
    assert_eq!(rc, -libc::ENOMEM, "{msg}");
    assert!(
        msg.contains(&format!("vm.overcommit_memory is {mode}")),
        "{msg}"
    );
    match mode {
        0 => assert_eq!(number_after(&msg, "RAM + swap, "), total, "{msg}"),
        2 => {
            let limit = proc_kb("/proc/meminfo", "CommitLimit:");
            assert_eq!(number_after(&msg, "CommitLimit of "), limit, "{msg}");
            assert!(msg.contains("Committed_AS is "), "{msg}");
        }
        _ => {}
    }
}

// ------------------------------------------------------------------ mm_lock undo

/// A region mapping `pages` pages of a file shared, the file then cut to
/// one page: locking past its first page cannot fault those pages in.
fn truncated_file_region(d: &TempDir, pages: usize, lock_first: &[usize]) -> *mut mm_region {
    let page = page_size();
    let path = d.file("f", &vec![5u8; pages * page]);
    let mut r = ptr::null_mut();
    // SAFETY: valid pointers.
    unsafe {
        assert_eq!(
            mm_map_file(cstr(&path).as_ptr(), 0, 0, RO_SHARED, &mut r),
            0,
            "{}",
            last_error()
        );
        for &p in lock_first {
            assert_eq!(mm_lock(r, p * page, page), 0, "{}", last_error());
        }
    }
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(page as u64)
        .unwrap();
    r
}

/// Which of the region's pages are locked (the `lo` VmFlag of the kernel
/// mapping holding each).
fn locked_pages(r: *mut mm_region, pages: usize) -> Vec<usize> {
    let page = page_size();
    // SAFETY: the region is live.
    let base = unsafe { mm_ptr(r) }.cast::<u8>();
    (0..pages)
        .filter(|&p| {
            vm_flags(base.wrapping_add(p * page))
                .split_whitespace()
                .any(|f| f == "lo")
        })
        .collect()
}

fn failed_lock_leaves(pages: usize, lock_first: &[usize], offset: usize, len: usize) -> Vec<usize> {
    let d = TempDir::new("limits-lock");
    let r = truncated_file_region(&d, pages, lock_first);
    let page = page_size();
    // SAFETY: the region is live; unmapped once.
    unsafe {
        let rc = mm_lock(r, offset * page, len * page);
        assert_eq!(rc, -libc::ENOMEM, "{}", last_error());
        let msg = last_error();
        assert!(msg.starts_with("mm_lock: "), "{msg}");
        let left = locked_pages(r, pages);
        assert_eq!(mm_unmap(r), 0);
        left
    }
}

#[test]
fn a_failed_lock_leaves_nothing_of_its_range_locked() {
    // mlock marks the whole range locked, then faults it in; past the end of
    // the file that fails, and the range stayed locked.
    assert_eq!(failed_lock_leaves(4, &[], 0, 0), Vec::<usize>::new());
}

#[test]
fn an_earlier_lock_survives_a_failed_lock_of_a_larger_range() {
    assert_eq!(failed_lock_leaves(4, &[0], 0, 0), vec![0]);
}

#[test]
fn earlier_locks_inside_and_beside_the_range_survive_a_failed_lock() {
    // Pages 0, 2 and 5 locked before (2 and 5 are past the end of the file
    // once it is cut: their mappings stay locked); the lock of pages 1..=6
    // fails; 1, 3, 4 and 6 must not stay locked, 0, 2 and 5 must.
    assert_eq!(failed_lock_leaves(8, &[0, 2, 5], 1, 6), vec![0, 2, 5]);
}

#[test]
fn a_failed_lock_beside_an_earlier_one_leaves_only_that_one() {
    assert_eq!(failed_lock_leaves(4, &[0], 1, 3), vec![0]);
}
