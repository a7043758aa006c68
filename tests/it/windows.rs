//! The contract on Windows (run under Wine by `make test-windows`): the
//! Rust API and the C ABI on the Windows backend. Where Wine and Windows
//! answer differently, the test accepts both and says which it saw.

use std::ffi::CString;
use std::fs;
use std::os::windows::io::{AsRawHandle, FromRawHandle, IntoRawHandle, OwnedHandle};
use std::path::PathBuf;
use std::ptr;

use mmkit::ffi::*;
use mmkit::{Advice, Error, Flags, Region, SyncFlags};

// The C runtime's errno.h values (MinGW-w64's).
const EBADF: i32 = 9;
const EACCES: i32 = 13;
const EFAULT: i32 = 14;
const EEXIST: i32 = 17;
const ENODEV: i32 = 19;
const EINVAL: i32 = 22;
const ENOENT: i32 = 2;
const ENOTSUP: i32 = 129;

extern "C" {
    fn _open_osfhandle(handle: isize, flags: i32) -> i32;
    fn _close(fd: i32) -> i32;
}

const RW_SHARED: Flags = Flags::READ.union(Flags::WRITE).union(Flags::SHARED);
const RW_PRIVATE: Flags = Flags::READ.union(Flags::WRITE).union(Flags::PRIVATE);
const R_SHARED: Flags = Flags::READ.union(Flags::SHARED);

/// A fresh directory for one test, under the system's temporary directory.
fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mmkit-win-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// A file of `n` bytes, byte `i` = `i % 251`.
fn patterned(path: &std::path::Path, n: usize) {
    fs::write(path, (0..n).map(|i| (i % 251) as u8).collect::<Vec<u8>>()).unwrap();
}

fn errno(e: Error) -> i32 {
    e.errno()
}

fn bytes(r: &Region) -> &[u8] {
    // SAFETY: the tests' regions are readable and written only by the test.
    unsafe { r.as_slice() }
}

fn last_error() -> String {
    // SAFETY: mm_last_error never returns NULL.
    unsafe { std::ffi::CStr::from_ptr(mm_last_error()) }
        .to_string_lossy()
        .into_owned()
}

#[test]
fn anonymous_memory_private_and_shared_is_zeroed_and_exact() {
    for flags in [RW_PRIVATE, RW_SHARED] {
        let r = Region::anon(100_000, flags).unwrap();
        assert_eq!(r.len(), 100_000);
        assert!(bytes(&r).iter().all(|&b| b == 0));
        r.write(99_990, b"0123456789").unwrap();
        let mut b = [0u8; 10];
        r.read(99_990, &mut b).unwrap();
        assert_eq!(&b, b"0123456789");
    }
    assert_eq!(errno(Region::anon(0, RW_PRIVATE).unwrap_err()), EINVAL);
}

#[test]
fn devzero_hugepages_advice_and_seals_that_windows_lacks_are_enotsup() {
    let e = Region::anon(4096, RW_PRIVATE | Flags::DEVZERO).unwrap_err();
    assert_eq!(errno(e), ENOTSUP);
    let r = Region::anon(4096, RW_PRIVATE | Flags::HUGEPAGES).unwrap();
    assert!(
        !r.flags().contains(Flags::HUGEPAGES),
        "no huge pages were requested"
    );
    for a in [
        Advice::Normal,
        Advice::Random,
        Advice::Sequential,
        Advice::HugePage,
        Advice::NoHugePage,
    ] {
        let e = r.advise(0, 0, a).unwrap_err();
        assert_eq!(errno(e), ENOTSUP, "{a:?}");
    }
    r.advise(0, 0, Advice::WillNeed).unwrap();
    r.advise(0, 0, Advice::DontNeed).unwrap();
    let s = Region::shareable("seal", 4096, RW_SHARED).unwrap();
    assert_eq!(errno(s.seal(mmkit::MM_SEAL_SHRINK).unwrap_err()), ENOTSUP);
}

