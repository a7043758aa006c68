//! Resizing a mapping: one rule on every platform (in place, else move one
//! kernel mapping, else `EBUSY`).

use super::*;

/// Whether a grow that moves the mapping keeps each page's own state
/// (protection, locks, advice). With `mremap` the pages themselves move;
/// without it a move is a new mapping and a copy of the bytes, which has only
/// the protection set on the whole region.
const MOVE_KEEPS_PAGE_STATE: bool = cfg!(mmkit_mremap);

/// Linux UAPI value (the same on every architecture), not in every libc.
#[cfg(all(mmkit_map_noreplace, any(not(mmkit_mremap), mmkit_map_hugetlb)))]
const MAP_FIXED_NOREPLACE: i32 = 0x10_0000;

impl Mapping {
    /// Whether a grow that moves this mapping keeps each page's own state
    /// ([`MOVE_KEEPS_PAGE_STATE`]; never for explicit huge pages, which
    /// `mremap` cannot grow: they move by a new mapping and a copy).
    pub(crate) fn move_keeps_page_state(&self) -> bool {
        MOVE_KEEPS_PAGE_STATE && self.page_size() == page_size()
    }

    /// Grow or shrink to `new_len` bytes (a multiple of [`Mapping::page_size`]). `fd`/`offset`
    /// back file and shareable mappings (the file offset of the first byte).
    /// `page_state`: some pages were given state of their own (`mm_protect`
    /// of a part, `mm_lock`), which a move that copies would drop.
    ///
    /// A grow follows one rule on every platform:
    /// 1. in place, when the addresses right after the mapping are free: its
    ///    pages stay where they are, as they are;
    /// 2. else moved whole to a new range, when it is one kernel mapping (with
    ///    `mremap`, every page's state moves along; without it, a copy into a
    ///    new mapping, only when `page_state` is false);
    /// 3. else `EBUSY`: `mm_protect`, `mm_lock` or `mm_advise` of a part split
    ///    it into several kernel mappings, which cannot move together.
    ///
    /// Explicit huge pages grow as without `mremap` (see `grow_huge`).
    ///
    /// The new pages get `spec.prot`. Nothing is allocated on the heap. A
    /// failed resize leaves the mapping as it was, except in one case: a
    /// mapping `mremap` moved whose new pages could not be given `spec.prot`
    /// keeps its bytes at the new address.
    pub(crate) fn resize(
        &mut self,
        new_len: usize,
        spec: &MapSpec,
        fd: Option<BorrowedFd<'_>>,
        offset: u64,
        page_state: bool,
    ) -> SysResult<()> {
        if new_len == self.len {
            return Ok(());
        }
        if new_len < self.len {
            // SAFETY: unmaps the tail of the mapping this value owns (new_len
            // is a multiple of its page, huge pages included).
            cvt(unsafe { libc::munmap(self.ptr.add(new_len).cast(), self.len - new_len) })?;
            self.len = new_len;
            return Ok(());
        }
        let spec = MapSpec {
            populate: false,
            ..*spec
        };
        #[cfg(mmkit_map_hugetlb)]
        if self.is_huge() {
            return self.grow_huge(new_len, &spec, page_state);
        }
        if self.grow_in_place(new_len, &spec, fd, offset)? {
            return Ok(());
        }
        self.grow_by_moving(new_len, &spec, fd, offset, page_state)
    }

    /// Step 1 with `mremap`: extend the kernel mapping that holds the last
    /// page over the free addresses after it (no `MREMAP_MAYMOVE`: it never
    /// moves). Only that kernel mapping grows, so this works for a mapping
    /// split into several; the new pages take its lock and advice. `false`
    /// when the addresses after it are in use (`ENOMEM`). A locked kernel
    /// mapping gets its new pages locked: `EAGAIN` past `RLIMIT_MEMLOCK`.
    #[cfg(mmkit_mremap)]
    fn grow_in_place(
        &mut self,
        new_len: usize,
        spec: &MapSpec,
        _fd: Option<BorrowedFd<'_>>,
        _offset: u64,
    ) -> SysResult<bool> {
        let page = page_size();
        let last = self.ptr.wrapping_add(self.len - page);
        // SAFETY: remaps the last page of the mapping this value owns; without
        // MREMAP_MAYMOVE the kernel only extends it over unmapped addresses
        // (nothing in use is replaced) and its address stays.
        let p = unsafe { libc::mremap(last.cast(), page, page + (new_len - self.len), 0) };
        if p == libc::MAP_FAILED {
            let e = last_os_error();
            return match e.raw_os_error() {
                Some(libc::ENOMEM) => Ok(false),
                _ => Err(e),
            };
        }
        let old_len = std::mem::replace(&mut self.len, new_len);
        self.protect_grown(old_len, spec)?;
        Ok(true)
    }

