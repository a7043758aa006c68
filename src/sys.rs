//! The platform backend: the only module that talks to the kernel.
//!
//! Everything target-specific is here, selected by the `mmkit_*` cfgs that
//! `build.rs` derives from `CARGO_CFG_TARGET_OS`. The rest of the crate sees
//! one small interface: [`Mapping`] (an owned `mmap` that is unmapped on drop)
//! and a handful of functions for anonymous, file and descriptor work.

use std::ffi::{c_void, CStr};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Result of a system call wrapper: the raw OS error on failure.
pub(crate) type SysResult<T> = std::result::Result<T, io::Error>;

fn last_os_error() -> io::Error {
    io::Error::last_os_error()
}

/// The system page size, queried once.
pub(crate) fn page_size() -> usize {
    static PAGE: AtomicUsize = AtomicUsize::new(0);
    match PAGE.load(Ordering::Relaxed) {
        0 => {
            // SAFETY: sysconf has no memory-safety preconditions.
            let raw = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
            let page = if raw > 0 { raw as usize } else { 4096 };
            PAGE.store(page, Ordering::Relaxed);
            page
        }
        page => page,
    }
}

/// `n` rounded up to a multiple of `align` (a power of two), or `None` on overflow.
pub(crate) fn round_up(n: usize, align: usize) -> Option<usize> {
    n.checked_add(align - 1).map(|v| v & !(align - 1))
}

/// `n` rounded down to a multiple of `align` (a power of two).
pub(crate) fn round_down(n: usize, align: usize) -> usize {
    n & !(align - 1)
}

/// How a mapping shares its writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Share {
    Shared,
    Private,
}

/// What the backend is asked to map: protection and options, already validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MapSpec {
    /// `PROT_*` bits.
    pub prot: i32,
    pub share: Share,
    /// Ask for `MAP_NORESERVE` where the platform has it.
    #[cfg_attr(not(mmkit_map_noreserve), allow(dead_code))]
    pub noreserve: bool,
    /// Ask for `MAP_POPULATE` where the platform has it (a hint; see [`populate`]).
    #[cfg_attr(not(mmkit_map_populate), allow(dead_code))]
    pub populate: bool,
}

impl MapSpec {
    #[inline]
    fn mmap_flags(&self) -> i32 {
        #[cfg_attr(not(any(mmkit_map_noreserve, mmkit_map_populate)), allow(unused_mut))]
        let mut flags = match self.share {
            Share::Shared => libc::MAP_SHARED,
            Share::Private => libc::MAP_PRIVATE,
        };
        #[cfg(mmkit_map_noreserve)]
        if self.noreserve {
            flags |= libc::MAP_NORESERVE;
        }
        // MAP_POPULATE only where MADV_POPULATE_* is missing: otherwise
        // populate() prefaults once, after huge page advice, and reports failure.
        #[cfg(mmkit_map_populate)]
        if self.populate && !madv_populate_supported() {
            flags |= libc::MAP_POPULATE;
        }
        flags
    }
}

/// Whether `MAP_NORESERVE` means anything on this target.
pub(crate) const HAS_NORESERVE: bool = cfg!(mmkit_map_noreserve);

/// An owned memory mapping: `len` bytes (a page multiple) at `ptr`, unmapped on drop.
#[derive(Debug)]
pub(crate) struct Mapping {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: a Mapping is a plain address range owned by this value; the kernel
// calls made on it (msync, mlock, madvise, mprotect) are thread-safe.
unsafe impl Send for Mapping {}
// SAFETY: as above; shared references only issue thread-safe system calls.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// `mmap` with the given spec; `fd` is `None` for `MAP_ANONYMOUS`.
    #[inline(always)]
    fn map(
        len: usize,
        spec: &MapSpec,
        extra: i32,
        fd: Option<BorrowedFd<'_>>,
        offset: u64,
    ) -> SysResult<Mapping> {
        let offset = libc::off_t::try_from(offset)
            .map_err(|_| io::Error::from_raw_os_error(libc::EOVERFLOW))?;
        let raw_fd = fd.map_or(-1, |f| f.as_raw_fd());
        // SAFETY: a NULL hint lets the kernel choose a fresh range, so no existing
        // memory is replaced; the result is checked against MAP_FAILED.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                spec.prot,
                spec.mmap_flags() | extra,
                raw_fd,
                offset,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(last_os_error());
        }
        Ok(Mapping { ptr: p.cast(), len })
    }

    /// The first byte of the mapping.
    pub(crate) fn ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// The mapped length in bytes (a multiple of the page size in use).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn at(&self, start: usize, len: usize) -> *mut c_void {
        debug_assert!(start.checked_add(len).is_some_and(|e| e <= self.len));
        // SAFETY: callers pass ranges inside the mapping (checked by Region).
        unsafe { self.ptr.add(start).cast() }
    }

    /// `msync` of `[start, start+len)`, page-aligned by the caller.
    pub(crate) fn sync(&self, start: usize, len: usize, flags: i32) -> SysResult<()> {
        // SAFETY: the range lies inside this live mapping.
        cvt(unsafe { libc::msync(self.at(start, len), len, flags) })
    }

    /// `mlock` of `[start, start+len)`.
    pub(crate) fn lock(&self, start: usize, len: usize) -> SysResult<()> {
        // SAFETY: the range lies inside this live mapping.
        cvt(unsafe { libc::mlock(self.at(start, len), len) })
    }

    /// `munlock` of `[start, start+len)`.
    pub(crate) fn unlock(&self, start: usize, len: usize) -> SysResult<()> {
        // SAFETY: the range lies inside this live mapping.
        cvt(unsafe { libc::munlock(self.at(start, len), len) })
    }

    /// `madvise` of `[start, start+len)` with a raw `MADV_*` value.
    pub(crate) fn advise(&self, start: usize, len: usize, advice: i32) -> SysResult<()> {
        // SAFETY: the range lies inside this live mapping; advice never unmaps it.
        cvt(unsafe { libc::madvise(self.at(start, len), len, advice) })
    }

    /// `mprotect` of `[start, start+len)` with raw `PROT_*` bits.
    pub(crate) fn protect(&self, start: usize, len: usize, prot: i32) -> SysResult<()> {
        // SAFETY: the range lies inside this live mapping; changing protection
        // cannot invalidate Rust references because Region hands out none.
        cvt(unsafe { libc::mprotect(self.at(start, len), len, prot) })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: ptr/len describe a mapping this value owns and nobody else unmaps.
        // munmap of a valid range cannot fail; there is nothing to report from drop.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

fn cvt(rc: libc::c_int) -> SysResult<()> {
    if rc == -1 {
        Err(last_os_error())
    } else {
        Ok(())
    }
}

// ---------------------------------------------------------------- anonymous

/// Whether this build can use `MAP_ANONYMOUS` at all.
pub(crate) const HAS_MAP_ANONYMOUS: bool = cfg!(mmkit_map_anonymous);

/// `MAP_ANONYMOUS` memory of `len` bytes (a page multiple).
#[cfg(mmkit_map_anonymous)]
#[inline(always)]
pub(crate) fn map_anonymous(len: usize, spec: &MapSpec) -> SysResult<Mapping> {
    Mapping::map(len, spec, libc::MAP_ANON, None, 0)
}

/// Without `MAP_ANONYMOUS` at build time, every anonymous request is refused
/// here and served by `/dev/zero`.
#[cfg(not(mmkit_map_anonymous))]
pub(crate) fn map_anonymous(_len: usize, _spec: &MapSpec) -> SysResult<Mapping> {
    Err(io::Error::from_raw_os_error(libc::ENOTSUP))
}

/// Whether an error of `MAP_ANONYMOUS` means "not available here, use
/// `/dev/zero`" rather than a real failure such as `ENOMEM`.
pub(crate) fn anonymous_refused(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL | libc::ENODEV | libc::ENOTSUP)
    ) || e.raw_os_error() == Some(libc::EOPNOTSUPP)
}

/// Anonymous memory served by mapping `/dev/zero` (the BSD idiom). The
/// descriptor is `O_CLOEXEC` and closed before returning.
pub(crate) fn map_devzero(len: usize, spec: &MapSpec) -> SysResult<Mapping> {
    let zero = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/zero")?;
    Mapping::map(len, spec, 0, Some(fd_of(&zero)), 0)
}

/// Explicit huge pages (`MAP_HUGETLB`) when the system has enough free ones
/// reserved; `None` when not worth trying or refused (the caller falls back).
#[cfg(mmkit_map_hugetlb)]
pub(crate) fn map_hugetlb(len: usize, spec: &MapSpec) -> Option<Mapping> {
    let (free, size) = hugetlb_free()?;
    let len = round_up(len, size)?;
    if free.checked_mul(size)? < len {
        return None;
    }
    // MAP_NORESERVE with hugetlb defers the reservation to fault time, where a
    // shortage is SIGBUS: never combine them.
    let spec = MapSpec {
        noreserve: false,
        ..*spec
    };
    Mapping::map(len, &spec, libc::MAP_ANON | libc::MAP_HUGETLB, None, 0).ok()
}

#[cfg(not(mmkit_map_hugetlb))]
pub(crate) fn map_hugetlb(_len: usize, _spec: &MapSpec) -> Option<Mapping> {
    None
}

/// Free explicit huge pages and their size, from `/proc/meminfo`.
#[cfg(mmkit_map_hugetlb)]
fn hugetlb_free() -> Option<(usize, usize)> {
    let mut free = None;
    each_line(c"/proc/meminfo", |line| {
        if let Some(rest) = line.strip_prefix(b"HugePages_Free:") {
            free = leading_number(rest);
        }
        free.is_none()
    })?;
    let [size] = proc_kb(c"/proc/meminfo", [b"Hugepagesize:"]);
    let free = usize::try_from(free?).ok()?;
    let size = usize::try_from(size?).ok()?;
    (free > 0).then_some((free, size))
}

/// Transparent huge page advice; `true` when the kernel accepted it.
pub(crate) fn advise_hugepage(m: &Mapping) -> bool {
    #[cfg(mmkit_madv_hugepage)]
    {
        m.advise(0, m.len(), libc::MADV_HUGEPAGE).is_ok()
    }
    #[cfg(not(mmkit_madv_hugepage))]
    {
        let _ = m;
        false
    }
}

