//! `MM_POPULATE`: prefaulting a mapping, and reporting the pages that could not be had.

use super::*;

#[cfg(mmkit_map_populate)]
const MADV_POPULATE_READ: i32 = 22;
#[cfg(mmkit_map_populate)]
const MADV_POPULATE_WRITE: i32 = 23;

/// Whether the kernel has `MADV_POPULATE_READ/WRITE` (Linux 5.14+), probed
/// once on a scratch page.
#[cfg(mmkit_map_populate)]
pub(super) fn madv_populate_supported() -> bool {
    use std::sync::atomic::AtomicU8;
    static STATE: AtomicU8 = AtomicU8::new(0); // 0 unknown, 1 yes, 2 no
    match STATE.load(Ordering::Relaxed) {
        1 => return true,
        2 => return false,
        _ => {}
    }
    let page = page_size();
    // SAFETY: a fresh private page, advised and unmapped here only.
    let ok = unsafe {
        let p = libc::mmap(
            ptr::null_mut(),
            page,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_ANON,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return false; // undecided: try again next time
        }
        let ok = libc::madvise(p, page, MADV_POPULATE_READ) == 0;
        libc::munmap(p, page);
        ok
    };
    STATE.store(if ok { 1 } else { 2 }, Ordering::Relaxed);
    ok
}

/// Prefault every page of `m`, reporting failure (where `MAP_POPULATE` is
/// silent). Linux 5.14+: one `MADV_POPULATE_WRITE` / `_READ` pass, after any
/// huge page advice. Older Linux: `MAP_POPULATE` already did it at `mmap`.
/// Elsewhere: `MADV_WILLNEED` and a touch of every page (a store of the byte
/// it holds where `write`, so private pages are really allocated). Files and
/// shared objects are touched through the kernel ([`touch_checked`]), so a
/// missing page is `EFAULT`, never `SIGBUS`; a file is only read there: a byte
/// stored back later than it was read could tear a private page against a
/// concurrent writer of the file, so its pages are copied on their first
/// store instead. Without a free descriptor for the touch's pipe, populating
/// is left to the `MADV_WILLNEED` hint.
pub(crate) fn populate(m: &Mapping, write: bool, backing: Backing) -> SysResult<()> {
    #[cfg(mmkit_map_populate)]
    {
        let _ = backing; // MADV_POPULATE_* answers EFAULT itself
        if !madv_populate_supported() {
            return Ok(());
        }
        let advice = if write {
            MADV_POPULATE_WRITE
        } else {
            MADV_POPULATE_READ
        };
        m.advise(0, m.len(), advice)
    }
    #[cfg(not(mmkit_map_populate))]
    {
        // Best effort read-ahead; errors here are only advice being ignored.
        let _ = m.advise(0, m.len(), libc::MADV_WILLNEED);
        let checked = match backing {
            Backing::Anonymous => None,
            Backing::File => Some(false),
            Backing::Object => Some(write),
        };
        if let Some(write) = checked {
            return match touch_checked(m, write) {
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => Ok(()),
                r => r,
            };
        }
        let page = page_size();
        let mut off = 0;
        while off < m.len() {
            // SAFETY: off < len, inside the live mapping, which is readable
            // (populate is only asked for readable mappings), writable where
            // `write`, and not yet handed to anyone who could race the store.
            // Anonymous memory has every page, so no SIGBUS.
            unsafe {
                let p = m.ptr().add(off);
                let b = ptr::read_volatile(p);
                if write {
                    ptr::write_volatile(p, b);
                }
            }
            off += page;
        }
        Ok(())
    }
}

