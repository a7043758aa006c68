//! Beyond the peers: fault-safe copies instead of SIGBUS, shareable memory for
//! unrelated processes, seals, resize of every region kind, populate that
//! reports failure.

use std::fs::{self, OpenOptions};
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::Stdio;

use crate::support::{self, helper, in_child, pattern, test_name, Exit, TempDir};
use mmkit::{Flags, Region, MM_SEAL_GROW, MM_SEAL_SHRINK, MM_SEAL_WRITE};

const RW: Flags = Flags::READ.union(Flags::WRITE).union(Flags::SHARED);
const RW_PRIVATE: Flags = Flags::READ.union(Flags::WRITE).union(Flags::PRIVATE);

/// Whether this build seals shareable memory (Linux memfd, unless disabled).
fn seals_expected() -> bool {
    cfg!(target_os = "linux")
        && !option_env!("MMKIT_DISABLE").is_some_and(|v| v.split(',').any(|c| c.trim() == "seals"))
}

fn errno<T: std::fmt::Debug>(r: mmkit::Result<T>) -> i32 {
    r.unwrap_err().errno()
}

// ------------------------------------------------------------ mm_read / mm_write

#[test]
fn truncated_file_gives_efault_where_a_load_gives_sigbus() {
    let d = TempDir::new("sigbus");
    let page = mmkit::page_size();
    let p = d.file("f", &pattern(4 * page, 1));
    let r = Region::file(&p, 0, 0, RW).unwrap();
    let mut buf = vec![0u8; 100];
    r.read(3 * page, &mut buf).unwrap();
    assert_eq!(buf, &pattern(4 * page, 1)[3 * page..3 * page + 100]);
    OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(page as u64)
        .unwrap();

    let e = r.read(3 * page, &mut buf).unwrap_err();
    assert_eq!(e.errno(), libc::EFAULT, "{e}");
    assert!(e.to_string().starts_with("mm_read: "), "{e}");
    assert!(e.to_string().contains("truncated"), "{e}");
    assert_eq!(r.write(2 * page, b"xyz").unwrap_err().errno(), libc::EFAULT);
    // The part still inside the file is fine.
    r.read(0, &mut buf).unwrap();
    r.write(10, b"still here").unwrap();
    // A plain load of the same byte kills the process with SIGBUS.
    let at = r.as_ptr();
    // SAFETY: the child's load faults by design; that is what is tested.
    let status = in_child(|| unsafe { at.add(3 * page).read_volatile() as i32 });
    assert_eq!(status, Exit::Signal(libc::SIGBUS));
}

#[test]
fn copies_are_bounds_checked_and_respect_protection() {
    let r = Region::anon(10_000, RW_PRIVATE).unwrap();
    r.write(9_990, &[7u8; 10]).unwrap();
    let mut b = [0u8; 10];
    r.read(9_990, &mut b).unwrap();
    assert_eq!(b, [7u8; 10]);
    r.read(10_000, &mut []).unwrap();
    assert_eq!(errno(r.read(9_991, &mut b)), libc::EINVAL);
    assert_eq!(errno(r.write(usize::MAX, &b)), libc::EINVAL);
    assert_eq!(errno(r.read(10_001, &mut [])), libc::EINVAL);
    let ro = Region::anon(4096, Flags::READ | Flags::PRIVATE).unwrap();
    let e = ro.write(0, b"x").unwrap_err();
    assert_eq!(e.errno(), libc::EACCES, "{e}");
    assert!(e.to_string().contains("read-only"), "{e}");
    // No access at all: EFAULT, not SIGSEGV.
    r.protect(0, 0, Flags::NONE).unwrap();
    assert_eq!(errno(r.read(0, &mut b)), libc::EFAULT);
    // Mapped writable, made read-only (or inaccessible) by mm_protect:
    // EFAULT, a page mm_protect made inaccessible; EACCES is for regions
    // mapped without MM_WRITE (the contract).
    assert_eq!(errno(r.write(0, &b)), libc::EFAULT);
    r.protect(0, 0, Flags::READ).unwrap();
    assert_eq!(errno(r.write(0, &b)), libc::EFAULT);
    r.read(9_990, &mut b).unwrap();
    // Mapped read-only, made writable by mm_protect: written; read-only again: EACCES.
    let rw = Region::anon(4096, Flags::READ | Flags::PRIVATE).unwrap();
    rw.protect(0, 0, Flags::READ | Flags::WRITE).unwrap();
    rw.write(0, b"y").unwrap();
    rw.protect(0, 0, Flags::READ).unwrap();
    assert_eq!(errno(rw.write(0, b"y")), libc::EACCES);
}

