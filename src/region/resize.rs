//! Resizing a region: the file or object grown first, then the mapping (see
//! `sys::Mapping::resize` for the one rule).

use super::*;

impl Region {
    /// Grow or shrink the region to `new_len` bytes (`mm_resize`); the
    /// address may change. Private anonymous and shareable regions keep their
    /// bytes up to `min(old, new)` and gain zeros. A file region covers
    /// `[offset, offset + new_len)` afterwards, which must lie inside the file
    /// unless it was mapped with `MM_CREATE` (then the file grows, blocks
    /// allocated). Shared anonymous memory cannot grow past the pages it was
    /// created with (`ENOTSUP`: the kernel object has a fixed size, and
    /// touching past it would be `SIGBUS`). A sealed shareable region refuses
    /// with `EPERM`.
    ///
    /// A grow follows one rule on every platform: in place when the
    /// addresses after the region are free (every page keeps its protection,
    /// locks and advice); else the region moves, when it is one kernel
    /// mapping (with `mremap` every page's state moves along; without it the
    /// move is a new mapping and a copy, made only when no part was given its
    /// own protection or lock); else `EBUSY`: `mm_protect`, `mm_lock` or
    /// `mm_advise` of a part split the region into several kernel mappings,
    /// and the message says to unmap it and map it again, or to undo the
    /// split (protect, unlock or advise the whole region). Pages a grow adds
    /// get the protection of the whole region; with `mremap` they share the
    /// lock and advice of the region's last page (`EAGAIN` when locking them
    /// would pass `RLIMIT_MEMLOCK`), without it they are unlocked. Bytes past
    /// the old end in its last page are cleared (`EACCES` if that page was
    /// made read-only and they are not zero). A shareable region's grow never
    /// shrinks its object.
    ///
    /// Lengths round to the region's pages ([`Region::page_size`]): for
    /// explicit huge pages (`MAP_HUGETLB`) a resize inside the last huge page
    /// only changes the length, and the bytes cleared are those up to the end
    /// of that huge page. `mremap` cannot grow huge pages (Linux refuses), so
    /// they grow by the rule's steps without it: new huge pages right after
    /// the region, else a new mapping and a copy (not when a part has its own
    /// protection or lock: `EBUSY`); too few free huge pages is `ENOMEM`, and
    /// the message says how to reserve more. A file region in huge pages (a
    /// file on hugetlbfs) is not resized: `ENOTSUP` (map it again).
    pub fn resize(&mut self, new_len: usize) -> Result<()> {
        const CALL: &str = "mm_resize";
        if new_len == 0 {
            return Err(Error::invalid(
                CALL,
                "new_len is 0; unmap the region instead",
            ));
        }
        let page = self.page_size();
        if matches!(self.kind, Kind::File(_)) && page != sys::page_size() {
            // The huge-page grow makes anonymous huge pages: for a file it
            // would put zeros where the file's bytes are.
            return Err(Error::unsupported(
                CALL,
                format_args!(
                    "the region maps a file in {} (hugetlbfs), which mm_resize does not \
                     move or extend; unmap it and map the file again",
                    PageSize(page)
                ),
            ));
        }
        if let (None, Kind::File(origin)) = (&self.map, &self.kind) {
            // An empty file region has no mapping yet: its first page starts
            // at the aligned offset.
            self.delta = (origin.offset % sys::map_granularity() as u64) as usize;
        }
        let new_map_len = self
            .delta
            .checked_add(new_len)
            .and_then(|l| sys::round_up(l, page))
            .filter(|&l| l <= isize::MAX as usize)
            .ok_or_else(|| too_large(CALL, format_args!("new_len {new_len}")))?;
        let old_len = self.len;
        let cur_map_len = self.map.as_ref().map_or(0, Mapping::len);
        self.guard_allows_resize(new_map_len > cur_map_len)?;
        let flags = self.flags();
        let spec = MapSpec {
            prot: Prot::of(flags),
            share: if flags.contains(Flags::SHARED) {
                Share::Shared
            } else {
                Share::Private
            },
            noreserve: flags.contains(Flags::NORESERVE),
            populate: false,
        };
        match &self.kind {
            Kind::Anonymous => {
                if flags.contains(Flags::SHARED) && new_map_len > cur_map_len {
                    return Err(Error::unsupported(
                        CALL,
                        format_args!(
                            "shared anonymous memory cannot grow from {old_len} to {new_len} bytes: its kernel object \
                             has {cur_map_len} bytes, and touching past them would raise SIGBUS; \
                             use mm_map_shareable for growable shared memory"
                        ),
                    ));
                }
                if new_len > old_len {
                    self.zero_tail(CALL, old_len, new_len)?;
                }
                self.remap(CALL, new_len, new_map_len, &spec, None, 0)?;
            }
            Kind::Shareable { fd, .. } => {
                let fd = fd.try_clone().map_err(|e| Error::Os {
                    call: CALL,
                    msg: "dup of the region's descriptor".into(),
                    source: e,
                })?;
                // The object's size now, which a peer may have changed: a
                // grow never shrinks it, and a failed one puts this back.
                let before = sys::fstat(fd.as_fd())
                    .map_err(|e| Error::Os {
                        call: CALL,
                        msg: "fstat of the region's descriptor".into(),
                        source: e,
                    })?
                    .size;
                // Bytes a peer put inside the object are its contents; only
                // those past its end must read as zeros. (A peer that shrank
                // the object below our end had the kernel zero them.)
                if new_len > old_len && before >= old_len as u64 {
                    let from = usize::try_from(before).unwrap_or(usize::MAX).max(old_len);
                    if from < new_len {
                        self.zero_tail(CALL, from, new_len)?;
                    }
                }
                let set = if new_len > old_len && before >= new_len as u64 {
                    None
                } else {
                    Some(new_len as u64)
                };
                if let Some(size) = set {
                    sys::set_len(fd.as_fd(), size).map_err(|e| {
                        let why = match sys::errno_of(&e) {
                            Some(errno::EPERM) => " (the object is sealed)",
                            Some(errno::ENOTSUP) => {
                                " (this platform's shared memory cannot grow: map a new, larger region)"
                            }
                            _ => "",
                        };
                        Error::Os {
                            call: CALL,
                            msg: msg!(
                                "{} from {before} to {new_len} bytes{why}",
                                sys::calls::SET_LEN
                            ),
                            source: e,
                        }
                    })?;
                }
                if let Err(e) = self.remap(CALL, new_len, new_map_len, &spec, Some(fd.as_fd()), 0) {
                    // Undo our ftruncate unless somebody changed the size since.
                    if set.is_some()
                        && sys::fstat(fd.as_fd()).is_ok_and(|st| st.size == new_len as u64)
                    {
                        let _ = sys::set_len(fd.as_fd(), before);
                    }
                    return Err(e);
                }
            }
            Kind::File(origin) => {
                let end = origin
                    .offset
                    .checked_add(new_len as u64)
                    .filter(|&e| e <= i64::MAX as u64)
                    .ok_or_else(|| {
                        Error::invalid(
                            CALL,
                            format_args!("offset {} + new_len {new_len} overflows", origin.offset),
                        )
                    })?;
                if new_len <= old_len {
                    self.remap(CALL, new_len, new_map_len, &spec, None, 0)?;
                } else {
                    let (file, grown_from) = self.reopen(CALL, end)?;
                    let aligned = origin.offset - self.delta as u64;
                    let remapped = self.remap(
                        CALL,
                        new_len,
                        new_map_len,
                        &spec,
                        Some(file.as_fd()),
                        aligned,
                    );
                    if let (Err(_), Some(size)) = (&remapped, grown_from) {
                        // Put the file back as it was, unless somebody changed
                        // its size since.
                        if sys::fstat(file.as_fd()).is_ok_and(|st| st.size == end) {
                            let _ = sys::truncate(file.as_fd(), size);
                        }
                    }
                    remapped?;
                }
            }
        }
        self.len = new_len;
        Ok(())
    }

