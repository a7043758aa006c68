//! Operations on a region: sync, lock, advise, protect, seal, the fault-safe copies.

use super::*;

impl Region {
    /// Write dirty pages of `[offset, offset+len)` back to the file (`mm_sync`).
    ///
    /// `len == 0` means to the end. Anonymous regions have nothing to write
    /// and succeed. With [`SyncMode::Sync`](crate::SyncMode::Sync) the bytes are in the file for any
    /// reader when this returns and survive the process being killed.
    pub fn sync(&self, offset: usize, len: usize, how: SyncFlags) -> Result<()> {
        const CALL: &str = "mm_sync";
        let (start, end) = self.span(CALL, offset, len)?;
        if matches!(self.kind, Kind::Anonymous) {
            return Ok(());
        }
        let Some((map, s, l)) = self.pages(start, end) else {
            return Ok(());
        };
        if self.guard.is_some() {
            self.check_lost(
                CALL,
                start,
                end,
                "writes to those pages never reach it; nothing was written back",
            )?;
        }
        map.sync(s, l, how).map_err(|e| Error::Os {
            call: CALL,
            msg: msg!(
                "{} of {l} bytes covering [{offset}, {})",
                sys::calls::SYNC,
                offset + (end - start)
            ),
            source: e,
        })
    }

    /// Lock the pages covering `[offset, offset+len)` in memory (`mm_lock`).
    ///
    /// A refusal names `RLIMIT_MEMLOCK`, its value, the bytes asked and the
    /// bytes this process already has locked (or `vm.max_map_count`, when
    /// locking part of a kernel mapping could not split it). A failed lock
    /// leaves locked only the pages of the range that were locked before
    /// it (see `mm_lock(3)` for pages locked outside the library).
    pub fn lock(&self, offset: usize, len: usize) -> Result<()> {
        const CALL: &str = "mm_lock";
        let (start, end) = self.span(CALL, offset, len)?;
        let Some((map, s, l)) = self.pages(start, end) else {
            return Ok(());
        };
        // Marked first: a failed mlock may still have locked some pages.
        let before = self.parts.fetch_or(PART_LOCKED, Ordering::Relaxed);
        if before & PART_LOCKED != 0 && sys::MLOCK_MAY_LEAVE_LOCKS {
            return lock_keeping(CALL, map, s, l);
        }
        // Nothing of the region was locked: a failure unlocks the range.
        match map.lock(s, l) {
            Ok(()) => Ok(()),
            Err(e) => Err(lock_failed(
                CALL,
                map,
                s,
                l,
                Some(&LockedRuns::default()),
                e,
            )),
        }
    }

