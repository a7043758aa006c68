//! Tests of the grow rule.

use super::*;
use crate::sys::test_support::*;
use std::os::fd::AsFd;

// ------------------------------------------------------------ growing

/// `MAP_FIXED_NOREPLACE` (Linux UAPI), for the tests' own mappings.
#[cfg(target_os = "linux")]
const NOREPLACE: i32 = 0x10_0000;

/// Private anonymous memory (`/dev/zero` in a build without
/// `MAP_ANONYMOUS`).
#[cfg(target_os = "linux")]
fn anon(len: usize, spec: &MapSpec) -> Mapping {
    map_anonymous(len, spec)
        .or_else(|_| map_devzero(len, spec))
        .unwrap()
}

/// Write b'a' + i at the start of page i, for `pages` pages.
#[cfg(target_os = "linux")]
fn tag(m: &Mapping, pages: usize) {
    for i in 0..pages {
        // SAFETY: inside the test's own writable mapping.
        unsafe { *m.ptr().add(i * page_size()) = b'a' + i as u8 };
    }
}

/// The first byte of each of the first `pages` pages.
#[cfg(target_os = "linux")]
fn tags(m: &Mapping, pages: usize) -> Vec<u8> {
    // SAFETY: reads inside the mapping, whose pages are readable.
    (0..pages)
        .map(|i| unsafe { *m.ptr().add(i * page_size()) })
        .collect()
}

/// Tagged private read-write pages between two inaccessible guard pages
/// (left mapped): one kernel mapping with no room after it, never merged
/// with another test's mapping.
#[cfg(target_os = "linux")]
fn tagged(pages: usize) -> Mapping {
    let page = page_size();
    let none = MapSpec {
        prot: Prot(libc::PROT_NONE),
        ..PRIVATE_RW
    };
    let guarded = std::mem::ManuallyDrop::new(anon((pages + 2) * page, &none));
    guarded
        .protect(page, pages * page, Prot(libc::PROT_READ | libc::PROT_WRITE))
        .unwrap();
    let m = Mapping::of(guarded.ptr().wrapping_add(page), pages * page);
    tag(&m, pages);
    m
}

/// Tagged private read-write pages with `room` free pages after them (a
/// longer mapping, shrunk): tests run alone in a child, so that nothing
/// maps there meanwhile.
#[cfg(target_os = "linux")]
fn with_room(pages: usize, room: usize) -> Mapping {
    let page = page_size();
    let mut m = anon((pages + room) * page, &PRIVATE_RW);
    m.resize(pages * page, &PRIVATE_RW, None, 0, false).unwrap();
    tag(&m, pages);
    m
}

/// A page mapped right after `m` unless something is there already:
/// either way, a grow cannot extend it in place.
#[cfg(target_os = "linux")]
fn occupy_after(m: &Mapping) -> Option<Mapping> {
    // SAFETY: MAP_FIXED_NOREPLACE replaces nothing; checked below.
    let p = unsafe {
        libc::mmap(
            m.ptr().add(m.len()).cast(),
            page_size(),
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANON | NOREPLACE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return None; // taken already
    }
    let next = Mapping::of(p.cast(), page_size());
    (next.ptr() == m.ptr().wrapping_add(m.len())).then_some(next)
}

/// The permissions (`/proc/self/maps`: "rw-p", ...) of the kernel
/// mapping holding `addr`.
#[cfg(target_os = "linux")]
fn perms(addr: *const u8) -> String {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    for line in maps.lines() {
        let mut f = line.split(' ');
        let (a, b) = f.next().unwrap().split_once('-').unwrap();
        let (a, b) = (
            usize::from_str_radix(a, 16).unwrap(),
            usize::from_str_radix(b, 16).unwrap(),
        );
        if (a..b).contains(&(addr as usize)) {
            return f.next().unwrap().to_string();
        }
    }
    panic!("{addr:?} is not mapped")
}

/// The permissions of each of the first `pages` pages of `m`.
#[cfg(target_os = "linux")]
fn page_perms(m: &Mapping, pages: usize) -> Vec<String> {
    (0..pages)
        .map(|p| perms(m.ptr().wrapping_add(p * page_size())))
        .collect()
}

/// The `VmFlags` (`/proc/self/smaps`: "lo" locked, "lf" on fault, "dd"
/// not dumped, ...) of the kernel mapping holding `addr`.
#[cfg(mmkit_mremap)]
fn vm_flags(addr: *const u8) -> Vec<String> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let mut inside = false;
    for line in smaps.lines() {
        if let Some((a, b)) = line.split(' ').next().and_then(|r| r.split_once('-')) {
            if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) {
                inside = (a..b).contains(&(addr as usize));
                continue;
            }
        }
        if let (true, Some(f)) = (inside, line.strip_prefix("VmFlags:")) {
            return f.split_whitespace().map(String::from).collect();
        }
    }
    panic!("{addr:?} is not mapped")
}