#[test]
fn files_read_only_shared_and_copy_on_write() {
    let d = dir("files");
    let p = d.join("data.bin");
    patterned(&p, 200_000);
    let r = Region::file(&p, 0, 0, R_SHARED).unwrap();
    assert_eq!(r.len(), 200_000);
    assert!(bytes(&r)
        .iter()
        .enumerate()
        .all(|(i, &b)| b == (i % 251) as u8));
    assert_eq!(errno(r.write(0, b"x").unwrap_err()), EACCES);
    drop(r);

    let r = Region::file(&p, 0, 0, RW_SHARED).unwrap();
    r.write(10, b"shared").unwrap();
    r.sync(0, 0, SyncFlags::SYNC).unwrap();
    assert_eq!(&fs::read(&p).unwrap()[10..16], b"shared");
    drop(r);

    let r = Region::file(&p, 0, 0, RW_PRIVATE).unwrap();
    r.write(20, b"private").unwrap();
    let mut b = [0u8; 7];
    r.read(20, &mut b).unwrap();
    assert_eq!(&b, b"private");
    r.sync(0, 0, SyncFlags::SYNC).unwrap();
    drop(r);
    let on_disk = fs::read(&p).unwrap();
    assert_eq!(on_disk[20], 20, "a private write reached the file");
}

#[test]
fn any_offset_is_aligned_to_the_allocation_granularity_by_the_library() {
    let d = dir("offsets");
    let p = d.join("data.bin");
    patterned(&p, 300_000);
    for off in [1u64, 4096, 65_535, 65_536, 70_000, 131_073] {
        let r = Region::file(&p, off, 1000, R_SHARED).unwrap();
        assert_eq!(r.len(), 1000);
        assert_eq!(bytes(&r)[0], (off % 251) as u8, "offset {off}");
        assert_eq!(bytes(&r)[999], ((off + 999) % 251) as u8, "offset {off}");
    }
    // To the end of the file from an unaligned offset.
    let r = Region::file(&p, 70_000, 0, R_SHARED).unwrap();
    assert_eq!(r.len(), 230_000);
    assert_eq!(bytes(&r)[229_999], (299_999 % 251) as u8);
}

#[test]
fn empty_files_are_empty_regions_and_past_the_end_is_refused() {
    let d = dir("ends");
    let empty = d.join("empty.bin");
    fs::write(&empty, b"").unwrap();
    let r = Region::file(&empty, 0, 0, R_SHARED).unwrap();
    assert_eq!(r.len(), 0);
    assert!(r.as_ptr().is_null());
    let p = d.join("data.bin");
    patterned(&p, 10_000);
    let r = Region::file(&p, 10_000, 0, R_SHARED).unwrap();
    assert_eq!(r.len(), 0);
    assert_eq!(
        errno(Region::file(&p, 10_001, 0, R_SHARED).unwrap_err()),
        EINVAL
    );
    assert_eq!(
        errno(Region::file(&p, 0, 10_001, R_SHARED).unwrap_err()),
        EINVAL
    );
    assert_eq!(
        errno(Region::file(&p, 9_000, 1_001, R_SHARED).unwrap_err()),
        EINVAL
    );
}

#[test]
fn wrong_files_are_clean_errors_naming_the_windows_error() {
    let d = dir("wrong");
    let e = Region::file(d.join("missing.bin"), 0, 0, R_SHARED).unwrap_err();
    assert_eq!(e.errno(), ENOENT);
    let text = e.to_string();
    assert!(text.contains("Windows error 2"), "{text}");
    assert!(
        text.contains("CreateFileW("),
        "the Windows call is named: {text}"
    );
    assert_eq!(errno(Region::file(&d, 0, 0, R_SHARED).unwrap_err()), ENODEV);
    // ... with MM_CREATE too (CreateFileW says access denied for a directory).
    for flags in [RW_SHARED, RW_SHARED | Flags::CREATE] {
        let e = Region::file(&d, 0, 0, flags).unwrap_err();
        assert_eq!(e.errno(), ENODEV, "{flags}: {e}");
        assert!(e.to_string().contains("is a directory"), "{e}");
    }
    // A console or NUL device is not a file to map.
    let e = Region::file("NUL", 0, 0, R_SHARED).unwrap_err();
    assert!(e.errno() != 0, "{e}");
}

