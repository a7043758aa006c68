//! Making regions: anonymous, from a file by path or descriptor, shareable.

use super::*;

impl Region {
    /// Zero-filled anonymous memory of exactly `len` bytes (`mm_map_anon`).
    ///
    /// Uses `MAP_ANONYMOUS`, or `/dev/zero` when `flags` has [`Flags::DEVZERO`],
    /// when this build has no `MAP_ANONYMOUS`, or when the kernel refuses it;
    /// [`Region::flags`] reports which. `len == 0` is `EINVAL`.
    #[inline]
    pub fn anon(len: usize, flags: Flags) -> Result<Region> {
        Self::anon_with(len, flags, sys::map_anonymous)
    }

    /// [`Region::anon`] with the `MAP_ANONYMOUS` attempt supplied, so the
    /// run-time fallback to `/dev/zero` can be tested with a refusing kernel.
    #[inline(never)]
    pub(super) fn anon_with(
        len: usize,
        flags: Flags,
        map_anonymous: impl FnOnce(usize, &MapSpec) -> io::Result<Mapping>,
    ) -> Result<Region> {
        const CALL: &str = "mm_map_anon";
        let Checked { flags, spec } = check_flags(CALL, flags.bits(), false)?;
        if len == 0 {
            return Err(Error::invalid(
                CALL,
                "len is 0; an anonymous region needs at least one byte",
            ));
        }
        let map_len = sys::round_up(len, sys::page_size())
            .filter(|&l| l <= isize::MAX as usize)
            .ok_or_else(|| too_large(CALL, format_args!("len {len}")))?;
        let mut eff = effective_anon(flags);
        let want_devzero = flags.contains(Flags::DEVZERO) || !sys::HAS_MAP_ANONYMOUS;

        let mut map = None;
        if flags.contains(Flags::HUGEPAGES) && !want_devzero {
            map = sys::map_hugetlb(map_len, &spec);
            if map.is_some() {
                eff |= Flags::HUGEPAGES;
            }
        }
        if map.is_none() && !want_devzero {
            match map_anonymous(map_len, &spec) {
                Ok(m) => map = Some(m),
                Err(e) if sys::anonymous_refused(&e) => {}
                Err(e) => {
                    return Err(Self::anon_error(
                        CALL,
                        sys::calls::MAP_ANONYMOUS,
                        len,
                        flags,
                        e,
                    ))
                }
            }
        }
        let map = match map {
            Some(m) => m,
            None => {
                eff |= Flags::DEVZERO;
                sys::map_devzero(map_len, &spec)
                    .map_err(|e| Self::anon_error(CALL, sys::calls::MAP_DEVZERO, len, flags, e))?
            }
        };
        Self::finish(CALL, map, 0, len, flags, eff, Kind::Anonymous)
    }

    #[cold]
    pub(super) fn anon_error(
        call: &'static str,
        what: &str,
        len: usize,
        flags: Flags,
        e: io::Error,
    ) -> Error {
        let map_len = sys::round_up(len, sys::page_size()).unwrap_or(len);
        Error::Os {
            call,
            msg: msg!(
                "{what} of {len} bytes with {flags}{}",
                because(&e, sys::Asked::Map(map_len))
            ),
            source: e,
        }
    }

    /// Apply the options that act after `mmap` (the guard, huge page advice,
    /// populate) and build the region. Inlined: without those options (the
    /// common case) it is only the construction, built in the caller's return slot.
    #[inline(always)]
    pub(super) fn finish(
        call: &'static str,
        map: Mapping,
        delta: usize,
        len: usize,
        asked: Flags,
        eff: Flags,
        kind: Kind,
    ) -> Result<Region> {
        let guard = if eff.contains(Flags::GUARD) {
            Some(guard_mapping(call, &map, eff)?)
        } else {
            None
        };
        let eff = if asked.intersects(Flags::HUGEPAGES | Flags::POPULATE) {
            Self::after_map(call, &map, asked, eff, &kind)?
        } else {
            eff
        };
        Ok(Region {
            guard,
            map: Some(map),
            delta,
            len,
            flags: AtomicU32::new(eff.bits()),
            parts: AtomicU8::new(0),
            mapped_write: asked.writable(),
            kind,
        })
    }