/// The raw `MADV_*` value for an advice, or `None` where the platform lacks it.
pub(crate) fn madvise_value(advice: crate::Advice) -> Option<i32> {
    use crate::Advice;
    Some(match advice {
        Advice::Normal => libc::MADV_NORMAL,
        Advice::Random => libc::MADV_RANDOM,
        Advice::Sequential => libc::MADV_SEQUENTIAL,
        Advice::WillNeed => libc::MADV_WILLNEED,
        Advice::DontNeed => libc::MADV_DONTNEED,
        #[cfg(mmkit_madv_hugepage)]
        Advice::HugePage => libc::MADV_HUGEPAGE,
        #[cfg(mmkit_madv_hugepage)]
        Advice::NoHugePage => libc::MADV_NOHUGEPAGE,
        #[cfg(not(mmkit_madv_hugepage))]
        Advice::HugePage | Advice::NoHugePage => return None,
    })
}

#[cfg(mmkit_map_populate)]
const MADV_POPULATE_READ: i32 = 22;
#[cfg(mmkit_map_populate)]
const MADV_POPULATE_WRITE: i32 = 23;

/// Whether the kernel has `MADV_POPULATE_READ/WRITE` (Linux 5.14+), probed
/// once on a scratch page.
#[cfg(mmkit_map_populate)]
fn madv_populate_supported() -> bool {
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

/// What memory a mapping holds, for [`populate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backing {
    /// Anonymous memory (`MAP_ANONYMOUS` or `/dev/zero`): every page exists.
    Anonymous,
    /// A file: a page can be missing (truncated meanwhile), and others may
    /// write the file while we populate.
    File,
    /// A shared memory object this process just made: a page can be missing
    /// (a full `/dev/shm`), nobody else has it yet.
    Object,
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

/// The result of a system call that returns -1 and sets `errno` on failure
/// (a count, a descriptor, 0), `EINTR` retried.
fn retry(mut call: impl FnMut() -> isize) -> SysResult<usize> {
    loop {
        let rc = call();
        if rc >= 0 {
            return Ok(rc as usize);
        }
        let e = last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

// ---------------------------------------------------------------- files

/// Map `len` bytes of `fd` from `offset` (page-aligned by the caller).
pub(crate) fn map_fd(
    fd: BorrowedFd<'_>,
    offset: u64,
    len: usize,
    spec: &MapSpec,
) -> SysResult<Mapping> {
    Mapping::map(len, spec, 0, Some(fd), offset)
}

/// Open `path` for mapping: `O_RDONLY` or `O_RDWR`, plus `O_CREAT|O_EXCL`
/// (mode 0600) when `create_new`, plus `custom` (access-mode bits ignored), plus
/// `O_CLOEXEC`, EINTR retried. `c_path` is the same path as a C string when
/// the caller has one (the C ABI): it is opened as it is.
pub(crate) fn open_path(
    path: &std::path::Path,
    c_path: Option<&CStr>,
    read_write: bool,
    create_new: bool,
    custom: libc::c_int,
) -> SysResult<File> {
    let mut flags = libc::O_CLOEXEC
        | (custom & !libc::O_ACCMODE)
        | if read_write {
            libc::O_RDWR
        } else {
            libc::O_RDONLY
        };
    let mode: libc::c_uint = if create_new {
        flags |= libc::O_CREAT | libc::O_EXCL;
        0o600
    } else {
        0o666
    };
    match c_path {
        Some(c) => open_c(c, flags, mode),
        None => with_c_path(path, |c| open_c(c, flags, mode)),
    }
}

/// Run `f` with `path` as a C string: copied into a stack buffer when it is
/// short (nearly always), else into heap memory asked for fallibly, so a long
/// path on an exhausted heap is `ENOMEM`, not an abort. A path with a NUL
/// byte is `EINVAL`.
pub(crate) fn with_c_path<T>(
    path: &std::path::Path,
    f: impl FnOnce(&CStr) -> SysResult<T>,
) -> SysResult<T> {
    use std::os::unix::ffi::OsStrExt;
    with_c_bytes(path.as_os_str().as_bytes(), f)
}

/// [`with_c_path`] for any bytes.
pub(crate) fn with_c_bytes<T>(bytes: &[u8], f: impl FnOnce(&CStr) -> SysResult<T>) -> SysResult<T> {
    const STACK: usize = 384;
    // SAFETY: memchr reads the bytes.len() bytes of a live slice.
    let nul = unsafe { libc::memchr(bytes.as_ptr().cast(), 0, bytes.len()) };
    if !nul.is_null() {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    if bytes.len() < STACK {
        let mut buf = std::mem::MaybeUninit::<[u8; STACK]>::uninit();
        let p = buf.as_mut_ptr().cast::<u8>();
        // SAFETY: bytes.len() + 1 <= STACK, so the copy and its terminator
        // fit; the bytes hold no NUL (memchr above), so the buffer is one C
        // string.
        let c = unsafe {
            ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
            p.add(bytes.len()).write(0);
            CStr::from_bytes_with_nul_unchecked(std::slice::from_raw_parts(p, bytes.len() + 1))
        };
        return f(c);
    }
    let c = CPath::new(bytes)?;
    f(c.as_cstr())
}

/// `open(2)` of a C string with raw flags, EINTR retried.
pub(crate) fn open_c(path: &CStr, flags: libc::c_int, mode: libc::c_uint) -> SysResult<File> {
    use std::os::fd::FromRawFd;
    // SAFETY: path is a NUL-terminated string; open only reads it.
    let fd = retry(|| unsafe { libc::open(path.as_ptr(), flags, mode) } as isize)?;
    // SAFETY: a fresh descriptor (it fits a c_int: open returned it) that
    // nothing else owns.
    Ok(unsafe { File::from_raw_fd(fd as libc::c_int) })
}

fn fd_of(f: &File) -> BorrowedFd<'_> {
    use std::os::fd::AsFd;
    f.as_fd()
}

/// The access mode of a descriptor (`O_RDONLY`, `O_WRONLY` or `O_RDWR`).
pub(crate) fn access_mode(fd: BorrowedFd<'_>) -> SysResult<i32> {
    // SAFETY: F_GETFL only reads the descriptor's status flags.
    let fl = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    if fl == -1 {
        return Err(last_os_error());
    }
    Ok(fl & libc::O_ACCMODE)
}

/// Allocate the blocks of `[offset, offset+len)`, growing the file to at least
/// `offset + len`, so later stores through a mapping cannot hit a full disk.
pub(crate) fn allocate(fd: BorrowedFd<'_>, offset: u64, len: u64, old_size: u64) -> SysResult<()> {
    let off =
        libc::off_t::try_from(offset).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    let l = libc::off_t::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    // Growing past RLIMIT_FSIZE raises SIGXFSZ, which kills the process by
    // default: refuse with EFBIG before the kernel gets the chance.
    if let Some(limit) = file_size_limit() {
        if offset.saturating_add(len) > limit.max(old_size) {
            return Err(io::Error::from_raw_os_error(libc::EFBIG));
        }
    }
    #[cfg(mmkit_fallocate)]
    {
        // SAFETY: posix_fallocate only acts on the descriptor; it returns the
        // error number instead of setting errno.
        let rc = unsafe { libc::posix_fallocate(fd.as_raw_fd(), off, l) };
        match rc {
            0 => return Ok(()),
            // File systems without allocation (ZFS, some network ones): write zeros below.
            libc::EINVAL | libc::EOPNOTSUPP => {}
            e => return Err(io::Error::from_raw_os_error(e)),
        }
    }
    allocate_by_writing(fd, off, l, old_size)
}

/// Portable allocation: extend the file and write a zero into every block of
/// the new part (never over existing data, which may be in use).
fn allocate_by_writing(
    fd: BorrowedFd<'_>,
    off: libc::off_t,
    len: libc::off_t,
    old_size: u64,
) -> SysResult<()> {
    let end = off
        .checked_add(len)
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EFBIG))?;
    if (end as u64) <= old_size {
        return Ok(());
    }
    // SAFETY: ftruncate only acts on the descriptor.
    cvt(unsafe { libc::ftruncate(fd.as_raw_fd(), end) })?;
    let block = 4096i64.max(page_size() as i64);
    let mut pos = (old_size as i64).max(off);
    pos -= pos % block;
    let zero = 0u8;
    while pos < end {
        let at = pos.max(old_size as i64);
        // SAFETY: writes one byte from a live local to the descriptor.
        let n = unsafe { libc::pwrite(fd.as_raw_fd(), ptr::addr_of!(zero).cast(), 1, at) };
        if n != 1 {
            let e = last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        pos += block;
    }
    Ok(())
}

/// `ftruncate`, used to undo a growth that could not be completed.
pub(crate) fn truncate(fd: BorrowedFd<'_>, size: u64) -> SysResult<()> {
    let size =
        libc::off_t::try_from(size).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    // SAFETY: ftruncate only acts on the descriptor.
    cvt(unsafe { libc::ftruncate(fd.as_raw_fd(), size) })
}

// ---------------------------------------------------------------- limits

/// Whether locked memory is bounded by `RLIMIT_MEMLOCK` here (illumos and
/// Solaris have no such limit: locking needs a privilege instead).
pub(crate) const HAS_MEMLOCK_RLIMIT: bool = cfg!(mmkit_rlimit_memlock);

/// What lets a process lock memory past `RLIMIT_MEMLOCK` (or at all, where
/// there is no such limit), for messages.
pub(crate) const LOCK_PRIVILEGE: &str = if cfg!(mmkit_proc_status) {
    "CAP_IPC_LOCK"
} else if cfg!(mmkit_rlimit_memlock) {
    "root privileges"
} else {
    "the PRIV_PROC_LOCK_MEMORY privilege"
};

/// The soft `RLIMIT_MEMLOCK` in bytes; `None` for unlimited or unknown
/// (illumos has no such limit: locking needs a privilege instead).
#[cfg(not(mmkit_rlimit_memlock))]
pub(crate) fn memlock_limit() -> Option<u64> {
    None
}

/// The soft `RLIMIT_MEMLOCK` in bytes; `None` for unlimited or unknown.
#[cfg(mmkit_rlimit_memlock)]
pub(crate) fn memlock_limit() -> Option<u64> {
    soft_limit(|rl| {
        // SAFETY: getrlimit writes only into the struct we pass.
        unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, rl) }
    })
}

/// The soft limit a `getrlimit` call (`get`) reports; `None` for unlimited
/// or when the call fails. (The resource's type differs between systems, so
/// the caller makes the call.)
fn soft_limit(get: impl FnOnce(&mut libc::rlimit) -> libc::c_int) -> Option<u64> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    if get(&mut rl) != 0 || rl.rlim_cur == libc::RLIM_INFINITY {
        return None;
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is i64 on some BSDs
    Some(rl.rlim_cur as u64)
}