    /// Step 2 with `mremap`: `MREMAP_MAYMOVE` of the whole mapping, which the
    /// kernel refuses (`EFAULT`) when it spans several kernel mappings: then
    /// step 3, `EBUSY`.
    #[cfg(mmkit_mremap)]
    fn grow_by_moving(
        &mut self,
        new_len: usize,
        spec: &MapSpec,
        _fd: Option<BorrowedFd<'_>>,
        _offset: u64,
        _page_state: bool,
    ) -> SysResult<()> {
        // SAFETY: remaps the mapping this value owns; MREMAP_MAYMOVE lets the
        // kernel pick a fresh range, never one in use.
        let p = unsafe { libc::mremap(self.ptr.cast(), self.len, new_len, libc::MREMAP_MAYMOVE) };
        if p == libc::MAP_FAILED {
            let e = last_os_error();
            return Err(match e.raw_os_error() {
                Some(libc::EFAULT) => io::Error::from_raw_os_error(libc::EBUSY),
                _ => e,
            });
        }
        self.ptr = p.cast();
        let old_len = std::mem::replace(&mut self.len, new_len);
        self.protect_grown(old_len, spec)
    }

    /// Give the pages `mremap` added past `old_len` the region's protection:
    /// they took the protection of the kernel mapping they extend, which
    /// `mm_protect` of a part may have changed. When that fails (no change
    /// needed is no call to fail; a split past `vm.max_map_count` can), they
    /// are unmapped again.
    #[cfg(mmkit_mremap)]
    fn protect_grown(&mut self, old_len: usize, spec: &MapSpec) -> SysResult<()> {
        let Err(e) = self.protect(old_len, self.len - old_len, spec.prot) else {
            return Ok(());
        };
        // SAFETY: unmaps only the pages just added to the mapping this value owns.
        unsafe { libc::munmap(self.ptr.add(old_len).cast(), self.len - old_len) };
        self.len = old_len;
        Err(e)
    }

    /// A grow of explicit huge pages (`MAP_HUGETLB`), which `mremap` cannot
    /// grow (Linux refuses with `EINVAL`, in place or moving: a hugetlb
    /// reservation cannot be split), so by the rule's steps without it:
    /// 1. new huge pages right after the mapping, where those addresses are
    ///    free (a kernel mapping of their own, with `spec.prot`, no advice);
    /// 2. else a new mapping and a fault-safe copy of the bytes, when no page
    ///    has a state of its own (`page_state`);
    /// 3. else `EBUSY`.
    ///
    /// Too few free huge pages is `ENOMEM`. Shared anonymous memory cannot
    /// grow (`ENOTSUP`; the region refuses it first).
    #[cfg(mmkit_map_hugetlb)]
    fn grow_huge(&mut self, new_len: usize, spec: &MapSpec, page_state: bool) -> SysResult<()> {
        if spec.share == Share::Shared {
            return Err(io::Error::from_raw_os_error(libc::ENOTSUP));
        }
        let page = self.page_size();
        let spec = MapSpec {
            noreserve: false,
            ..*spec
        };
        let at = self.ptr.wrapping_add(self.len);
        let extra = libc::MAP_ANON | libc::MAP_HUGETLB;
        if map_at(at, new_len - self.len, &spec, extra, -1, 0)? {
            self.len = new_len;
            return Ok(());
        }
        if page_state {
            return Err(io::Error::from_raw_os_error(libc::EBUSY));
        }
        // Writable while the bytes are copied in, then the region's
        // protection (never writable and executable at once).
        let rw = MapSpec {
            prot: Prot((spec.prot.0 | libc::PROT_READ | libc::PROT_WRITE) & !libc::PROT_EXEC),
            ..spec
        };
        let fresh = Mapping::map_huge(new_len, &rw, page)?;
        // A page made unreadable (mm_protect) is EFAULT here, never a
        // signal; the region is then left as it was.
        copy_checked(Direction::Read, self.ptr, fresh.ptr, self.len)?;
        if rw.prot != spec.prot {
            fresh.protect(0, new_len, spec.prot)?;
        }
        *self = fresh;
        Ok(())
    }

    /// Step 1 without `mremap`: map the new pages right after the mapping
    /// (`fd` at the offset that follows, or anonymous memory), only where
    /// those addresses are free; `false` when they are in use. The new pages
    /// are a kernel mapping of their own, with `spec.prot`, unlocked.
    #[cfg(not(mmkit_mremap))]
    fn grow_in_place(
        &mut self,
        new_len: usize,
        spec: &MapSpec,
        fd: Option<BorrowedFd<'_>>,
        offset: u64,
    ) -> SysResult<bool> {
        let at = self.ptr.wrapping_add(self.len);
        let extra = new_len - self.len;
        let placed = match fd {
            Some(fd) => {
                let tail = offset
                    .checked_add(self.len as u64)
                    .ok_or_else(|| io::Error::from_raw_os_error(libc::EOVERFLOW))?;
                map_at(at, extra, spec, 0, fd.as_raw_fd(), tail)?
            }
            None => map_anonymous_at(at, extra, spec)?,
        };
        if placed {
            self.len = new_len;
        }
        Ok(placed)
    }

