//! The safe Rust core: [`Region`], one mapping with its bounds and flags.

use std::ffi::{CStr, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};

use crate::error::{msg, Error, Result, Text};
use crate::flags::{
    Advice, Flags, SyncFlags, SyncMode, MM_SEAL_GROW, MM_SEAL_SHRINK, MM_SEAL_WRITE,
};
use crate::sys::{self, LockedRuns, MapSpec, Mapping, OpenAt, Share};

/// What backs a region.
#[derive(Debug)]
enum Kind {
    Anonymous,
    /// A file; where it came from, for resizing.
    File(FileOrigin),
    /// Memory from [`Region::shareable`], keeping its descriptor.
    Shareable {
        fd: OwnedFd,
        sealable: bool,
    },
}

/// The file under a file region. No descriptor is kept (the contract): a
/// resize that needs the file reopens `path` and checks it is the same file.
#[derive(Debug)]
struct FileOrigin {
    /// `None` for regions mapped from a caller's descriptor.
    path: Option<SavedPath>,
    dev: u64,
    ino: u64,
    /// File offset of the region's first byte.
    offset: u64,
}

/// The path a file region was mapped from, exactly as the caller passed it.
/// Paths of up to [`SavedPath::INLINE`] bytes (nearly all) are kept inline, so
/// mapping a file allocates nothing; longer ones go to the heap.
enum SavedPath {
    Inline {
        len: u8,
        bytes: [u8; SavedPath::INLINE],
    },
    Heap(std::path::PathBuf),
}

impl SavedPath {
    /// 46: with the tag and the length, 48 bytes, which keeps a `Region` (and
    /// a `Result<Region>`) within 128 bytes, the size the compiler still moves
    /// with a few inline stores instead of a call to `memcpy`.
    const INLINE: usize = 46;

    /// `None` when a long path finds no heap memory.
    fn new(path: &Path) -> Option<SavedPath> {
        let b = path.as_os_str().as_bytes();
        if b.len() <= Self::INLINE {
            let mut bytes = [0u8; Self::INLINE];
            bytes[..b.len()].copy_from_slice(b);
            return Some(SavedPath::Inline {
                len: b.len() as u8,
                bytes,
            });
        }
        let mut heap: Vec<u8> = Vec::new();
        heap.try_reserve_exact(b.len()).ok()?;
        // Within the reserved room; the conversions below move, not copy.
        heap.extend_from_slice(b);
        use std::os::unix::ffi::OsStringExt;
        Some(SavedPath::Heap(std::ffi::OsString::from_vec(heap).into()))
    }

    fn as_path(&self) -> &Path {
        match self {
            SavedPath::Inline { len, bytes } => {
                Path::new(OsStr::from_bytes(&bytes[..usize::from(*len)]))
            }
            SavedPath::Heap(p) => p,
        }
    }
}

impl std::fmt::Debug for SavedPath {
    /// As the path itself (what a `PathBuf` here used to print).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_path(), f)
    }
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
    /// Which per-page state exists (`PART_*`), for platforms whose grow copies.
    parts: AtomicU8,
    kind: Kind,
}

/// `mm_protect` changed part of the region (not all of it).
const PART_PROTECTED: u8 = 1;
/// `mm_lock` locked pages that no whole-region `mm_unlock` released since.
const PART_LOCKED: u8 = 2;

/// What a mapping call asked for, after validation.
struct Checked {
    flags: Flags,
    spec: MapSpec,
}

/// Validate a mapping call's flag word. The usual word passes
/// [`quick_check`], inlined into the caller; any other goes to
/// [`check_flags_fully`], which decides and names the problem.
#[inline(always)]
fn check_flags(call: &'static str, bits: u32, file: bool) -> Result<Checked> {
    match quick_check(bits, file) {
        Some(checked) => Ok(checked),
        None => check_flags_fully(call, bits, file),
    }
}

/// The flag word as [`check_flags_fully`] would accept it, in a few tests;
/// `None` when any of them fails (the word may still be valid).
#[inline(always)]
fn quick_check(bits: u32, file: bool) -> Option<Checked> {
    let flags = Flags::from_bits(bits).ok()?;
    let shared = flags.contains(Flags::SHARED);
    let misplaced = if file {
        Flags::DEVZERO
    } else {
        Flags::CREATE | Flags::EXCL
    };
    if !flags.intersects(Flags::READ | Flags::WRITE)
        || shared == flags.contains(Flags::PRIVATE)
        || flags.intersects(misplaced)
        || flags.contains(Flags::EXCL) && !flags.contains(Flags::CREATE)
    {
        return None;
    }
    Some(Checked {
        flags,
        spec: MapSpec {
            prot: prot_bits(flags),
            share: if shared {
                Share::Shared
            } else {
                Share::Private
            },
            noreserve: flags.contains(Flags::NORESERVE),
            populate: flags.contains(Flags::POPULATE),
        },
    })
}