/// The soft `RLIMIT_FSIZE` in bytes; `None` for unlimited or unknown.
pub(crate) fn file_size_limit() -> Option<u64> {
    soft_limit(|rl| {
        // SAFETY: getrlimit writes only into the struct we pass.
        unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, rl) }
    })
}

/// Bytes this process already has locked (`VmLck`), where the system tells.
pub(crate) fn locked_bytes() -> Option<u64> {
    #[cfg(mmkit_proc_status)]
    {
        let [locked] = proc_kb(c"/proc/self/status", [b"VmLck:"]);
        locked
    }
    #[cfg(not(mmkit_proc_status))]
    {
        None
    }
}

// ---------------------------------------------------------------- why ENOMEM

/// What a call that failed with `ENOMEM` was doing, for [`why_no_memory`]:
/// which limits it could have met.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Asked {
    /// A new mapping, or a grow, of this many bytes: one more kernel
    /// mapping, address space (`RLIMIT_AS`) and, for private writable
    /// memory, commit charge (overcommit).
    Map(usize),
    /// A change of protection, which may split a kernel mapping; `commits`
    /// when it makes private memory writable (a commit charge).
    Protect { commits: bool },
    /// A lock of part of a kernel mapping, which splits it.
    Lock,
}

/// The limit an `ENOMEM` likely met, with the values that show it. Its
/// `Display` is a clause for a message ("the process has 65530 mappings and
/// vm.max_map_count is 65530"); it holds numbers only, so it is made and
/// shown without allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NoMemory {
    /// The process's kernel mappings, at or near `vm.max_map_count`.
    MapCount { maps: u64, max: u64 },
    /// `RLIMIT_AS`, which the address space in use (`VmSize`, where known)
    /// plus the bytes asked would pass.
    AddressSpace { limit: u64, used: Option<u64> },
    /// Neither: the overcommit mode (`vm.overcommit_memory`), with RAM +
    /// swap for the heuristic mode (0) and `(CommitLimit, Committed_AS)` for
    /// the strict one (2), where known.
    Overcommit {
        mode: u64,
        ram_swap: Option<u64>,
        commit: Option<(u64, u64)>,
    },
}

impl std::fmt::Display for NoMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            NoMemory::MapCount { maps, max } => write!(
                f,
                "the process has {maps} mappings and vm.max_map_count is {max}"
            ),
            NoMemory::AddressSpace {
                limit,
                used: Some(used),
            } => write!(
                f,
                "RLIMIT_AS is {limit} bytes and the process already uses {used} bytes of address space"
            ),
            NoMemory::AddressSpace { limit, used: None } => write!(f, "RLIMIT_AS is {limit} bytes"),
            NoMemory::Overcommit { mode: 0, ram_swap, .. } => {
                write!(f, "vm.overcommit_memory is 0, heuristic overcommit")?;
                match ram_swap {
                    Some(total) => write!(f, ": no single request may pass RAM + swap, {total} bytes"),
                    None => Ok(()),
                }
            }
            NoMemory::Overcommit { mode: 1, .. } => write!(
                f,
                "vm.overcommit_memory is 1, always overcommit: no commit limit applies"
            ),
            NoMemory::Overcommit { mode: 2, commit, .. } => {
                write!(f, "vm.overcommit_memory is 2, strict overcommit")?;
                match commit {
                    Some((limit, committed)) => write!(
                        f,
                        ": Committed_AS is {committed} bytes of a CommitLimit of {limit} bytes"
                    ),
                    None => Ok(()),
                }
            }
            NoMemory::Overcommit { mode, .. } => write!(f, "vm.overcommit_memory is {mode}"),
        }
    }
}

/// What the failure path could learn about the limits; `None` where
/// unknown (and `as_limit` also when unlimited).
#[derive(Clone, Copy, Debug, Default)]
struct Facts {
    maps: Option<u64>,
    max_maps: Option<u64>,
    as_limit: Option<u64>,
    as_used: Option<u64>,
    overcommit: Option<u64>,
    ram_swap: Option<u64>,
    commit_limit: Option<u64>,
    committed: Option<u64>,
}

/// How close to `vm.max_map_count` counts as "at" it: `mmap` refuses past
/// it, a split at it, `mremap` within 3 of it.
const MAP_COUNT_SLACK: u64 = 3;

/// The limit a call that failed with `ENOMEM` likely met, with its values;
/// `None` when none can be named (nothing known, or the call could not have
/// met those known). In the order the kernel checks them: the map count,
/// `RLIMIT_AS`, then the overcommit mode (named when nothing else is, with
/// what it allows). Only for failure paths: it reads `/proc` (with stack
/// buffers, never the heap, which may be what ran out).
#[cold]
#[inline(never)]
pub(crate) fn why_no_memory(asked: Asked) -> Option<NoMemory> {
    classify(asked, &facts(asked))
}

/// [`why_no_memory`] from given facts.
fn classify(asked: Asked, f: &Facts) -> Option<NoMemory> {
    if let (Some(maps), Some(max)) = (f.maps, f.max_maps) {
        if maps.saturating_add(MAP_COUNT_SLACK) >= max {
            return Some(NoMemory::MapCount { maps, max });
        }
    }
    let bytes = match asked {
        Asked::Map(bytes) => bytes as u64,
        Asked::Protect { commits: true } => return overcommit(f),
        Asked::Protect { commits: false } | Asked::Lock => return None,
    };
    if let Some(limit) = f.as_limit {
        match f.as_used {
            Some(used) if used.saturating_add(bytes) <= limit => {}
            used => return Some(NoMemory::AddressSpace { limit, used }),
        }
    }
    overcommit(f)
}

fn overcommit(f: &Facts) -> Option<NoMemory> {
    let mode = f.overcommit?;
    Some(NoMemory::Overcommit {
        mode,
        ram_swap: if mode == 0 { f.ram_swap } else { None },
        commit: if mode == 2 {
            f.commit_limit.zip(f.committed)
        } else {
            None
        },
    })
}

/// Read what [`classify`] needs for `asked` (the overcommit facts only
/// where the map count does not explain it already).
fn facts(asked: Asked) -> Facts {
    let mut f = Facts::default();
    #[cfg(mmkit_proc_status)]
    {
        f.maps = map_count();
        f.max_maps = proc_number(c"/proc/sys/vm/max_map_count");
        if f.maps
            .zip(f.max_maps)
            .is_some_and(|(n, max)| n.saturating_add(MAP_COUNT_SLACK) >= max)
        {
            return f;
        }
        if matches!(asked, Asked::Lock | Asked::Protect { commits: false }) {
            return f;
        }
        let [used] = proc_kb(c"/proc/self/status", [b"VmSize:"]);
        f.as_used = used;
        f.overcommit = proc_number(c"/proc/sys/vm/overcommit_memory");
        let [total, swap, limit, committed] = proc_kb(
            c"/proc/meminfo",
            [
                b"MemTotal:",
                b"SwapTotal:",
                b"CommitLimit:",
                b"Committed_AS:",
            ],
        );
        f.ram_swap = total.zip(swap).and_then(|(t, s)| t.checked_add(s));
        f.commit_limit = limit;
        f.committed = committed;
    }
    if matches!(asked, Asked::Map(_)) {
        f.as_limit = address_space_limit();
    }
    f
}

/// The soft `RLIMIT_AS` in bytes; `None` for unlimited or unknown.
#[cfg(mmkit_rlimit_as)]
fn address_space_limit() -> Option<u64> {
    soft_limit(|rl| {
        // SAFETY: getrlimit writes only into the struct we pass.
        unsafe { libc::getrlimit(libc::RLIMIT_AS, rl) }
    })
}

#[cfg(not(mmkit_rlimit_as))]
fn address_space_limit() -> Option<u64> {
    None
}

/// The process's kernel mappings: the lines of `/proc/self/maps`, less the
/// `[vsyscall]` page, which the kernel does not count.
#[cfg(mmkit_proc_status)]
fn map_count() -> Option<u64> {
    let mut n = 0u64;
    each_line(c"/proc/self/maps", |line| {
        if !line.is_empty() && !line.ends_with(b" [vsyscall]") {
            n += 1;
        }
        true
    })?;
    Some(n)
}

/// The number a `/proc` file holds (a sysctl).
#[cfg(mmkit_proc_status)]
fn proc_number(path: &CStr) -> Option<u64> {
    let mut value = None;
    each_line(path, |line| {
        value = leading_number(line);
        false
    })?;
    value
}

/// The `KEY: N kB` fields named by `keys` in a `/proc` file, in bytes.
#[cfg(any(mmkit_proc_status, mmkit_map_hugetlb))]
fn proc_kb<const N: usize>(path: &CStr, keys: [&[u8]; N]) -> [Option<u64>; N] {
    let mut found = [None; N];
    let _ = each_line(path, |line| {
        for (key, value) in keys.iter().zip(found.iter_mut()) {
            if let Some(rest) = line.strip_prefix(*key) {
                *value = leading_number(rest).and_then(|kb| kb.checked_mul(1024));
            }
        }
        found.iter().any(Option::is_none)
    });
    found
}

/// Bytes of a line [`each_line`] hands over; the rest of a longer line is
/// skipped (every line read here is shorter, but for long file names).
#[cfg(any(mmkit_proc_status, mmkit_map_hugetlb))]
const LINE: usize = 128;

/// Call `each` with every line of the file at `path` (its first [`LINE`]
/// bytes, without the newline) until it returns `false`; `None` when the
/// file cannot be opened or read. Stack buffers only.
#[cfg(any(mmkit_proc_status, mmkit_map_hugetlb))]
fn each_line(path: &CStr, mut each: impl FnMut(&[u8]) -> bool) -> Option<()> {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: path is NUL-terminated; open only reads it.
    let fd =
        retry(|| unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) } as isize)
            .ok()?;
    // SAFETY: a fresh descriptor (it fits a c_int: open returned it) that
    // nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) };
    let mut buf = [0u8; 4096];
    let mut line = [0u8; LINE];
    let mut kept = 0;
    loop {
        // SAFETY: read writes at most buf.len() bytes into buf.
        let n = retry(|| unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })
            .ok()?;
        if n == 0 {
            if kept > 0 {
                each(&line[..kept]);
            }
            return Some(());
        }
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            let end = rest.iter().position(|&b| b == b'\n');
            let part = &rest[..end.unwrap_or(rest.len())];
            let take = part.len().min(LINE - kept);
            line[kept..kept + take].copy_from_slice(&part[..take]);
            kept += take;
            let Some(end) = end else {
                break;
            };
            if !each(&line[..kept]) {
                return Some(());
            }
            kept = 0;
            rest = &rest[end + 1..];
        }
    }
}

