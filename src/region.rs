//! The safe Rust core: [`Region`], one mapping with its bounds and flags.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::{Error, Result};
use crate::flags::{Advice, Flags, SyncFlags, SyncMode};
use crate::sys::{self, MapSpec, Mapping, Share};

/// What backs a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Anonymous,
    File,
}

/// One memory mapping: `len` usable bytes starting at [`Region::as_ptr`].
///
/// Create one with [`Region::anon`], [`Region::file`] or [`Region::from_fd`];
/// dropping it unmaps the memory. The bounds-checked operations take byte
/// offsets relative to the first usable byte and round to pages themselves.
///
/// A `Region` is `Send` and `Sync`: it can be synced, locked, advised and
/// protected from several threads at once.
///
/// ```
/// use mmkit::{Flags, Region};
/// let r = Region::anon(100, Flags::READ | Flags::WRITE | Flags::PRIVATE).unwrap();
/// assert_eq!(r.len(), 100);
/// // SAFETY: a private anonymous region is ours alone; nothing else writes it.
/// let bytes = unsafe { r.as_slice() };
/// assert!(bytes.iter().all(|&b| b == 0));
/// ```
#[derive(Debug)]
pub struct Region {
    /// `None` for an empty region (length 0).
    map: Option<Mapping>,
    /// Offset of the first usable byte inside `map` (file offsets need not be aligned).
    delta: usize,
    len: usize,
    flags: AtomicU32,
    kind: Kind,
}

/// What a mapping call asked for, after validation.
struct Checked {
    flags: Flags,
    spec: MapSpec,
}

fn check_flags(call: &'static str, bits: u32, file: bool) -> Result<Checked> {
    let flags = Flags::from_bits(bits).map_err(|unknown| {
        Error::invalid(
            call,
            format_args!("unknown flag bits {unknown:#x} in flags {bits:#x}"),
        )
    })?;
    if !flags.intersects(Flags::READ | Flags::WRITE) {
        return Err(Error::invalid(
            call,
            format_args!("flags {flags} ({bits:#x}) ask for neither MM_READ nor MM_WRITE"),
        ));
    }
    let share = match (
        flags.contains(Flags::SHARED),
        flags.contains(Flags::PRIVATE),
    ) {
        (true, false) => Share::Shared,
        (false, true) => Share::Private,
        (true, true) => {
            return Err(Error::invalid(
                call,
                format_args!("flags {flags} ask for both MM_SHARED and MM_PRIVATE"),
            ))
        }
        (false, false) => {
            return Err(Error::invalid(
                call,
                format_args!("flags {flags} ask for neither MM_SHARED nor MM_PRIVATE"),
            ))
        }
    };
    if file && flags.contains(Flags::DEVZERO) {
        return Err(Error::invalid(
            call,
            "MM_DEVZERO applies to anonymous regions only",
        ));
    }
    if !file && flags.intersects(Flags::CREATE | Flags::EXCL) {
        return Err(Error::invalid(
            call,
            "MM_CREATE and MM_EXCL apply to file regions only",
        ));
    }
    if flags.contains(Flags::EXCL) && !flags.contains(Flags::CREATE) {
        return Err(Error::invalid(
            call,
            "MM_EXCL is meaningful only with MM_CREATE",
        ));
    }
    Ok(Checked {
        flags,
        spec: MapSpec {
            prot: prot_bits(flags),
            share,
            noreserve: flags.contains(Flags::NORESERVE),
            populate: flags.contains(Flags::POPULATE),
        },
    })
}

/// `PROT_*` bits for the protection flags (write implies read).
fn prot_bits(flags: Flags) -> i32 {
    let mut prot = libc::PROT_NONE;
    if flags.intersects(Flags::READ | Flags::WRITE) {
        prot |= libc::PROT_READ;
    }
    if flags.contains(Flags::WRITE) {
        prot |= libc::PROT_WRITE;
    }
    if flags.contains(Flags::EXEC) {
        prot |= libc::PROT_EXEC;
    }
    prot
}

