//! File mappings through the safe API: offsets, empty files, MM_CREATE,
//! sharing semantics, unmappable files, sync.

use std::fs::{self, File, OpenOptions};
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};

use crate::support::{self, pattern, TempDir};
use mmkit::{Flags, Region, SyncFlags};

const RO: Flags = Flags::READ.union(Flags::SHARED);
const RW: Flags = Flags::READ.union(Flags::WRITE).union(Flags::SHARED);
const COW: Flags = Flags::READ.union(Flags::WRITE).union(Flags::PRIVATE);

fn bytes(r: &Region) -> Vec<u8> {
    // SAFETY: nobody writes these test files while the slice is alive.
    unsafe { r.as_slice() }.to_vec()
}

#[test]
fn whole_file_is_mapped_and_outlives_the_descriptor() {
    let d = TempDir::new("whole");
    let data = pattern(3 * 4096 + 123, 1);
    let p = d.file("f", &data);
    let r = Region::file(&p, 0, 0, RO).unwrap();
    fs::remove_file(&p).unwrap();
    assert_eq!(r.len(), data.len());
    assert_eq!(bytes(&r), data);
    // (No descriptor is kept: tests/it/fds.rs counts them.)
}

#[test]
fn unaligned_offsets_point_at_the_right_byte() {
    let d = TempDir::new("offsets");
    let page = mmkit::page_size();
    let data = pattern(5 * page + 17, 2);
    let p = d.file("f", &data);
    for off in [1, 7, page - 1, page, page + 1, 3 * page + 5, data.len() - 1] {
        let r = Region::file(&p, off as u64, 0, RO).unwrap();
        assert_eq!(r.len(), data.len() - off);
        assert_eq!(bytes(&r), &data[off..], "offset {off}");
        let r = Region::file(&p, off as u64, 1, RO).unwrap();
        assert_eq!(bytes(&r), &data[off..off + 1]);
    }
}

#[test]
fn empty_files_and_offset_at_end_give_empty_regions() {
    let d = TempDir::new("empty");
    let e = d.file("empty", b"");
    for f in [RO, RW, COW] {
        let r = Region::file(&e, 0, 0, f).unwrap();
        assert_eq!(r.len(), 0);
        assert!(r.as_ptr().is_null());
        r.sync(0, 0, SyncFlags::SYNC).unwrap();
        r.lock(0, 0).unwrap();
    }
    let p = d.file("f", b"hello");
    let r = Region::file(&p, 5, 0, RO).unwrap();
    assert!(r.is_empty());
}

#[test]
fn ranges_past_the_end_are_refused_with_the_values() {
    let d = TempDir::new("past");
    let p = d.file("f", &pattern(1000, 3));
    let cases: [(u64, usize); 6] = [
        (1001, 0),
        (1001, 1),
        (0, 1001),
        (999, 2),
        (u64::MAX, 1),
        (1, usize::MAX),
    ];
    for (off, len) in cases {
        let e = Region::file(&p, off, len, RO).unwrap_err();
        assert_eq!(e.errno(), libc::EINVAL, "{off} {len}: {e}");
        let m = e.to_string();
        assert!(m.starts_with("mm_map_file: "), "{m}");
        assert!(m.contains(&off.to_string()), "{m}");
    }
}

#[test]
fn shared_writes_reach_the_file_private_ones_do_not() {
    let d = TempDir::new("share");
    let data = pattern(10_000, 4);
    let p = d.file("f", &data);
    {
        let mut r = Region::file(&p, 0, 0, COW).unwrap();
        // SAFETY: this test is the only user of the file.
        let s = unsafe { r.as_mut_slice() };
        s[..5].copy_from_slice(b"PRIVA");
        assert_eq!(&bytes(&r)[..5], b"PRIVA");
    }
    assert_eq!(
        fs::read(&p).unwrap(),
        data,
        "a private write reached the file"
    );
    {
        let mut r = Region::file(&p, 4096 + 3, 100, RW).unwrap();
        // SAFETY: as above.
        let s = unsafe { r.as_mut_slice() };
        s.copy_from_slice(&[0x5A; 100]);
        r.sync(0, 0, SyncFlags::SYNC).unwrap();
    }
    let now = fs::read(&p).unwrap();
    assert_eq!(&now[4099..4199], &[0x5A; 100]);
    assert_eq!(&now[..4099], &data[..4099]);
    assert_eq!(&now[4199..], &data[4199..]);
}