/// [`check_flags`] for the words its quick test did not pass: every check,
/// each refusal with its own message.
#[cold]
#[inline(never)]
fn check_flags_fully(call: &'static str, bits: u32, file: bool) -> Result<Checked> {
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

/// The mapping an anonymous request needs when it is plain memory: valid
/// flags with no option that acts beyond `mmap` (`MM_HUGEPAGES`,
/// `MM_POPULATE`, `MM_DEVZERO`) on a platform with `MAP_ANONYMOUS`. `None`
/// sends the request through the full path (which also reports bad flags).
#[inline(always)]
fn plain_anon_spec(flags: Flags) -> Option<MapSpec> {
    if !sys::HAS_MAP_ANONYMOUS
        || flags.intersects(Flags::HUGEPAGES | Flags::POPULATE | Flags::DEVZERO)
    {
        return None;
    }
    quick_check(flags.bits(), false).map(|checked| checked.spec)
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

/// Report the failure `source` of a file mapping call, first truncating the
/// file back to `old_size` when the call had grown it.
#[cold]
fn undo_grow(
    fd: BorrowedFd<'_>,
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

/// The limit an `ENOMEM` (`e`) of a call doing `asked` likely met, shown as
/// " (the process has 65530 mappings and vm.max_map_count is 65530)" in its
/// message; nothing for other errors or when no limit can be named.
#[cold]
#[inline(never)]
fn because(e: &io::Error, asked: sys::Asked) -> Because {
    Because(if e.raw_os_error() == Some(libc::ENOMEM) {
        sys::why_no_memory(asked)
    } else {
        None
    })
}

/// See [`because`].
struct Because(Option<sys::NoMemory>);

impl std::fmt::Display for Because {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(why) => write!(f, " ({why})"),
            None => Ok(()),
        }
    }
}

/// [`undo_grow`] for a failed `mmap` of `map_len` bytes of a file: its
/// message `msg` gains the limit an `ENOMEM` likely met.
#[cold]
#[inline(never)]
fn map_fd_failed(
    fd: BorrowedFd<'_>,
    old_size: Option<u64>,
    call: &'static str,
    msg: Text,
    source: io::Error,
    map_len: usize,
) -> Error {
    let msg = msg!("{msg}{}", because(&source, sys::Asked::Map(map_len)));
    undo_grow(fd, old_size, call, msg, source)
}

fn too_large(call: &'static str, what: impl std::fmt::Display) -> Error {
    Error::too_large(
        call,
        format_args!("{what} cannot be mapped: larger than the address space allows"),
    )
}

fn describe(path: &Path) -> Quoted<'_> {
    Quoted(path)
}

/// [`describe`]: a path as messages show it, formatted only when one is.
struct Quoted<'a>(&'a Path);

impl std::fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0.as_os_str())
    }
}

/// How messages name a file: its path, or "fd N". Formatted only when an
/// error is reported, so the success path allocates nothing for it.
#[derive(Clone, Copy)]
struct FileName<'a> {
    path: Option<&'a Path>,
    fd: i32,
}

impl std::fmt::Display for FileName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.path {
            Some(p) => write!(f, "{:?}", p.as_os_str()),
            None => write!(f, "fd {}", self.fd),
        }
    }
}