/// The decimal number at the start of `s`, after blanks; `None` without
/// digits or when it does not fit.
#[cfg(any(mmkit_proc_status, mmkit_map_hugetlb))]
fn leading_number(s: &[u8]) -> Option<u64> {
    let s = &s[s.iter().position(|&b| b != b' ' && b != b'\t')?..];
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    s[..digits].iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

// ---------------------------------------------------------------- lock undo

/// Whether a failed `mlock` may leave part of its range locked. Linux
/// marks the range's kernel mappings locked one by one (splitting the first
/// and last), then faults the pages in, and undoes neither when a step fails
/// (the map count, a page past the end of a file).
pub(crate) const MLOCK_MAY_LEAVE_LOCKS: bool = cfg!(mmkit_partial_mlock);

/// The locked parts of a range, in order, at most [`LockedRuns::MAX`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LockedRuns {
    runs: [(usize, usize); LockedRuns::MAX],
    n: usize,
}

impl LockedRuns {
    const MAX: usize = 16;

    /// `(start, len)` of each locked part, in order.
    pub(crate) fn runs(&self) -> &[(usize, usize)] {
        &self.runs[..self.n]
    }

    /// Add a part after the others (joined to the last when they touch);
    /// `None` when there are too many.
    #[cfg_attr(not(mmkit_partial_mlock), allow(dead_code))]
    fn push(&mut self, start: usize, len: usize) -> Option<()> {
        if let Some(last) = self.runs[..self.n].last_mut() {
            if last.0 + last.1 == start {
                last.1 += len;
                return Some(());
            }
        }
        *self.runs.get_mut(self.n)? = (start, len);
        self.n += 1;
        Some(())
    }
}