    /// Unlock the pages covering `[offset, offset+len)` (`mm_unlock`).
    pub fn unlock(&self, offset: usize, len: usize) -> Result<()> {
        const CALL: &str = "mm_unlock";
        let (start, end) = self.span(CALL, offset, len)?;
        let Some((map, s, l)) = self.pages(start, end) else {
            return Ok(());
        };
        map.unlock(s, l).map_err(|e| Error::Os {
            call: CALL,
            msg: msg!("{}({l} bytes)", sys::calls::UNLOCK),
            source: e,
        })?;
        if start == self.delta && end == self.delta + self.len {
            self.parts.fetch_and(!PART_LOCKED, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Advise the kernel about `[offset, offset+len)` (`mm_advise`).
    ///
    /// Advice the platform lacks is `ENOTSUP`. It acts on the pages covering
    /// the range ([`Region::page_size`]: whole huge pages for explicit huge
    /// pages), but `DontNeed` only on whole pages inside it, so bytes
    /// outside it are never discarded.
    pub fn advise(&self, offset: usize, len: usize, advice: Advice) -> Result<()> {
        const CALL: &str = "mm_advise";
        let (start, end) = self.span(CALL, offset, len)?;
        let raw = sys::madvise_value(advice).ok_or_else(|| {
            Error::unsupported(
                CALL,
                format_args!("{} is not available on this platform", advice.name()),
            )
        })?;
        let (start, end) = if advice == Advice::DontNeed {
            self.inner_pages(start, end)
        } else {
            (start, end)
        };
        let Some((map, s, l)) = self.pages(start, end) else {
            return Ok(());
        };
        map.advise(s, l, raw).map_err(|e| Error::Os {
            call: CALL,
            msg: msg!("{}({l} bytes, {})", sys::calls::ADVISE, advice.name()),
            source: e,
        })
    }

    /// Shrink `[start, end)` to whole pages, except where it reaches the ends
    /// of the region: bytes past those are not the caller's.
    pub(super) fn inner_pages(&self, start: usize, end: usize) -> (usize, usize) {
        let page = self.page_size();
        let s = if start == self.delta {
            start
        } else {
            sys::round_up(start, page).unwrap_or(end)
        };
        let e = if end == self.delta + self.len {
            end
        } else {
            sys::round_down(end, page)
        };
        if s >= e {
            (start, start)
        } else {
            (s, e)
        }
    }

    /// Change the protection of `[offset, offset+len)` (`mm_protect`).
    ///
    /// `prot` holds only `READ`, `WRITE`, `EXEC` (none: no access). The range
    /// must start and end on page boundaries of the mapping (its own pages,
    /// [`Region::page_size`]: huge pages for explicit huge pages) or at the
    /// ends of the region, so no byte outside it changes protection.
    pub fn protect(&self, offset: usize, len: usize, prot: Flags) -> Result<()> {
        const CALL: &str = "mm_protect";
        if prot.protection() != prot {
            return Err(Error::invalid(
                CALL,
                format_args!(
                    "prot {:#x} has bits other than MM_READ|MM_WRITE|MM_EXEC",
                    prot.bits()
                ),
            ));
        }
        let (start, end) = self.span(CALL, offset, len)?;
        let page = self.page_size();
        let whole = start == self.delta && end == self.delta + self.len;
        let start_ok = start == self.delta || start % page == 0;
        let end_ok = end == self.delta + self.len || end % page == 0;
        if !start_ok || !end_ok {
            return Err(Error::invalid(
                CALL,
                format_args!(
                    "range [{offset}, {}) does not fall on page boundaries: the region's pages are {} and it starts {} bytes into its first page",
                    offset + (end - start),
                    PageSize(page),
                    self.delta
                ),
            ));
        }
        let Some((map, s, l)) = self.pages(start, end) else {
            return Ok(());
        };
        // Marked first: a failed mprotect may still have changed some pages.
        self.parts.fetch_or(PART_PROTECTED, Ordering::Relaxed);
        self.guard_protect(whole, None);
        map.protect(s, l, Prot::of(prot)).map_err(|e| {
            // Making private memory writable is a commit charge.
            let commits = prot.contains(Flags::WRITE) && self.flags().contains(Flags::PRIVATE);
            Error::Os {
                call: CALL,
                msg: msg!(
                    "{}({l} bytes, {prot}){}",
                    sys::calls::PROTECT,
                    because(&e, sys::Asked::Protect { commits })
                ),
                source: e,
            }
        })?;
        if whole {
            let keep = self
                .flags()
                .without(Flags::READ | Flags::WRITE | Flags::EXEC);
            let mut now = keep | prot;
            if prot.contains(Flags::WRITE) {
                now |= Flags::READ;
            }
            self.flags.store(now.bits(), Ordering::Relaxed);
            self.parts.fetch_and(!PART_PROTECTED, Ordering::Relaxed);
            self.guard_protect(true, Some(now));
        }
        Ok(())
    }

    /// The descriptor a shareable region keeps; `None` for other regions.
    pub fn fd(&self) -> Option<BorrowedDescriptor<'_>> {
        match &self.kind {
            Kind::Shareable { fd, .. } => Some(fd.as_fd()),
            _ => None,
        }
    }

    /// The number `mm_fd` shows for a shareable region's descriptor; `None`
    /// for others, and on Windows, where the region keeps a `HANDLE`.
    pub(crate) fn fd_number(&self) -> Option<i32> {
        match &self.kind {
            Kind::Shareable { fd, .. } => sys::c_fd(fd),
            _ => None,
        }
    }

    /// Seal a shareable region's object (`mm_seal`) with `MM_SEAL_*` bits:
    /// `SHRINK` (nobody can shrink it, so readers never `SIGBUS`), `GROW`,
    /// `WRITE` (nobody can write it through `write(2)` or a new mapping; this
    /// region's own writable mapping keeps writing when it exists).
    /// Other regions, and platforms without seals, are `ENOTSUP`.
    pub fn seal(&self, seals: u32) -> Result<()> {
        const CALL: &str = "mm_seal";
        let all = MM_SEAL_SHRINK | MM_SEAL_GROW | MM_SEAL_WRITE;
        if seals & !all != 0 {
            return Err(Error::invalid(
                CALL,
                format_args!("unknown seal bits {:#x} in {seals:#x}", seals & !all),
            ));
        }
        let Kind::Shareable { fd, sealable } = &self.kind else {
            return Err(Error::unsupported(
                CALL,
                "only regions from mm_map_shareable can be sealed",
            ));
        };
        if !sealable {
            return Err(Error::unsupported(
                CALL,
                "this platform's shared memory objects cannot be sealed",
            ));
        }
        if seals == 0 {
            return Ok(());
        }
        #[cfg(mmkit_seals)]
        {
            sys::add_seals(
                fd.as_fd(),
                seals & MM_SEAL_SHRINK != 0,
                seals & MM_SEAL_GROW != 0,
                seals & MM_SEAL_WRITE != 0,
            )
            .map_err(|e| Error::Os {
                call: CALL,
                msg: msg!("fcntl(F_ADD_SEALS, {seals:#x}) on fd {}", fd.as_raw_fd()),
                source: e,
            })
        }
        #[cfg(not(mmkit_seals))]
        {
            let _ = fd;
            Err(Error::unsupported(
                CALL,
                "sealing is not supported on this platform",
            ))
        }
    }

    /// Copy `dst.len()` bytes from `offset` into `dst` (`mm_read`), never
    /// raising a signal: where a plain load would be `SIGBUS` (the file was
    /// truncated) or `SIGSEGV` (no access), this returns `EFAULT`.
    pub fn read(&self, offset: usize, dst: &mut [u8]) -> Result<()> {
        // SAFETY: dst is a live, writable buffer of dst.len() bytes.
        unsafe { self.read_raw(offset, dst.as_mut_ptr(), dst.len()) }
    }

    /// Copy `src` into the region at `offset` (`mm_write`), never raising a
    /// signal (see [`Region::read`]). A read-only region is `EACCES`.
    pub fn write(&self, offset: usize, src: &[u8]) -> Result<()> {
        // SAFETY: src is a live buffer of src.len() bytes.
        unsafe { self.write_raw(offset, src.as_ptr(), src.len()) }
    }

    /// [`Region::read`] into a raw buffer: the range is checked before `dst`
    /// is used, so any `n` (even one no buffer could have) is a clean error.
    ///
    /// # Safety
    /// When `offset + n` lies inside the region, `dst` must be valid for
    /// writes of `n` bytes.
    #[inline]
    pub(crate) unsafe fn read_raw(&self, offset: usize, dst: *mut u8, n: usize) -> Result<()> {
        self.copy("mm_read", offset, dst, n, sys::Direction::Read)
    }

    /// [`Region::write`] from a raw buffer, checked like [`Region::read_raw`].
    ///
    /// # Safety
    /// When `offset + n` lies inside the region, `src` must be valid for
    /// reads of `n` bytes.
    #[inline]
    pub(crate) unsafe fn write_raw(&self, offset: usize, src: *const u8, n: usize) -> Result<()> {
        const CALL: &str = "mm_write";
        if !self.mapped_write && !self.flags().writable() {
            return Err(self.read_only(CALL));
        }
        // The source is only read: Direction::Write never stores through it.
        self.copy(CALL, offset, src.cast_mut(), n, sys::Direction::Write)
    }

    /// The copy of `mm_read`/`mm_write`. A guarded region takes a plain copy
    /// here, inlined into its caller; anything else (a range to refuse, an
    /// unguarded region's kernel-checked copy, a loss to report) goes on in
    /// [`Region::copy_other`], out of line. Always inlined: with two callers
    /// (`mm_read`, `mm_write`) the compiler may otherwise keep one shared
    /// copy and return its result through memory (figure 7's 16-byte copies
    /// went from 2.1x to 3.0x a `memcpy` that way).
    #[inline(always)]
    pub(super) fn copy(
        &self,
        call: &'static str,
        offset: usize,
        buf: *mut u8,
        n: usize,
        dir: sys::Direction,
    ) -> Result<()> {
        let inside = offset.checked_add(n).is_some_and(|end| end <= self.len);
        if let (true, true, Some(guard)) = (inside && n != 0, self.plain_copy(dir), &self.guard) {
            // A guarded region: a plain copy, as fast as memory. A page lost
            // before or during it reads as zeros (or takes the bytes in a
            // private page) and is in the loss record, checked after.
            // SAFETY: offset + n <= len, so the range lies inside the mapping,
            // every page of which is accessible this way (plain_copy); the
            // caller's buffer holds n bytes; ptr::copy allows the two to overlap.
            unsafe {
                let at = self.as_ptr().add(offset);
                match dir {
                    sys::Direction::Read => std::ptr::copy(at.cast_const(), buf, n),
                    sys::Direction::Write => std::ptr::copy(buf.cast_const(), at, n),
                }
            }
            // The loss record, read after the copy (in order with it even
            // for a repair another thread made: see lost_after_copy).
            if guard.lost_after_copy() == 0 {
                return Ok(());
            }
            return self.copy_lost(call, offset, n);
        }
        self.copy_other(call, offset, buf, n, dir)
    }

    /// `EACCES`: a write to a region mapped without `MM_WRITE`.
    #[cold]
    #[inline(never)]
    fn read_only(&self, call: &'static str) -> Error {
        Error::access(
            call,
            format_args!("the region is read-only ({})", self.flags()),
        )
    }

    /// A guarded copy that met lost pages: which, in the message.
    #[cold]
    #[inline(never)]
    fn copy_lost(&self, call: &'static str, offset: usize, n: usize) -> Result<()> {
        let from = self.delta + offset;
        self.check_lost(call, from, from + n, COPY_LOSS)
    }

    /// [`Region::copy`] but for a guarded region's plain copy: the range
    /// refused, or the kernel-checked copy.
    #[inline(never)]
    fn copy_other(
        &self,
        call: &'static str,
        offset: usize,
        buf: *mut u8,
        n: usize,
        dir: sys::Direction,
    ) -> Result<()> {
        match offset.checked_add(n) {
            Some(end) if end <= self.len => {}
            _ => {
                return Err(Error::invalid(
                    call,
                    format_args!(
                        "{n} bytes at offset {offset} are outside the region ({} bytes)",
                        self.len
                    ),
                ))
            }
        }
        if n == 0 {
            return Ok(());
        }
        // SAFETY: offset + n <= len, so the range lies inside the mapping.
        let at = unsafe { self.as_ptr().add(offset) };
        sys::copy_checked(dir, at, buf, n).map_err(|e| {
            let cause = if sys::errno_of(&e) == Some(errno::EFAULT) {
                ": the pages are gone (the file under the mapping was truncated) or not accessible"
            } else {
                ""
            };
            Error::Os {
                call,
                msg: msg!("copying {n} bytes at offset {offset}{cause}"),
                source: e,
            }
        })?;
        if self.guard.is_some() {
            // Pages lost earlier are zero pages now, which the kernel copies.
            let from = self.delta + offset;
            return self.check_lost(call, from, from + n, COPY_LOSS);
        }
        Ok(())
    }
}

/// What a guarded copy's loss means for its bytes.
const COPY_LOSS: &str = "those pages read as zeros and writes to them never reach it";

/// [`Region::lock`] of a region with locked parts already: the parts of
/// the range locked now are found first (asking the kernel), so that a
/// failure unlocks only what this call locked.
#[inline(never)]
pub(super) fn lock_keeping(call: &'static str, map: &Mapping, s: usize, l: usize) -> Result<()> {
    let keep = sys::locked_runs(map, s, l);
    map.lock(s, l)
        .map_err(|e| lock_failed(call, map, s, l, keep.as_ref(), e))
}

/// Report the failed `mlock` of `[s, s + l)` of `map`, first unlocking what
/// it may have left locked where the system does that: the range but
/// `keep`, the parts locked before the call (`None`: not known, nothing is
/// unlocked and the message says so).
#[cold]
#[inline(never)]
pub(super) fn lock_failed(
    call: &'static str,
    map: &Mapping,
    s: usize,
    l: usize,
    keep: Option<&LockedRuns>,
    e: io::Error,
) -> Error {
    // Read before unlocking, which may merge kernel mappings again.
    let why = if sys::errno_of(&e) == Some(errno::ENOMEM) {
        sys::why_no_memory(sys::Asked::Lock)
    } else {
        None
    };
    let undone: std::result::Result<(), Option<io::Error>> = match keep {
        _ if !sys::MLOCK_MAY_LEAVE_LOCKS => Ok(()),
        Some(keep) => sys::unlock_except(map, s, l, keep).map_err(Some),
        None => Err(None),
    };
    let mut err = lock_error(call, l, e, why);
    if let (Err(failed), Error::Os { msg, .. }) = (undone, &mut err) {
        let why = match &failed {
            Some(e) => msg!(": munlock failed: {}", crate::error::os_text(e)),
            None => Text::Borrowed(""),
        };
        *msg = msg!("{msg}; pages of the range may stay locked (mm_unlock them){why}");
    }
    err
}

pub(super) fn lock_error(
    call: &'static str,
    bytes: usize,
    e: io::Error,
    why: Option<sys::NoMemory>,
) -> Error {
    let errno = sys::errno_of(&e);
    // ENOMEM (Linux, BSD) and EAGAIN (BSD: a system-wide limit) for limits,
    // EPERM for a missing privilege.
    if !matches!(errno, Some(errno::ENOMEM | errno::EAGAIN | errno::EPERM)) {
        return Error::Os {
            call,
            msg: msg!("{}({bytes} bytes)", sys::calls::LOCK),
            source: e,
        };
    }
    if !sys::HAS_MEMLOCK_RLIMIT {
        return Error::Os {
            call,
            msg: msg!(
                "{}({bytes} bytes) refused: locking memory needs {}",
                sys::calls::LOCK,
                sys::LOCK_PRIVILEGE
            ),
            source: e,
        };
    }
    let limit = sys::memlock_limit();
    let locked = sys::locked_bytes();
    // mlock also says ENOMEM (Linux) or EAGAIN when pages cannot be brought
    // in (no access after mm_protect, past the end of a truncated file):
    // blame the limit only when the request really passes it (or when that
    // cannot be told).
    let within_limit = match (limit, locked) {
        (None, _) => true,
        (Some(l), Some(b)) => b.saturating_add(bytes as u64) <= l,
        (Some(_), None) => false,
    };
    let limit = Bytes(limit);
    if errno != Some(errno::EPERM) && within_limit {
        let msg = match why {
            Some(why @ sys::NoMemory::MapCount { .. }) => msg!(
                "mlock({bytes} bytes) failed although RLIMIT_MEMLOCK ({limit}) allows it: \
                 {why} (locking part of a kernel mapping splits it)"
            ),
            _ => msg!(
                "mlock({bytes} bytes) failed although RLIMIT_MEMLOCK ({limit}) allows it: \
                 some pages cannot be brought in (no access after mm_protect, or past the end \
                 of a truncated file), or the system is out of memory or at its limit of locked memory"
            ),
        };
        return Error::Os {
            call,
            msg,
            source: e,
        };
    }
    let locked = IfKnown(
        locked,
        ", ",
        " bytes already locked by this process (VmLck)",
    );
    Error::Os {
        call,
        msg: msg!(
            "mlock({bytes} bytes) refused: RLIMIT_MEMLOCK is {limit}{locked}; raise it (ulimit -l) or run with {}",
            sys::LOCK_PRIVILEGE
        ),
        source: e,
    }
}
