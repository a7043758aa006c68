//! Every extern "C" function, called as C calls it, with each bad input the
//! contract names: the exact negative errno and a message naming the call.

use std::ffi::{c_char, CStr};
use std::ptr;

use crate::support::{cstr, TempDir};
use mmkit::ffi::*;
use mmkit::*;

fn last_error() -> String {
    // SAFETY: mm_last_error never returns NULL and the string is NUL-terminated.
    unsafe { CStr::from_ptr(mm_last_error()) }
        .to_string_lossy()
        .into_owned()
}

/// Assert `rc == -errno` and that the message names `call` and each of `words`.
#[track_caller]
fn expect_err(rc: i32, errno: i32, call: &str, words: &[&str]) {
    assert_eq!(rc, -errno, "rc {rc}, message {:?}", last_error());
    let m = last_error();
    assert!(
        m.starts_with(&format!("{call}: ")),
        "message {m:?} does not name {call}"
    );
    for w in words {
        assert!(m.contains(w), "message {m:?} lacks {w:?}");
    }
}

const RW_PRIVATE: u32 = MM_READ | MM_WRITE | MM_PRIVATE;
const RW_SHARED: u32 = MM_READ | MM_WRITE | MM_SHARED;

/// A sentinel that must survive a failed call untouched.
fn sentinel() -> *mut mm_region {
    0x5a5a_usize as *mut mm_region
}

#[test]
fn map_anon_bad_inputs() {
    let page = mm_page_size();
    let mut out = sentinel();
    // SAFETY (all calls below): pointers are valid or deliberately NULL.
    unsafe {
        expect_err(
            mm_map_anon(0, RW_PRIVATE, &mut out),
            libc::EINVAL,
            "mm_map_anon",
            &["len is 0"],
        );
        expect_err(
            mm_map_anon(4096, RW_PRIVATE, ptr::null_mut()),
            libc::EINVAL,
            "mm_map_anon",
            &["out is NULL"],
        );
        expect_err(
            mm_map_anon(usize::MAX, RW_PRIVATE, &mut out),
            libc::ENOMEM,
            "mm_map_anon",
            &[&usize::MAX.to_string()],
        );
        let big = usize::MAX - page;
        expect_err(
            mm_map_anon(big, RW_PRIVATE, &mut out),
            libc::ENOMEM,
            "mm_map_anon",
            &[&big.to_string()],
        );
        expect_err(
            mm_map_anon(4096, RW_PRIVATE | 0x8000_0000, &mut out),
            libc::EINVAL,
            "mm_map_anon",
            &["0x80000000"],
        );
        expect_err(
            mm_map_anon(4096, MM_READ | MM_WRITE, &mut out),
            libc::EINVAL,
            "mm_map_anon",
            &["neither MM_SHARED nor MM_PRIVATE"],
        );
        expect_err(
            mm_map_anon(4096, RW_SHARED | MM_PRIVATE, &mut out),
            libc::EINVAL,
            "mm_map_anon",
            &["both MM_SHARED and MM_PRIVATE"],
        );
        expect_err(
            mm_map_anon(4096, MM_EXEC | MM_PRIVATE, &mut out),
            libc::EINVAL,
            "mm_map_anon",
            &["neither MM_READ nor MM_WRITE"],
        );
        expect_err(
            mm_map_anon(4096, RW_PRIVATE | MM_CREATE, &mut out),
            libc::EINVAL,
            "mm_map_anon",
            &["MM_CREATE"],
        );
    }
    assert_eq!(out, sentinel(), "out was written on failure");
}

#[test]
fn map_anon_success_and_accessors() {
    let mut r: *mut mm_region = ptr::null_mut();
    // SAFETY: valid out pointer; r is used only while mapped.
    unsafe {
        assert_eq!(mm_map_anon(10, RW_SHARED, &mut r), 0);
        assert!(!r.is_null());
        assert_eq!(mm_len(r), 10);
        let p = mm_ptr(r).cast::<u8>();
        assert!(!p.is_null());
        assert_eq!(p as usize % mm_page_size(), 0);
        p.write_bytes(7, 10);
        assert_eq!(*p.add(9), 7);
        let f = mm_flags(r);
        assert_eq!(f & RW_SHARED, RW_SHARED);
        assert_eq!(mm_sync(r, 0, 0, MM_SYNC), 0);
        assert_eq!(mm_lock(r, 0, 0), 0);
        assert_eq!(mm_unlock(r, 0, 0), 0);
        assert_eq!(mm_advise(r, 0, 0, MM_ADV_WILLNEED), 0);
        assert_eq!(mm_protect(r, 0, 0, MM_READ), 0);
        assert_eq!(mm_flags(r) & MM_WRITE, 0);
        assert_eq!(mm_unmap(r), 0);
        let mut d: *mut mm_region = ptr::null_mut();
        assert_eq!(mm_map_anon(10, RW_SHARED | MM_DEVZERO, &mut d), 0);
        assert_ne!(mm_flags(d) & MM_DEVZERO, 0);
        assert_eq!(mm_unmap(d), 0);
    }
}