/// Which parts of `[start, start + len)` of `m` (page-aligned) are locked
/// now, asked of the kernel: `msync(MS_ASYNC|MS_INVALIDATE)` answers
/// `EBUSY` when any kernel mapping in its range is locked and does nothing
/// else (Linux), so halving the range finds each locked part with a few
/// calls per edge. `None` when the kernel cannot tell, or the parts are
/// more than [`LockedRuns`] holds.
#[cfg(mmkit_partial_mlock)]
pub(crate) fn locked_runs(m: &Mapping, start: usize, len: usize) -> Option<LockedRuns> {
    fn find(m: &Mapping, start: usize, len: usize, runs: &mut LockedRuns) -> Option<()> {
        match m.sync(start, len, libc::MS_ASYNC | libc::MS_INVALIDATE) {
            Ok(()) => return Some(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {}
            Err(_) => return None,
        }
        let page = page_size();
        if len <= page {
            return runs.push(start, len);
        }
        let half = round_down(len / 2, page).max(page);
        find(m, start, half, runs)?;
        find(m, start + half, len - half, runs)
    }
    let mut runs = LockedRuns::default();
    find(m, start, len, &mut runs)?;
    Some(runs)
}

/// Where a failed `mlock` cannot have left a lock, nothing is locked for it
/// to keep track of.
#[cfg(not(mmkit_partial_mlock))]
pub(crate) fn locked_runs(_m: &Mapping, _start: usize, _len: usize) -> Option<LockedRuns> {
    None
}

/// `munlock` the pages of `[start, start + len)` of `m` outside `keep`
/// (the parts locked before a failed `mlock`); every gap is tried, the
/// first error returned.
pub(crate) fn unlock_except(
    m: &Mapping,
    start: usize,
    len: usize,
    keep: &LockedRuns,
) -> SysResult<()> {
    let end = start + len;
    let mut at = start;
    let mut result = Ok(());
    let mut gap = |from: usize, to: usize| {
        if to > from {
            if let Err(e) = m.unlock(from, to - from) {
                if result.is_ok() {
                    result = Err(e);
                }
            }
        }
    };
    for &(s, l) in keep.runs() {
        gap(at, s.min(end));
        at = at.max(s + l);
    }
    gap(at, end);
    result
}

/// The `ENOMEM` explanation from given numbers, the stack-buffer `/proc`
/// reading, and the lock bookkeeping of a failed `mm_lock`.
#[cfg(test)]
mod no_memory_tests {
    use super::*;

    const MAX: u64 = 65530;

    fn facts() -> Facts {
        Facts {
            maps: Some(100),
            max_maps: Some(MAX),
            as_limit: None,
            as_used: Some(1 << 30),
            overcommit: Some(0),
            ram_swap: Some(24 << 30),
            commit_limit: Some(12 << 30),
            committed: Some(3 << 30),
        }
    }

    #[test]
    fn the_map_count_is_named_at_or_near_its_limit_whatever_the_call() {
        for maps in [MAX - 3, MAX, MAX + 1] {
            let f = Facts {
                maps: Some(maps),
                ..facts()
            };
            for asked in [
                Asked::Map(4096),
                Asked::Protect { commits: false },
                Asked::Protect { commits: true },
                Asked::Lock,
            ] {
                assert_eq!(
                    classify(asked, &f),
                    Some(NoMemory::MapCount { maps, max: MAX }),
                    "{asked:?}"
                );
            }
        }
        let far = Facts {
            maps: Some(MAX - 4),
            ..facts()
        };
        assert_eq!(classify(Asked::Lock, &far), None);
        assert_eq!(classify(Asked::Protect { commits: false }, &far), None);
        assert_eq!(
            NoMemory::MapCount {
                maps: 65530,
                max: MAX
            }
            .to_string(),
            "the process has 65530 mappings and vm.max_map_count is 65530"
        );
    }

    #[test]
    fn rlimit_as_is_named_when_the_bytes_asked_do_not_fit() {
        let f = Facts {
            as_limit: Some(1000 << 20),
            as_used: Some(900 << 20),
            ..facts()
        };
        let met = NoMemory::AddressSpace {
            limit: 1000 << 20,
            used: Some(900 << 20),
        };
        assert_eq!(classify(Asked::Map(101 << 20), &f), Some(met));
        assert_eq!(
            met.to_string(),
            "RLIMIT_AS is 1048576000 bytes and the process already uses 943718400 bytes of address space"
        );
        // They fit: not the limit; a change of protection never meets it.
        assert!(matches!(
            classify(Asked::Map(100 << 20), &f),
            Some(NoMemory::Overcommit { .. })
        ));
        assert!(matches!(
            classify(Asked::Protect { commits: true }, &f),
            Some(NoMemory::Overcommit { .. })
        ));
        // Where the address space in use cannot be read, the limit is all
        // there is to say.
        let unknown = Facts {
            as_used: None,
            maps: None,
            overcommit: None,
            ..f
        };
        let met = NoMemory::AddressSpace {
            limit: 1000 << 20,
            used: None,
        };
        assert_eq!(classify(Asked::Map(4096), &unknown), Some(met));
        assert_eq!(met.to_string(), "RLIMIT_AS is 1048576000 bytes");
    }

    #[test]
    fn otherwise_the_overcommit_mode_is_named_with_its_numbers() {
        let text = |mode| {
            let f = Facts {
                overcommit: Some(mode),
                ..facts()
            };
            classify(Asked::Map(1 << 40), &f).unwrap().to_string()
        };
        assert_eq!(
            text(0),
            "vm.overcommit_memory is 0, heuristic overcommit: no single request may pass RAM + swap, 25769803776 bytes"
        );
        assert_eq!(
            text(1),
            "vm.overcommit_memory is 1, always overcommit: no commit limit applies"
        );
        assert_eq!(
            text(2),
            "vm.overcommit_memory is 2, strict overcommit: Committed_AS is 3221225472 bytes of a CommitLimit of 12884901888 bytes"
        );
        let bare = Facts {
            ram_swap: None,
            commit_limit: None,
            overcommit: Some(2),
            ..facts()
        };
        assert_eq!(
            classify(Asked::Protect { commits: true }, &bare)
                .unwrap()
                .to_string(),
            "vm.overcommit_memory is 2, strict overcommit"
        );
        // Nothing known: nothing said.
        assert_eq!(classify(Asked::Map(4096), &Facts::default()), None);
    }

    #[cfg(mmkit_proc_status)]
    #[test]
    fn leading_numbers_are_parsed_by_hand() {
        assert_eq!(leading_number(b"65530"), Some(65530));
        assert_eq!(leading_number(b" \t 24683772 kB"), Some(24683772));
        assert_eq!(leading_number(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(leading_number(b"18446744073709551616"), None);
        assert_eq!(leading_number(b""), None);
        assert_eq!(leading_number(b"  kB"), None);
    }

    #[cfg(mmkit_proc_status)]
    #[test]
    fn lines_are_read_in_chunks_with_stack_buffers() {
        // Lines across the 4096-byte reads, one longer than LINE, no final
        // newline.
        let mut text = Vec::new();
        let mut want = Vec::new();
        for i in 0..700 {
            let line = format!("line {i} {}", "x".repeat(i % 150));
            text.extend_from_slice(line.as_bytes());
            want.push(line.as_bytes()[..line.len().min(LINE)].to_vec());
            if i != 699 {
                text.push(b'\n');
            }
        }
        let path = std::env::temp_dir().join(format!("mmkit-lines-{}", std::process::id()));
        std::fs::write(&path, &text).unwrap();
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        let mut seen = Vec::new();
        each_line(&c, |l| {
            seen.push(l.to_vec());
            true
        })
        .unwrap();
        let mut first = 0;
        each_line(&c, |_| {
            first += 1;
            false
        })
        .unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(seen, want);
        assert_eq!(first, 1);
        assert_eq!(each_line(c"/nonexistent/mmkit", |_| true), None);
    }

    #[cfg(mmkit_proc_status)]
    #[test]
    fn the_failure_path_reads_the_real_numbers() {
        let maps = map_count().unwrap();
        let lines = std::fs::read_to_string("/proc/self/maps")
            .unwrap()
            .lines()
            .filter(|l| !l.ends_with(" [vsyscall]"))
            .count() as u64;
        // Other tests map and unmap meanwhile.
        assert!(maps.abs_diff(lines) < 500, "{maps} against {lines}");
        let max: u64 = std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(proc_number(c"/proc/sys/vm/max_map_count"), Some(max));
        let [size, none] = proc_kb(c"/proc/self/status", [b"VmSize:", b"NoSuchField:"]);
        assert!(size.is_some_and(|s| s > 0 && s % 1024 == 0), "{size:?}");
        assert_eq!(none, None);
    }

    /// An anonymous mapping of `pages` pages, pages `locked` of it locked;
    /// `None` when RLIMIT_MEMLOCK refuses.
    #[cfg(mmkit_partial_mlock)]
    fn with_locked(pages: usize, locked: &[usize]) -> Option<Mapping> {
        let page = page_size();
        let m = Mapping::map(pages * page, &tests_spec(), libc::MAP_ANON, None, 0).unwrap();
        for &p in locked {
            if m.lock(p * page, page).is_err() {
                eprintln!("skipped: RLIMIT_MEMLOCK too low");
                return None;
            }
        }
        Some(m)
    }

    #[cfg(mmkit_partial_mlock)]
    fn tests_spec() -> MapSpec {
        MapSpec {
            prot: libc::PROT_READ | libc::PROT_WRITE,
            share: Share::Private,
            noreserve: false,
            populate: false,
        }
    }

    #[cfg(mmkit_partial_mlock)]
    #[test]
    fn the_kernel_tells_which_parts_are_locked() {
        let page = page_size();
        let Some(m) = with_locked(8, &[1, 2, 5, 7]) else {
            return;
        };
        let runs = locked_runs(&m, 0, 8 * page).unwrap();
        assert_eq!(
            runs.runs(),
            [(page, 2 * page), (5 * page, page), (7 * page, page)]
        );
        let runs = locked_runs(&m, 2 * page, 3 * page).unwrap();
        assert_eq!(runs.runs(), [(2 * page, page)]);
        assert_eq!(locked_runs(&m, 3 * page, 2 * page).unwrap().runs(), []);
        // More parts than are kept: not known.
        let every_other: Vec<usize> = (0..2 * LockedRuns::MAX + 2).step_by(2).collect();
        let Some(m) = with_locked(2 * LockedRuns::MAX + 2, &every_other) else {
            return;
        };
        assert_eq!(locked_runs(&m, 0, m.len()), None);
    }

    #[cfg(mmkit_partial_mlock)]
    #[test]
    fn unlocking_all_but_the_earlier_parts_keeps_exactly_them() {
        let page = page_size();
        let Some(m) = with_locked(8, &[0, 2, 3, 7]) else {
            return;
        };
        let keep = locked_runs(&m, page, 6 * page).unwrap();
        assert_eq!(keep.runs(), [(2 * page, 2 * page)]);
        if m.lock(page, 6 * page).is_err() {
            eprintln!("skipped: RLIMIT_MEMLOCK too low");
            return;
        }
        unlock_except(&m, page, 6 * page, &keep).unwrap();
        let now = locked_runs(&m, 0, 8 * page).unwrap();
        assert_eq!(
            now.runs(),
            [(0, page), (2 * page, 2 * page), (7 * page, page)]
        );
        unlock_except(&m, 0, 8 * page, &LockedRuns::default()).unwrap();
        assert_eq!(locked_runs(&m, 0, 8 * page).unwrap().runs(), []);
    }
}

/// What `fstat` says of a descriptor, as far as mapping cares.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stat {
    /// `st_mode & S_IFMT`.
    pub kind: libc::mode_t,
    /// `st_size`.
    pub size: u64,
    /// `st_dev`, `st_ino`: which file this is.
    pub dev: u64,
    pub ino: u64,
    /// `st_mode & 07777`: permission, sticky, set-id bits.
    pub perm: libc::mode_t,
    /// `st_uid`: the owner.
    pub uid: u32,
    /// `st_blocks`: the storage allocated, in 512-byte units.
    pub blocks: u64,
}

/// `fstat` of a descriptor.
pub(crate) fn fstat(fd: BorrowedFd<'_>) -> SysResult<Stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes a whole struct stat into the buffer on success.
    cvt(unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: fstat succeeded, so the struct is initialised.
    Ok(stat_of(&unsafe { st.assume_init() }))
}

fn stat_of(st: &libc::stat) -> Stat {
    Stat {
        kind: st.st_mode & libc::S_IFMT,
        size: st.st_size.max(0) as u64,
        #[allow(clippy::unnecessary_cast)] // dev_t and ino_t differ by platform
        dev: st.st_dev as u64,
        #[allow(clippy::unnecessary_cast)]
        ino: st.st_ino as u64,
        perm: st.st_mode & 0o7777,
        uid: st.st_uid,
        blocks: st.st_blocks.max(0) as u64,
    }
}

/// `fsync` of a descriptor.
pub(crate) fn fsync(fd: BorrowedFd<'_>) -> SysResult<()> {
    // SAFETY: fsync only acts on the descriptor.
    retry(|| unsafe { libc::fsync(fd.as_raw_fd()) } as isize).map(drop)
}

// ---------------------------------------------------------------- MM_CREATE by name

/// A path, or a part of one, as a C string: on the stack when it is short
/// (nearly always), on the heap otherwise.
#[allow(clippy::large_enum_variant)] // the point: no heap for a short path
pub(crate) enum CPath {
    Stack {
        buf: [u8; CPath::STACK],
        len: usize,
    },
    /// The bytes and their NUL, in memory reserved fallibly.
    Heap(Vec<u8>),
}

impl CPath {
    /// As [`open_path`]'s stack buffer.
    const STACK: usize = 384;

    /// `bytes` as a C string. A NUL byte in them is `EINVAL`: the system
    /// would see another, shorter name.
    pub(crate) fn new(bytes: &[u8]) -> SysResult<CPath> {
        if bytes.contains(&0) {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        if bytes.len() < Self::STACK {
            let mut buf = [0u8; Self::STACK];
            buf[..bytes.len()].copy_from_slice(bytes);
            return Ok(CPath::Stack {
                buf,
                len: bytes.len(),
            });
        }
        let mut heap: Vec<u8> = Vec::new();
        heap.try_reserve_exact(bytes.len() + 1)
            .map_err(|_| io::Error::from_raw_os_error(libc::ENOMEM))?;
        // Within the reserved room: no further allocation.
        heap.extend_from_slice(bytes);
        heap.push(0);
        Ok(CPath::Heap(heap))
    }

    pub(crate) fn as_cstr(&self) -> &CStr {
        match self {
            // The buffer holds no NUL before `len` and one at `len` (new).
            CPath::Stack { buf, len } => {
                CStr::from_bytes_with_nul(&buf[..=*len]).unwrap_or_default()
            }
            CPath::Heap(c) => CStr::from_bytes_with_nul(c).unwrap_or_default(),
        }
    }
}

/// The flag that opens a directory to search it (for the `*at` calls)
/// without read permission, where the system has one.
#[cfg(mmkit_o_path)]
const O_SEARCH_ONLY: libc::c_int = libc::O_PATH;
#[cfg(all(mmkit_o_search, not(mmkit_o_path)))]
const O_SEARCH_ONLY: libc::c_int = libc::O_SEARCH;
#[cfg(not(any(mmkit_o_path, mmkit_o_search)))]
const O_SEARCH_ONLY: libc::c_int = 0;

/// How [`Dir::open_file`] opens a name in its directory. All but
/// `Following` refuse a symbolic link there (`O_NOFOLLOW`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OpenAt {
    /// `O_CREAT|O_EXCL`: a new file, mode 0600.
    New,
    /// `O_CREAT`: the file there, or a new one (mode 0600) if there is none.
    NewOrExisting,
    /// The file there; never a new one.
    Existing,
    /// Whatever the name leads to, links followed; never a new file.
    Following,
}

/// A directory opened for the `*at` calls: read-only, or search-only where
/// the caller may search it but not read it.
#[derive(Debug)]
pub(crate) struct Dir {
    file: File,
    readable: bool,
}

impl Dir {
    /// Open the directory `path`, relative to `at` (`None`: the current
    /// directory; an absolute `path` ignores it).
    pub(crate) fn open(at: Option<&Dir>, path: &CStr) -> SysResult<Dir> {
        let flags = libc::O_DIRECTORY | libc::O_CLOEXEC | libc::O_NOCTTY;
        match openat(at, path, flags | libc::O_RDONLY, 0) {
            Err(e) if O_SEARCH_ONLY != 0 && e.raw_os_error() == Some(libc::EACCES) => Ok(Dir {
                file: openat(at, path, flags | O_SEARCH_ONLY, 0)?,
                readable: false,
            }),
            r => r.map(|file| Dir {
                file,
                readable: true,
            }),
        }
    }

    /// `fstat` of the directory itself.
    pub(crate) fn stat(&self) -> SysResult<Stat> {
        fstat(fd_of(&self.file))
    }

    /// `fstatat(AT_SYMLINK_NOFOLLOW)`: the entry `name` itself, a link as a link.
    pub(crate) fn stat_at(&self, name: &CStr) -> SysResult<Stat> {
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: name is NUL-terminated; fstatat writes a whole struct stat
        // into the buffer on success.
        cvt(unsafe {
            libc::fstatat(
                self.file.as_raw_fd(),
                name.as_ptr(),
                st.as_mut_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })?;
        // SAFETY: fstatat succeeded, so the struct is initialised.
        Ok(stat_of(&unsafe { st.assume_init() }))
    }

    /// Open `name` in this directory as `how` says, `O_RDONLY` or `O_RDWR`,
    /// plus `custom` (access-mode bits ignored) and `O_CLOEXEC`; EINTR retried.
    pub(crate) fn open_file(
        &self,
        name: &CStr,
        read_write: bool,
        how: OpenAt,
        custom: libc::c_int,
    ) -> SysResult<File> {
        let flags = libc::O_CLOEXEC
            | (custom & !libc::O_ACCMODE)
            | if read_write {
                libc::O_RDWR
            } else {
                libc::O_RDONLY
            }
            | match how {
                OpenAt::New => libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
                OpenAt::NewOrExisting => libc::O_CREAT | libc::O_NOFOLLOW,
                OpenAt::Existing => libc::O_NOFOLLOW,
                OpenAt::Following => 0,
            };
        openat(Some(self), name, flags, 0o600)
    }

    /// The target of the symbolic link `name`, as it is written.
    pub(crate) fn read_link(&self, name: &CStr) -> SysResult<Vec<u8>> {
        let mut buf: Vec<u8> = Vec::new();
        let mut room = 256;
        loop {
            // Memory asked for fallibly; the resize stays within it.
            buf.try_reserve_exact(room - buf.len())
                .map_err(|_| io::Error::from_raw_os_error(libc::ENOMEM))?;
            buf.resize(room, 0);
            // SAFETY: name is NUL-terminated; readlinkat writes at most
            // buf.len() bytes into buf.
            let n = retry(|| unsafe {
                libc::readlinkat(
                    self.file.as_raw_fd(),
                    name.as_ptr(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                )
            })?;
            if n < buf.len() {
                buf.truncate(n);
                return Ok(buf);
            }
            // Perhaps cut short: ask again with room for more.
            if buf.len() >= 1 << 16 {
                return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
            }
            room = buf.len() * 4;
        }
    }

    /// `unlinkat` of the file `name`.
    pub(crate) fn unlink(&self, name: &CStr) -> SysResult<()> {
        // SAFETY: name is NUL-terminated; unlinkat only reads it.
        cvt(unsafe { libc::unlinkat(self.file.as_raw_fd(), name.as_ptr(), 0) })
    }

    /// `fsync` of the directory, so that an entry made in it is durable.
    pub(crate) fn sync(&self) -> SysResult<()> {
        if self.readable {
            return self.file.sync_all();
        }
        // A search-only descriptor cannot be synced; this needs read
        // permission, as syncing a directory always did.
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
        openat(Some(self), c".", flags, 0)?.sync_all()
    }
}

/// `openat(2)`, EINTR retried; `at == None` is the current directory.
fn openat(
    at: Option<&Dir>,
    path: &CStr,
    flags: libc::c_int,
    mode: libc::c_uint,
) -> SysResult<File> {
    use std::os::fd::FromRawFd;
    let dirfd = at.map_or(libc::AT_FDCWD, |d| d.file.as_raw_fd());
    // SAFETY: path is a NUL-terminated string; openat only reads it.
    let fd = retry(|| unsafe { libc::openat(dirfd, path.as_ptr(), flags, mode) } as isize)?;
    // SAFETY: a fresh descriptor (it fits a c_int: openat returned it) that
    // nothing else owns.
    Ok(unsafe { File::from_raw_fd(fd as libc::c_int) })
}

/// The effective user id: who owns what this process creates.
pub(crate) fn euid() -> u32 {
    // SAFETY: geteuid cannot fail and touches no memory of ours.
    unsafe { libc::geteuid() }
}

// ---------------------------------------------------------------- pseudo-filesystems

/// Whether the file `st` describes may lie on a pseudo-filesystem, so that
/// [`pseudo_fs`] must be asked. Linux's pseudo-filesystems (procfs, sysfs,
/// debugfs, ...: all of `PSEUDO_MAGIC`) allocate no storage for their
/// files, so a file with blocks is on a real one and the common mapping path
/// is spared the `fstatfs`. Elsewhere: always.
#[inline]
pub(crate) fn may_be_pseudo(st: &Stat) -> bool {
    !cfg!(mmkit_statfs_magic) || st.blocks == 0
}

/// The pseudo-filesystem (procfs, sysfs, ...) that `fd` lies on, by name;
/// `None` for a real filesystem, or where the system cannot tell.
pub(crate) fn pseudo_fs(fd: BorrowedFd<'_>) -> SysResult<Option<&'static str>> {
    match fs_of(fd.as_raw_fd()) {
        // Only a filesystem too big for the structure's fields overflows
        // them: a real one.
        Err(e) if e.raw_os_error() == Some(libc::EOVERFLOW) => Ok(None),
        r => r,
    }
}

/// Pseudo-filesystems by the magic number `fstatfs` reports (Linux's
/// `linux/magic.h`; a test compares them with the libc crate's). Not here:
/// those whose files are made to be mapped (dma-buf, secretmem, hugetlbfs).
#[cfg(any(test, mmkit_statfs_magic))]
const PSEUDO_MAGIC: &[(u32, &str)] = &[
    (0x0000_9fa0, "proc"),
    (0x6265_6572, "sysfs"),
    (0x6462_6720, "debugfs"),
    (0x7472_6163, "tracefs"),
    (0x0027_e0eb, "cgroup"),
    (0x6367_7270, "cgroup2"),
    (0x7363_6673, "securityfs"),
    (0xf97c_ff8c, "selinuxfs"),
    (0x4341_5d53, "smackfs"),
    (0x5a3c_69f0, "apparmorfs"),
    (0xcafe_4a11, "bpf"),
    (0x6165_676c, "pstore"),
    (0x6265_6570, "configfs"),
    (0xde5e_81e4, "efivarfs"),
    (0x6573_5543, "fusectl"),
    (0x4249_4e4d, "binfmt_misc"),
    (0x6e73_6673, "nsfs"),
    (0x0000_1cd1, "devpts"),
    (0x1980_0202, "mqueue"),
    (0x0765_5821, "resctrl"),
    (0x0000_9fa1, "openpromfs"),
    (0x0000_9fa2, "usbdevfs"),
    (0xabba_1974, "xenfs"),
    (0x6c6f_6f70, "binder"),
    (0x6759_6969, "rpc_pipefs"),
    (0x6e66_7364, "nfsd"),
    (0x5049_4446, "pidfs"),
];

/// Pseudo-filesystems by the name `fstatfs`/`fstatvfs` reports: the BSDs and
/// macOS, then illumos and Solaris.
#[cfg(any(
    test,
    mmkit_statfs_typename,
    mmkit_statvfs_typename,
    mmkit_statvfs_basetype
))]
const PSEUDO_NAMES: &[&str] = &[
    "procfs",
    "linprocfs",
    "linsysfs",
    "devfs",
    "fdescfs",
    "fdesc",
    "mqueuefs",
    "kernfs",
    "ptyfs",
    "proc",
    "lxproc",
    "ctfs",
    "objfs",
    "mntfs",
    "sharefs",
    "fd",
    "dev",
];

/// The entry of [`PSEUDO_NAMES`] that the NUL-terminated `raw` names.
#[cfg(any(
    test,
    mmkit_statfs_typename,
    mmkit_statvfs_typename,
    mmkit_statvfs_basetype
))]
fn pseudo_by_name(raw: &[libc::c_char]) -> Option<&'static str> {
    let len = raw.iter().position(|&c| c == 0).unwrap_or(raw.len());
    #[allow(clippy::unnecessary_cast)] // c_char is i8 or u8 by platform
    PSEUDO_NAMES
        .iter()
        .copied()
        .find(|n| n.len() == len && n.bytes().zip(raw).all(|(a, &b)| a == b as u8))
}