    /// Make the bytes `[from, min(new_len, end of from's page))` read as zeros
    /// before a grow exposes them: a shrink earlier may have left old bytes
    /// there (up to the end of a huge page, for explicit huge pages). Done
    /// with the fault-safe copy, before anything else changes: a page
    /// `mm_protect` made read-only (or inaccessible) is checked and, if it
    /// holds anything but zeros, the grow is refused with `EACCES`.
    pub(super) fn zero_tail(&self, call: &'static str, from: usize, new_len: usize) -> Result<()> {
        let Some(map) = &self.map else {
            return Ok(());
        };
        let page = map.page_size();
        let start = self.delta + from;
        let end = sys::round_up(start, page)
            .unwrap_or(start)
            .min(self.delta + new_len)
            .min(map.len());
        if end <= start {
            return Ok(());
        }
        let n = end - start;
        // SAFETY: start < end <= map.len(): inside the mapping.
        let at = unsafe { map.ptr().add(start) };
        // Through a stack buffer, a chunk at a time: no heap on this path.
        let mut buf = [0u8; 4096];
        let mut readable = true;
        let mut zero = true;
        let mut done = 0;
        while done < n && zero {
            let k = (n - done).min(buf.len());
            // SAFETY: done + k <= n: inside the mapping.
            let src = unsafe { at.add(done) };
            readable = sys::copy_checked(sys::Direction::Read, src, buf.as_mut_ptr(), k).is_ok();
            zero = readable && buf[..k].iter().all(|&b| b == 0);
            done += k;
        }
        if zero {
            return Ok(());
        }
        buf.fill(0);
        let mut cleared = Ok(());
        let mut done = 0;
        while done < n && cleared.is_ok() {
            let k = (n - done).min(buf.len());
            // SAFETY: done + k <= n: inside the mapping.
            let dst = unsafe { at.add(done) };
            cleared = sys::copy_checked(sys::Direction::Write, dst, buf.as_mut_ptr(), k);
            done += k;
        }
        match cleared {
            Ok(()) => Ok(()),
            Err(e) => Err(Error::os(
                call,
                errno::EACCES,
                format_args!(
                    "bytes [{from}, {}) past the end share the region's last page, which {} ({}); \
                     they must read as zeros once the region grows: mm_protect that page writable first",
                    from + n,
                    if readable {
                        "holds old bytes and is not writable"
                    } else {
                        "is not accessible"
                    },
                    crate::error::os_text(&e)
                ),
            )),
        }
    }