/// The flags a mapping really has: what was asked, less what the platform
/// ignores and what the backend decides (`DEVZERO`, `HUGEPAGES`).
fn effective(flags: Flags) -> Flags {
    let mut f = flags.without(Flags::DEVZERO | Flags::HUGEPAGES);
    if !sys::HAS_NORESERVE {
        f = f.without(Flags::NORESERVE);
    }
    if flags.contains(Flags::WRITE) {
        f |= Flags::READ;
    }
    f
}

fn too_large(call: &'static str, what: impl std::fmt::Display) -> Error {
    Error::too_large(
        call,
        format_args!("{what} cannot be mapped: larger than the address space allows"),
    )
}

fn describe(path: &Path) -> String {
    format!("{:?}", path.as_os_str())
}

fn file_kind(kind: libc::mode_t) -> &'static str {
    match kind {
        libc::S_IFDIR => "a directory",
        libc::S_IFIFO => "a pipe (FIFO)",
        libc::S_IFSOCK => "a socket",
        libc::S_IFCHR => "a character device",
        libc::S_IFBLK => "a block device",
        libc::S_IFLNK => "a symbolic link",
        _ => "an unknown kind of file",
    }
}

impl Region {
    /// Zero-filled anonymous memory of exactly `len` bytes (`mm_map_anon`).
    ///
    /// Uses `MAP_ANONYMOUS`, or `/dev/zero` when `flags` has [`Flags::DEVZERO`],
    /// when this build has no `MAP_ANONYMOUS`, or when the kernel refuses it;
    /// [`Region::flags`] reports which. `len == 0` is `EINVAL`.
    pub fn anon(len: usize, flags: Flags) -> Result<Region> {
        Self::anon_with(len, flags, sys::map_anonymous)
    }