#[test]
fn large_copies_cross_many_pages() {
    let d = TempDir::new("bigcopy");
    let data = pattern(3 << 20, 2);
    let p = d.file("f", &data);
    let r = Region::file(&p, 5, 0, RW).unwrap();
    let mut out = vec![0u8; r.len()];
    r.read(0, &mut out).unwrap();
    assert_eq!(out, &data[5..]);
    let new = pattern(r.len(), 3);
    r.write(0, &new).unwrap();
    r.sync(0, 0, mmkit::SyncFlags::SYNC).unwrap();
    assert_eq!(&fs::read(&p).unwrap()[5..], &new[..]);
}

// ------------------------------------------------------------ shareable memory

#[test]
fn shareable_memory_is_seen_through_its_descriptor() {
    let _shm = support::naming_in_dev_shm();
    let a = Region::shareable("mmkit-test", 10_000, RW).unwrap();
    assert_eq!(a.len(), 10_000);
    let fd = a.fd().expect("a shareable region keeps its descriptor");
    // SAFETY: F_GETFD only reads the descriptor flags.
    let fdflags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
    assert_ne!(
        fdflags & libc::FD_CLOEXEC,
        0,
        "descriptor is not close-on-exec"
    );
    let b = Region::from_fd(fd, 0, 0, RW).unwrap();
    assert_eq!(b.len(), 10_000);
    a.write(9_000, b"from a").unwrap();
    let mut buf = [0u8; 6];
    b.read(9_000, &mut buf).unwrap();
    assert_eq!(&buf, b"from a");
    b.write(0, b"from b").unwrap();
    a.read(0, &mut buf).unwrap();
    assert_eq!(&buf, b"from b");
    assert!(Region::anon(4096, RW).unwrap().fd().is_none());
    // Bad input.
    assert_eq!(errno(Region::shareable("x", 0, RW)), libc::EINVAL);
    assert_eq!(
        errno(Region::shareable("x", 4096, RW_PRIVATE)),
        libc::EINVAL
    );
    assert_eq!(errno(Region::shareable("x", usize::MAX, RW)), libc::ENOMEM);
    assert_eq!(errno(Region::shareable("x\0y", 4096, RW)), libc::EINVAL);
}

#[test]
fn shareable_memory_leaves_nothing_in_dev_shm() {
    let _shm = support::listing_dev_shm();
    let before: Vec<_> = fs::read_dir("/dev/shm")
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    let regions: Vec<_> = (0..20)
        .map(|_| Region::shareable("leak-check", 4096, RW).unwrap())
        .collect();
    let during: Vec<_> = fs::read_dir("/dev/shm")
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    let new: Vec<_> = during
        .iter()
        .filter(|n| !before.contains(n) && n.to_string_lossy().contains("mmkit"))
        .collect();
    assert!(new.is_empty(), "left in /dev/shm: {new:?}");
    drop(regions);
}

/// Helper (exec'd): receive a descriptor on stdin (a Unix socket), map it,
/// check the parent's message, write a reply.
#[test]
#[ignore = "helper process for an_exec_d_process_shares_memory_over_scm_rights"]
fn helper_peer() {
    let stdin = std::io::stdin();
    // Nothing was inherited: the only mmkit memfd is the one received.
    let inherited = fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|e| fs::read_link(e.path()).ok())
        .filter(|l| l.to_string_lossy().contains("memfd:mmkit-peer"))
        .count();
    assert_eq!(inherited, 0, "the memfd leaked into the exec'd process");
    let fd: OwnedFd = support::recv_fd(stdin.as_fd());
    let r = Region::from_fd(fd.as_fd(), 0, 0, RW).unwrap();
    let mut msg = [0u8; 5];
    r.read(0, &mut msg).unwrap();
    assert_eq!(&msg, b"hello");
    r.write(100, b"world").unwrap();
    // Sealed against shrinking: the peer cannot pull the pages away.
    if std::env::var_os("MMKIT_TEST_SEALED").is_some() {
        // SAFETY: ftruncate on a descriptor owned here.
        let rc = unsafe { libc::ftruncate(fd.as_raw_fd(), 0) };
        assert_eq!(rc, -1);
        assert_eq!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::EPERM)
        );
    }
    println!("peer done");
}