    /// [`Region::finish`]'s options: huge page advice and populate; returns the
    /// effective flags. On error the caller drops (unmaps) `map`.
    #[inline(never)]
    pub(super) fn after_map(
        call: &'static str,
        map: &Mapping,
        asked: Flags,
        mut eff: Flags,
        kind: &Kind,
    ) -> Result<Flags> {
        if asked.contains(Flags::HUGEPAGES)
            && !eff.contains(Flags::HUGEPAGES)
            && sys::advise_hugepage(map)
        {
            eff |= Flags::HUGEPAGES;
        }
        if asked.contains(Flags::POPULATE) {
            let file = matches!(kind, Kind::File(_));
            let write = asked.contains(Flags::WRITE) && (!file || asked.contains(Flags::PRIVATE));
            let backing = match kind {
                Kind::Anonymous => sys::Backing::Anonymous,
                Kind::File(_) => sys::Backing::File,
                Kind::Shareable { .. } => sys::Backing::Object,
            };
            sys::populate(map, write, backing).map_err(|e| Error::Os {
                call,
                msg: msg!(
                    "MM_POPULATE could not prefault {} bytes{}",
                    map.len(),
                    if sys::errno_of(&e) == Some(errno::EFAULT) {
                        " (the pages could not be supplied: a full file system, or memory limits)"
                    } else {
                        ""
                    }
                ),
                source: e,
            })?;
        }
        Ok(eff)
    }

    /// Map `len` bytes of the file at `path` from `offset` (`mm_map_file`).
    ///
    /// `len == 0` maps to the end of the file; `offset` need not be aligned.
    /// The file is opened with the access the flags need and closed before
    /// returning. See the contract for `MM_CREATE` / `MM_EXCL`.
    pub fn file(path: impl AsRef<Path>, offset: u64, len: usize, flags: Flags) -> Result<Region> {
        Self::file_at(path.as_ref(), None, offset, len, flags)
    }

    /// [`Region::file`] for a C caller's NUL-terminated path, opened as it is.
    pub(crate) fn file_c(path: &CStr, offset: u64, len: usize, flags: Flags) -> Result<Region> {
        let Some(bytes) = sys::path_of_bytes(path.to_bytes()) else {
            return Err(Error::invalid(
                "mm_map_file",
                "the path is not valid UTF-8 (paths are UTF-8 on this platform)",
            ));
        };
        Self::file_at(bytes, Some(path), offset, len, flags)
    }

    /// [`Region::file`]; `c_path` is `path` as a C string when the caller has one.
    #[inline]
    pub(super) fn file_at(
        path: &Path,
        c_path: Option<&CStr>,
        offset: u64,
        len: usize,
        flags: Flags,
    ) -> Result<Region> {
        const CALL: &str = "mm_map_file";
        let checked = check_flags(CALL, flags.bits(), true)?;
        let flags = checked.flags;

        if flags.contains(Flags::CREATE) {
            return Self::file_create(CALL, path, offset, len, checked);
        }
        let read_write = flags.contains(Flags::WRITE) && flags.contains(Flags::SHARED);
        // A match, not map_err: see map_open_file.
        let file = match sys::open_path(path, c_path, read_write) {
            Ok(file) => file,
            Err(e) => {
                let mode = if read_write {
                    sys::calls::READ_WRITE
                } else {
                    sys::calls::READ_ONLY
                };
                return Err(open_error(CALL, describe(path), mode, e));
            }
        };
        Self::map_open_file(CALL, Some(path), file.as_fd(), offset, len, checked, false)
    }

    /// Map `len` bytes of the open descriptor `fd` from `offset` (`mm_map_fd`).
    ///
    /// The descriptor is neither closed nor kept. A write-shared mapping of a
    /// descriptor opened read-only is `EACCES`.
    pub fn from_fd(
        fd: BorrowedDescriptor<'_>,
        offset: u64,
        len: usize,
        flags: Flags,
    ) -> Result<Region> {
        const CALL: &str = "mm_map_fd";
        let checked = check_flags(CALL, flags.bits(), true)?;
        let flags = checked.flags;
        if flags.contains(Flags::EXCL) {
            return Err(Error::invalid(
                CALL,
                "MM_EXCL needs a path; use mm_map_file",
            ));
        }
        let raw = fd.as_raw_fd();
        let mode = sys::access_mode(fd).map_err(|e| Error::Os {
            call: CALL,
            msg: msg!("fcntl(fd {raw}, F_GETFL)"),
            source: e,
        })?;
        if mode == Access::WriteOnly {
            return Err(Error::access(
                CALL,
                format_args!("fd {raw} is open write-only; every mapping needs read access"),
            ));
        }
        if mode == Access::ReadOnly && flags.contains(Flags::WRITE) && flags.contains(Flags::SHARED)
        {
            return Err(Error::access(
                CALL,
                format_args!("fd {raw} is open read-only; a write-shared mapping (MM_WRITE|MM_SHARED) needs O_RDWR"),
            ));
        }
        if mode == Access::ReadOnly && flags.contains(Flags::CREATE) {
            return Err(Error::access(
                CALL,
                format_args!(
                    "fd {raw} is open read-only; MM_CREATE must grow the file and needs O_RDWR"
                ),
            ));
        }
        Self::map_open_file(CALL, None, fd, offset, len, checked, false)
    }