#[test]
fn mm_create_creates_sizes_and_reserves_and_excl_refuses_an_existing_file() {
    let d = dir("create");
    let p = d.join("new.bin");
    let r = Region::file(&p, 100, 5000, RW_SHARED | Flags::CREATE).unwrap();
    assert_eq!(fs::metadata(&p).unwrap().len(), 5100);
    r.write(0, b"made").unwrap();
    r.sync(0, 0, SyncFlags::SYNC).unwrap();
    drop(r);
    assert_eq!(&fs::read(&p).unwrap()[100..104], b"made");
    // Existing: opened, kept, grown only as needed.
    let r = Region::file(&p, 0, 8000, RW_SHARED | Flags::CREATE).unwrap();
    assert_eq!(&bytes(&r)[100..104], b"made");
    assert_eq!(fs::metadata(&p).unwrap().len(), 8000);
    drop(r);
    let e = Region::file(&p, 0, 10, RW_SHARED | Flags::CREATE | Flags::EXCL).unwrap_err();
    assert_eq!(e.errno(), EEXIST, "{e}");
    let q = d.join("excl.bin");
    Region::file(&q, 0, 10, RW_SHARED | Flags::CREATE | Flags::EXCL).unwrap();
    assert_eq!(fs::metadata(&q).unwrap().len(), 10);
}

#[test]
fn windows_refuses_to_truncate_a_mapped_file_so_a_guarded_region_loses_nothing() {
    let d = dir("guard");
    let p = d.join("data.bin");
    patterned(&p, 100_000);
    let r = Region::file(&p, 0, 0, R_SHARED | Flags::GUARD).unwrap();
    assert!(r.flags().contains(Flags::GUARD));
    let f = fs::OpenOptions::new().write(true).open(&p).unwrap();
    let shrunk = f.set_len(10);
    assert!(
        shrunk.is_err(),
        "Windows (and Wine) refuse ERROR_USER_MAPPED_FILE"
    );
    assert_eq!(bytes(&r)[99_999], (99_999 % 251) as u8);
    r.check().unwrap();
    let mut b = [0u8; 16];
    r.read(99_984, &mut b).unwrap();
    let a = Region::anon(4096, RW_PRIVATE | Flags::GUARD).unwrap();
    assert!(
        !a.flags().contains(Flags::GUARD),
        "anonymous regions do not report MM_GUARD"
    );
}

#[test]
fn sync_lock_unlock_and_protect() {
    let r = Region::anon(64 * 1024, RW_PRIVATE).unwrap();
    r.sync(0, 0, SyncFlags::SYNC).unwrap();
    r.lock(0, 0).unwrap();
    r.unlock(0, 0).unwrap();
    // Unlocking pages that are not locked succeeds, as munlock does.
    r.unlock(0, 0).unwrap();
    r.write(4096, b"abc").unwrap();
    r.protect(4096, 4096, Flags::default()).unwrap();
    let mut b = [0u8; 3];
    assert_eq!(errno(r.read(4096, &mut b).unwrap_err()), EFAULT);
    assert_eq!(errno(r.write(4096, &b).unwrap_err()), EFAULT);
    r.protect(4096, 4096, Flags::READ).unwrap();
    r.read(4096, &mut b).unwrap();
    assert_eq!(&b, b"abc");
    assert_eq!(
        errno(r.write(4096, b"x").unwrap_err()),
        EFAULT,
        "a read-only page is not written"
    );
    assert_eq!(errno(r.protect(1, 4096, Flags::READ).unwrap_err()), EINVAL);
    r.protect(0, 0, Flags::READ).unwrap();
    // Mapped writable, made read-only by mm_protect: EFAULT (EACCES is for a
    // region mapped without MM_WRITE, as above).
    assert_eq!(errno(r.write(0, b"x").unwrap_err()), EFAULT);
}

#[test]
fn a_lock_past_the_working_set_grows_it_or_names_it() {
    // 64 MiB is past the default working-set maximum (1.4 MB) on Windows;
    // Wine has no quota and locks it.
    let r = Region::anon(64 << 20, RW_PRIVATE).unwrap();
    // Which of the two this system did is printed (cargo test --nocapture).
    match r.lock(0, 0) {
        Ok(()) => {
            eprintln!("saw: 64 MiB locked (Wine: no quota; Windows: the working set grew)");
            r.unlock(0, 0).unwrap()
        }
        Err(e) => {
            let text = e.to_string();
            eprintln!("saw: refused: {text}");
            assert!(text.contains("working set"), "{text}");
        }
    }
}