#[test]
fn an_exec_d_process_shares_memory_over_scm_rights() {
    let _shm = support::naming_in_dev_shm();
    let r = Region::shareable("mmkit-peer", 8192, RW).unwrap();
    r.write(0, b"hello").unwrap();
    let sealable = r.seal(MM_SEAL_SHRINK | MM_SEAL_GROW).is_ok();
    assert_eq!(sealable, seals_expected());
    let (ours, theirs) = UnixStream::pair().unwrap();
    let mut child = helper(test_name!(helper_peer));
    if sealable {
        child.env("MMKIT_TEST_SEALED", "1");
    }
    let mut child = child
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    support::send_fd(ours.as_fd(), r.fd().unwrap());
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(child.wait().unwrap().success(), "peer failed: {out}");
    assert!(out.contains("peer done"), "{out}");
    let mut reply = [0u8; 5];
    r.read(100, &mut reply).unwrap();
    assert_eq!(&reply, b"world");
}

#[test]
fn shareable_descriptor_is_not_inherited_across_exec() {
    let _shm = support::naming_in_dev_shm();
    let r = Region::shareable("mmkit-cloexec", 4096, RW).unwrap();
    let fd = r.fd().unwrap().as_raw_fd();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "test -e /proc/self/fd/{fd} && readlink /proc/self/fd/{fd} || echo closed"
        ))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("memfd:mmkit-cloexec"), "inherited: {text}");
}

#[test]
fn seals_refuse_ftruncate_and_writes() {
    let _shm = support::naming_in_dev_shm();
    if !cfg!(target_os = "linux")
        || option_env!("MMKIT_DISABLE").is_some_and(|v| v.contains("seals"))
    {
        let r = Region::shareable("s", 4096, RW).unwrap();
        assert_eq!(errno(r.seal(MM_SEAL_SHRINK)), libc::ENOTSUP);
        return;
    }
    let mut r = Region::shareable("mmkit-seal", 8192, RW).unwrap();
    r.seal(MM_SEAL_SHRINK).unwrap();
    let fd = r.fd().unwrap().as_raw_fd();
    // SAFETY: ftruncate on the region's descriptor; it must be refused.
    assert_eq!(unsafe { libc::ftruncate(fd, 100) }, -1);
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::EPERM)
    );
    let e = r.resize(4096).unwrap_err();
    assert_eq!(e.errno(), libc::EPERM, "{e}");
    assert!(e.to_string().contains("sealed"), "{e}");
    r.resize(3 * 8192).unwrap(); // growing is still allowed
    r.seal(MM_SEAL_GROW | MM_SEAL_WRITE).unwrap();
    assert_eq!(errno(r.resize(4 * 8192)), libc::EPERM);
    // SAFETY: write(2) of a local byte to the region's descriptor; must be refused.
    let w = unsafe { libc::pwrite(fd, b"x".as_ptr().cast(), 1, 0) };
    assert_eq!(w, -1);
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::EPERM)
    );
    // Nobody can map it writable any more; read-only is fine.
    assert_eq!(
        errno(Region::from_fd(r.fd().unwrap(), 0, 0, RW)),
        libc::EPERM
    );
    Region::from_fd(r.fd().unwrap(), 0, 0, Flags::READ | Flags::SHARED).unwrap();
    // This region's own mapping keeps writing (F_SEAL_FUTURE_WRITE).
    r.write(0, b"mine").unwrap();
    assert_eq!(errno(r.seal(0x80)), libc::EINVAL);
    assert_eq!(
        errno(Region::anon(4096, RW).unwrap().seal(MM_SEAL_SHRINK)),
        libc::ENOTSUP
    );
}

// ------------------------------------------------------------ resize