    /// [`Region::anon`] with the `MAP_ANONYMOUS` attempt supplied, so the
    /// run-time fallback to `/dev/zero` can be tested with a refusing kernel.
    fn anon_with(
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
        let mut eff = effective(flags);
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
                Err(e) => return Err(Self::anon_error(CALL, "mmap(MAP_ANONYMOUS)", len, flags, e)),
            }
        }
        let map = match map {
            Some(m) => m,
            None => {
                eff |= Flags::DEVZERO;
                sys::map_devzero(map_len, &spec)
                    .map_err(|e| Self::anon_error(CALL, "mmap(/dev/zero)", len, flags, e))?
            }
        };
        Self::finish(CALL, map, 0, len, flags, eff, Kind::Anonymous)
    }

    fn anon_error(call: &'static str, what: &str, len: usize, flags: Flags, e: io::Error) -> Error {
        Error::Os {
            call,
            msg: format!("{what} of {len} bytes with {flags}"),
            source: e,
        }
    }

    /// Apply the options that act after `mmap` (huge page advice, populate) and
    /// build the region.
    fn finish(
        call: &'static str,
        map: Mapping,
        delta: usize,
        len: usize,
        asked: Flags,
        mut eff: Flags,
        kind: Kind,
    ) -> Result<Region> {
        if asked.contains(Flags::HUGEPAGES)
            && !eff.contains(Flags::HUGEPAGES)
            && sys::advise_hugepage(&map)
        {
            eff |= Flags::HUGEPAGES;
        }
        if asked.contains(Flags::POPULATE) {
            let write = asked.contains(Flags::WRITE)
                && (kind == Kind::Anonymous || asked.contains(Flags::PRIVATE));
            sys::populate(&map, write).map_err(|e| Error::Os {
                call,
                msg: format!("MM_POPULATE could not prefault {} bytes", map.len()),
                source: e,
            })?;
        }
        Ok(Region {
            map: Some(map),
            delta,
            len,
            flags: AtomicU32::new(eff.bits()),
            kind,
        })
    }

    /// Map `len` bytes of the file at `path` from `offset` (`mm_map_file`).
    ///
    /// `len == 0` maps to the end of the file; `offset` need not be aligned.
    /// The file is opened with the access the flags need and closed before
    /// returning. See the contract for `MM_CREATE` / `MM_EXCL`.
    pub fn file(path: impl AsRef<Path>, offset: u64, len: usize, flags: Flags) -> Result<Region> {
        const CALL: &str = "mm_map_file";
        let path = path.as_ref();
        let checked = check_flags(CALL, flags.bits(), true)?;
        let flags = checked.flags;
        let create = flags.contains(Flags::CREATE);
        let read_write = create || (flags.contains(Flags::WRITE) && flags.contains(Flags::SHARED));

        let mut opts = OpenOptions::new();
        opts.read(true).write(read_write);
        // O_NONBLOCK: opening a FIFO must not hang; it is refused after fstat.
        // O_NOCTTY: a terminal path must not become our controlling terminal.
        // (std adds O_CLOEXEC itself.)
        opts.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
        let mode = if read_write { "O_RDWR" } else { "O_RDONLY" };

        let (file, created) = if flags.contains(Flags::EXCL) {
            let f = opts
                .clone()
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| Error::Os {
                    call: CALL,
                    msg: format!("open({}, {mode}|O_CREAT|O_EXCL, 0600)", describe(path)),
                    source: e,
                })?;
            (f, true)
        } else {
            Self::open_maybe_create(CALL, &opts, path, create, mode)?
        };
        let result = Self::map_open_file(
            CALL,
            &describe(path),
            file.as_fd(),
            offset,
            len,
            checked,
            created,
        )
        .and_then(|region| {
            if created {
                sync_parent_dir(CALL, path).map(|()| region)
            } else {
                Ok(region)
            }
        });
        if result.is_err() && created {
            // We made this file and could not finish: leave nothing behind.
            let _ = std::fs::remove_file(path);
        }
        result
    }

    /// Open an existing file, or create it (mode 0600) when `create` is set;
    /// returns whether this call created it.
    fn open_maybe_create(
        call: &'static str,
        opts: &OpenOptions,
        path: &Path,
        create: bool,
        mode: &str,
    ) -> Result<(File, bool)> {
        loop {
            match opts.open(path) {
                Ok(f) => return Ok((f, false)),
                Err(e) if create && e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(Error::Os {
                        call,
                        msg: format!("open({}, {mode})", describe(path)),
                        source: e,
                    })
                }
            }
            match opts.clone().create_new(true).mode(0o600).open(path) {
                Ok(f) => return Ok((f, true)),
                // Somebody created it between our two opens: open theirs.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(Error::Os {
                        call,
                        msg: format!("open({}, {mode}|O_CREAT|O_EXCL, 0600)", describe(path)),
                        source: e,
                    })
                }
            }
        }
    }

    /// Map `len` bytes of the open descriptor `fd` from `offset` (`mm_map_fd`).
    ///
    /// The descriptor is neither closed nor kept. A write-shared mapping of a
    /// descriptor opened read-only is `EACCES`.
    pub fn from_fd(fd: BorrowedFd<'_>, offset: u64, len: usize, flags: Flags) -> Result<Region> {
        const CALL: &str = "mm_map_fd";
        let checked = check_flags(CALL, flags.bits(), true)?;
        let flags = checked.flags;
        if flags.contains(Flags::EXCL) {
            return Err(Error::invalid(
                CALL,
                "MM_EXCL needs a path; use mm_map_file",
            ));
        }
        let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
        let mode = sys::access_mode(fd).map_err(|e| Error::Os {
            call: CALL,
            msg: format!("fcntl(fd {raw}, F_GETFL)"),
            source: e,
        })?;
        if mode == libc::O_WRONLY {
            return Err(Error::access(
                CALL,
                format_args!("fd {raw} is open write-only; every mapping needs read access"),
            ));
        }
        if mode == libc::O_RDONLY && flags.contains(Flags::WRITE) && flags.contains(Flags::SHARED) {
            return Err(Error::access(
                CALL,
                format_args!("fd {raw} is open read-only; a write-shared mapping (MM_WRITE|MM_SHARED) needs O_RDWR"),
            ));
        }
        if mode == libc::O_RDONLY && flags.contains(Flags::CREATE) {
            return Err(Error::access(
                CALL,
                format_args!(
                    "fd {raw} is open read-only; MM_CREATE must grow the file and needs O_RDWR"
                ),
            ));
        }
        Self::map_open_file(CALL, &format!("fd {raw}"), fd, offset, len, checked, false)
    }

    /// Map an open descriptor; `what` names the file in messages (a path or "fd N").
    fn map_open_file(
        call: &'static str,
        what: &str,
        fd: BorrowedFd<'_>,
        offset: u64,
        len: usize,
        checked: Checked,
        created: bool,
    ) -> Result<Region> {
        let Checked { flags, spec } = checked;
        let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
        let st = sys::fstat(fd).map_err(|e| Error::Os {
            call,
            msg: format!("{what}: fstat(fd {raw})"),
            source: e,
        })?;
        if st.kind == libc::S_IFDIR {
            return Err(Error::os(
                call,
                libc::EISDIR,
                format_args!("{what}: cannot map a directory"),
            ));
        }
        if st.kind != libc::S_IFREG {
            return Err(Error::os(
                call,
                libc::ENODEV,
                format_args!(
                    "{what}: cannot map {}: only regular files can be mapped",
                    file_kind(st.kind)
                ),
            ));
        }
        let size = st.size;
        let create = flags.contains(Flags::CREATE);
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
        let page = sys::page_size() as u64;
        let aligned = offset & !(page - 1);
        let delta = (offset - aligned) as usize;
        let map_len = delta
            .checked_add(len)
            .and_then(|l| sys::round_up(l, page as usize))
            .filter(|&l| l <= isize::MAX as usize)
            .ok_or_else(|| too_large(call, format_args!("{what}: len {len} at offset {offset}")))?;

        let grown = create && end > size;
        if create && len > 0 {
            if let Err(e) = sys::allocate(fd, offset, len as u64, size) {
                if grown {
                    let _ = sys::truncate(fd, size);
                }
                return Err(Error::Os {
                    call,
                    msg: format!("{what}: MM_CREATE could not allocate bytes [{offset}, {end})"),
                    source: e,
                });
            }
        }
        if grown || created {
            // A durable size: the new length and blocks reach the disk now.
            if let Err(e) = sys::fsync(fd) {
                if grown {
                    let _ = sys::truncate(fd, size);
                }
                return Err(Error::Os {
                    call,
                    msg: format!("{what}: fsync after growing the file"),
                    source: e,
                });
            }
        }
        if len == 0 {
            return Ok(Region {
                map: None,
                delta: 0,
                len: 0,
                flags: AtomicU32::new(effective(flags).bits()),
                kind: Kind::File,
            });
        }
        let map = sys::map_fd(fd, aligned, map_len, &spec).map_err(|e| {
            if grown {
                let _ = sys::truncate(fd, size);
            }
            Error::Os {
                call,
                msg: format!("{what}: mmap of {len} bytes at offset {offset} with {flags}"),
                source: e,
            }
        })?;
        Self::finish(call, map, delta, len, flags, effective(flags), Kind::File)
    }

    /// The first usable byte; null for an empty region.
    pub fn as_ptr(&self) -> *mut u8 {
        match &self.map {
            // SAFETY: delta < map.len() for a non-empty region.
            Some(m) => unsafe { m.ptr().add(self.delta) },
            None => std::ptr::null_mut(),
        }
    }

    /// Number of usable bytes from [`Region::as_ptr`].
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the region has no bytes (an empty file was mapped).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The flags in effect: [`Flags::DEVZERO`] when `/dev/zero` served an
    /// anonymous region, [`Flags::HUGEPAGES`] only when huge pages were really
    /// requested from the kernel, and the protection last set on the whole region.
    pub fn flags(&self) -> Flags {
        Flags::from_bits(self.flags.load(Ordering::Relaxed)).unwrap_or_default()
    }

    /// The region's bytes.
    ///
    /// # Safety
    /// The region must be readable, and for the lifetime of the slice nobody
    /// may write the memory (another process through a shared mapping, or this
    /// one through a raw pointer) nor truncate a mapped file (`SIGBUS`).
    pub unsafe fn as_slice(&self) -> &[u8] {
        match &self.map {
            // SAFETY: the caller upholds the contract above; the range is mapped.
            Some(_) => unsafe { std::slice::from_raw_parts(self.as_ptr(), self.len) },
            None => &[],
        }
    }

    /// The region's bytes, writable.
    ///
    /// # Safety
    /// As for [`Region::as_slice`], and the region must be writable.
    pub unsafe fn as_mut_slice(&mut self) -> &mut [u8] {
        match &self.map {
            // SAFETY: the caller upholds the contract above; the range is mapped.
            Some(_) => unsafe { std::slice::from_raw_parts_mut(self.as_ptr(), self.len) },
            None => &mut [],
        }
    }

    /// Check `[offset, offset+len)` (len 0: to the end) against the region and
    /// return it as absolute offsets inside the mapping.
    fn span(&self, call: &'static str, offset: usize, len: usize) -> Result<(usize, usize)> {
        if offset > self.len {
            return Err(Error::invalid(
                call,
                format_args!(
                    "offset {offset} is past the end of the region ({} bytes)",
                    self.len
                ),
            ));
        }
        let len = if len == 0 { self.len - offset } else { len };
        match offset.checked_add(len) {
            Some(end) if end <= self.len => Ok((self.delta + offset, self.delta + end)),
            _ => Err(Error::invalid(
                call,
                format_args!(
                    "range of {len} bytes at offset {offset} is outside the region ({} bytes)",
                    self.len
                ),
            )),
        }
    }

    /// The mapping and the pages covering `[start, end)`, or `None` when empty.
    fn pages(&self, start: usize, end: usize) -> Option<(&Mapping, usize, usize)> {
        let map = self.map.as_ref()?;
        if start == end {
            return None;
        }
        let page = sys::page_size();
        let s = sys::round_down(start, page);
        // end <= delta + len <= map.len(), which is a page multiple.
        let e = sys::round_up(end, page).unwrap_or(map.len()).min(map.len());
        Some((map, s, e - s))
    }

    /// Write dirty pages of `[offset, offset+len)` back to the file (`mm_sync`).
    ///
    /// `len == 0` means to the end. Anonymous regions have nothing to write
    /// and succeed. With [`SyncMode::Sync`] the bytes are in the file for any
    /// reader when this returns and survive the process being killed.
    pub fn sync(&self, offset: usize, len: usize, how: SyncFlags) -> Result<()> {
        const CALL: &str = "mm_sync";
        let (start, end) = self.span(CALL, offset, len)?;
        if self.kind == Kind::Anonymous {
            return Ok(());
        }
        let Some((map, s, l)) = self.pages(start, end) else {
            return Ok(());
        };
        let mut f = match how.mode {
            SyncMode::Sync => libc::MS_SYNC,
            SyncMode::Async => libc::MS_ASYNC,
        };
        if how.invalidate {
            f |= libc::MS_INVALIDATE;
        }
        map.sync(s, l, f).map_err(|e| Error::Os {
            call: CALL,
            msg: format!(
                "msync of {l} bytes covering [{offset}, {}) ",
                offset + (end - start)
            )
            .trim_end()
            .to_string(),
            source: e,
        })
    }

    /// Lock the pages covering `[offset, offset+len)` in memory (`mm_lock`).
    ///
    /// A refusal names `RLIMIT_MEMLOCK`, its value, the bytes asked and the
    /// bytes this process already has locked.
    pub fn lock(&self, offset: usize, len: usize) -> Result<()> {
        const CALL: &str = "mm_lock";
        let (start, end) = self.span(CALL, offset, len)?;
        let Some((map, s, l)) = self.pages(start, end) else {
            return Ok(());
        };
        map.lock(s, l).map_err(|e| lock_error(CALL, l, e))
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
            msg: format!("munlock({l} bytes)"),
            source: e,
        })
    }

    /// Advise the kernel about `[offset, offset+len)` (`mm_advise`).
    ///
    /// Advice the platform lacks is `ENOTSUP`. `DontNeed` acts only on whole
    /// pages inside the range, so bytes outside it are never discarded.
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
            msg: format!("madvise({l} bytes, {})", advice.name()),
            source: e,
        })
    }

    /// Shrink `[start, end)` to whole pages, except where it reaches the ends
    /// of the region: bytes past those are not the caller's.
    fn inner_pages(&self, start: usize, end: usize) -> (usize, usize) {
        let page = sys::page_size();
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
    /// must start and end on page boundaries of the mapping or at the ends of
    /// the region, so no byte outside it changes protection.
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
        let page = sys::page_size();
        let whole = start == self.delta && end == self.delta + self.len;
        let start_ok = start == self.delta || start % page == 0;
        let end_ok = end == self.delta + self.len || end % page == 0;
        if !start_ok || !end_ok {
            return Err(Error::invalid(
                CALL,
                format_args!(
                    "range [{offset}, {}) does not fall on page boundaries ({page} bytes; the region starts {} bytes into its first page)",
                    offset + (end - start),
                    self.delta
                ),
            ));
        }
        let Some((map, s, l)) = self.pages(start, end) else {
            return Ok(());
        };
        map.protect(s, l, prot_bits(prot)).map_err(|e| Error::Os {
            call: CALL,
            msg: format!("mprotect({l} bytes, {prot})"),
            source: e,
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
        }
        Ok(())
    }
}