#[test]
fn null_handles_are_harmless() {
    // SAFETY: NULL is an allowed handle for each of these.
    unsafe {
        assert_eq!(mm_unmap(ptr::null_mut()), 0);
        assert!(mm_ptr(ptr::null()).is_null());
        assert_eq!(mm_len(ptr::null()), 0);
        assert_eq!(mm_flags(ptr::null()), 0);
        expect_err(
            mm_sync(ptr::null_mut(), 0, 0, 0),
            libc::EINVAL,
            "mm_sync",
            &["NULL"],
        );
        expect_err(
            mm_lock(ptr::null_mut(), 0, 0),
            libc::EINVAL,
            "mm_lock",
            &["NULL"],
        );
        expect_err(
            mm_unlock(ptr::null_mut(), 0, 0),
            libc::EINVAL,
            "mm_unlock",
            &["NULL"],
        );
        expect_err(
            mm_advise(ptr::null_mut(), 0, 0, 0),
            libc::EINVAL,
            "mm_advise",
            &["NULL"],
        );
        expect_err(
            mm_protect(ptr::null_mut(), 0, 0, 0),
            libc::EINVAL,
            "mm_protect",
            &["NULL"],
        );
        expect_err(mm_check(ptr::null()), libc::EINVAL, "mm_check", &["NULL"]);
        let none = mm_lost_counter(ptr::null());
        assert!(!none.is_null());
        assert_eq!((*none).load(std::sync::atomic::Ordering::Relaxed), 0);
    }
}

#[test]
fn map_file_bad_inputs() {
    let d = TempDir::new("ffi-file");
    let p = cstr(&d.file("f", &[1u8; 1000]));
    let dir = cstr(d.path());
    let missing = cstr(&d.join("missing"));
    let mut out = sentinel();
    // SAFETY: valid C strings and out pointers, or deliberate NULLs.
    unsafe {
        expect_err(
            mm_map_file(ptr::null(), 0, 0, MM_READ | MM_SHARED, &mut out),
            libc::EINVAL,
            "mm_map_file",
            &["path is NULL"],
        );
        expect_err(
            mm_map_file(p.as_ptr(), 0, 0, MM_READ | MM_SHARED, ptr::null_mut()),
            libc::EINVAL,
            "mm_map_file",
            &["out is NULL"],
        );
        expect_err(
            mm_map_file(p.as_ptr(), 1001, 0, MM_READ | MM_SHARED, &mut out),
            libc::EINVAL,
            "mm_map_file",
            &["1001", "1000 bytes"],
        );
        expect_err(
            mm_map_file(p.as_ptr(), 10, 991, MM_READ | MM_SHARED, &mut out),
            libc::EINVAL,
            "mm_map_file",
            &["10", "991", "1000 bytes"],
        );
        expect_err(
            mm_map_file(p.as_ptr(), u64::MAX, 2, MM_READ | MM_SHARED, &mut out),
            libc::EINVAL,
            "mm_map_file",
            &[&u64::MAX.to_string()],
        );
        expect_err(
            mm_map_file(p.as_ptr(), 1, usize::MAX, MM_READ | MM_SHARED, &mut out),
            libc::EINVAL,
            "mm_map_file",
            &[&usize::MAX.to_string()],
        );
        expect_err(
            mm_map_file(p.as_ptr(), 0, 0, MM_READ | MM_SHARED | 0x40_0000, &mut out),
            libc::EINVAL,
            "mm_map_file",
            &["0x400000"],
        );
        expect_err(
            mm_map_file(p.as_ptr(), 0, 0, MM_READ, &mut out),
            libc::EINVAL,
            "mm_map_file",
            &["MM_SHARED"],
        );
        expect_err(
            mm_map_file(p.as_ptr(), 0, 0, MM_READ | MM_SHARED | MM_PRIVATE, &mut out),
            libc::EINVAL,
            "mm_map_file",
            &["both"],
        );
        expect_err(
            mm_map_file(p.as_ptr(), 0, 0, MM_READ | MM_SHARED | MM_DEVZERO, &mut out),
            libc::EINVAL,
            "mm_map_file",
            &["MM_DEVZERO"],
        );
        expect_err(
            mm_map_file(dir.as_ptr(), 0, 0, MM_READ | MM_SHARED, &mut out),
            libc::ENODEV,
            "mm_map_file",
            &["directory", &d.path().to_string_lossy()],
        );
        expect_err(
            mm_map_file(missing.as_ptr(), 0, 0, MM_READ | MM_SHARED, &mut out),
            libc::ENOENT,
            "mm_map_file",
            &["missing"],
        );
        expect_err(
            mm_map_file(p.as_ptr(), 0, 10, RW_SHARED | MM_CREATE | MM_EXCL, &mut out),
            libc::EEXIST,
            "mm_map_file",
            &["O_EXCL"],
        );
    }
    assert_eq!(out, sentinel());
    // Empty file: a valid region of length 0 with a NULL pointer.
    let e = cstr(&d.file("empty", b""));
    let mut r = ptr::null_mut();
    // SAFETY: valid arguments; r unmapped at the end.
    unsafe {
        assert_eq!(
            mm_map_file(e.as_ptr(), 0, 0, MM_READ | MM_SHARED, &mut r),
            0
        );
        assert!(!r.is_null());
        assert_eq!(mm_len(r), 0);
        assert!(mm_ptr(r).is_null());
        assert_eq!(mm_sync(r, 0, 0, 0), 0);
        expect_err(mm_sync(r, 1, 0, 0), libc::EINVAL, "mm_sync", &["offset 1"]);
        assert_eq!(mm_unmap(r), 0);
    }
}