#[test]
fn resize_keeps_bytes_and_follows_the_one_rule() {
    let mut r = Region::anon(5000, RW_PRIVATE).unwrap();
    r.write(4990, b"0123456789").unwrap();
    r.resize(300_000).unwrap();
    assert_eq!(r.len(), 300_000);
    assert_eq!(&bytes(&r)[4990..5000], b"0123456789");
    assert!(bytes(&r)[5000..].iter().all(|&b| b == 0));
    r.resize(100).unwrap();
    assert_eq!(r.len(), 100);
    // Pages with a state of their own cannot move.
    let mut r = Region::anon(3 * 4096, RW_PRIVATE).unwrap();
    r.protect(0, 4096, Flags::READ).unwrap();
    assert_eq!(errno(r.resize(1 << 20).unwrap_err()), 16 /* EBUSY */);
    // Shared anonymous memory cannot grow.
    let mut s = Region::anon(4096, RW_SHARED).unwrap();
    assert_eq!(errno(s.resize(8192).unwrap_err()), ENOTSUP);
    s.resize(100).unwrap();

    let d = dir("resize");
    let p = d.join("data.bin");
    patterned(&p, 100_000);
    let mut f = Region::file(&p, 70_000, 1000, RW_SHARED).unwrap();
    f.resize(30_000).unwrap();
    assert_eq!(bytes(&f)[29_999], (99_999 % 251) as u8);
    assert_eq!(errno(f.resize(30_001).unwrap_err()), EINVAL);
    let mut c = Region::file(&p, 70_000, 1000, RW_SHARED | Flags::CREATE).unwrap();
    c.resize(100_000).unwrap();
    assert_eq!(fs::metadata(&p).unwrap().len(), 170_000);
    c.write(99_999, b"!").unwrap();
}

#[test]
fn shareable_memory_is_shared_through_its_descriptor_and_cannot_grow() {
    let mut r = Region::shareable("win", 5000, RW_SHARED).unwrap();
    let h = r.fd().unwrap();
    let other = Region::from_fd(h, 0, 0, RW_SHARED).unwrap();
    assert!(
        other.len() >= 5000,
        "the section's size, rounded to pages by Wine"
    );
    r.write(42, b"seen").unwrap();
    assert_eq!(&bytes(&other)[42..46], b"seen");
    let e = r.resize(9000).unwrap_err();
    assert_eq!(e.errno(), ENOTSUP, "{e}");
    r.resize(4000).unwrap();
    assert_eq!(&bytes(&r)[42..46], b"seen");
}

/// The child half of the test below: maps the section whose handle it
/// inherited, checks the parent's bytes and answers.
#[test]
#[ignore = "run by shareable_memory_reaches_another_process"]
fn child_maps_the_inherited_section() {
    let Ok(h) = std::env::var("MMKIT_WIN_SECTION") else {
        return;
    };
    let h: isize = h.parse().unwrap();
    let mut r = ptr::null_mut();
    // SAFETY: the parent made this section handle inheritable for us; r is
    // an out-parameter.
    let rc = unsafe { mm_map_handle(h as *mut std::ffi::c_void, 0, 0, RW_SHARED.bits(), &mut r) };
    assert_eq!(rc, 0, "{}", last_error());
    // SAFETY: a live region of at least 4096 bytes.
    unsafe {
        let p = mm_ptr(r).cast::<u8>();
        assert_eq!(std::slice::from_raw_parts(p, 6), b"parent");
        ptr::copy_nonoverlapping(b"child!".as_ptr(), p.add(100), 6);
        mm_unmap(r);
    }
}