fn lock_error(call: &'static str, bytes: usize, e: io::Error) -> Error {
    let refused = matches!(
        e.raw_os_error(),
        Some(libc::ENOMEM | libc::EPERM | libc::EAGAIN)
    );
    if !refused {
        return Error::Os {
            call,
            msg: format!("mlock({bytes} bytes)"),
            source: e,
        };
    }
    let limit = match sys::memlock_limit() {
        Some(l) => format!("{l} bytes"),
        None => "unlimited".to_string(),
    };
    let locked = match sys::locked_bytes() {
        Some(b) => format!(", {b} bytes already locked by this process (VmLck)"),
        None => String::new(),
    };
    Error::Os {
        call,
        msg: format!(
            "mlock({bytes} bytes) refused: RLIMIT_MEMLOCK is {limit}{locked}; raise it (ulimit -l) or run with CAP_IPC_LOCK"
        ),
        source: e,
    }
}

/// fsync the directory holding `path`, so a new directory entry is durable.
fn sync_parent_dir(call: &'static str, path: &Path) -> Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new(OsStr::new(".")),
    };
    let dir = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(parent)
        .map_err(|e| Error::Os {
            call,
            msg: format!(
                "open({}, O_DIRECTORY) to make the new file durable",
                describe(parent)
            ),
            source: e,
        })?;
    match dir.sync_all() {
        // Some file systems cannot fsync a directory; the entry is as durable as they allow.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(()),
        r => r,
    }
    .map_err(|e| Error::Os {
        call,
        msg: format!("fsync of directory {}", describe(parent)),
        source: e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RW_SHARED: Flags = Flags::READ.union(Flags::WRITE).union(Flags::SHARED);

    #[test]
    fn a_kernel_refusing_map_anonymous_is_served_by_dev_zero() {
        for errno in [libc::EINVAL, libc::ENODEV, libc::ENOTSUP] {
            let r = Region::anon_with(8192, RW_SHARED, |_, _| {
                Err(io::Error::from_raw_os_error(errno))
            })
            .unwrap();
            assert!(r.flags().contains(Flags::DEVZERO), "errno {errno}");
            assert_eq!(r.len(), 8192);
            // SAFETY: our own fresh region.
            assert!(unsafe { r.as_slice() }.iter().all(|&b| b == 0));
        }
    }

    #[test]
    fn a_real_failure_of_map_anonymous_is_reported_not_hidden() {
        let e = Region::anon_with(8192, RW_SHARED, |_, _| {
            Err(io::Error::from_raw_os_error(libc::ENOMEM))
        })
        .unwrap_err();
        assert_eq!(e.errno(), libc::ENOMEM);
        assert!(
            e.to_string()
                .starts_with("mm_map_anon: mmap(MAP_ANONYMOUS) of 8192 bytes"),
            "{e}"
        );
    }
}