#[test]
fn map_fd_bad_inputs() {
    let d = TempDir::new("ffi-fd");
    let path = d.file("f", b"0123456789");
    let ro = std::fs::File::open(&path).unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&ro);
    let mut out = sentinel();
    let mut pipe = [0; 2];
    // SAFETY: pipe has room for two descriptors; all others are valid or deliberately bad.
    unsafe {
        expect_err(
            mm_map_fd(-1, 0, 0, MM_READ | MM_SHARED, &mut out),
            libc::EBADF,
            "mm_map_fd",
            &["-1"],
        );
        expect_err(
            mm_map_fd(fd, 0, 0, MM_READ | MM_SHARED, ptr::null_mut()),
            libc::EINVAL,
            "mm_map_fd",
            &["out is NULL"],
        );
        expect_err(
            mm_map_fd(fd, 0, 0, RW_SHARED, &mut out),
            libc::EACCES,
            "mm_map_fd",
            &["read-only", &fd.to_string()],
        );
        expect_err(
            mm_map_fd(fd, 11, 0, MM_READ | MM_SHARED, &mut out),
            libc::EINVAL,
            "mm_map_fd",
            &["11"],
        );
        assert_eq!(libc::pipe(pipe.as_mut_ptr()), 0);
        expect_err(
            mm_map_fd(pipe[0], 0, 0, MM_READ | MM_SHARED, &mut out),
            libc::ENODEV,
            "mm_map_fd",
            &["pipe"],
        );
        libc::close(pipe[0]);
        libc::close(pipe[1]);
        // A descriptor number that cannot be open (a just-closed number could be
        // reused at once by another test thread).
        expect_err(
            mm_map_fd(i32::MAX, 0, 0, MM_READ | MM_SHARED, &mut out),
            libc::EBADF,
            "mm_map_fd",
            &[],
        );
    }
    assert_eq!(out, sentinel());
    let mut r = ptr::null_mut();
    // SAFETY: fd is open; r unmapped below.
    unsafe {
        assert_eq!(mm_map_fd(fd, 3, 4, MM_READ | MM_PRIVATE, &mut r), 0);
        assert_eq!(
            std::slice::from_raw_parts(mm_ptr(r).cast::<u8>(), mm_len(r)),
            b"3456"
        );
        assert_eq!(mm_unmap(r), 0);
    }
}