    /// Resize the mapping (or create it, for a region that was empty) for a
    /// region of `new_len` bytes. A grow is in place, else a move of the
    /// whole region, else `EBUSY` (see `Mapping::resize`).
    pub(super) fn remap(
        &mut self,
        call: &'static str,
        new_len: usize,
        new_map_len: usize,
        spec: &MapSpec,
        fd: Option<BorrowedDescriptor<'_>>,
        offset: u64,
    ) -> Result<()> {
        let old_len = self.len;
        let page_state = self.parts.load(Ordering::Relaxed) != 0;
        self.guard_paused();
        // Asked again now that no repair can run: a page lost since the first
        // check (while the file grew, say) must not be grown over.
        let cur_map_len = self.map.as_ref().map_or(0, Mapping::len);
        if let Err(e) = self.guard_allows_resize(new_map_len > cur_map_len) {
            self.guard_resumed(call)?;
            return Err(e);
        }
        let res = match (&mut self.map, fd) {
            (Some(m), fd) => m.resize(new_map_len, spec, fd, offset, page_state),
            (None, Some(fd)) => sys::map_fd(fd, offset, new_map_len, spec).map(|m| {
                // (the first mapping of an empty file: in its huge pages, on hugetlbfs)
                let huge = sys::fstat(fd)
                    .ok()
                    .and_then(|st| sys::huge_page_of(fd, &st));
                self.map = Some(match huge {
                    Some(size) => m.in_pages_of(size),
                    None => m,
                });
            }),
            (None, None) => Err(sys::errno_error(errno::EINVAL)),
        };
        // The guard follows the mapping, moved, resized or as it was.
        if let (Err(e), Ok(())) = (self.guard_resumed(call), &res) {
            return Err(e);
        }
        let (page, keeps) = self.map.as_ref().map_or((sys::page_size(), false), |m| {
            (m.page_size(), m.move_keeps_page_state())
        });
        let huge = page != sys::page_size();
        // (A failed resize leaves the mapping as it was.)
        let old_map_len = self.map.as_ref().map_or(0, Mapping::len);
        res.map_err(|e| match sys::errno_of(&e) {
            Some(errno::EBUSY) => {
                let why = if keeps {
                    "mm_protect, mm_lock or mm_advise of part of it split it into several kernel \
                     mappings, which cannot move together"
                } else if huge {
                    "mm_protect of part of it or mm_lock gave pages a state of their own, which moving it \
                     (a new mapping and a copy, for huge pages) would drop"
                } else {
                    "mm_protect of part of it or mm_lock gave pages a state of their own, which moving it \
                     (a new mapping and a copy, on this platform) would drop"
                };
                Error::os(
                    call,
                    errno::EBUSY,
                    format_args!(
                        "cannot grow the region from {old_len} to {new_len} bytes: the addresses right after \
                         it are in use, so it cannot grow in place, and it cannot move: {why}; unmap it and map \
                         it again at the new size, or first undo the split (mm_protect, mm_unlock or mm_advise \
                         of the whole region)"
                    ),
                )
            }
            Some(errno::EAGAIN) => match sys::memlock_limit() {
                Some(limit) => Error::os(
                    call,
                    errno::EAGAIN,
                    format_args!(
                        "growing the region from {old_len} to {new_len} bytes would lock more memory than \
                         RLIMIT_MEMLOCK ({limit} bytes) allows: the kernel locks the pages a grow adds to \
                         locked pages (mm_lock); raise it (ulimit -l), run with {}, or mm_unlock the region \
                         first",
                        sys::LOCK_PRIVILEGE
                    ),
                ),
                None => Error::os(
                    call,
                    errno::EAGAIN,
                    format_args!(
                        "growing the region from {old_len} to {new_len} bytes: the kernel could not lock the \
                         pages a grow adds to locked pages (mm_lock)"
                    ),
                ),
            },
            Some(errno::ENOMEM) if huge => Error::os(
                call,
                errno::ENOMEM,
                format_args!(
                    "cannot grow the region from {old_len} to {new_len} bytes: it is mapped in {}, \
                     and too few of them are free{}: the grow needs {} more where the addresses after \
                     the region are free, else {} for a new mapping (the old ones are held during the \
                     copy); reserve more ({}) or map a new region without MM_HUGEPAGES and copy the bytes",
                    PageSize(page),
                    IfKnown(sys::huge_pages_free(), " (", " free)"),
                    new_map_len.saturating_sub(old_map_len) / page,
                    new_map_len / page,
                    sys::calls::HUGE_PAGES_RESERVE
                ),
            ),
            _ => {
                let why = match sys::errno_of(&e) {
                    Some(errno::EFAULT) => " (pages of the region are not accessible)",
                    _ => "",
                };
                let why = if huge && why.is_empty() {
                    msg!(" of {}", PageSize(page))
                } else {
                    Text::Borrowed(why)
                };
                let grow = sys::Asked::Map(new_map_len.saturating_sub(old_map_len));
                Error::Os {
                    call,
                    msg: msg!("remapping to {new_map_len} bytes{why}{}", because(&e, grow)),
                    source: e,
                }
            }
        })
    }