    /// Step 2 without `mremap`: a new mapping and a fault-safe copy of the
    /// bytes a private mapping owns (shared ones see the same file or
    /// object). It keeps no page's own state, so it is refused (`EBUSY`,
    /// step 3) when `page_state` says there is some.
    #[cfg(not(mmkit_mremap))]
    fn grow_by_moving(
        &mut self,
        new_len: usize,
        spec: &MapSpec,
        fd: Option<BorrowedFd<'_>>,
        offset: u64,
        page_state: bool,
    ) -> SysResult<()> {
        if page_state {
            return Err(io::Error::from_raw_os_error(libc::EBUSY));
        }
        let private = fd.is_none() || spec.share == Share::Private;
        if !private {
            *self = Mapping::fresh(new_len, spec, fd, offset)?;
            return Ok(());
        }
        // Writable while the bytes are copied in, then the region's
        // protection; never writable and executable at once (W^X systems,
        // OpenBSD and macOS on arm64, refuse that).
        let rw = MapSpec {
            prot: Prot((spec.prot.0 | libc::PROT_READ | libc::PROT_WRITE) & !libc::PROT_EXEC),
            ..*spec
        };
        let fresh = Mapping::fresh(new_len, &rw, fd, offset)?;
        // A page made unreadable (mm_protect) or gone (a truncated file) is
        // EFAULT here, never a signal; the region is then left as it was.
        copy_checked(Direction::Read, self.ptr, fresh.ptr, self.len)?;
        if rw.prot != spec.prot {
            fresh.protect(0, new_len, spec.prot)?;
        }
        *self = fresh;
        Ok(())
    }

    /// A fresh mapping of `len` bytes for a grow: the file or object, or
    /// anonymous memory.
    #[cfg(not(mmkit_mremap))]
    fn fresh(
        len: usize,
        spec: &MapSpec,
        fd: Option<BorrowedFd<'_>>,
        offset: u64,
    ) -> SysResult<Mapping> {
        match fd {
            Some(fd) => Mapping::map(len, spec, 0, Some(fd), offset),
            None => match map_anonymous(len, spec) {
                Err(e) if anonymous_refused(&e) => map_devzero(len, spec),
                r => r,
            },
        }
    }
}

/// Anonymous memory at exactly `at` if that range is free (see [`map_at`]):
/// `MAP_ANONYMOUS`, or `/dev/zero` where that is refused.
#[cfg(not(mmkit_mremap))]
fn map_anonymous_at(at: *mut u8, len: usize, spec: &MapSpec) -> SysResult<bool> {
    #[cfg(mmkit_map_anonymous)]
    match map_at(at, len, spec, libc::MAP_ANON, -1, 0) {
        Err(e) if anonymous_refused(&e) => {}
        r => return r,
    }
    let zero = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/zero")?;
    map_at(at, len, spec, 0, zero.as_raw_fd(), 0)
}

/// `mmap` of `len` bytes at exactly `at`, only if none of that range is in
/// use: `MAP_FIXED_NOREPLACE` where the platform has it, else `at` as a hint
/// (and the mapping dropped when the kernel put it elsewhere). `false` when
/// something is there.
#[cfg(any(not(mmkit_mremap), mmkit_map_hugetlb))]
fn map_at(
    at: *mut u8,
    len: usize,
    spec: &MapSpec,
    extra: i32,
    fd: libc::c_int,
    offset: u64,
) -> SysResult<bool> {
    let offset =
        libc::off_t::try_from(offset).map_err(|_| io::Error::from_raw_os_error(libc::EOVERFLOW))?;
    #[cfg(mmkit_map_noreplace)]
    let extra = extra | MAP_FIXED_NOREPLACE;
    // SAFETY: no MAP_FIXED, so the kernel never replaces a mapping: it fails
    // (EEXIST, MAP_FIXED_NOREPLACE) or picks another range when any of
    // `at..at+len` is in use; the result is checked against MAP_FAILED.
    let p = unsafe {
        libc::mmap(
            at.cast(),
            len,
            spec.prot.0,
            spec.mmap_flags() | extra,
            fd,
            offset,
        )
    };
    if p == libc::MAP_FAILED {
        let e = last_os_error();
        return match e.raw_os_error() {
            Some(libc::EEXIST) => Ok(false),
            _ => Err(e),
        };
    }
    if p.cast::<u8>() == at {
        return Ok(true);
    }
    // Put elsewhere (the range is in use, or a kernel before 4.17 took
    // MAP_FIXED_NOREPLACE for a hint): not ours to keep.
    drop(Mapping::of(p.cast(), len));
    Ok(false)
}

#[cfg(test)]
mod tests;