#[test]
fn sync_lock_advise_protect_bad_inputs() {
    let mut r = ptr::null_mut();
    // SAFETY: r is a live region for the duration of the calls.
    unsafe {
        assert_eq!(mm_map_anon(10_000, RW_SHARED, &mut r), 0);
        expect_err(
            mm_sync(r, 0, 0, MM_SYNC | MM_ASYNC),
            libc::EINVAL,
            "mm_sync",
            &["mutually exclusive"],
        );
        expect_err(mm_sync(r, 0, 0, 0x80), libc::EINVAL, "mm_sync", &["0x80"]);
        expect_err(
            mm_sync(r, 10_001, 0, 0),
            libc::EINVAL,
            "mm_sync",
            &["10001", "10000 bytes"],
        );
        expect_err(
            mm_sync(r, 1, usize::MAX, 0),
            libc::EINVAL,
            "mm_sync",
            &[&usize::MAX.to_string()],
        );
        expect_err(
            mm_lock(r, usize::MAX, 1),
            libc::EINVAL,
            "mm_lock",
            &[&usize::MAX.to_string()],
        );
        expect_err(
            mm_unlock(r, 5000, 5001),
            libc::EINVAL,
            "mm_unlock",
            &["5001"],
        );
        expect_err(mm_advise(r, 0, 0, 99), libc::EINVAL, "mm_advise", &["99"]);
        expect_err(mm_advise(r, 0, 0, -1), libc::EINVAL, "mm_advise", &["-1"]);
        expect_err(
            mm_advise(r, 20_000, 0, MM_ADV_NORMAL),
            libc::EINVAL,
            "mm_advise",
            &["20000"],
        );
        expect_err(
            mm_protect(r, 0, 0, MM_SHARED),
            libc::EINVAL,
            "mm_protect",
            &["0x10"],
        );
        expect_err(
            mm_protect(r, 1, 10, MM_READ),
            libc::EINVAL,
            "mm_protect",
            &["page boundaries"],
        );
        assert_eq!(mm_unmap(r), 0);
    }
}

#[test]
fn write_to_read_only_file_mapping_protect_is_eacces() {
    let d = TempDir::new("ffi-prot");
    let p = cstr(&d.file("f", &[0u8; 100]));
    let mut r = ptr::null_mut();
    // SAFETY: valid arguments; r unmapped below.
    unsafe {
        assert_eq!(
            mm_map_file(p.as_ptr(), 0, 0, MM_READ | MM_SHARED, &mut r),
            0
        );
        expect_err(
            mm_protect(r, 0, 0, MM_READ | MM_WRITE),
            libc::EACCES,
            "mm_protect",
            &["mprotect"],
        );
        assert_eq!(mm_unmap(r), 0);
    }
}

#[test]
fn last_error_is_never_null_and_per_thread() {
    let fresh = std::thread::spawn(last_error).join().unwrap();
    assert_eq!(fresh, "");
    let mut out = ptr::null_mut();
    // SAFETY: valid out pointer.
    assert_eq!(
        unsafe { mm_map_anon(0, RW_PRIVATE, &mut out) },
        -libc::EINVAL
    );
    let mine = last_error();
    let other = std::thread::spawn(|| {
        let mut o = ptr::null_mut();
        // SAFETY: valid out pointer.
        unsafe { mm_map_anon(4096, 0xdead_0000, &mut o) };
        last_error()
    })
    .join()
    .unwrap();
    assert!(other.contains("0xdead0000"), "{other}");
    assert_eq!(
        last_error(),
        mine,
        "another thread's failure changed this thread's message"
    );
    // The message stays until the next failure, like errno.
    // SAFETY: valid out pointer; the region is unmapped at once.
    unsafe {
        assert_eq!(mm_map_anon(4096, RW_PRIVATE, &mut out), 0);
        mm_unmap(out);
    }
    assert_eq!(last_error(), mine);
}

#[test]
fn version_and_page_size() {
    // SAFETY: mm_version returns a static NUL-terminated string.
    let v = unsafe { CStr::from_ptr(mm_version() as *const c_char) }
        .to_str()
        .unwrap();
    assert_eq!(v, env!("CARGO_PKG_VERSION"));
    assert_eq!(v.split('.').count(), 3);
    assert!(v.split('.').all(|n| n.parse::<u32>().is_ok()));
    // SAFETY: sysconf has no preconditions.
    assert_eq!(mm_page_size() as i64, unsafe {
        libc::sysconf(libc::_SC_PAGESIZE)
    });
}