#[cfg(mmkit_statfs_magic)]
fn fs_of(fd: libc::c_int) -> SysResult<Option<&'static str>> {
    let mut sf = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: fstatfs writes a whole struct statfs into the buffer on success.
    retry(|| unsafe { libc::fstatfs(fd, sf.as_mut_ptr()) } as isize)?;
    // SAFETY: fstatfs succeeded, so the struct is initialised.
    let sf = unsafe { sf.assume_init() };
    #[allow(clippy::unnecessary_cast)] // f_type is i32, i64, u32 or u64 by platform
    let magic = sf.f_type as u32;
    Ok(PSEUDO_MAGIC
        .iter()
        .find(|&&(m, _)| m == magic)
        .map(|&(_, name)| name))
}

#[cfg(mmkit_statfs_typename)]
fn fs_of(fd: libc::c_int) -> SysResult<Option<&'static str>> {
    let mut sf = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: fstatfs writes a whole struct statfs into the buffer on success.
    retry(|| unsafe { libc::fstatfs(fd, sf.as_mut_ptr()) } as isize)?;
    // SAFETY: fstatfs succeeded, so the struct is initialised.
    let sf = unsafe { sf.assume_init() };
    Ok(pseudo_by_name(&sf.f_fstypename))
}

#[cfg(mmkit_statvfs_typename)]
fn fs_of(fd: libc::c_int) -> SysResult<Option<&'static str>> {
    let mut sf = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: fstatvfs writes a whole struct statvfs into the buffer on success.
    retry(|| unsafe { libc::fstatvfs(fd, sf.as_mut_ptr()) } as isize)?;
    // SAFETY: fstatvfs succeeded, so the struct is initialised.
    let sf = unsafe { sf.assume_init() };
    Ok(pseudo_by_name(&sf.f_fstypename))
}

#[cfg(mmkit_statvfs_basetype)]
fn fs_of(fd: libc::c_int) -> SysResult<Option<&'static str>> {
    let mut sf = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: fstatvfs writes a whole struct statvfs into the buffer on success.
    retry(|| unsafe { libc::fstatvfs(fd, sf.as_mut_ptr()) } as isize)?;
    // SAFETY: fstatvfs succeeded, so the struct is initialised.
    let sf = unsafe { sf.assume_init() };
    Ok(pseudo_by_name(&sf.f_basetype))
}

#[cfg(not(any(
    mmkit_statfs_magic,
    mmkit_statfs_typename,
    mmkit_statvfs_typename,
    mmkit_statvfs_basetype
)))]
fn fs_of(_fd: libc::c_int) -> SysResult<Option<&'static str>> {
    Ok(None)
}

#[cfg(test)]
mod create_and_pseudo_fs_tests {
    use super::*;

    #[test]
    fn the_magic_numbers_are_the_libc_crates() {
        // The ones the libc crate has; the others are from linux/magic.h.
        #[allow(clippy::unnecessary_cast)]
        let known = [
            (libc::PROC_SUPER_MAGIC as u32, "proc"),
            (libc::SYSFS_MAGIC as u32, "sysfs"),
            (libc::DEBUGFS_MAGIC as u32, "debugfs"),
            (libc::TRACEFS_MAGIC as u32, "tracefs"),
            (libc::CGROUP_SUPER_MAGIC as u32, "cgroup"),
            (libc::CGROUP2_SUPER_MAGIC as u32, "cgroup2"),
            (libc::SECURITYFS_MAGIC as u32, "securityfs"),
            (libc::SELINUX_MAGIC as u32, "selinuxfs"),
            (libc::SMACK_MAGIC as u32, "smackfs"),
            (libc::BPF_FS_MAGIC as u32, "bpf"),
            (libc::NSFS_MAGIC as u32, "nsfs"),
            (libc::DEVPTS_SUPER_MAGIC as u32, "devpts"),
            (libc::RDTGROUP_SUPER_MAGIC as u32, "resctrl"),
            (libc::OPENPROM_SUPER_MAGIC as u32, "openpromfs"),
            (libc::USBDEVICE_SUPER_MAGIC as u32, "usbdevfs"),
            (libc::XENFS_SUPER_MAGIC as u32, "xenfs"),
        ];
        for (magic, name) in known {
            assert!(PSEUDO_MAGIC.contains(&(magic, name)), "{name} {magic:#x}");
        }
        #[allow(clippy::unnecessary_cast)]
        for real in [
            libc::TMPFS_MAGIC,
            libc::EXT4_SUPER_MAGIC,
            libc::HUGETLBFS_MAGIC,
        ] {
            assert!(PSEUDO_MAGIC.iter().all(|&(m, _)| m != real as u32));
        }
    }