#[test]
fn shareable_memory_reaches_another_process() {
    use windows_sys_like::*;
    let r = Region::shareable("peer", 4096, RW_SHARED).unwrap();
    r.write(0, b"parent").unwrap();
    let section = r.fd().unwrap().as_raw_handle();
    let mut dup: Handle = ptr::null_mut();
    // SAFETY: duplicates a live handle of this process into this process,
    // inheritable, with the same access.
    let ok = unsafe {
        DuplicateHandle(
            GetCurrentProcess(),
            section,
            GetCurrentProcess(),
            &mut dup,
            0,
            1,
            2,
        )
    };
    assert!(ok != 0);
    // SAFETY: a fresh handle this test owns.
    let dup = unsafe { OwnedHandle::from_raw_handle(dup) };
    // Its output is captured: its own "test result" line is not this run's.
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "windows::child_maps_the_inherited_section",
            "--ignored",
        ])
        .env(
            "MMKIT_WIN_SECTION",
            (dup.as_raw_handle() as isize).to_string(),
        )
        .output()
        .unwrap();
    assert!(
        child.status.success() && String::from_utf8_lossy(&child.stdout).contains("1 passed"),
        "the child failed: {}\n{}{}",
        child.status,
        String::from_utf8_lossy(&child.stdout),
        String::from_utf8_lossy(&child.stderr)
    );
    let _ = dup.into_raw_handle();
    let mut b = [0u8; 6];
    r.read(100, &mut b).unwrap();
    assert_eq!(&b, b"child!");
}

/// The two kernel32 functions the test above needs (the test crate does not
/// depend on windows-sys).
mod windows_sys_like {
    pub type Handle = *mut std::ffi::c_void;
    #[link(name = "kernel32")]
    extern "system" {
        pub fn GetCurrentProcess() -> Handle;
        pub fn DuplicateHandle(
            src_process: Handle,
            src: Handle,
            dst_process: Handle,
            dst: *mut Handle,
            access: u32,
            inherit: i32,
            options: u32,
        ) -> i32;
    }
}

#[test]
fn the_c_abi_on_windows_takes_c_runtime_descriptors() {
    let d = dir("cabi");
    let p = d.join("data.bin");
    patterned(&p, 10_000);
    let c = CString::new(p.to_str().unwrap()).unwrap();
    let mut r = ptr::null_mut();
    // SAFETY: valid C string and out-parameter.
    assert_eq!(
        unsafe { mm_map_file(c.as_ptr(), 5, 0, R_SHARED.bits(), &mut r) },
        0
    );
    // SAFETY: a live region.
    unsafe {
        assert_eq!(mm_len(r), 9995);
        assert_eq!(*mm_ptr(r).cast::<u8>(), 5);
        assert_eq!(mm_fd(r), -EBADF);
        mm_unmap(r);
    }
    // A read-only descriptor cannot back a write-shared mapping.
    let f = fs::File::open(&p).unwrap();
    // SAFETY: the C runtime takes the handle over (closed by _close).
    let fd = unsafe { _open_osfhandle(f.into_raw_handle() as isize, 0) };
    // SAFETY: fd is open; r an out-parameter.
    let rc = unsafe { mm_map_fd(fd, 0, 0, RW_SHARED.bits(), &mut r) };
    assert_eq!(rc, -EACCES, "{}", last_error());
    // SAFETY: as above.
    let rc = unsafe { mm_map_fd(fd, 0, 0, R_SHARED.bits(), &mut r) };
    assert_eq!(rc, 0, "{}", last_error());
    // SAFETY: a live region; fd is ours.
    unsafe {
        assert_eq!(mm_len(r), 10_000);
        mm_unmap(r);
        _close(fd);
    }
    // SAFETY: out-parameter; 4000 is no open descriptor.
    let rc = unsafe { mm_map_fd(4000, 0, 0, R_SHARED.bits(), &mut r) };
    assert_eq!(rc, -EBADF);
    assert!(last_error().starts_with("mm_map_fd:"), "{}", last_error());
    // SAFETY: NULLs are refused, never dereferenced.
    unsafe {
        assert_eq!(
            mm_map_file(ptr::null(), 0, 0, R_SHARED.bits(), &mut r),
            -EINVAL
        );
        assert_eq!(mm_map_anon(10, RW_PRIVATE.bits(), ptr::null_mut()), -EINVAL);
    }
}