/// Whether every page of `[at, at + pages * page)` is in the kernel
/// mapping `flag` marks.
#[cfg(mmkit_mremap)]
fn all_have(at: *const u8, pages: usize, flag: &str) -> bool {
    (0..pages).all(|p| {
        vm_flags(at.wrapping_add(p * page_size()))
            .iter()
            .any(|f| f == flag)
    })
}

/// Step 1, on this kernel: a region split in several kernel mappings
/// (one page read-only: the first, then the last) grows in place, only
/// the last kernel mapping extended; every page keeps its protection and
/// the new pages read zeros and are writable, whatever the last page's
/// protection was.
#[test]
#[cfg(target_os = "linux")]
fn a_split_region_grows_in_place() {
    if !in_child("sys::grow::tests::a_split_region_grows_in_place", &[]) {
        return;
    }
    let page = page_size();
    for read_only in [0, 3] {
        let mut m = with_room(4, 4);
        m.protect(read_only * page, page, Prot(libc::PROT_READ))
            .unwrap();
        let before = page_perms(&m, 4);
        let at = m.ptr();
        m.resize(8 * page, &PRIVATE_RW, None, 0, true).unwrap();
        assert_eq!((m.ptr(), m.len()), (at, 8 * page), "moved");
        assert_eq!(page_perms(&m, 4), before);
        assert_eq!(page_perms(&m, 8)[4..], ["rw-p"; 4]);
        assert_eq!(tags(&m, 8), b"abcd\0\0\0\0");
        for p in 4..8 {
            // SAFETY: a new page of the grown mapping, writable.
            unsafe { *m.ptr().add(p * page + 1) = 7 };
        }
    }
}

/// Step 2: one kernel mapping with no room after it moves, bytes kept,
/// new pages zero and writable.
#[test]
#[cfg(target_os = "linux")]
fn a_single_mapping_with_no_room_moves() {
    let page = page_size();
    let mut m = tagged(4);
    let at = m.ptr();
    m.resize(8 * page, &PRIVATE_RW, None, 0, false).unwrap();
    assert_ne!(m.ptr(), at, "grown in place over a guard page");
    assert_eq!(m.len(), 8 * page);
    assert_eq!(tags(&m, 8), b"abcd\0\0\0\0");
    assert_eq!(page_perms(&m, 8), ["rw-p"; 8]);
    // SAFETY: a new page of the grown mapping, writable.
    unsafe { *m.ptr().add(7 * page) = 7 };
}

/// Step 3: a region split in several kernel mappings with no room after
/// it is EBUSY, and stays as it was: address, length, bytes, protections.
#[test]
#[cfg(target_os = "linux")]
fn a_split_region_with_no_room_is_ebusy_and_unchanged() {
    let page = page_size();
    let mut m = tagged(4);
    m.protect(page, page, Prot(libc::PROT_READ)).unwrap();
    let at = m.ptr();
    let e = m.resize(8 * page, &PRIVATE_RW, None, 0, true).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EBUSY), "{e}");
    assert_eq!((m.ptr(), m.len()), (at, 4 * page));
    assert_eq!(tags(&m, 4), b"abcd");
    assert_eq!(page_perms(&m, 4), ["rw-p", "r--p", "rw-p", "rw-p"]);
}

/// A file or shareable object with `pages` pages, the first byte of
/// page p being p.
#[cfg(target_os = "linux")]
fn numbered(f: &File, pages: usize) {
    use std::os::unix::fs::FileExt;
    f.set_len((pages * page_size()) as u64).unwrap();
    for p in 0..pages {
        f.write_all_at(&[p as u8], (p * page_size()) as u64)
            .unwrap();
    }
}