#[test]
fn private_write_mapping_of_a_read_only_file_is_allowed() {
    let d = TempDir::new("cowro");
    let p = d.file("f", b"read only");
    let f = File::open(&p).unwrap();
    let mut r = Region::from_fd(f.as_fd(), 0, 0, COW).unwrap();
    // SAFETY: private copy.
    let s = unsafe { r.as_mut_slice() };
    s[0] = b'R';
    assert_eq!(fs::read(&p).unwrap(), b"read only");
}

#[test]
fn write_shared_needs_a_read_write_descriptor() {
    let d = TempDir::new("eacces");
    let p = d.file("f", b"data");
    let ro = File::open(&p).unwrap();
    let e = Region::from_fd(ro.as_fd(), 0, 0, RW).unwrap_err();
    assert_eq!(e.errno(), libc::EACCES, "{e}");
    assert!(e.to_string().contains("read-only"), "{e}");
    let wo = OpenOptions::new().write(true).open(&p).unwrap();
    assert_eq!(
        Region::from_fd(wo.as_fd(), 0, 0, RO).unwrap_err().errno(),
        libc::EACCES
    );
    let rw = OpenOptions::new().read(true).write(true).open(&p).unwrap();
    Region::from_fd(rw.as_fd(), 0, 0, RW).unwrap();
    // mm_map_file opens read-write by itself when the flags need it.
    Region::file(&p, 0, 0, RW).unwrap();
}

#[test]
fn map_fd_neither_closes_nor_keeps_the_descriptor() {
    let d = TempDir::new("fdkeep");
    let p = d.file("f", b"0123456789");
    let f = File::open(&p).unwrap();
    let r = Region::from_fd(f.as_fd(), 3, 4, RO).unwrap();
    assert_eq!(bytes(&r), b"3456");
    // Still open: fstat works.
    f.metadata().unwrap();
}

#[test]
fn create_makes_a_0600_file_of_offset_plus_len_with_blocks() {
    let d = TempDir::new("create");
    let p = d.join("new");
    let r = Region::file(&p, 100, 8192, RW | Flags::CREATE).unwrap();
    let m = fs::metadata(&p).unwrap();
    assert_eq!(m.len(), 100 + 8192);
    assert_eq!(m.permissions().mode() & 0o777, 0o600 & !umask());
    assert!(
        m.blocks() * 512 >= 8192,
        "blocks not allocated: {}",
        m.blocks()
    );
    assert_eq!(r.len(), 8192);
    assert!(bytes(&r).iter().all(|&b| b == 0));
    drop(r);
    // Existing smaller file: grown; existing larger: kept as is.
    let small = d.file("small", b"abc");
    let r = Region::file(&small, 0, 5000, RW | Flags::CREATE).unwrap();
    assert_eq!(&bytes(&r)[..3], b"abc");
    assert_eq!(fs::metadata(&small).unwrap().len(), 5000);
    let big = d.file("big", &pattern(9000, 5));
    Region::file(&big, 0, 10, RW | Flags::CREATE).unwrap();
    assert_eq!(fs::metadata(&big).unwrap().len(), 9000);
}

fn umask() -> u32 {
    // SAFETY: umask is always safe; it is restored at once.
    let old = unsafe { libc::umask(0o022) };
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    old as u32
}

#[test]
fn excl_refuses_existing_files_and_planted_symlinks() {
    let d = TempDir::new("excl");
    let p = d.file("exists", b"keep me");
    let e = Region::file(&p, 0, 10, RW | Flags::CREATE | Flags::EXCL).unwrap_err();
    assert_eq!(e.errno(), libc::EEXIST, "{e}");
    assert_eq!(fs::read(&p).unwrap(), b"keep me");
    let target = d.join("target");
    let link = d.join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let e = Region::file(&link, 0, 10, RW | Flags::CREATE | Flags::EXCL).unwrap_err();
    assert_eq!(e.errno(), libc::EEXIST, "{e}");
    assert!(!target.exists(), "MM_EXCL followed a symlink");
    let fresh = d.join("fresh");
    Region::file(&fresh, 0, 10, RW | Flags::CREATE | Flags::EXCL).unwrap();
    assert_eq!(fs::metadata(&fresh).unwrap().len(), 10);
    assert_eq!(
        Region::file(&fresh, 0, 10, RW | Flags::EXCL)
            .unwrap_err()
            .errno(),
        libc::EINVAL,
        "MM_EXCL without MM_CREATE"
    );
}

#[test]
fn failed_create_leaves_nothing_behind() {
    let d = TempDir::new("cleanup");
    let p = d.join("never");
    // An offset past the largest file size cannot be allocated.
    let e = Region::file(&p, i64::MAX as u64, 10, RW | Flags::CREATE).unwrap_err();
    assert_eq!(e.errno(), libc::EINVAL, "{e}");
    assert!(!p.exists(), "a file was left behind");
}