    #[test]
    fn names_match_whole_and_up_to_the_nul() {
        fn raw(s: &str) -> [libc::c_char; 16] {
            let mut r = [0; 16];
            for (d, b) in r.iter_mut().zip(s.bytes()) {
                *d = b as libc::c_char;
            }
            r
        }
        assert_eq!(pseudo_by_name(&raw("procfs")), Some("procfs"));
        assert_eq!(pseudo_by_name(&raw("fd")), Some("fd"));
        assert_eq!(pseudo_by_name(&raw("ufs")), None);
        assert_eq!(pseudo_by_name(&raw("procfsx")), None);
        assert_eq!(pseudo_by_name(&raw("proc")), Some("proc"));
        assert_eq!(pseudo_by_name(&raw("")), None);
        // No NUL at all: the whole array is the name.
        assert_eq!(pseudo_by_name(&raw("0123456789abcdef")), None);
    }

    #[cfg(mmkit_statfs_magic)]
    #[test]
    fn proc_and_sys_are_pseudo_and_temp_is_not() {
        let proc = File::open("/proc/self/status").unwrap();
        assert_eq!(pseudo_fs(fd_of(&proc)).unwrap(), Some("proc"));
        assert!(may_be_pseudo(&fstat(fd_of(&proc)).unwrap()));
        if let Ok(sys) = File::open("/sys/devices/system/cpu/online") {
            assert_eq!(pseudo_fs(fd_of(&sys)).unwrap(), Some("sysfs"));
        }
        let tmp = File::open(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(pseudo_fs(fd_of(&tmp)).unwrap(), None);
        // A file with data has blocks: the filesystem need not be asked.
        assert!(!may_be_pseudo(&fstat(fd_of(&tmp)).unwrap()));
    }

    #[test]
    fn c_paths_short_and_long() {
        let short = CPath::new(b"abc").unwrap();
        assert_eq!(short.as_cstr().to_bytes(), b"abc");
        assert!(matches!(short, CPath::Stack { .. }));
        let long = vec![b'x'; 5000];
        let c = CPath::new(&long).unwrap();
        assert_eq!(c.as_cstr().to_bytes(), &long[..]);
        let edge = vec![b'y'; CPath::STACK - 1];
        assert_eq!(CPath::new(&edge).unwrap().as_cstr().to_bytes(), &edge[..]);
        assert_eq!(
            CPath::new(b"a\0b").err().and_then(|e| e.raw_os_error()),
            Some(libc::EINVAL)
        );
    }
}

// ---------------------------------------------------------------- fault-safe copies

/// Which way a fault-safe copy goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// From the mapping into the caller's buffer.
    Read,
    /// From the caller's buffer into the mapping.
    Write,
}

/// Copy `n` bytes between `mapped` (inside a mapping) and `buf` without ever
/// raising a signal: where a plain load or store would be `SIGBUS` (file
/// truncated) or `SIGSEGV` (no access), the kernel does the copy and answers
/// `EFAULT`. Linux: `process_vm_readv` / `process_vm_writev` on this process.
/// Elsewhere (and where those are refused): through a pipe, since `write(2)`
/// from and `read(2)` into a faulting address also fail with `EFAULT`.
pub(crate) fn copy_checked(
    dir: Direction,
    mapped: *mut u8,
    buf: *mut u8,
    n: usize,
) -> SysResult<()> {
    #[cfg(mmkit_process_vm)]
    match copy_process_vm(dir, mapped, buf, n) {
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {}
        r => return r,
    }
    copy_via_pipe(dir, mapped, buf, n)
}

#[cfg(mmkit_process_vm)]
fn copy_process_vm(dir: Direction, mapped: *mut u8, buf: *mut u8, n: usize) -> SysResult<()> {
    let mut done = 0;
    while done < n {
        // SAFETY (for the two adds): done < n, inside both ranges.
        let local = libc::iovec {
            iov_base: unsafe { buf.add(done) }.cast(),
            iov_len: n - done,
        };
        let remote = libc::iovec {
            iov_base: unsafe { mapped.add(done) }.cast(),
            iov_len: n - done,
        };
        // SAFETY: the kernel reads/writes only the iovec ranges, which lie in
        // this process's buffer and mapping, and reports faults as EFAULT.
        let rc = unsafe {
            let pid = libc::getpid();
            match dir {
                Direction::Read => libc::process_vm_readv(pid, &local, 1, &remote, 1, 0),
                Direction::Write => libc::process_vm_writev(pid, &local, 1, &remote, 1, 0),
            }
        };
        match rc {
            -1 => {
                let e = last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            // A partial copy stops at the faulting page; no progress is a fault.
            0 => return Err(io::Error::from_raw_os_error(libc::EFAULT)),
            k => done += k as usize,
        }
    }
    Ok(())
}

/// A pipe whose two ends are close-on-exec from the start where the platform
/// has `pipe2` (no thread that forks and execs meanwhile can inherit them).
fn cloexec_pipe() -> SysResult<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    #[cfg(mmkit_pipe2)]
    // SAFETY: fds has room for the two descriptors pipe2 returns.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    #[cfg(not(mmkit_pipe2))]
    // SAFETY: fds has room for the two descriptors pipe returns.
    cvt(unsafe { libc::pipe(fds.as_mut_ptr()) })?;
    // SAFETY: both descriptors were just created and are owned from here on.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    #[cfg(not(mmkit_pipe2))]
    for fd in [&rd, &wr] {
        // SAFETY: fcntl on a descriptor we own. Without pipe2 there is a
        // window before this in which an exec'ing thread inherits the pipe.
        cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) })?;
    }
    Ok((rd, wr))
}