#[test]
fn private_anonymous_resize_keeps_bytes_and_gains_zeros() {
    for extra in [Flags::NONE, Flags::DEVZERO] {
        let page = mmkit::page_size();
        let mut r = Region::anon(100, RW_PRIVATE | extra).unwrap();
        r.write(0, &[9u8; 100]).unwrap();
        r.resize(50).unwrap();
        assert_eq!(r.len(), 50);
        r.resize(5 * page + 3).unwrap();
        assert_eq!(r.len(), 5 * page + 3);
        let mut all = vec![1u8; r.len()];
        r.read(0, &mut all).unwrap();
        assert!(all[..50].iter().all(|&b| b == 9));
        assert!(
            all[50..].iter().all(|&b| b == 0),
            "grown bytes are not zero"
        );
        r.resize(page).unwrap();
        assert_eq!(errno(r.resize(0)), libc::EINVAL);
        assert_eq!(errno(r.resize(usize::MAX)), libc::ENOMEM);
    }
}

#[test]
fn shared_anonymous_memory_refuses_to_grow_past_its_object() {
    for extra in [Flags::NONE, Flags::DEVZERO] {
        let page = mmkit::page_size();
        let mut r = Region::anon(2 * page, RW | extra).unwrap();
        let e = r.resize(3 * page).unwrap_err();
        assert_eq!(e.errno(), libc::ENOTSUP, "{e}");
        assert!(e.to_string().contains("SIGBUS"), "{e}");
        r.resize(page).unwrap();
        r.resize(page - 10).unwrap();
        r.resize(page).unwrap(); // back up within the object's pages
        let mut b = [1u8; 10];
        r.read(page - 10, &mut b).unwrap();
        assert_eq!(b, [0u8; 10]);
        assert_eq!(errno(r.resize(page + 1)), libc::ENOTSUP);
    }
}

#[test]
fn naive_mremap_of_shared_anonymous_memory_would_sigbus() {
    // What mm_resize refuses to do: grow a shared anonymous mapping with a raw
    // mremap and touch the new page.
    if !cfg!(target_os = "linux") {
        return;
    }
    let page = mmkit::page_size();
    let status = in_child(|| {
        // SAFETY: raw mmap/mremap in the child; the touch faults by design.
        unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            let q = libc::mremap(p, page, 2 * page, libc::MREMAP_MAYMOVE);
            if q == libc::MAP_FAILED {
                return 2;
            }
            q.cast::<u8>().add(page).write_volatile(1);
            0
        }
    });
    assert_eq!(status, Exit::Signal(libc::SIGBUS));
}

#[test]
fn shareable_resize_keeps_bytes_and_gains_zeros() {
    let _shm = support::naming_in_dev_shm();
    let mut r = Region::shareable("mmkit-resize", 100, RW).unwrap();
    r.write(0, &[5u8; 100]).unwrap();
    r.resize(3 * mmkit::page_size() + 1).unwrap();
    let mut all = vec![1u8; r.len()];
    r.read(0, &mut all).unwrap();
    assert!(all[..100].iter().all(|&b| b == 5));
    assert!(all[100..].iter().all(|&b| b == 0));
    r.resize(10).unwrap();
    r.resize(200).unwrap();
    let mut b = [1u8; 190];
    r.read(10, &mut b).unwrap();
    assert!(b.iter().all(|&x| x == 0), "bytes cut by a shrink came back");
    // A peer mapping through the descriptor sees the new size.
    assert_eq!(
        Region::from_fd(r.fd().unwrap(), 0, 0, RW).unwrap().len(),
        200
    );
}