/// File and shareable regions, grown in place (split) and moved (one
/// kernel mapping, no room): every page maps the right offset of the
/// file or object, and a shared one's new pages write into it.
#[test]
#[cfg(target_os = "linux")]
fn file_and_shared_regions_map_the_right_offsets_after_a_grow() {
    use std::os::unix::fs::FileExt;
    if !in_child(
        "sys::grow::tests::file_and_shared_regions_map_the_right_offsets_after_a_grow",
        &[],
    ) {
        return;
    }
    let page = page_size();
    let file = tempfile_unlinked();
    numbered(&file, 10);
    #[cfg_attr(not(mmkit_memfd), allow(unused_mut))]
    let mut cases = vec![(&file, Share::Private), (&file, Share::Shared)];
    #[cfg(mmkit_memfd)]
    let object = File::from(memfd_object(c"mmkit-test").unwrap());
    #[cfg(mmkit_memfd)]
    {
        numbered(&object, 10);
        cases.push((&object, Share::Shared));
    }
    for (f, share) in cases {
        let spec = MapSpec {
            share,
            ..PRIVATE_RW
        };
        let offset = page as u64; // page 0 maps page 1 of the file
        for in_place in [true, false] {
            let mut m = map_fd(f.as_fd(), offset, 8 * page, &spec).unwrap();
            m.resize(4 * page, &spec, None, 0, false).unwrap();
            let _next = if in_place {
                m.protect(0, page, Prot(libc::PROT_READ)).unwrap();
                None
            } else {
                occupy_after(&m)
            };
            let at = m.ptr();
            m.resize(8 * page, &spec, Some(f.as_fd()), offset, in_place)
                .unwrap();
            let what = format!("{share:?}, in place {in_place}");
            assert_eq!(m.ptr() == at, in_place, "{what}");
            assert_eq!(tags(&m, 8), [1, 2, 3, 4, 5, 6, 7, 8], "{what}");
            // SAFETY: a new page of the grown mapping, writable.
            unsafe { *m.ptr().add(6 * page + 1) = b'W' };
            let mut b = [0u8];
            f.read_exact_at(&mut b, 7 * page as u64 + 1).unwrap();
            assert_eq!(b[0] == b'W', share == Share::Shared, "{what}");
            f.write_all_at(&[0], 7 * page as u64 + 1).unwrap();
        }
    }
}

/// `VmLck` of this process, in bytes.
#[cfg(mmkit_mremap)]
fn vmlck() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmLck:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<usize>()
        .unwrap()
        * 1024
}

/// A locked region keeps its lock both ways, locked on fault too: grown
/// in place (split by a read-only page), its new pages are locked as
/// well; moved, all of it is. The process's locked memory is counted
/// once. (In a child, alone: VmLck is the process's.)
#[test]
#[cfg(mmkit_mremap)]
fn a_locked_region_keeps_its_lock_in_place_and_moved() {
    if !in_child(
        "sys::grow::tests::a_locked_region_keeps_its_lock_in_place_and_moved",
        &[],
    ) {
        return;
    }
    let page = page_size();
    let start = vmlck();
    for on_fault in [false, true] {
        for in_place in [true, false] {
            let mut m = if in_place { with_room(4, 4) } else { tagged(4) };
            let flag = if on_fault { "lf" } else { "lo" };
            // SAFETY: mlock/mlock2 of the test's own mapping.
            let rc = unsafe {
                if on_fault {
                    libc::mlock2(m.ptr().cast(), 4 * page, libc::MLOCK_ONFAULT)
                } else {
                    libc::mlock(m.ptr().cast(), 4 * page)
                }
            };
            if rc != 0 {
                eprintln!("skipped: {}", io::Error::last_os_error());
                return;
            }
            if in_place {
                m.protect(0, page, Prot(libc::PROT_READ)).unwrap();
            }
            let at = m.ptr();
            m.resize(8 * page, &PRIVATE_RW, None, 0, true).unwrap();
            let what = format!("on fault {on_fault}, in place {in_place}");
            assert_eq!(m.ptr() == at, in_place, "{what}");
            assert!(all_have(m.ptr(), 8, flag), "{what}");
            assert_eq!(vmlck(), start + 8 * page, "{what}");
            if on_fault {
                // The new pages are not faulted in.
                let mut resident = [0u8; 4];
                // SAFETY: mincore of 4 pages of the mapping into 4 bytes.
                let rc = unsafe {
                    libc::mincore(
                        m.ptr().add(4 * page).cast(),
                        4 * page,
                        resident.as_mut_ptr(),
                    )
                };
                assert_eq!(rc, 0);
                assert!(resident.iter().all(|r| r & 1 == 0), "{what}: {resident:?}");
            }
            assert_eq!(tags(&m, 4), b"abcd", "{what}");
            drop(m);
            assert_eq!(vmlck(), start, "{what}: unmapped");
        }
    }
}

/// Set the soft RLIMIT_MEMLOCK (at most the hard one).
#[cfg(mmkit_mremap)]
fn set_memlock(bytes: usize) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) },
        0
    );
    lim.rlim_cur = (bytes as libc::rlim_t).min(lim.rlim_max);
    // SAFETY: setrlimit reads the struct we pass.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim) }, 0);
}