    /// Reopen a file region's file to grow into it: the same file (device and
    /// inode), at least `end` bytes long, grown (blocks allocated) when the
    /// region was mapped with `MM_CREATE`; with the size it had when this
    /// call grew it.
    pub(super) fn reopen(&self, call: &'static str, end: u64) -> Result<(File, Option<u64>)> {
        let Kind::File(origin) = &self.kind else {
            unreachable!("reopen of a non-file region")
        };
        let Some(path) = origin.path.as_ref().map(SavedPath::as_path) else {
            return Err(Error::unsupported(
                call,
                "a region mapped from a descriptor keeps none, so it cannot grow; map the descriptor again with mm_map_fd",
            ));
        };
        let create = self.flags().contains(Flags::CREATE);
        let read_write = create || self.flags().contains(Flags::WRITE | Flags::SHARED);
        let file = sys::open_path(path, None, read_write).map_err(|e| Error::Os {
            call,
            msg: msg!("reopening {} to grow the region", describe(path)),
            source: e,
        })?;
        let st = sys::fstat(file.as_fd()).map_err(|e| Error::Os {
            call,
            msg: msg!("fstat of {}", describe(path)),
            source: e,
        })?;
        if (st.dev, st.ino) != (origin.dev, origin.ino) {
            return Err(Error::os(
                call,
                errno::ESTALE,
                format_args!(
                    "{} is no longer the file that was mapped (replaced or renamed)",
                    describe(path)
                ),
            ));
        }
        if end > st.size {
            if !create {
                return Err(Error::invalid(
                    call,
                    format_args!(
                        "{}: growing to end at byte {end} passes the end of the file ({} bytes); map with MM_CREATE to grow the file",
                        describe(path),
                        st.size
                    ),
                ));
            }
            let start = origin.offset;
            sys::allocate(file.as_fd(), start, end - start, st.size)
                .and_then(|()| sys::fsync(file.as_fd()))
                .map_err(|e| {
                    let _ = sys::truncate(file.as_fd(), st.size);
                    Error::Os {
                        call,
                        msg: msg!(
                            "{}: MM_CREATE could not grow the file to {end} bytes",
                            describe(path)
                        ),
                        source: e,
                    }
                })?;
            return Ok((file, Some(st.size)));
        }
        Ok((file, None))
    }
}