    /// Map an open descriptor; `path` is where it was opened from, if we did.
    pub(super) fn map_open_file(
        call: &'static str,
        path: Option<&Path>,
        fd: BorrowedDescriptor<'_>,
        offset: u64,
        len: usize,
        checked: Checked,
        created: bool,
    ) -> Result<Region> {
        let Checked { flags, spec } = checked;
        let raw = fd.as_raw_fd();
        // How messages name the file.
        let what = FileName { path, fd: raw };
        let st = sys::fstat(fd).map_err(|e| Error::Os {
            call,
            msg: msg!("{what}: {}(fd {raw})", sys::calls::FSTAT),
            source: e,
        })?;
        if st.kind == FileKind::Directory {
            return Err(a_directory(call, what));
        }
        if st.kind != FileKind::Regular {
            return Err(Error::os(
                call,
                errno::ENODEV,
                format_args!(
                    "{what}: cannot map {}: only regular files can be mapped",
                    st.kind.name()
                ),
            ));
        }
        let create = flags.contains(Flags::CREATE);
        // Before anything below can write or truncate it: a file of procfs,
        // sysfs and the like is a kernel interface, not data.
        if create || sys::may_be_pseudo(&st) {
            refuse_pseudo_fs(call, what, fd)?;
        }
        // Kept before anything is written, so running out of memory for it
        // changes nothing.
        let saved = match path {
            None => None,
            Some(p) => Some(SavedPath::new(p).ok_or_else(|| {
                Error::os(
                    call,
                    errno::ENOMEM,
                    format_args!("{what}: no memory to keep the path for mm_resize"),
                )
            })?),
        };
        let size = st.size;
        if offset > size && !(create && len > 0) {
            return Err(Error::invalid(
                call,
                format_args!("{what}: offset {offset} is past the end of the file ({size} bytes)"),
            ));
        }
        let len = if len == 0 {
            usize::try_from(size - offset).map_err(|_| {
                too_large(
                    call,
                    format_args!(
                        "{what}: the file's {} bytes from offset {offset}",
                        size - offset
                    ),
                )
            })?
        } else {
            len
        };
        let end = offset
            .checked_add(len as u64)
            .filter(|&e| e <= i64::MAX as u64)
            .ok_or_else(|| {
                Error::invalid(
                    call,
                    format_args!(
                        "{what}: offset {offset} + len {len} overflows the largest file offset"
                    ),
                )
            })?;
        if end > size && !create {
            return Err(Error::invalid(
                call,
                format_args!(
                    "{what}: offset {offset} + len {len} = {end} is past the end of the file ({size} bytes); \
                     mapping it would only raise SIGBUS later (use MM_CREATE to grow the file)"
                ),
            ));
        }
        // Mappings start at a multiple of the granularity (the page size;
        // 64 KiB on Windows) and cover whole pages.
        let aligned = offset & !(sys::map_granularity() as u64 - 1);
        let delta = (offset - aligned) as usize;
        let map_len = delta
            .checked_add(len)
            .and_then(|l| sys::round_up(l, sys::page_size()))
            .filter(|&l| l <= isize::MAX as usize);
        let Some(map_len) = map_len else {
            return Err(too_large(
                call,
                format_args!("{what}: len {len} at offset {offset}"),
            ));
        };

        let grown = create && end > size;
        if create && len > 0 {
            if let Err(e) = sys::allocate(fd, offset, len as u64, size) {
                let msg = msg!(
                    "{what}: MM_CREATE could not allocate bytes [{offset}, {end}){}",
                    if sys::errno_of(&e) == Some(errno::EFBIG) {
                        " (past RLIMIT_FSIZE or the largest file size)"
                    } else {
                        ""
                    }
                );
                return Err(undo_grow(fd, grown.then_some(size), call, msg, e));
            }
        }
        if grown || created {
            // A durable size: the new length and blocks reach the disk now.
            if let Err(e) = sys::fsync(fd) {
                let msg = msg!("{what}: fsync after growing the file");
                return Err(undo_grow(fd, grown.then_some(size), call, msg, e));
            }
        }
        let origin = FileOrigin {
            path: saved,
            dev: st.dev,
            ino: st.ino,
            offset,
        };
        if len == 0 {
            return Ok(Region {
                guard: None,
                map: None,
                delta: 0,
                len: 0,
                flags: AtomicU32::new(effective(flags).bits()),
                parts: AtomicU8::new(0),
                mapped_write: flags.writable(),
                kind: Kind::File(origin),
            });
        }
        // A match, not map_err: a closure here would have its captures
        // stored on every call, failing or not.
        let huge = sys::huge_page_of(fd, &st);
        if let (Some(size), true) = (huge, flags.contains(Flags::GUARD)) {
            // The repair maps a zero page of the system's size over a lost
            // page, which a mapping in huge pages cannot take: the guard
            // would let the SIGBUS through. Refused rather than unguarded.
            return Err(Error::unsupported(
                call,
                format_args!(
                    "{what}: the file is in {} (hugetlbfs), which MM_GUARD cannot repair; \
                     map it without MM_GUARD (a truncation of it then raises SIGBUS)",
                    PageSize(size)
                ),
            ));
        }
        let map = match sys::map_fd(fd, aligned, map_len, &spec) {
            Ok(map) => match huge {
                Some(size) => map.in_pages_of(size),
                None => map,
            },
            Err(e) => {
                let msg = msg!(
                    "{what}: {} of {len} bytes at offset {offset} with {flags}",
                    sys::calls::MAP
                );
                return Err(map_fd_failed(
                    fd,
                    grown.then_some(size),
                    call,
                    msg,
                    e,
                    map_len,
                ));
            }
        };
        let kind = Kind::File(origin);
        if !grown {
            return Self::finish(call, map, delta, len, flags, effective(flags), kind);
        }
        Self::finish(call, map, delta, len, flags, effective(flags), kind).inspect_err(|_| {
            // Populate failed: leave the file as it was.
            let _ = sys::truncate(fd, size);
        })
    }