/// `ENODEV` for a file on a pseudo-filesystem (procfs, sysfs, ...).
#[inline(never)]
fn refuse_pseudo_fs(call: &'static str, what: FileName<'_>, fd: BorrowedFd<'_>) -> Result<()> {
    match sys::pseudo_fs(fd) {
        Ok(None) => Ok(()),
        Ok(Some(fs)) => Err(Error::os(
            call,
            libc::ENODEV,
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
    #[inline]
    pub fn anon(len: usize, flags: Flags) -> Result<Region> {
        Self::anon_then(len, flags, |region| region)
    }

    /// [`Region::anon`], handing the new region to `keep`: a caller that
    /// stores it (the C ABI's handle) has it built straight in place, where a
    /// returned `Result<Region>` would be assembled on the stack and copied.
    #[inline(always)]
    pub(crate) fn anon_then<T>(
        len: usize,
        flags: Flags,
        keep: impl FnOnce(Region) -> T,
    ) -> Result<T> {
        // The common request (plain memory, no option that needs work after
        // `mmap`) takes a short path; every other request, and every failure,
        // goes through `anon_with`, which has the same outcome for it.
        if let Some(spec) = plain_anon_spec(flags) {
            let map_len =
                sys::round_up(len, sys::page_size()).filter(|&l| l <= isize::MAX as usize);
            if let Some(map_len) = map_len.filter(|_| len != 0) {
                return match sys::map_anonymous(map_len, &spec) {
                    Ok(map) => Ok(keep(Region {
                        map: Some(map),
                        delta: 0,
                        len,
                        flags: AtomicU32::new(effective(flags).bits()),
                        parts: AtomicU8::new(0),
                        kind: Kind::Anonymous,
                    })),
                    // Reported, or served by /dev/zero, as the full path would;
                    // the failed call is not repeated.
                    Err(e) => Self::anon_with(len, flags, |_, _| Err(e)).map(keep),
                };
            }
        }
        Self::anon_with(len, flags, sys::map_anonymous).map(keep)
    }

    /// [`Region::anon`] with the `MAP_ANONYMOUS` attempt supplied, so the
    /// run-time fallback to `/dev/zero` can be tested with a refusing kernel.
    #[inline(never)]
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

    #[cold]
    fn anon_error(call: &'static str, what: &str, len: usize, flags: Flags, e: io::Error) -> Error {
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

    /// Apply the options that act after `mmap` (huge page advice, populate) and
    /// build the region. Inlined: without those options (the common case) it is
    /// only the construction, built in the caller's return slot.
    #[inline(always)]
    fn finish(
        call: &'static str,
        map: Mapping,
        delta: usize,
        len: usize,
        asked: Flags,
        eff: Flags,
        kind: Kind,
    ) -> Result<Region> {
        let eff = if asked.intersects(Flags::HUGEPAGES | Flags::POPULATE) {
            Self::after_map(call, &map, asked, eff, &kind)?
        } else {
            eff
        };
        Ok(Region {
            map: Some(map),
            delta,
            len,
            flags: AtomicU32::new(eff.bits()),
            parts: AtomicU8::new(0),
            kind,
        })
    }

    /// [`Region::finish`]'s options: huge page advice and populate; returns the
    /// effective flags. On error the caller drops (unmaps) `map`.
    #[inline(never)]
    fn after_map(
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
                    if e.raw_os_error() == Some(libc::EFAULT) {
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
        let bytes = Path::new(OsStr::from_bytes(path.to_bytes()));
        Self::file_at(bytes, Some(path), offset, len, flags)
    }

    /// [`Region::file`]; `c_path` is `path` as a C string when the caller has one.
    #[inline]
    fn file_at(
        path: &Path,
        c_path: Option<&CStr>,
        offset: u64,
        len: usize,
        flags: Flags,
    ) -> Result<Region> {
        const CALL: &str = "mm_map_file";
        let checked = check_flags(CALL, flags.bits(), true)?;
        let flags = checked.flags;

        // O_NONBLOCK: opening a FIFO must not hang; it is refused after fstat.
        // O_NOCTTY: a terminal path must not become our controlling terminal.
        // (sys::open_path adds O_CLOEXEC itself.)
        let custom = libc::O_NONBLOCK | libc::O_NOCTTY;
        if flags.contains(Flags::CREATE) {
            return Self::file_create(CALL, path, offset, len, checked, custom);
        }
        let read_write = flags.contains(Flags::WRITE) && flags.contains(Flags::SHARED);
        // A match, not map_err: see map_open_file.
        let file = match sys::open_path(path, c_path, read_write, false, custom) {
            Ok(file) => file,
            Err(e) => {
                let mode = if read_write { "O_RDWR" } else { "O_RDONLY" };
                return Err(Error::Os {
                    call: CALL,
                    msg: msg!("open({}, {mode})", describe(path)),
                    source: e,
                });
            }
        };
        Self::map_open_file(CALL, Some(path), file.as_fd(), offset, len, checked, false)
    }

    /// [`Region::file`] with `MM_CREATE`: find or create the file with
    /// [`Region::open_to_create`], map it, and make a new file durable, or
    /// remove it again when the call fails.
    #[inline(never)]
    fn file_create(
        call: &'static str,
        path: &Path,
        offset: u64,
        len: usize,
        checked: Checked,
        custom: libc::c_int,
    ) -> Result<Region> {
        let excl = checked.flags.contains(Flags::EXCL);
        let (file, created) = Self::open_to_create(call, path, excl, custom)?;
        let result = Self::map_open_file(
            call,
            Some(path),
            file.as_fd(),
            offset,
            len,
            checked,
            created.is_some(),
        );
        let Some((dir, name)) = created else {
            return result;
        };
        let result = result.and_then(|region| sync_parent_dir(call, &dir, path).map(|()| region));
        if result.is_err() {
            // We made this file and could not finish: leave nothing behind.
            remove_created(&dir, name.as_cstr(), &file);
        }
        result
    }

    /// Open `path` read-write for `MM_CREATE`: a new file (mode 0600) made by
    /// one `open(O_CREAT|O_EXCL|O_NOFOLLOW)` in its directory, or with
    /// `excl` unset the file found there by [`Region::open_existing`]. A new
    /// file comes with its directory and name there, to make it durable or
    /// remove exactly it.
    fn open_to_create(
        call: &'static str,
        path: &Path,
        excl: bool,
        custom: libc::c_int,
    ) -> Result<(File, Option<(sys::Dir, sys::CPath)>)> {
        let os = |msg: Text| move |source| Error::Os { call, msg, source };
        let Some((parent, name)) = split_name(path.as_os_str().as_bytes()) else {
            // Empty, or ending in "/", "." or "..": no name to create; what
            // is there is a directory (EISDIR) or nothing (an error).
            let file = sys::open_path(path, None, true, false, custom)
                .map_err(os(msg!("open({}, O_RDWR)", describe(path))))?;
            return Ok((file, None));
        };
        let dir = open_dir(call, path, None, parent)?;
        let name = sys::CPath::new(name).map_err(os(msg!("open({})", describe(path))))?;
        match dir.open_file(name.as_cstr(), true, OpenAt::New, custom) {
            Ok(file) => return Ok((file, Some((dir, name)))),
            // The file may be there all the same (refused: only the create).
            Err(e)
                if !excl
                    && matches!(
                        e.raw_os_error(),
                        Some(
                            libc::EEXIST
                                | libc::EACCES
                                | libc::EPERM
                                | libc::EROFS
                                | libc::ENOSPC
                                | libc::EDQUOT
                        )
                    ) => {}
            Err(e) => {
                return Err(Error::Os {
                    call,
                    msg: msg!(
                        "open({}, O_RDWR|O_CREAT|O_EXCL|O_NOFOLLOW, 0600)",
                        describe(path)
                    ),
                    source: e,
                })
            }
        }
        let file = Self::open_existing(call, path, dir, name, custom)?;
        Ok((file, None))
    }

    /// The file `name` in `dir` for `MM_CREATE` without `MM_EXCL`: opened by
    /// `open(O_CREAT|O_NOFOLLOW)`, so that the kernel's own
    /// `protected_regular` applies too (and a file gone meanwhile is made
    /// anew). Then the kernel's `protected_symlinks` and `protected_regular=2`
    /// rules, applied here whatever the sysctls say, in a sticky directory
    /// that others may write: a symbolic link is followed only when the
    /// caller or the directory's owner owns it (world-writable directories),
    /// an existing file accepted only when one of them owns it (world- or
    /// group-writable ones). Links are followed one at a time, each target
    /// judged in its own directory as the kernel would, and never created
    /// (a dangling link is `ELOOP`). No check-then-open window: the sticky
    /// bit keeps others from replacing a link of the caller or the
    /// directory's owner, and a file is judged by its open descriptor.
    fn open_existing(
        call: &'static str,
        path: &Path,
        mut dir: sys::Dir,
        mut name: sys::CPath,
        custom: libc::c_int,
    ) -> Result<File> {
        // Linux's limit on links in one lookup.
        const MAX_LINKS: usize = 40;
        // Bounded: each round means the entry vanished between two calls.
        const ROUNDS: usize = 8;
        let euid = sys::euid();
        // The target of the last link followed; None for the path itself.
        let mut via: Option<Vec<u8>> = None;
        let (mut links, mut rounds) = (0, 0);
        loop {
            let ds = dir.stat().map_err(|e| Error::Os {
                call,
                msg: msg!("fstat of the directory of {}", here(path, &via)),
                source: e,
            })?;
            let sticky = ds.perm & libc::S_ISVTX != 0;
            let links_guarded = sticky && ds.perm & libc::S_IWOTH != 0;
            let files_guarded = sticky && ds.perm & (libc::S_IWOTH | libc::S_IWGRP) != 0;
            let trusted = |uid: u32| uid == euid || uid == ds.uid;
            let how = if via.is_none() {
                OpenAt::NewOrExisting
            } else {
                OpenAt::Existing
            };
            let err = match dir.open_file(name.as_cstr(), true, how, custom) {
                Ok(file) => {
                    if files_guarded {
                        let st = sys::fstat(file.as_fd()).map_err(|e| Error::Os {
                            call,
                            msg: msg!("fstat of {}", here(path, &via)),
                            source: e,
                        })?;
                        if !trusted(st.uid) {
                            return Err(foreign(call, path, &via, false, st.uid, &ds, euid));
                        }
                    }
                    return Ok(file);
                }
                Err(e) => e,
            };
            let entry = match dir.stat_at(name.as_cstr()) {
                Ok(entry) => entry,
                Err(e) if e.kind() == io::ErrorKind::NotFound && via.is_some() => {
                    return Err(dangling(call, path, &via))
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound && rounds < ROUNDS => {
                    // Gone between the open and the look: open again.
                    rounds += 1;
                    continue;
                }
                Err(_) => return Err(open_failed(call, path, &via, how, err)),
            };
            if entry.kind != libc::S_IFLNK {
                // The kernel's own protected_regular says EACCES: say why.
                if err.raw_os_error() == Some(libc::EACCES)
                    && matches!(entry.kind, libc::S_IFREG | libc::S_IFIFO)
                    && files_guarded
                    && !trusted(entry.uid)
                {
                    return Err(foreign(call, path, &via, false, entry.uid, &ds, euid));
                }
                return Err(open_failed(call, path, &via, how, err));
            }
            if links_guarded && !trusted(entry.uid) {
                return Err(foreign(call, path, &via, true, entry.uid, &ds, euid));
            }
            links += 1;
            if links > MAX_LINKS {
                return Err(Error::os(
                    call,
                    libc::ELOOP,
                    format_args!("{}: more than {MAX_LINKS} symbolic links", describe(path)),
                ));
            }
            let target = dir.read_link(name.as_cstr()).map_err(|e| Error::Os {
                call,
                msg: msg!("readlink of {}", here(path, &via)),
                source: e,
            })?;
            let bad_name = |e| Error::Os {
                call,
                msg: msg!("{}: the link to {}", describe(path), show(&target)),
                source: e,
            };
            match split_name(&target) {
                Some((parent, next)) => {
                    if let Some(parent) = parent {
                        dir = match open_dir(call, path, Some(&dir), Some(parent)) {
                            // The link's target is not there: dangling.
                            Err(e) if e.errno() == libc::ENOENT => {
                                return Err(dangling(call, path, &Some(target)))
                            }
                            r => r?,
                        };
                    }
                    name = sys::CPath::new(next).map_err(bad_name)?;
                }
                None => {
                    // "sub/", ".", "..": a directory (EISDIR) or an error,
                    // never a file to create or to judge.
                    let t = sys::CPath::new(&target).map_err(bad_name)?;
                    return dir
                        .open_file(t.as_cstr(), true, OpenAt::Following, custom)
                        .map_err(bad_name);
                }
            }
            via = Some(target);
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
        let raw = fd.as_raw_fd();
        let mode = sys::access_mode(fd).map_err(|e| Error::Os {
            call: CALL,
            msg: msg!("fcntl(fd {raw}, F_GETFL)"),
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
        Self::map_open_file(CALL, None, fd, offset, len, checked, false)
    }

    /// Map an open descriptor; `path` is where it was opened from, if we did.
    fn map_open_file(
        call: &'static str,
        path: Option<&Path>,
        fd: BorrowedFd<'_>,
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
            msg: msg!("{what}: fstat(fd {raw})"),
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
                    libc::ENOMEM,
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
        let page = sys::page_size() as u64;
        let aligned = offset & !(page - 1);
        let delta = (offset - aligned) as usize;
        let map_len = delta
            .checked_add(len)
            .and_then(|l| sys::round_up(l, page as usize))
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
                    if e.raw_os_error() == Some(libc::EFBIG) {
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
                map: None,
                delta: 0,
                len: 0,
                flags: AtomicU32::new(effective(flags).bits()),
                parts: AtomicU8::new(0),
                kind: Kind::File(origin),
            });
        }
        // A match, not map_err: a closure here would have its captures
        // stored on every call, failing or not.
        let map = match sys::map_fd(fd, aligned, map_len, &spec) {
            Ok(map) => map,
            Err(e) => {
                let msg = msg!("{what}: mmap of {len} bytes at offset {offset} with {flags}");
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
        if matches!(self.kind, Kind::Anonymous) {
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
            msg: msg!(
                "msync of {l} bytes covering [{offset}, {})",
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
            msg: msg!("munlock({l} bytes)"),
            source: e,
        })?;
        if start == self.delta && end == self.delta + self.len {
            self.parts.fetch_and(!PART_LOCKED, Ordering::Relaxed);
        }
        Ok(())
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
            msg: msg!("madvise({l} bytes, {})", advice.name()),
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
        // Marked first: a failed mprotect may still have changed some pages.
        self.parts.fetch_or(PART_PROTECTED, Ordering::Relaxed);
        map.protect(s, l, prot_bits(prot)).map_err(|e| {
            // Making private memory writable is a commit charge.
            let commits = prot.contains(Flags::WRITE) && self.flags().contains(Flags::PRIVATE);
            Error::Os {
                call: CALL,
                msg: msg!(
                    "mprotect({l} bytes, {prot}){}",
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
        }
        Ok(())
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
        if name.contains('\0') {
            return Err(Error::invalid(
                CALL,
                format_args!("name {name:?} contains a NUL byte"),
            ));
        }
        let (fd, sealable) =
            sys::with_c_bytes(name.as_bytes(), sys::shareable_object).map_err(|e| Error::Os {
                call: CALL,
                msg: msg!("creating the shared memory object {name:?}"),
                source: e,
            })?;
        sys::set_len(fd.as_fd(), len as u64).map_err(|e| Error::Os {
            call: CALL,
            msg: msg!("ftruncate of {name:?} to {len} bytes"),
            source: e,
        })?;
        let map = sys::map_fd(fd.as_fd(), 0, map_len, &spec).map_err(|e| Error::Os {
            call: CALL,
            msg: msg!(
                "mmap of {len} bytes of {name:?} with {flags}{}",
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

    /// The descriptor a shareable region keeps; `None` for other regions.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.kind {
            Kind::Shareable { fd, .. } => Some(fd.as_fd()),
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
    pub(crate) unsafe fn read_raw(&self, offset: usize, dst: *mut u8, n: usize) -> Result<()> {
        self.copy("mm_read", offset, dst, n, sys::Direction::Read)
    }

    /// [`Region::write`] from a raw buffer, checked like [`Region::read_raw`].
    ///
    /// # Safety
    /// When `offset + n` lies inside the region, `src` must be valid for
    /// reads of `n` bytes.
    pub(crate) unsafe fn write_raw(&self, offset: usize, src: *const u8, n: usize) -> Result<()> {
        const CALL: &str = "mm_write";
        if !self.flags().writable() {
            return Err(Error::access(
                CALL,
                format_args!("the region is read-only ({})", self.flags()),
            ));
        }
        // The source is only read: Direction::Write never stores through it.
        self.copy(CALL, offset, src.cast_mut(), n, sys::Direction::Write)
    }

    fn copy(
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
            let cause = if e.raw_os_error() == Some(libc::EFAULT) {
                ": the pages are gone (the file under the mapping was truncated) or not accessible"
            } else {
                ""
            };
            Error::Os {
                call,
                msg: msg!("copying {n} bytes at offset {offset}{cause}"),
                source: e,
            }
        })
    }

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
    pub fn resize(&mut self, new_len: usize) -> Result<()> {
        const CALL: &str = "mm_resize";
        if new_len == 0 {
            return Err(Error::invalid(
                CALL,
                "new_len is 0; unmap the region instead",
            ));
        }
        let page = sys::page_size();
        if let (None, Kind::File(origin)) = (&self.map, &self.kind) {
            // An empty file region has no mapping yet: its first page starts
            // at the aligned offset.
            self.delta = (origin.offset % page as u64) as usize;
        }
        let new_map_len = self
            .delta
            .checked_add(new_len)
            .and_then(|l| sys::round_up(l, page))
            .filter(|&l| l <= isize::MAX as usize)
            .ok_or_else(|| too_large(CALL, format_args!("new_len {new_len}")))?;
        let old_len = self.len;
        let cur_map_len = self.map.as_ref().map_or(0, Mapping::len);
        let flags = self.flags();
        let spec = MapSpec {
            prot: prot_bits(flags),
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
                        let why = if e.raw_os_error() == Some(libc::EPERM) {
                            " (the object is sealed)"
                        } else {
                            ""
                        };
                        Error::Os {
                            call: CALL,
                            msg: msg!("ftruncate from {before} to {new_len} bytes{why}"),
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
                    let file = self.reopen(CALL, end)?;
                    let aligned = origin.offset - self.delta as u64;
                    self.remap(
                        CALL,
                        new_len,
                        new_map_len,
                        &spec,
                        Some(file.as_fd()),
                        aligned,
                    )?;
                }
            }
        }
        self.len = new_len;
        Ok(())
    }

    /// Make the bytes `[from, min(new_len, end of from's page))` read as zeros
    /// before a grow exposes them: a shrink earlier may have left old bytes
    /// there. Done with the fault-safe copy, before anything else changes: a
    /// page `mm_protect` made read-only (or inaccessible) is checked and, if
    /// it holds anything but zeros, the grow is refused with `EACCES`.
    fn zero_tail(&self, call: &'static str, from: usize, new_len: usize) -> Result<()> {
        let page = sys::page_size();
        let Some(map) = &self.map else {
            return Ok(());
        };
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
                libc::EACCES,
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
    fn remap(
        &mut self,
        call: &'static str,
        new_len: usize,
        new_map_len: usize,
        spec: &MapSpec,
        fd: Option<BorrowedFd<'_>>,
        offset: u64,
    ) -> Result<()> {
        let old_len = self.len;
        let page_state = self.parts.load(Ordering::Relaxed) != 0;
        let res = match (&mut self.map, fd) {
            (Some(m), fd) => m.resize(new_map_len, spec, fd, offset, page_state),
            (None, Some(fd)) => {
                sys::map_fd(fd, offset, new_map_len, spec).map(|m| self.map = Some(m))
            }
            (None, None) => Err(io::Error::from_raw_os_error(libc::EINVAL)),
        };
        res.map_err(|e| match e.raw_os_error() {
            Some(libc::EBUSY) => {
                let why = if sys::MOVE_KEEPS_PAGE_STATE {
                    "mm_protect, mm_lock or mm_advise of part of it split it into several kernel \
                     mappings, which cannot move together"
                } else {
                    "mm_protect of part of it or mm_lock gave pages a state of their own, which moving it \
                     (a new mapping and a copy, on this platform) would drop"
                };
                Error::os(
                    call,
                    libc::EBUSY,
                    format_args!(
                        "cannot grow the region from {old_len} to {new_len} bytes: the addresses right after \
                         it are in use, so it cannot grow in place, and it cannot move: {why}; unmap it and map \
                         it again at the new size, or first undo the split (mm_protect, mm_unlock or mm_advise \
                         of the whole region)"
                    ),
                )
            }
            Some(libc::EAGAIN) => match sys::memlock_limit() {
                Some(limit) => Error::os(
                    call,
                    libc::EAGAIN,
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
                    libc::EAGAIN,
                    format_args!(
                        "growing the region from {old_len} to {new_len} bytes: the kernel could not lock the \
                         pages a grow adds to locked pages (mm_lock)"
                    ),
                ),
            },
            _ => {
                let why = match e.raw_os_error() {
                    Some(libc::EFAULT) => " (pages of the region are not accessible)",
                    _ => "",
                };
                // A failed resize leaves the mapping as it was.
                let old_map_len = self.map.as_ref().map_or(0, Mapping::len);
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
    /// region was mapped with `MM_CREATE`.
    fn reopen(&self, call: &'static str, end: u64) -> Result<File> {
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
        let file = sys::open_path(
            path,
            None,
            read_write,
            false,
            libc::O_NONBLOCK | libc::O_NOCTTY,
        )
        .map_err(|e| Error::Os {
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
                libc::ESTALE,
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
        }
        Ok(file)
    }
}

/// [`Region::lock`] of a region with locked parts already: the parts of
/// the range locked now are found first (asking the kernel), so that a
/// failure unlocks only what this call locked.
#[inline(never)]
fn lock_keeping(call: &'static str, map: &Mapping, s: usize, l: usize) -> Result<()> {
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
fn lock_failed(
    call: &'static str,
    map: &Mapping,
    s: usize,
    l: usize,
    keep: Option<&LockedRuns>,
    e: io::Error,
) -> Error {
    // Read before unlocking, which may merge kernel mappings again.
    let why = if e.raw_os_error() == Some(libc::ENOMEM) {
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

fn lock_error(call: &'static str, bytes: usize, e: io::Error, why: Option<sys::NoMemory>) -> Error {
    let errno = e.raw_os_error();
    // ENOMEM (Linux, BSD) and EAGAIN (BSD: a system-wide limit) for limits,
    // EPERM for a missing privilege.
    if !matches!(errno, Some(libc::ENOMEM | libc::EAGAIN | libc::EPERM)) {
        return Error::Os {
            call,
            msg: msg!("mlock({bytes} bytes)"),
            source: e,
        };
    }
    if !sys::HAS_MEMLOCK_RLIMIT {
        return Error::Os {
            call,
            msg: msg!(
                "mlock({bytes} bytes) refused: locking memory needs {}",
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
    if errno != Some(libc::EPERM) && within_limit {
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
    let locked = Locked(locked);
    Error::Os {
        call,
        msg: msg!(
            "mlock({bytes} bytes) refused: RLIMIT_MEMLOCK is {limit}{locked}; raise it (ulimit -l) or run with {}",
            sys::LOCK_PRIVILEGE
        ),
        source: e,
    }
}

/// A limit for messages: "N bytes", or "unlimited".
struct Bytes(Option<u64>);

impl std::fmt::Display for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(l) => write!(f, "{l} bytes"),
            None => f.write_str("unlimited"),
        }
    }
}

/// The bytes this process has locked, for messages (nothing when unknown).
struct Locked(Option<u64>);

impl std::fmt::Display for Locked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(b) => write!(f, ", {b} bytes already locked by this process (VmLck)"),
            None => Ok(()),
        }
    }
}

/// fsync the directory a new file was made in, so its entry is durable.
fn sync_parent_dir(call: &'static str, dir: &sys::Dir, path: &Path) -> Result<()> {
    match dir.sync() {
        // Some file systems cannot fsync a directory; the entry is as durable as they allow.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(()),
        r => r,
    }
    .map_err(|e| Error::Os {
        call,
        msg: msg!(
            "fsync of the directory of {} to make the new file durable",
            describe(path)
        ),
        source: e,
    })
}

/// Remove the file this call created as `name` in `dir`, if that entry is
/// still this file: never one that took its place meanwhile.
fn remove_created(dir: &sys::Dir, name: &CStr, file: &File) {
    let (Ok(ours), Ok(there)) = (sys::fstat(file.as_fd()), dir.stat_at(name)) else {
        return;
    };
    if (ours.dev, ours.ino) == (there.dev, there.ino) {
        let _ = dir.unlink(name);
    }
}

/// A path split into its directory and its last component, the name that
/// `MM_CREATE` creates or looks at; `None` when it has none (empty, or ends
/// in `/`, `.` or `..`). The directory is `None` for a name alone: the
/// current directory (or, for a link's target, the link's own).
fn split_name(p: &[u8]) -> Option<(Option<&[u8]>, &[u8])> {
    let (dir, name) = match p.iter().rposition(|&b| b == b'/') {
        Some(0) => (Some(&p[..1]), &p[1..]),
        Some(i) => (Some(&p[..i]), &p[i + 1..]),
        None => (None, p),
    };
    if name.is_empty() || name == b"." || name == b".." {
        return None;
    }
    Some((dir, name))
}

/// Open the directory `dir` (`None`: ".") relative to `at`, for `path`.
fn open_dir(
    call: &'static str,
    path: &Path,
    at: Option<&sys::Dir>,
    dir: Option<&[u8]>,
) -> Result<sys::Dir> {
    let dir = dir.unwrap_or(b".");
    sys::CPath::new(dir)
        .and_then(|c| sys::Dir::open(at, c.as_cstr()))
        .map_err(|e| Error::Os {
            call,
            msg: msg!(
                "open({}, O_DIRECTORY), the directory of {}",
                show(dir),
                describe(path)
            ),
            source: e,
        })
}

/// Bytes of a path, quoted as [`describe`] quotes a path.
fn show(bytes: &[u8]) -> Quoted<'_> {
    describe(Path::new(OsStr::from_bytes(bytes)))
}

/// `path`, and the link target it led to if any.
fn here<'a>(path: &'a Path, via: &'a Option<Vec<u8>>) -> Here<'a> {
    Here(path, via)
}

/// [`here`], formatted only when a message is.
struct Here<'a>(&'a Path, &'a Option<Vec<u8>>);

impl std::fmt::Display for Here<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.1 {
            None => write!(f, "{}", describe(self.0)),
            Some(t) => write!(f, "{} (through the link to {})", describe(self.0), show(t)),
        }
    }
}

/// `EPERM`: a link (or file) in a sticky directory that others may write,
/// owned by neither the caller nor the directory's owner.
#[cold]
fn foreign(
    call: &'static str,
    path: &Path,
    via: &Option<Vec<u8>>,
    link: bool,
    owner: u32,
    dir: &sys::Stat,
    euid: u32,
) -> Error {
    let subject = Subject(path, via);
    let (what, rule) = if link {
        (
            "a symbolic link",
            "follows such a link only when the caller or the directory's owner owns it \
             (the kernel's protected_symlinks rule)",
        )
    } else {
        (
            "an existing file",
            "accepts such a file only when the caller or the directory's owner owns it \
             (the kernel's protected_regular rule): its owner could read and change the mapping",
        )
    };
    let by = if dir.perm & libc::S_IWOTH != 0 {
        "world"
    } else {
        "group"
    };
    Error::os(
        call,
        libc::EPERM,
        format_args!(
            "{subject} {what} owned by uid {owner} in a sticky {by}-writable directory \
             (mode {:o}, owner uid {}); MM_CREATE {rule}; the caller is uid {euid}: \
             use MM_EXCL or a private directory",
            dir.perm, dir.uid
        ),
    )
}

/// [`foreign`]'s subject: the path, and the link target it led to if any.
struct Subject<'a>(&'a Path, &'a Option<Vec<u8>>);

impl std::fmt::Display for Subject<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.1 {
            None => write!(f, "{} is", describe(self.0)),
            Some(t) => write!(f, "{} leads to {}, which is", describe(self.0), show(t)),
        }
    }
}

/// `ELOOP`: `path` is (or leads through) a symbolic link whose target does
/// not exist, which `MM_CREATE` never creates.
#[cold]
fn dangling(call: &'static str, path: &Path, via: &Option<Vec<u8>>) -> Error {
    Error::os(
        call,
        libc::ELOOP,
        format_args!(
            "{} is a symbolic link to a file that does not exist; MM_CREATE does not create \
             files through links: use MM_EXCL or a private directory to create a new file",
            here(path, via)
        ),
    )
}

/// The error of [`Region::open_existing`]'s open, as it is.
#[cold]
fn open_failed(
    call: &'static str,
    path: &Path,
    via: &Option<Vec<u8>>,
    how: OpenAt,
    e: io::Error,
) -> Error {
    let flags = if how == OpenAt::NewOrExisting {
        "O_RDWR|O_CREAT|O_NOFOLLOW, 0600"
    } else {
        "O_RDWR|O_NOFOLLOW"
    };
    Error::Os {
        call,
        msg: msg!("open({}, {flags})", here(path, via)),
        source: e,
    }
}

#[cfg(test)]
mod create_path_tests {
    use super::*;

    #[test]
    fn names_split_off_their_directory() {
        type Split<'a> = Option<(Option<&'a [u8]>, &'a [u8])>;
        let cases: [(&[u8], Split); 11] = [
            (b"f", Some((None, b"f"))),
            (b"d/f", Some((Some(b"d"), b"f"))),
            (b"/f", Some((Some(b"/"), b"f"))),
            (b"//f", Some((Some(b"/"), b"f"))),
            (b"a/b/c", Some((Some(b"a/b"), b"c"))),
            (b"d/..f", Some((Some(b"d"), b"..f"))),
            (b"", None),
            (b"d/", None),
            (b".", None),
            (b"d/..", None),
            (b"/", None),
        ];
        for (path, want) in cases {
            assert_eq!(split_name(path), want, "{:?}", OsStr::from_bytes(path));
        }
    }
}

// Both test the run-time decision, which a build without MAP_ANONYMOUS never makes.
/// The quick paths against the full ones; these run in every build (the
/// portable one has no `MAP_ANONYMOUS`, so its quick anonymous path is never taken).
#[cfg(test)]
mod quick_path_tests {
    use super::*;

    const RW_SHARED: Flags = Flags::READ.union(Flags::WRITE).union(Flags::SHARED);

    /// Every flag word made of known bits, and a few with unknown ones.
    fn every_flag_word() -> impl Iterator<Item = u32> {
        let known = Flags::from_bits(u32::MAX).unwrap_err() ^ u32::MAX;
        (0..=known)
            .filter(move |b| b & !known == 0)
            .chain([1 << 31, (1 << 20) | 3, u32::MAX])
    }

    #[test]
    fn the_quick_flag_check_decides_as_the_full_one() {
        let mut accepted = 0;
        for bits in every_flag_word() {
            for file in [false, true] {
                let quick = check_flags("t", bits, file);
                let full = check_flags_fully("t", bits, file);
                match (quick, full) {
                    (Ok(q), Ok(f)) => {
                        accepted += 1;
                        assert_eq!(q.flags, f.flags, "{bits:#x} file={file}");
                        assert_eq!(q.spec, f.spec, "{bits:#x} file={file}");
                    }
                    (Err(q), Err(f)) => {
                        assert_eq!(q.to_string(), f.to_string(), "{bits:#x} file={file}");
                        assert_eq!(q.errno(), libc::EINVAL);
                    }
                    (q, f) => panic!(
                        "{bits:#x} file={file}: quick {:?}, full {:?}",
                        q.is_ok(),
                        f.is_ok()
                    ),
                }
            }
        }
        // Both kinds of outcome were seen (the loop did not pass vacuously).
        assert!(accepted > 100, "{accepted}");
    }

    #[test]
    fn the_plain_anonymous_path_maps_what_the_full_one_maps() {
        let mut plain = 0;
        for bits in every_flag_word() {
            let Ok(flags) = Flags::from_bits(bits) else {
                continue;
            };
            let Some(spec) = plain_anon_spec(flags) else {
                continue;
            };
            plain += 1;
            let checked = check_flags("t", bits, false).expect("plain flags are valid");
            assert_eq!(spec, checked.spec, "{flags}");
            assert!(!flags.intersects(Flags::HUGEPAGES | Flags::POPULATE | Flags::DEVZERO));
            for len in [1, 4096, 3 * 4096 + 5] {
                let quick = Region::anon(len, flags).unwrap();
                let full = Region::anon_with(len, flags, sys::map_anonymous).unwrap();
                assert_eq!(quick.flags(), full.flags(), "{flags} len {len}");
                assert_eq!(quick.len(), len);
                // SAFETY: our own fresh readable region.
                assert!(unsafe { quick.as_slice() }.iter().all(|&b| b == 0));
            }
        }
        if sys::HAS_MAP_ANONYMOUS {
            assert!(plain >= 12, "{plain}");
        } else {
            // Without MAP_ANONYMOUS every request goes the /dev/zero way.
            assert_eq!(plain, 0);
        }
        assert!(plain_anon_spec(RW_SHARED | Flags::POPULATE).is_none());
        assert!(plain_anon_spec(RW_SHARED | Flags::HUGEPAGES).is_none());
        assert!(plain_anon_spec(RW_SHARED | Flags::DEVZERO).is_none());
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_failed_mmap_on_the_plain_path_is_reported_by_the_full_one() {
        // Larger than any address space: mmap itself refuses it (ENOMEM),
        // after the length checks have passed.
        let len = 1usize << 62;
        let e = Region::anon(len, RW_SHARED).unwrap_err();
        assert_eq!(e.errno(), libc::ENOMEM, "{e}");
        let text = e.to_string();
        let how = if sys::HAS_MAP_ANONYMOUS {
            "MAP_ANONYMOUS"
        } else {
            "/dev/zero"
        };
        assert!(
            text.contains(&format!("mmap({how}) of {len} bytes")),
            "{text}"
        );
    }
}

#[cfg(all(test, mmkit_map_anonymous))]
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