/// What a `read`/`write` on the copy pipe did: `Some(bytes)`, `None` when
/// interrupted (try again), `EFAULT` when nothing moved (a fault stopped it).
fn pipe_io(rc: isize) -> SysResult<Option<usize>> {
    match rc {
        0 => Err(io::Error::from_raw_os_error(libc::EFAULT)),
        n if n > 0 => Ok(Some(n as usize)),
        _ => {
            let e = last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

fn copy_via_pipe(dir: Direction, mapped: *mut u8, buf: *mut u8, n: usize) -> SysResult<()> {
    let (from, to) = match dir {
        Direction::Read => (mapped.cast_const(), buf),
        Direction::Write => (buf.cast_const(), mapped),
    };
    let (rd, wr) = cloexec_pipe()?;
    // SAFETY: fcntl on a descriptor we own: the write end non-blocking, so a
    // small pipe never hangs us.
    cvt(unsafe { libc::fcntl(wr.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) })?;
    let mut done = 0;
    while done < n {
        let chunk = (n - done).min(64 * 1024);
        // SAFETY: reads at most `chunk` bytes inside the source range; a
        // fault there is reported as EFAULT by the kernel.
        let w = unsafe { libc::write(wr.as_raw_fd(), from.add(done).cast(), chunk) };
        let Some(w) = pipe_io(w)? else { continue };
        let mut got = 0;
        while got < w {
            // SAFETY: writes at most the bytes just queued into the target
            // range; a fault there is reported as EFAULT by the kernel.
            let r = unsafe { libc::read(rd.as_raw_fd(), to.add(done + got).cast(), w - got) };
            let Some(r) = pipe_io(r)? else { continue };
            got += r;
        }
        done += got;
    }
    Ok(())
}

// ---------------------------------------------------------------- shareable memory

/// An anonymous shared-memory object no name refers to, ever, where the
/// platform allows: `memfd_create` on Linux (sealable); an `O_TMPFILE` file on
/// `/dev/shm` (Linux without memfd); `shm_open(SHM_ANON)` (FreeBSD). Elsewhere
/// `shm_open` under a random name, unlinked at once. Returns the descriptor
/// (close-on-exec) and whether it can be sealed.
pub(crate) fn shareable_object(name: &std::ffi::CStr) -> SysResult<(std::os::fd::OwnedFd, bool)> {
    #[cfg(mmkit_memfd)]
    match memfd_object(name) {
        // Old kernels or a seccomp filter: fall back to the next kind.
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {}
        r => return r.map(|fd| (fd, cfg!(mmkit_seals))),
    }
    let _ = name;
    #[cfg(mmkit_o_tmpfile)]
    match tmpfile_object() {
        // No /dev/shm, or a kernel or file system without O_TMPFILE (old
        // kernels see O_DIRECTORY and say EISDIR).
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(
                    libc::ENOENT
                        | libc::ENOTDIR
                        | libc::EISDIR
                        | libc::EOPNOTSUPP
                        | libc::EINVAL
                        | libc::EACCES
                        | libc::EPERM
                        | libc::EROFS
                )
            ) => {}
        r => return r.map(|fd| (fd, false)),
    }
    #[cfg(mmkit_shm_anon)]
    {
        // SAFETY: SHM_ANON is the documented "no name" argument; the result is checked.
        let fd = unsafe { libc::shm_open(libc::SHM_ANON, libc::O_RDWR | libc::O_CLOEXEC, 0o600) };
        return owned(fd).map(|fd| (fd, false));
    }
    #[cfg(mmkit_shm_open)]
    #[allow(unreachable_code)]
    return shm_anonymous().map(|fd| (fd, false));
    // Android: no POSIX shared memory to fall back on.
    #[cfg(not(mmkit_shm_open))]
    #[allow(unreachable_code)]
    Err(io::Error::from_raw_os_error(libc::ENOTSUP))
}

/// `memfd_create`, close-on-exec, sealable where the build has seals.
#[cfg(mmkit_memfd)]
fn memfd_object(name: &std::ffi::CStr) -> SysResult<std::os::fd::OwnedFd> {
    let mut flags = libc::MFD_CLOEXEC;
    if cfg!(mmkit_seals) {
        flags |= libc::MFD_ALLOW_SEALING;
    }
    // SAFETY: name is NUL-terminated; the result is checked.
    owned(unsafe { libc::memfd_create(name.as_ptr(), flags) })
}

/// An unnamed file on the `/dev/shm` tmpfs (`O_TMPFILE`): never in any
/// directory, so nothing can be left behind, and (`O_EXCL`) never linked
/// into one later through `/proc/self/fd`.
#[cfg(mmkit_o_tmpfile)]
fn tmpfile_object() -> SysResult<std::os::fd::OwnedFd> {
    // SAFETY: a NUL-terminated path; the mode is passed as the variadic
    // argument open(2) expects with O_TMPFILE; the result is checked.
    owned(unsafe {
        libc::open(
            c"/dev/shm".as_ptr(),
            libc::O_TMPFILE | libc::O_EXCL | libc::O_RDWR | libc::O_CLOEXEC,
            0o600 as libc::c_uint,
        )
    })
}

/// Own a descriptor a system call returned, or its error.
fn owned(fd: libc::c_int) -> SysResult<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    if fd < 0 {
        return Err(last_os_error());
    }
    // SAFETY: a new descriptor, owned from here on.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// `shm_open` with a fresh random name and `O_EXCL`, then `shm_unlink` at once.
/// The one fallback with a window: a process killed between the two calls
/// leaves the (empty) name behind. Platforms with a nameless kind above never
/// get here.
#[cfg(mmkit_shm_open)]
#[allow(dead_code)]
fn shm_anonymous() -> SysResult<std::os::fd::OwnedFd> {
    use std::time::{SystemTime, UNIX_EPOCH};
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    for _ in 0..64 {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let mut name = [0u8; 64];
        {
            use std::io::Write;
            let mut w = &mut name[..63];
            // 64 bytes hold the longest name: "/mmkit-" and three numbers.
            let _ = write!(w, "/mmkit-{}-{seq}-{nanos:x}", std::process::id());
        }
        let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC;
        // SAFETY: name is NUL-terminated; shm_open sets FD_CLOEXEC itself (POSIX).
        #[cfg(not(mmkit_variadic_shm_open))]
        let fd = unsafe { libc::shm_open(name.as_ptr().cast(), flags, 0o600) };
        // SAFETY: as above; where shm_open is variadic (Apple), the mode is
        // passed promoted to an unsigned int, as C would.
        #[cfg(mmkit_variadic_shm_open)]
        let fd = unsafe { libc::shm_open(name.as_ptr().cast(), flags, 0o600 as libc::c_uint) };
        let owned = match owned(fd) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => continue,
            Err(e) => return Err(e),
        };
        // SAFETY: the same NUL-terminated name.
        cvt(unsafe { libc::shm_unlink(name.as_ptr().cast()) })?;
        return Ok(owned);
    }
    Err(io::Error::from_raw_os_error(libc::EEXIST))
}

/// Add seals (`F_SEAL_*` bits) to a memfd. `MM_SEAL_WRITE` is `F_SEAL_WRITE`,
/// or `F_SEAL_FUTURE_WRITE` while writable shared mappings exist (ours).
#[cfg(mmkit_seals)]
pub(crate) fn add_seals(
    fd: BorrowedFd<'_>,
    shrink: bool,
    grow: bool,
    write: bool,
) -> SysResult<()> {
    let mut seals = 0;
    if shrink {
        seals |= libc::F_SEAL_SHRINK;
    }
    if grow {
        seals |= libc::F_SEAL_GROW;
    }
    if write {
        // SAFETY: fcntl on a descriptor the region owns.
        let rc = unsafe {
            libc::fcntl(
                fd.as_raw_fd(),
                libc::F_ADD_SEALS,
                seals | libc::F_SEAL_WRITE,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let e = last_os_error();
        if e.raw_os_error() != Some(libc::EBUSY) {
            return Err(e);
        }
        seals |= libc::F_SEAL_FUTURE_WRITE;
    }
    // SAFETY: fcntl on a descriptor the region owns.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) })
}

// ---------------------------------------------------------------- resizing

/// Whether a grow that moves the mapping keeps each page's own state
/// (protection, locks, advice). With `mremap` the pages themselves move;
/// without it a move is a new mapping and a copy of the bytes, which has only
/// the protection set on the whole region.
pub(crate) const MOVE_KEEPS_PAGE_STATE: bool = cfg!(mmkit_mremap);

/// Linux UAPI value (the same on every architecture), not in every libc.
#[cfg(all(mmkit_map_noreplace, not(mmkit_mremap)))]
const MAP_FIXED_NOREPLACE: i32 = 0x10_0000;

impl Mapping {
    /// Grow or shrink to `new_len` bytes (a page multiple). `fd`/`offset`
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
            // SAFETY: unmaps the tail of the mapping this value owns.
            cvt(unsafe { libc::munmap(self.ptr.add(new_len).cast(), self.len - new_len) })?;
            self.len = new_len;
            return Ok(());
        }
        let spec = MapSpec {
            populate: false,
            ..*spec
        };
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
            prot: (spec.prot | libc::PROT_READ | libc::PROT_WRITE) & !libc::PROT_EXEC,
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
#[cfg(not(mmkit_mremap))]
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
            spec.prot,
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
    drop(Mapping { ptr: p.cast(), len });
    Ok(false)
}

/// `ftruncate` returning the raw error, for resizing shareable objects.
pub(crate) fn set_len(fd: BorrowedFd<'_>, len: u64) -> SysResult<()> {
    truncate(fd, len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsFd, OwnedFd};

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

    const PRIVATE_RW: MapSpec = MapSpec {
        prot: libc::PROT_READ | libc::PROT_WRITE,
        share: Share::Private,
        noreserve: false,
        populate: false,
    };

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
            "sys::tests::populating_without_a_free_descriptor_succeeds",
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

    /// Every kind of shareable object this build has: sized, mapped twice
    /// (what one mapping writes the other reads), close-on-exec, nameless.
    fn check_object(fd: OwnedFd) {
        let page = page_size();
        truncate(fd.as_fd(), 2 * page as u64).unwrap();
        let spec = MapSpec {
            prot: libc::PROT_READ | libc::PROT_WRITE,
            share: Share::Shared,
            noreserve: false,
            populate: false,
        };
        let a = map_fd(fd.as_fd(), 0, 2 * page, &spec).unwrap();
        let b = map_fd(fd.as_fd(), 0, 2 * page, &spec).unwrap();
        // SAFETY: both mappings are ours, 2 pages long.
        unsafe {
            *a.ptr().add(page + 7) = 42;
            assert_eq!(*b.ptr().add(page + 7), 42);
        }
        // SAFETY: F_GETFD on a descriptor we own.
        let fdflags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
        assert_ne!(fdflags & libc::FD_CLOEXEC, 0);
        let st = fstat(fd.as_fd()).unwrap();
        assert_eq!(st.size, 2 * page as u64);
    }

    fn dev_shm_names() -> Vec<String> {
        std::fs::read_dir("/dev/shm").map_or(Vec::new(), |d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&format!("mmkit-{}-", std::process::id())))
                .collect()
        })
    }

    #[test]
    #[cfg(mmkit_memfd)]
    fn memfd_objects_work() {
        check_object(memfd_object(c"t").unwrap());
    }

    #[test]
    #[cfg(mmkit_o_tmpfile)]
    fn tmpfile_objects_work_and_have_no_name() {
        check_object(tmpfile_object().unwrap());
        assert!(dev_shm_names().is_empty());
    }

    /// `O_EXCL`: nobody can give the object a name later (linkat through
    /// /proc/self/fd works on an O_TMPFILE file opened without it).
    #[test]
    #[cfg(mmkit_o_tmpfile)]
    fn tmpfile_objects_cannot_be_linked() {
        let fd = tmpfile_object().unwrap();
        let from = std::ffi::CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
        let to =
            std::ffi::CString::new(format!("/dev/shm/mmkit-{}-link", std::process::id())).unwrap();
        // SAFETY: two NUL-terminated paths; the result is checked.
        let rc = unsafe {
            libc::linkat(
                libc::AT_FDCWD,
                from.as_ptr(),
                libc::AT_FDCWD,
                to.as_ptr(),
                libc::AT_SYMLINK_FOLLOW,
            )
        };
        let e = last_os_error();
        // SAFETY: a NUL-terminated path (cleanup should the link exist).
        unsafe { libc::unlink(to.as_ptr()) };
        assert_eq!((rc, e.raw_os_error()), (-1, Some(libc::ENOENT)));
    }

    #[test]
    #[cfg(mmkit_shm_open)]
    fn shm_open_objects_work_and_are_unlinked() {
        check_object(shm_anonymous().unwrap());
        assert!(dev_shm_names().is_empty());
    }

    /// Whether this is the child that runs test `name` alone; in the parent,
    /// run that child (under `wrapper`, a command prefix such as `setpriv
    /// ...`), check it passed, and return false.
    fn in_child(name: &str, wrapper: &[&str]) -> bool {
        if std::env::var_os("MMKIT_SYS_TEST_CHILD").is_some() {
            return true;
        }
        let exe = std::env::current_exe().unwrap();
        let exe = exe.to_str().unwrap();
        let mut argv: Vec<&str> = wrapper.to_vec();
        argv.extend([exe, "--exact", name, "--test-threads=1", "--nocapture"]);
        let out = std::process::Command::new(argv[0])
            .args(&argv[1..])
            .env("MMKIT_SYS_TEST_CHILD", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        false
    }

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
            prot: libc::PROT_NONE,
            ..PRIVATE_RW
        };
        let guarded = std::mem::ManuallyDrop::new(anon((pages + 2) * page, &none));
        guarded
            .protect(page, pages * page, libc::PROT_READ | libc::PROT_WRITE)
            .unwrap();
        let m = Mapping {
            ptr: guarded.ptr().wrapping_add(page),
            len: pages * page,
        };
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
        let next = Mapping {
            ptr: p.cast(),
            len: page_size(),
        };
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
                if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
                {
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
        if !in_child("sys::tests::a_split_region_grows_in_place", &[]) {
            return;
        }
        let page = page_size();
        for read_only in [0, 3] {
            let mut m = with_room(4, 4);
            m.protect(read_only * page, page, libc::PROT_READ).unwrap();
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
        m.protect(page, page, libc::PROT_READ).unwrap();
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
            "sys::tests::file_and_shared_regions_map_the_right_offsets_after_a_grow",
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
                    m.protect(0, page, libc::PROT_READ).unwrap();
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
            "sys::tests::a_locked_region_keeps_its_lock_in_place_and_moved",
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
                    m.protect(0, page, libc::PROT_READ).unwrap();
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
        let name = "sys::tests::a_grow_past_the_memlock_limit_is_eagain_and_changes_nothing";
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
        let mut region = std::mem::ManuallyDrop::new(Mapping {
            ptr: all.ptr().wrapping_add(3 * page),
            len: 3 * page,
        });
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
        let mut region = Mapping {
            ptr: all.ptr().wrapping_add(3 * page),
            len: 5 * page,
        };
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

    #[test]
    fn copy_pipes_are_close_on_exec() {
        let (rd, wr) = cloexec_pipe().unwrap();
        for fd in [rd, wr] {
            // SAFETY: F_GETFD on a descriptor we own.
            let fdflags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
            assert_ne!(fdflags & libc::FD_CLOEXEC, 0);
        }
    }
}