#[test]
fn populate_and_exec_mappings() {
    let a = Region::anon(1 << 20, RW_PRIVATE | Flags::POPULATE).unwrap();
    assert!(bytes(&a).iter().all(|&b| b == 0));
    let d = dir("populate");
    let p = d.join("data.bin");
    patterned(&p, 300_000);
    for flags in [R_SHARED, RW_SHARED, RW_PRIVATE] {
        let r = Region::file(&p, 70_000, 0, flags | Flags::POPULATE).unwrap();
        assert_eq!(bytes(&r)[0], (70_000 % 251) as u8, "{flags}");
    }
    // Executable for real: the file's first byte is x86-64 `ret` (0xc3),
    // called as a function.
    let code = d.join("code.bin");
    let mut text = vec![0xccu8; 4096];
    text[0] = 0xc3;
    fs::write(&code, &text).unwrap();
    let x = Region::file(&code, 0, 0, R_SHARED | Flags::EXEC).unwrap();
    assert!(x.flags().contains(Flags::EXEC));
    // SAFETY: the region's first byte is a `ret`, and the page is mapped
    // readable and executable; nothing else is run.
    let f: extern "C" fn() = unsafe { std::mem::transmute(x.as_ptr()) };
    f();
    let w = Region::file(&code, 0, 0, R_SHARED).unwrap();
    assert!(!w.flags().contains(Flags::EXEC));
}

#[test]
fn an_mm_create_region_keeps_the_file_open_to_others_and_a_failed_one_leaves_none() {
    extern "C" {
        fn _open(path: *const std::ffi::c_char, flags: i32, ...) -> i32;
    }
    let d = dir("create-share");
    let p = d.join("rec.bin");
    let r = Region::file(&p, 0, 16, RW_SHARED | Flags::CREATE).unwrap();
    let c = CString::new(p.to_str().unwrap()).unwrap();
    // The C runtime's _open shares read and write but not delete: the
    // region must not hold DELETE access (a sharing violation otherwise).
    // SAFETY: a valid C string; O_RDONLY|O_BINARY.
    let fd = unsafe { _open(c.as_ptr(), 0x8000) };
    assert!(
        fd >= 0,
        "the C runtime could not open a file an MM_CREATE region maps"
    );
    // SAFETY: fd is ours.
    unsafe { _close(fd) };
    drop(r);
    // Too large for any file system: the file this call made is removed.
    let q = d.join("huge.bin");
    let e = Region::file(&q, 0, 1 << 62, RW_SHARED | Flags::CREATE).unwrap_err();
    assert!(!q.exists(), "a failed MM_CREATE left {q:?} behind ({e})");
}

#[test]
fn noreserve_cannot_mean_anything_here_and_is_enotsup() {
    let e = Region::anon(4096, RW_PRIVATE | Flags::NORESERVE).unwrap_err();
    assert_eq!(e.errno(), ENOTSUP, "{e}");
    assert!(e.to_string().contains("MM_NORESERVE"), "{e}");
}

#[test]
fn a_shareable_region_shrunk_then_grown_gains_zeros() {
    let page = mmkit::page_size();
    let mut r = Region::shareable("shrink", 2 * page, RW_SHARED).unwrap();
    r.write(100, b"kept").unwrap();
    r.write(page + 100, b"gone").unwrap();
    r.resize(200).unwrap();
    r.resize(2 * page).unwrap();
    assert_eq!(&bytes(&r)[100..104], b"kept");
    assert!(
        bytes(&r)[200..].iter().all(|&b| b == 0),
        "bytes past a shrink came back"
    );
}

#[test]
fn devices_are_refused_by_their_kind_and_never_removed() {
    for flags in [R_SHARED, RW_SHARED | Flags::CREATE] {
        let e = Region::file("NUL", 0, 1, flags).unwrap_err();
        assert_eq!(e.errno(), ENODEV, "{flags}: {e}");
    }
}

#[test]
fn unlock_of_a_partly_locked_range_and_dontneed_on_a_view() {
    let r = Region::anon(16 * 4096, RW_PRIVATE).unwrap();
    r.lock(4096, 4096).unwrap();
    r.unlock(0, 0).unwrap();
    let d = dir("dontneed");
    let p = d.join("data.bin");
    patterned(&p, 100_000);
    let f = Region::file(&p, 0, 0, R_SHARED).unwrap();
    f.advise(0, 0, Advice::DontNeed).unwrap();
    assert_eq!(
        bytes(&f)[99_999],
        (99_999 % 251) as u8,
        "DONTNEED keeps a view's bytes"
    );
}