/// Touch every page of `m` through the kernel: one byte of each page goes
/// into a pipe with `writev` (a read fault, taken by the kernel) and, where
/// `write`, back into its page with `readv` (a write fault; only for memory
/// nobody else can be writing, since the byte goes back a batch later). A
/// page the kernel cannot supply stops the transfer short: `EFAULT`.
/// Batches of at most 512 pages: within `IOV_MAX`, and 512 bytes always fit
/// in an empty pipe (`PIPE_BUF` is at least 512), so no call blocks.
#[cfg_attr(mmkit_map_populate, allow(dead_code))] // used where MADV_POPULATE_* is missing
pub(crate) fn touch_checked(m: &Mapping, write: bool) -> SysResult<()> {
    // SAFETY: sysconf has no memory-safety preconditions.
    let iov_max = unsafe { libc::sysconf(libc::_SC_IOV_MAX) };
    let batch = usize::try_from(iov_max).map_or(16, |n| n.clamp(1, 512));
    let (rd, wr) = cloexec_pipe()?;
    let page = page_size();
    let pages = m.len() / page;
    let mut iov = [libc::iovec {
        iov_base: ptr::null_mut(),
        iov_len: 1,
    }; 512];
    let mut drain = [0u8; 512];
    let mut first = 0;
    while first < pages {
        let k = (pages - first).min(batch);
        for (i, v) in iov[..k].iter_mut().enumerate() {
            // SAFETY: (first + i) * page < m.len(): inside the mapping.
            v.iov_base = unsafe { m.ptr().add((first + i) * page) }.cast();
        }
        // SAFETY: the kernel reads one byte at each iovec, all inside this
        // live mapping, and reports a page it cannot supply as a short count.
        let n = retry(|| unsafe { libc::writev(wr.as_raw_fd(), iov.as_ptr(), k as libc::c_int) })?;
        let back = if write {
            // SAFETY: the kernel stores the n bytes just taken back where they
            // came from (the mapping is writable where `write`; nothing else
            // has it yet), reporting a page it cannot supply as a short count.
            retry(|| unsafe { libc::readv(rd.as_raw_fd(), iov.as_ptr(), n as libc::c_int) })?
        } else {
            // SAFETY: reads at most drain.len() bytes into our own buffer.
            retry(|| unsafe { libc::read(rd.as_raw_fd(), drain.as_mut_ptr().cast(), n) })?
        };
        if n < k || back < n {
            return Err(io::Error::from_raw_os_error(libc::EFAULT));
        }
        first += k;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::test_support::*;
    use std::os::fd::AsFd;
    /// A scratch file of `pages` pages, byte i of page p being (p + i) % 251.
    fn scratch_file(tag: &str, pages: usize) -> (std::path::PathBuf, File) {
        let page = page_size();
        let path = std::env::temp_dir().join(format!("mmkit-sys-{tag}-{}", std::process::id()));
        let data: Vec<u8> = (0..pages * page)
            .map(|i| ((i / page + i % page) % 251) as u8)
            .collect();
        std::fs::write(&path, &data).unwrap();
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        (path, f)
    }

    /// A file shortened under its mapping: populating the mapping is EFAULT,
    /// not SIGBUS (which would kill this test process), whichever way this
    /// build populates (MADV_POPULATE_* or the touch through a pipe).
    #[test]
    fn populating_pages_a_file_no_longer_has_is_efault() {
        let page = page_size();
        let (path, f) = scratch_file("shrunk", 3);
        let m = map_fd(f.as_fd(), 0, 3 * page, &PRIVATE_RW).unwrap();
        truncate(f.as_fd(), page as u64).unwrap();
        for write in [false, true] {
            let e = populate(&m, write, Backing::File).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EFAULT), "write={write}");
            let e = touch_checked(&m, write).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EFAULT), "write={write}");
        }
        std::fs::remove_file(path).unwrap();
    }

    /// No free descriptor for the touch's pipe: populating a file mapping is
    /// left to the read-ahead hint and succeeds (it needed none before).
    #[test]
    fn populating_without_a_free_descriptor_succeeds() {
        if !in_child(
            "sys::populate::tests::populating_without_a_free_descriptor_succeeds",
            &[],
        ) {
            return;
        }
        let page = page_size();
        let (path, f) = scratch_file("nofd", 4);
        let m = map_fd(f.as_fd(), 0, 4 * page, &PRIVATE_RW).unwrap();
        std::fs::remove_file(path).unwrap();
        let mut held = Vec::new();
        // SAFETY: dup of a descriptor we own; the copies are closed below.
        while let Ok(fd) = owned(unsafe { libc::dup(f.as_raw_fd()) }) {
            held.push(fd);
        }
        let e = touch_checked(&m, false).unwrap_err();
        assert!(
            matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)),
            "{e}"
        );
        for write in [false, true] {
            populate(&m, write, Backing::File).unwrap();
        }
        drop(held);
    }

    /// Without MADV_POPULATE_*, a file's pages are only read in: nothing is
    /// stored back a batch later (which could tear a private page against a
    /// writer of the file), so a later change to the file still shows.
    #[test]
    #[cfg(not(mmkit_map_populate))]
    fn the_fallback_populate_stores_nothing_into_a_file_mapping() {
        let page = page_size();
        let (path, f) = scratch_file("noread", 3);
        let m = map_fd(f.as_fd(), 0, 3 * page, &PRIVATE_RW).unwrap();
        populate(&m, true, Backing::File).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&f, &[0xee; 1], page as u64).unwrap();
        // SAFETY: inside the live private mapping, which the file backs.
        assert_eq!(unsafe { *m.ptr().add(page) }, 0xee);
        std::fs::remove_file(path).unwrap();
    }

    /// The checked touch reaches every page, over several batches: read, the
    /// bytes are the file's; write, every page becomes the mapping's own copy
    /// (a later change to the file no longer shows through).
    #[test]
    fn the_checked_touch_faults_in_every_page() {
        let page = page_size();
        let pages = 1100; // more than two batches of 512
        let (path, f) = scratch_file("touch", pages);
        let m = map_fd(f.as_fd(), 0, pages * page, &PRIVATE_RW).unwrap();
        touch_checked(&m, false).unwrap();
        touch_checked(&m, true).unwrap();
        let changed = vec![0xeeu8; pages * page];
        std::os::unix::fs::FileExt::write_all_at(&f, &changed, 0).unwrap();
        for p in 0..pages {
            // SAFETY: inside the live private mapping, which the file still backs.
            let first = unsafe { *m.ptr().add(p * page) };
            assert_eq!(
                first,
                (p % 251) as u8,
                "page {p} is not the mapping's own copy"
            );
        }
        std::fs::remove_file(path).unwrap();
    }
}