#[test]
fn many_threads_call_the_abi_at_once() {
    let d = std::sync::Arc::new(TempDir::new("ffi-threads"));
    let handles: Vec<_> = (0..8u8)
        .map(|t| {
            let d = d.clone();
            std::thread::spawn(move || {
                let p = cstr(&d.file(&format!("f{t}"), &vec![t; 5000]));
                for i in 0..300 {
                    let mut r = ptr::null_mut();
                    // SAFETY: valid arguments; r unmapped in the same iteration.
                    unsafe {
                        assert_eq!(
                            mm_map_file(p.as_ptr(), i % 5000, 0, MM_READ | MM_SHARED, &mut r),
                            0
                        );
                        assert_eq!(*mm_ptr(r).cast::<u8>(), t);
                        assert_eq!(mm_sync(r, 0, 0, MM_ASYNC), 0);
                        assert_eq!(mm_unmap(r), 0);
                        // Each thread's failure message is its own.
                        let rc = mm_map_anon(0, u32::from(t) << 24 | RW_PRIVATE, &mut r);
                        assert_eq!(rc, -libc::EINVAL);
                        let m = last_error();
                        if t > 0 {
                            assert!(m.contains(&format!("{:#x}", u32::from(t) << 24)), "{m}");
                        }
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn beyond_the_peers_bad_inputs() {
    let _shm = crate::support::naming_in_dev_shm();
    let mut r = ptr::null_mut();
    let mut out = sentinel();
    let mut buf = [0u8; 8];
    let name = c"mmkit-ffi";
    // SAFETY: valid pointers or deliberate NULLs; r unmapped at the end.
    unsafe {
        expect_err(
            mm_read(ptr::null(), 0, buf.as_mut_ptr().cast(), 8),
            libc::EINVAL,
            "mm_read",
            &["NULL"],
        );
        expect_err(
            mm_write(ptr::null_mut(), 0, buf.as_ptr().cast(), 8),
            libc::EINVAL,
            "mm_write",
            &["NULL"],
        );
        expect_err(
            mm_resize(ptr::null_mut(), 10),
            libc::EINVAL,
            "mm_resize",
            &["NULL"],
        );
        expect_err(mm_fd(ptr::null()), libc::EINVAL, "mm_fd", &["NULL"]);
        expect_err(
            mm_seal(ptr::null_mut(), MM_SEAL_SHRINK),
            libc::EINVAL,
            "mm_seal",
            &["NULL"],
        );
        expect_err(
            mm_map_shareable(ptr::null(), 4096, RW_SHARED, &mut out),
            libc::EINVAL,
            "mm_map_shareable",
            &["name is NULL"],
        );
        expect_err(
            mm_map_shareable(name.as_ptr(), 4096, RW_SHARED, ptr::null_mut()),
            libc::EINVAL,
            "mm_map_shareable",
            &["out is NULL"],
        );
        expect_err(
            mm_map_shareable(name.as_ptr(), 0, RW_SHARED, &mut out),
            libc::EINVAL,
            "mm_map_shareable",
            &["len is 0"],
        );
        expect_err(
            mm_map_shareable(name.as_ptr(), 4096, RW_PRIVATE, &mut out),
            libc::EINVAL,
            "mm_map_shareable",
            &["MM_PRIVATE"],
        );
        expect_err(
            mm_map_shareable(name.as_ptr(), 4096, RW_SHARED | 0x100_0000, &mut out),
            libc::EINVAL,
            "mm_map_shareable",
            &["0x1000000"],
        );
        assert_eq!(out, sentinel());

        assert_eq!(mm_map_anon(100, RW_PRIVATE, &mut r), 0);
        expect_err(
            mm_read(r, 0, ptr::null_mut(), 8),
            libc::EINVAL,
            "mm_read",
            &["dst is NULL"],
        );
        assert_eq!(
            mm_read(r, 0, ptr::null_mut(), 0),
            0,
            "n == 0 needs no buffer"
        );
        expect_err(
            mm_write(r, 0, ptr::null(), 8),
            libc::EINVAL,
            "mm_write",
            &["src is NULL"],
        );
        expect_err(
            mm_read(r, 96, buf.as_mut_ptr().cast(), 8),
            libc::EINVAL,
            "mm_read",
            &["96", "100 bytes"],
        );
        expect_err(mm_fd(r), libc::EBADF, "mm_fd", &["keeps no descriptor"]);
        expect_err(
            mm_seal(r, MM_SEAL_SHRINK),
            libc::ENOTSUP,
            "mm_seal",
            &["mm_map_shareable"],
        );
        expect_err(
            mm_resize(r, 0),
            libc::EINVAL,
            "mm_resize",
            &["new_len is 0"],
        );
        assert_eq!(mm_write(r, 92, b"12345678".as_ptr().cast(), 8), 0);
        assert_eq!(mm_resize(r, 1 << 20), 0);
        assert_eq!(mm_len(r), 1 << 20);
        assert_eq!(mm_read(r, 92, buf.as_mut_ptr().cast(), 8), 0);
        assert_eq!(&buf, b"12345678");
        assert_eq!(mm_unmap(r), 0);

        assert_eq!(mm_map_shareable(name.as_ptr(), 4096, RW_SHARED, &mut r), 0);
        let fd = mm_fd(r);
        assert!(fd >= 0);
        let mut peer = ptr::null_mut();
        assert_eq!(mm_map_fd(fd, 0, 0, RW_SHARED, &mut peer), 0);
        assert_eq!(mm_write(peer, 0, b"shared!!".as_ptr().cast(), 8), 0);
        assert_eq!(mm_read(r, 0, buf.as_mut_ptr().cast(), 8), 0);
        assert_eq!(&buf, b"shared!!");
        expect_err(mm_seal(r, 0x100), libc::EINVAL, "mm_seal", &["0x100"]);
        assert_eq!(mm_unmap(peer), 0);
        assert_eq!(mm_unmap(r), 0);
    }
}

/// The dirty pages of the mapping containing `addr`, from /proc/self/smaps.
fn dirty_kb(addr: *const u8) -> usize {
    ["Private_Dirty:", "Shared_Dirty:"]
        .iter()
        .map(|key| {
            crate::support::smaps_field(addr, key)
                .trim_end_matches("kB")
                .trim()
                .parse::<usize>()
                .unwrap()
        })
        .sum()
}

#[test]
fn sync_with_flags_0_and_mm_sync_waits_for_the_write_back() {
    // mm_sync's contract: MM_SYNC writes and waits, and flags == 0 means
    // MM_SYNC. Once the write-back is done the kernel has cleaned the pages
    // (write-protected them again): /proc/self/smaps counts no dirty page of
    // the mapping. An MS_ASYNC in its place leaves them dirty (Linux starts
    // no write-back for it). A tmpfs has no write-back: there the test skips;
    // the file is made under the target directory (CARGO_TARGET_TMPDIR), on
    // the checkout's file system, rather than in a /tmp that may be a tmpfs.
    let page = page_size();
    let p = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("mmkit-syncwait-{}", std::process::id()));
    std::fs::write(&p, vec![0u8; 16 * page]).unwrap();
    struct Remove<'a>(&'a std::path::Path);
    impl Drop for Remove<'_> {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(self.0);
        }
    }
    let _remove = Remove(&p);
    let path = cstr(&p);
    // SAFETY: statfs of a NUL-terminated path into a zeroed struct.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statfs(path.as_ptr(), &mut st) }, 0);
    if st.f_type == libc::TMPFS_MAGIC as _ {
        eprintln!(
            "skipped: {} is on a tmpfs, which has no write-back",
            p.display()
        );
        return;
    }
    for flags in [0, MM_SYNC, MM_SYNC | MM_INVALIDATE] {
        let mut r = ptr::null_mut();
        // SAFETY: a NUL-terminated path and an out-pointer.
        let rc =
            unsafe { mm_map_file(path.as_ptr(), 0, 0, MM_READ | MM_WRITE | MM_SHARED, &mut r) };
        assert_eq!(rc, 0);
        // SAFETY: r is a live region of 16 pages, mapped writable.
        let base = unsafe { mm_ptr(r) }.cast::<u8>();
        for i in 0..16 {
            // SAFETY: inside the mapping.
            unsafe { base.add(i * page).write_volatile(flags as u8 + 1) };
        }
        assert!(dirty_kb(base) > 0, "the writes dirtied the mapping");
        // SAFETY: a live region.
        assert_eq!(unsafe { mm_sync(r, 0, 0, flags) }, 0);
        assert_eq!(
            dirty_kb(base),
            0,
            "mm_sync(flags {flags:#x}) returned before the write-back"
        );
        // SAFETY: a live region, unmapped once.
        unsafe { mm_unmap(r) };
    }
}