    /// Shared anonymous memory that unrelated processes can map
    /// (`mm_map_shareable`): a `memfd` on Linux, an immediately unlinked
    /// `shm_open` object elsewhere. The region keeps the descriptor
    /// (close-on-exec, see [`Region::fd`]); another process maps it with
    /// [`Region::from_fd`] after receiving it by inheritance or `SCM_RIGHTS`.
    ///
    /// `flags`: `READ` and/or `WRITE`, `SHARED` (required), optionally
    /// `POPULATE`, `HUGEPAGES`. `name` only labels the object (`/proc/PID/fd`).
    pub fn shareable(name: &str, len: usize, flags: Flags) -> Result<Region> {
        Self::shareable_bytes(name.as_bytes(), len, flags)
    }

    /// [`Region::shareable`] for a name of any bytes (the C ABI's, which need
    /// not be UTF-8).
    pub(crate) fn shareable_bytes(name: &[u8], len: usize, flags: Flags) -> Result<Region> {
        const CALL: &str = "mm_map_shareable";
        let Checked { flags, spec } = check_flags(CALL, flags.bits(), false)?;
        if flags.contains(Flags::PRIVATE) {
            return Err(Error::invalid(
                CALL,
                "shareable memory is shared: use MM_SHARED, not MM_PRIVATE",
            ));
        }
        if flags.contains(Flags::DEVZERO) {
            return Err(Error::invalid(
                CALL,
                "MM_DEVZERO applies to mm_map_anon only",
            ));
        }
        if len == 0 {
            return Err(Error::invalid(
                CALL,
                "len is 0; a shareable region needs at least one byte",
            ));
        }
        let map_len = sys::round_up(len, sys::page_size())
            .filter(|&l| l <= isize::MAX as usize && (len as u64) <= i64::MAX as u64)
            .ok_or_else(|| too_large(CALL, format_args!("len {len}")))?;
        let shown = show(name);
        if name.contains(&0) {
            return Err(Error::invalid(
                CALL,
                format_args!("name {shown} contains a NUL byte"),
            ));
        }
        let (fd, sealable) =
            sys::with_c_bytes(name, |c| sys::shareable_object(c, len)).map_err(|e| Error::Os {
                call: CALL,
                msg: msg!("creating the shared memory object {shown}"),
                source: e,
            })?;
        sys::set_len(fd.as_fd(), len as u64).map_err(|e| Error::Os {
            call: CALL,
            msg: msg!("{} of {shown} to {len} bytes", sys::calls::SET_LEN),
            source: e,
        })?;
        let map = sys::map_fd(fd.as_fd(), 0, map_len, &spec).map_err(|e| Error::Os {
            call: CALL,
            msg: msg!(
                "{} of {len} bytes of {shown} with {flags}{}",
                sys::calls::MAP,
                because(&e, sys::Asked::Map(map_len))
            ),
            source: e,
        })?;
        Self::finish(
            CALL,
            map,
            0,
            len,
            flags,
            effective(flags),
            Kind::Shareable { fd, sealable },
        )
    }
}