#[test]
fn missing_files_directories_and_special_files_are_clean_errors() {
    let d = TempDir::new("special");
    let e = Region::file(d.join("missing"), 0, 0, RO).unwrap_err();
    assert_eq!(e.errno(), libc::ENOENT);
    assert!(e.to_string().contains("missing"), "{e}");
    // A directory is not a regular file: ENODEV (the contract), named as one.
    let e = Region::file(d.path(), 0, 0, RO).unwrap_err();
    assert_eq!(e.errno(), libc::ENODEV);
    assert!(e.to_string().contains("is a directory"), "{e}");
    for flags in [RW, RW | Flags::CREATE] {
        let e = Region::file(d.path(), 0, 0, flags).unwrap_err();
        assert_eq!(e.errno(), libc::ENODEV, "{flags}: {e}");
        assert!(e.to_string().contains("is a directory"), "{e}");
    }
    let fifo = d.join("fifo");
    let c = support::cstr(&fifo);
    // SAFETY: c is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    // Must not hang waiting for a writer.
    let e = Region::file(&fifo, 0, 0, RO).unwrap_err();
    assert_eq!(e.errno(), libc::ENODEV, "{e}");
    assert!(e.to_string().contains("pipe"), "{e}");
    assert_eq!(
        Region::file("/dev/null", 0, 0, RO).unwrap_err().errno(),
        libc::ENODEV
    );
    let mut fds = [0; 2];
    // SAFETY: fds has room for two descriptors.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both descriptors were just created and are owned here.
    let (r, w) = unsafe {
        use std::os::fd::FromRawFd;
        (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1]))
    };
    assert_eq!(
        Region::from_fd(r.as_fd(), 0, 0, RO).unwrap_err().errno(),
        libc::ENODEV
    );
    drop(w);
    let (s1, _s2) = std::os::unix::net::UnixStream::pair().unwrap();
    assert_eq!(
        Region::from_fd(s1.as_fd(), 0, 0, RO).unwrap_err().errno(),
        libc::ENODEV
    );
}

#[test]
fn populate_prefaults_file_pages() {
    let d = TempDir::new("populate");
    let page = mmkit::page_size();
    let p = d.file("f", &pattern(32 * page, 6));
    let r = Region::file(&p, 0, 0, RO | Flags::POPULATE).unwrap();
    // Resident in the page tables: mincore reports page-cache residency, so
    // check the process's own mapping through smaps' Rss instead.
    let rss = support::vm_rss_kb(r.as_ptr());
    assert!(
        rss * 1024 >= 32 * page,
        "only {rss} kB of 32 pages were populated"
    );
}

#[test]
fn sync_flags_and_ranges() {
    let d = TempDir::new("sync");
    let p = d.file("f", &pattern(10_000, 7));
    let r = Region::file(&p, 10, 5000, RW).unwrap();
    for bits in [
        0,
        mmkit::MM_SYNC,
        mmkit::MM_ASYNC,
        mmkit::MM_SYNC | mmkit::MM_INVALIDATE,
        mmkit::MM_INVALIDATE,
    ] {
        r.sync(0, 0, SyncFlags::from_bits(bits).unwrap()).unwrap();
    }
    assert!(SyncFlags::from_bits(mmkit::MM_SYNC | mmkit::MM_ASYNC).is_err());
    assert!(SyncFlags::from_bits(0x100).is_err());
    r.sync(4999, 1, SyncFlags::SYNC).unwrap();
    assert_eq!(
        r.sync(4999, 2, SyncFlags::SYNC).unwrap_err().errno(),
        libc::EINVAL
    );
    assert_eq!(
        r.sync(usize::MAX, 1, SyncFlags::SYNC).unwrap_err().errno(),
        libc::EINVAL
    );
}

#[test]
fn file_huge_page_advice_never_fails() {
    let d = TempDir::new("huge");
    let p = d.file("f", &pattern(1 << 20, 8));
    let r = Region::file(&p, 0, 0, RO | Flags::HUGEPAGES).unwrap();
    assert_eq!(bytes(&r), pattern(1 << 20, 8));
}

#[test]
fn create_through_a_descriptor_grows_the_file() {
    let d = TempDir::new("createfd");
    let p = d.file("f", b"");
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .open(&p)
        .unwrap();
    let r = Region::from_fd(f.as_fd(), 0, 4096, RW | Flags::CREATE).unwrap();
    assert_eq!(r.len(), 4096);
    assert_eq!(f.metadata().unwrap().len(), 4096);
    let ro = File::open(&p).unwrap();
    assert_eq!(
        Region::from_fd(ro.as_fd(), 0, 8192, RO | Flags::CREATE)
            .unwrap_err()
            .errno(),
        libc::EACCES
    );
}