/// A locked region whose grow would pass RLIMIT_MEMLOCK (the kernel
/// locks the new pages too) is EAGAIN both ways, and stays as it was,
/// locked. (Needs no CAP_IPC_LOCK: run in a child under setpriv.)
#[test]
#[cfg(mmkit_mremap)]
fn a_grow_past_the_memlock_limit_is_eagain_and_changes_nothing() {
    let name = "sys::grow::tests::a_grow_past_the_memlock_limit_is_eagain_and_changes_nothing";
    if !std::path::Path::new("/usr/bin/setpriv").exists() {
        eprintln!("skipped: no setpriv");
        return;
    }
    let drop_cap = [
        "/usr/bin/setpriv",
        "--bounding-set=-ipc_lock",
        "--inh-caps=-ipc_lock",
    ];
    if !in_child(name, &drop_cap) {
        return;
    }
    let page = page_size();
    set_memlock(16 * page);
    for in_place in [true, false] {
        let mut m = if in_place {
            with_room(4, 60)
        } else {
            tagged(4)
        };
        m.lock(0, 4 * page).unwrap();
        let at = m.ptr();
        let e = m.resize(64 * page, &PRIVATE_RW, None, 0, true).unwrap_err();
        assert_eq!(
            e.raw_os_error(),
            Some(libc::EAGAIN),
            "in place {in_place}: {e}"
        );
        assert_eq!((m.ptr(), m.len()), (at, 4 * page));
        assert!(all_have(m.ptr(), 4, "lo"), "in place {in_place}");
        assert_eq!(tags(&m, 4), b"abcd");
    }
}

/// A region in two kernel mappings, each merged with a neighbouring
/// mapping (locked, one not dumped): no room after its end (inside the
/// second), and it cannot move: EBUSY, the neighbours untouched.
#[test]
#[cfg(mmkit_mremap)]
fn a_region_merged_with_its_neighbours_is_ebusy_and_leaves_them_alone() {
    let page = page_size();
    let all = std::mem::ManuallyDrop::new(tagged(8));
    let locked = all.lock(0, 8 * page).is_ok();
    // Kernel mappings [0-4] [5-7]; neighbour [0-2], region [3-5],
    // neighbour [6-7].
    all.advise(0, 5 * page, libc::MADV_DONTDUMP).unwrap();
    // SAFETY: pages 3-5 of `all`, which is never dropped; nor is this.
    let mut region =
        std::mem::ManuallyDrop::new(Mapping::of(all.ptr().wrapping_add(3 * page), 3 * page));
    let e = region
        .resize(6 * page, &PRIVATE_RW, None, 0, true)
        .unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EBUSY), "{e}");
    assert_eq!(tags(&all, 8), b"abcdefgh");
    for p in 0..8 {
        let f = vm_flags(all.ptr().wrapping_add(p * page));
        assert_eq!(f.iter().any(|f| f == "lo"), locked, "page {p}: {f:?}");
        assert_eq!(f.iter().any(|f| f == "dd"), p < 5, "page {p}: {f:?}");
    }
}

/// One kernel mapping that the kernel merged with a locked neighbour
/// before it moves alone: the neighbour keeps its pages and its lock.
#[test]
#[cfg(mmkit_mremap)]
fn moving_a_region_merged_with_a_neighbour_leaves_the_neighbour_alone() {
    let page = page_size();
    let all = std::mem::ManuallyDrop::new(tagged(8));
    let locked = all.lock(0, 8 * page).is_ok();
    // SAFETY: pages 3-7 of `all`, which is never dropped; from here on
    // they are this value's alone.
    let mut region = Mapping::of(all.ptr().wrapping_add(3 * page), 5 * page);
    region
        .resize(9 * page, &PRIVATE_RW, None, 0, locked)
        .unwrap();
    assert_ne!(region.ptr(), all.ptr().wrapping_add(3 * page));
    assert_eq!(tags(&all, 3), b"abc");
    assert_eq!(tags(&region, 6), b"defgh\0");
    if locked {
        assert!(all_have(all.ptr(), 3, "lo"), "the neighbour lost its lock");
        assert!(all_have(region.ptr(), 9, "lo"), "the region lost its lock");
    }
}

/// An open, already unlinked file in the temporary directory.
#[cfg(target_os = "linux")]
fn tempfile_unlinked() -> std::fs::File {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "mmkit-sys-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    file
}

/// A private file region whose file another process truncated after the
/// region checked its size: growing it (moved, no room) raises no signal,
/// whatever it returns (without mremap the copy is EFAULT).
#[test]
#[cfg(target_os = "linux")]
fn growing_over_a_truncated_private_file_raises_no_signal() {
    let page = page_size();
    let file = tempfile_unlinked();
    file.set_len(8 * page as u64).unwrap();
    let fd = file.as_fd();
    let mut m = map_fd(fd, 0, 5 * page, &PRIVATE_RW).unwrap();
    let _next = occupy_after(&m);
    file.set_len(0).unwrap();
    let _ = m.resize(8 * page, &PRIVATE_RW, Some(fd), 0, false);
    // Still here: no SIGBUS.
    assert_eq!(m.len() % page, 0);
}