#[test]
fn file_resize_stays_inside_the_file_unless_created() {
    let d = TempDir::new("fresize");
    let page = mmkit::page_size();
    let data = pattern(3 * page, 4);
    let p = d.file("f", &data);
    let mut r = Region::file(&p, 10, 100, RW).unwrap();
    r.resize(2 * page).unwrap();
    let mut got = vec![0u8; 2 * page];
    r.read(0, &mut got).unwrap();
    assert_eq!(got, &data[10..10 + 2 * page]);
    r.resize(3 * page - 10).unwrap(); // exactly to the end of the file
    let e = r.resize(3 * page - 9).unwrap_err();
    assert_eq!(e.errno(), libc::EINVAL, "{e}");
    assert!(e.to_string().contains("MM_CREATE"), "{e}");
    r.resize(5).unwrap();
    assert_eq!(
        fs::metadata(&p).unwrap().len(),
        3 * page as u64,
        "a shrink changed the file"
    );

    // MM_CREATE: the file grows, blocks allocated.
    let c = d.join("created");
    let mut r = Region::file(&c, 0, 100, RW | Flags::CREATE).unwrap();
    r.write(0, b"kept").unwrap();
    r.resize(1 << 20).unwrap();
    let m = fs::metadata(&c).unwrap();
    assert_eq!(m.len(), 1 << 20);
    assert!(std::os::unix::fs::MetadataExt::blocks(&m) * 512 >= 1 << 20);
    r.write((1 << 20) - 4, b"tail").unwrap();
    r.sync(0, 0, mmkit::SyncFlags::SYNC).unwrap();
    let on_disk = fs::read(&c).unwrap();
    assert_eq!(&on_disk[..4], b"kept");
    assert_eq!(&on_disk[(1 << 20) - 4..], b"tail");

    // An empty file mapped with MM_CREATE at an unaligned offset can grow.
    let e2 = d.file("empty", b"");
    let mut r = Region::file(&e2, 0, 0, RW | Flags::CREATE).unwrap();
    assert!(r.is_empty());
    r.resize(10).unwrap();
    r.write(0, b"0123456789").unwrap();
    assert_eq!(fs::read(&e2).unwrap(), b"0123456789");

    // A replaced file is not grown into.
    let q = d.file("q", &data);
    let mut r = Region::file(&q, 0, 10, Flags::READ | Flags::SHARED).unwrap();
    fs::rename(&p, &q).unwrap();
    assert_eq!(errno(r.resize(20)), libc::ESTALE);

    // A region from a descriptor keeps none: it can shrink, not grow.
    let f = fs::File::open(&q).unwrap();
    let mut r = Region::from_fd(f.as_fd(), 0, 100, Flags::READ | Flags::SHARED).unwrap();
    r.resize(50).unwrap();
    assert_eq!(errno(r.resize(200)), libc::ENOTSUP);
}

// ------------------------------------------------------------ populate

/// Helper: run inside a private mount namespace with a 1 MiB tmpfs at
/// MMKIT_TEST_DIR; a sparse 8 MiB file cannot be populated for writing.
#[test]
#[ignore = "helper process for populate_failure_is_an_error"]
fn helper_populate_full() {
    let dir = std::path::PathBuf::from(std::env::var_os("MMKIT_TEST_DIR").unwrap());
    let p = dir.join("sparse");
    fs::File::create(&p).unwrap().set_len(8 << 20).unwrap();
    let e = Region::file(&p, 0, 0, RW | Flags::POPULATE).unwrap_err();
    println!("populate errno={} msg={e}", e.errno());
    // Without MM_POPULATE the same mapping "works" and would SIGBUS later;
    // MM_CREATE refuses up front instead.
    let e = Region::file(dir.join("created"), 0, 8 << 20, RW | Flags::CREATE).unwrap_err();
    println!("create errno={} msg={e}", e.errno());
    println!("created file left: {}", dir.join("created").exists());
}

#[test]
fn populate_failure_is_an_error() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!(
            "populate_failure_is_an_error: needs root for a private tmpfs; checked in CI as root"
        );
        return;
    }
    let d = TempDir::new("full");
    let exe = std::env::current_exe().unwrap();
    let script = format!(
        "mount -t tmpfs -o size=1m mmkit-test '{}' && exec '{}' --exact {} --ignored --nocapture --test-threads=1",
        d.path().display(),
        exe.display(),
        test_name!(helper_populate_full)
    );
    let out = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .env("MMKIT_TEST_DIR", d.path())
        .output()
        .expect("unshare (util-linux) is needed");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = text
        .lines()
        .find_map(|l| l.split_once("populate errno=").map(|(_, v)| v))
        .expect(&text);
    let errno: i32 = line.split(' ').next().unwrap().parse().unwrap();
    assert!(
        [libc::EFAULT, libc::ENOMEM, libc::ENOSPC].contains(&errno),
        "{line}"
    );
    assert!(line.contains("MM_POPULATE"), "{line}");
    let line = text
        .lines()
        .find_map(|l| l.split_once("create errno=").map(|(_, v)| v))
        .expect(&text);
    assert!(line.starts_with(&libc::ENOSPC.to_string()), "{line}");
    assert!(text.contains("created file left: false"), "{text}");
}