/// Report the failure `source` of a file mapping call, first truncating the
/// file back to `old_size` when the call had grown it.
#[cold]
pub(super) fn undo_grow(
    fd: BorrowedDescriptor<'_>,
    old_size: Option<u64>,
    call: &'static str,
    msg: Text,
    source: io::Error,
) -> Error {
    if let Some(size) = old_size {
        let _ = sys::truncate(fd, size);
    }
    Error::Os { call, msg, source }
}

/// [`undo_grow`] for a failed `mmap` of `map_len` bytes of a file: its
/// message `msg` gains the limit an `ENOMEM` likely met.
#[cold]
#[inline(never)]
pub(super) fn map_fd_failed(
    fd: BorrowedDescriptor<'_>,
    old_size: Option<u64>,
    call: &'static str,
    msg: Text,
    source: io::Error,
    map_len: usize,
) -> Error {
    let msg = msg!("{msg}{}", because(&source, sys::Asked::Map(map_len)));
    undo_grow(fd, old_size, call, msg, source)
}

/// `ENODEV` for a file on a pseudo-filesystem (procfs, sysfs, ...).
#[inline(never)]
pub(super) fn refuse_pseudo_fs(
    call: &'static str,
    what: FileName<'_>,
    fd: BorrowedDescriptor<'_>,
) -> Result<()> {
    match sys::pseudo_fs(fd) {
        Ok(None) => Ok(()),
        Ok(Some(fs)) => Err(Error::os(
            call,
            errno::ENODEV,
            format_args!(
                "{what} is on {fs}, a pseudo-filesystem: its files are interfaces of the kernel, \
                 not data, and cannot be mapped (nothing was written to it)"
            ),
        )),
        Err(e) => Err(Error::Os {
            call,
            msg: msg!(
                "{what}: fstatfs(fd {}) to tell a real filesystem from a pseudo-filesystem",
                fd.as_raw_fd()
            ),
            source: e,
        }),
    }
}

#[cfg(all(test, mmkit_map_anonymous))]
mod tests {
    use super::*;

    const RW_SHARED: Flags = Flags::READ.union(Flags::WRITE).union(Flags::SHARED);

    #[test]
    pub(super) fn a_kernel_refusing_map_anonymous_is_served_by_dev_zero() {
        for errno in [errno::EINVAL, errno::ENODEV, errno::ENOTSUP] {
            let r =
                Region::anon_with(8192, RW_SHARED, |_, _| Err(sys::errno_error(errno))).unwrap();
            assert!(r.flags().contains(Flags::DEVZERO), "errno {errno}");
            assert_eq!(r.len(), 8192);
            // SAFETY: our own fresh region.
            assert!(unsafe { r.as_slice() }.iter().all(|&b| b == 0));
        }
    }

    #[test]
    pub(super) fn a_real_failure_of_map_anonymous_is_reported_not_hidden() {
        let e = Region::anon_with(8192, RW_SHARED, |_, _| Err(sys::errno_error(errno::ENOMEM)))
            .unwrap_err();
        assert_eq!(e.errno(), errno::ENOMEM);
        assert!(
            e.to_string()
                .starts_with("mm_map_anon: mmap(MAP_ANONYMOUS) of 8192 bytes"),
            "{e}"
        );
    }
}