/// Paths of every length the library stores and opens differently (kept
/// inline up to 46 bytes, on the heap beyond; opened through a stack copy
/// below 384 bytes, through std above) map, create, grow (which reopens the
/// path it kept) and report errors alike.
#[test]
fn paths_of_every_length_map_create_and_grow() {
    let d = TempDir::new("pathlen");
    let base = d.path().to_string_lossy().len() + 1;
    let page = mmkit::page_size();
    for total in [base + 1, 46, 47, 200, 383, 384, 385, 600] {
        if total <= base {
            continue;
        }
        // Directories of 150 bytes keep each component under NAME_MAX.
        let mut rel = String::new();
        loop {
            let left = total - base - rel.len();
            if left <= 200 {
                rel.push_str(&"f".repeat(left));
                break;
            }
            rel.push_str(&"d".repeat(150));
            rel.push('/');
            fs::create_dir_all(d.join(&rel)).unwrap();
        }
        let p = d.join(&rel);
        assert_eq!(p.as_os_str().len(), total, "{p:?}");
        let mut r = Region::file(&p, 0, 100, RW | Flags::CREATE).unwrap();
        assert_eq!(fs::metadata(&p).unwrap().len(), 100);
        r.resize(3 * page).unwrap();
        assert_eq!(fs::metadata(&p).unwrap().len(), 3 * page as u64, "{total}");
        drop(r);
        let e = Region::file(&p, 0, 0, RW | Flags::CREATE | Flags::EXCL).unwrap_err();
        assert_eq!(e.errno(), libc::EEXIST, "{total}");
        assert!(
            e.to_string().contains(&format!("{:?}", p.as_os_str())),
            "{e}"
        );
        fs::remove_file(&p).unwrap();
        let e = Region::file(&p, 0, 0, RO).unwrap_err();
        assert_eq!(e.errno(), libc::ENOENT, "{total}");
    }
    // A NUL byte is refused before any system call, on both open paths.
    for tail in ["a\0b".to_string(), format!("{}\0b", "a".repeat(400))] {
        let p = d.path().join(std::ffi::OsStr::new(&tail));
        let e = Region::file(&p, 0, 0, RO).unwrap_err();
        assert_eq!(e.errno(), libc::EINVAL, "{e}");
        assert!(e.to_string().starts_with("mm_map_file: "), "{e}");
    }
}

#[test]
fn a_failed_grow_of_a_created_file_leaves_the_file_as_it_was() {
    // MM_CREATE grows the file before the mapping; when the mapping cannot
    // grow (here: split by mm_protect, the addresses after it taken), the
    // file goes back to its old size.
    let d = TempDir::new("grow-undo");
    let path = d.path().join("f");
    let page = mmkit::page_size();
    let rw = Flags::READ | Flags::WRITE | Flags::SHARED | Flags::CREATE;
    let mut r = Region::file(&path, 0, 2 * page, rw).unwrap();
    r.protect(0, page, Flags::READ).unwrap();
    let after = (r.as_ptr() as usize + r.len()) as *mut libc::c_void;
    // SAFETY: one fresh page at a hint address; MAP_FIXED_NOREPLACE never
    // replaces a mapping (EEXIST if one is there).
    let taken = unsafe {
        libc::mmap(
            after,
            page,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    if taken != after {
        // Something of this process is there already: taken all the same.
        assert!(taken == libc::MAP_FAILED, "the page landed elsewhere");
    }
    let e = r
        .resize(64 * page)
        .expect_err("grew a split region with no room");
    assert_eq!(e.errno(), libc::EBUSY, "{e}");
    assert_eq!(
        fs::metadata(&path).unwrap().len(),
        2 * page as u64,
        "the file stayed grown"
    );
    assert_eq!(r.len(), 2 * page);
    if taken == after {
        // SAFETY: the page mapped above, ours alone.
        unsafe { libc::munmap(taken, page) };
    }
}

#[test]
fn a_socket_is_enodev_with_and_without_create() {
    let d = TempDir::new("socket");
    let path = d.path().join("sock");
    let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    for flags in [
        Flags::READ | Flags::SHARED,
        Flags::READ | Flags::WRITE | Flags::SHARED | Flags::CREATE,
    ] {
        let e = Region::file(&path, 0, 0, flags).expect_err("mapped a socket");
        assert_eq!(e.errno(), libc::ENODEV, "{e}");
        assert!(e.to_string().contains("cannot map a socket"), "{e}");
    }
}
