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

    /// `mlock2(MLOCK_ONFAULT)` of `[start, start+len)`: pages locked as
    /// they are faulted in.
    #[cfg(mmkit_mremap)]
    fn lock_on_fault(&self, start: usize, len: usize) -> SysResult<()> {
        // SAFETY: the range lies inside this live mapping.
        cvt(unsafe { libc::mlock2(self.at(start, len), len, libc::MLOCK_ONFAULT) })
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

/// Whether growing keeps each page's own state (protection, locks, advice) on
/// this platform. Without `mremap` a grow copies the bytes into a new mapping,
/// which has only the protection set on the whole region.
pub(crate) const GROW_KEEPS_PAGE_STATE: bool = cfg!(mmkit_mremap);

/// Linux UAPI values (the same on every architecture), not in every libc.
#[cfg(mmkit_mremap)]
const MAP_FIXED_NOREPLACE: i32 = 0x10_0000;
#[cfg(mmkit_mremap)]
const MREMAP_DONTUNMAP: i32 = 4;

impl Mapping {
    /// Grow or shrink to `new_len` bytes (a page multiple); the address may
    /// change. `fd`/`offset` back file and shareable mappings (the file offset
    /// of the first byte); private bytes are kept either way.
    ///
    /// A failed resize leaves the mapping as it was.
    pub(crate) fn resize(
        &mut self,
        new_len: usize,
        spec: &MapSpec,
        fd: Option<BorrowedFd<'_>>,
        offset: u64,
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
        #[cfg(mmkit_mremap)]
        {
            // SAFETY: remaps the mapping this value owns; MREMAP_MAYMOVE lets the
            // kernel pick a fresh range, never one in use.
            let p =
                unsafe { libc::mremap(self.ptr.cast(), self.len, new_len, libc::MREMAP_MAYMOVE) };
            if p != libc::MAP_FAILED {
                self.ptr = p.cast();
                self.len = new_len;
                return Ok(());
            }
            let e = last_os_error();
            // EFAULT: mm_protect, mm_lock or mm_advise of a part split the
            // mapping into several, and mremap grows only a single one.
            if e.raw_os_error() != Some(libc::EFAULT) {
                return Err(e);
            }
            self.grow_in_parts(new_len, &spec, fd, offset)
        }
        #[cfg(not(mmkit_mremap))]
        {
            self.grow_by_copying(new_len, &spec, fd, offset)
        }
    }

    /// A fresh mapping of `len` bytes for a grow: the file or object, or
    /// anonymous memory.
    #[cfg(any(test, not(mmkit_mremap)))]
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

    /// Grow a mapping made of several kernel mappings, keeping each part's
    /// protection, locks and advice: map the new pages right after the end
    /// when that range is free, else move every kernel mapping whole
    /// (`MREMAP_DONTUNMAP`, so the old range stays ours until the end and a
    /// failure can move them back) into a fresh mapping of the new length.
    #[cfg(mmkit_mremap)]
    fn grow_in_parts(
        &mut self,
        new_len: usize,
        spec: &MapSpec,
        fd: Option<BorrowedFd<'_>>,
        offset: u64,
    ) -> SysResult<()> {
        let extra = new_len - self.len;
        let at = self.ptr.wrapping_add(self.len);
        let flags =
            spec.mmap_flags() | MAP_FIXED_NOREPLACE | if fd.is_none() { libc::MAP_ANON } else { 0 };
        let tail_off = offset
            .checked_add(self.len as u64)
            .and_then(|o| libc::off_t::try_from(o).ok())
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EOVERFLOW))?;
        // SAFETY: MAP_FIXED_NOREPLACE never replaces a mapping: the kernel
        // fails with EEXIST when any of the range is in use (kernels before
        // 4.17 take the address as a hint, checked below).
        let p = unsafe {
            libc::mmap(
                at.cast(),
                extra,
                spec.prot,
                flags,
                fd.map_or(-1, |f| f.as_raw_fd()),
                tail_off,
            )
        };
        if p != libc::MAP_FAILED {
            if p.cast::<u8>() == at {
                self.len = new_len;
                return Ok(());
            }
            // An old kernel put it elsewhere: not ours to keep.
            drop(Mapping {
                ptr: p.cast(),
                len: extra,
            });
        }
        let mut undo = Vec::new();
        let result = self.own_kernel_mappings(&mut undo).and_then(|parts| {
            let canary = canary();
            let fresh = self.landing(new_len, spec, fd, tail_off, &parts, canary)?;
            self.move_into(fresh, canary, &parts, &mut dontunmap_move)
        });
        // An end split off its neighbour gets its dump flag back, wherever it
        // now lives (in `self` either way: moved, or put back).
        for &(start, len, advice) in undo.iter().rev() {
            let _ = self.advise(start, len, advice);
        }
        result
    }

    /// Where the parts of this mapping move to grow it to `new_len`:
    /// `[0, self.len)` a private anonymous placeholder (nothing committed)
    /// where each part's destination starts with `canary`, so that after a
    /// failed move a destination the kernel left alone can be told from a
    /// mapping that took a hole; `[self.len, new_len)` the new pages, mapped
    /// like this mapping (`fd` at `tail_off`, or anonymous).
    #[cfg(mmkit_mremap)]
    fn landing(
        &self,
        new_len: usize,
        spec: &MapSpec,
        fd: Option<BorrowedFd<'_>>,
        tail_off: libc::off_t,
        parts: &[Part],
        canary: u64,
    ) -> SysResult<Mapping> {
        let placeholder = MapSpec {
            prot: libc::PROT_READ | libc::PROT_WRITE,
            share: Share::Private,
            noreserve: true,
            populate: false,
        };
        let land = Mapping::map(new_len, &placeholder, libc::MAP_ANON, None, 0)?;
        // One small page per canary, even where transparent huge pages are
        // "always" (best effort: the advice only saves memory).
        let _ = land.advise(0, new_len, libc::MADV_NOHUGEPAGE);
        let anon = if fd.is_none() { libc::MAP_ANON } else { 0 };
        let tail = land.ptr.wrapping_add(self.len);
        // SAFETY: the placeholder's first page past self.len (page-aligned,
        // private anonymous read-write memory): 8 aligned bytes there.
        unsafe { tail.cast::<u64>().write(canary) };
        // SAFETY: MAP_FIXED replaces only `land`'s own pages past self.len
        // (new_len > self.len: this is a grow).
        let p = unsafe {
            libc::mmap(
                tail.cast(),
                new_len - self.len,
                spec.prot,
                spec.mmap_flags() | libc::MAP_FIXED | anon,
                fd.map_or(-1, |f| f.as_raw_fd()),
                tail_off,
            )
        };
        if p == libc::MAP_FAILED {
            let e = last_os_error();
            // Kernels before 6.12 may unmap the range before failing: take
            // it back, and never unmap what another thread put there. (Most
            // failures leave the placeholder: it still starts with the
            // canary, and goes with the landing.)
            if !(retake(tail, new_len - self.len) || holds(tail, canary)) {
                land.forget_range(self.len, new_len - self.len);
            }
            return Err(e);
        }
        for p in parts {
            debug_assert!(p.start % page_size() == 0 && p.start + p.len <= self.len);
            // SAFETY: each part starts on a page boundary inside the
            // placeholder, private anonymous read-write memory: 8 aligned
            // bytes there can be written and never fault.
            unsafe { land.ptr.add(p.start).cast::<u64>().write(canary) };
        }
        Ok(land)
    }

    /// The kernel mappings this mapping is made of, each wholly inside it.
    /// The kernel merges adjacent mappings with the same flags, so an end may
    /// share one with a neighbouring mapping; moving only our part of it with
    /// `MREMAP_DONTUNMAP` would unlock all of it, the neighbour's pages too.
    /// Such an end is split off first by flipping its dump flag
    /// (`MADV_DONTDUMP`/`MADV_DODUMP`, which changes only what a core dump
    /// holds); `undo` records how to flip it back.
    #[cfg(mmkit_mremap)]
    fn own_kernel_mappings(&self, undo: &mut Vec<(usize, usize, i32)>) -> SysResult<Vec<Part>> {
        // Without /proc/self/maps the parts are unknown, and moving a range
        // that is not exactly one kernel mapping is what must not happen.
        let maps = || {
            kernel_mappings(self.ptr as usize, self.len)
                .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOTSUP))
        };
        let mut km = maps()?;
        for first in [true, false] {
            let shared = |km: &KernelMaps| if first { km.before } else { km.after };
            if !shared(&km) {
                continue;
            }
            let p = if first {
                km.parts[0]
            } else {
                km.parts[km.parts.len() - 1]
            };
            self.advise(p.start, p.len, libc::MADV_DONTDUMP)?;
            // Recorded at once, so a failure below still flips it back.
            undo.push((p.start, p.len, libc::MADV_DODUMP));
            km = maps()?;
            if !shared(&km) {
                continue;
            }
            // It was already MADV_DONTDUMP (no change, so no split).
            undo.pop();
            self.advise(p.start, p.len, libc::MADV_DODUMP)?;
            undo.push((p.start, p.len, libc::MADV_DONTDUMP));
            km = maps()?;
            if shared(&km) {
                return Err(io::Error::from_raw_os_error(libc::EBUSY));
            }
        }
        // Splitting the last end off can merge the first back into its
        // neighbour (when the two ends differed only by the dump flag).
        if km.before || km.after {
            return Err(io::Error::from_raw_os_error(libc::EBUSY));
        }
        let mut parts = km.parts;
        if let Some(areas) = smaps() {
            for p in &mut parts {
                let flags = flags_at(&areas, self.ptr as usize + p.start);
                p.locked = flags.contains(&"lo");
                p.onfault = flags.contains(&"lf");
            }
        }
        // Unlocking a part to move it needs the room to lock it again (asked
        // only when something is locked).
        if parts.iter().any(|p| p.locked) && lock_room() {
            for p in &mut parts {
                p.unlock_to_move = p.locked;
            }
        }
        Ok(parts)
    }

    /// Move every part of this mapping to the same offsets in `fresh` (at
    /// least as long) with `mover`, and become `fresh`. When a move fails,
    /// the parts already moved go back and this mapping is as it was; the
    /// error is `EIO` if some part could not be put back as it was. A failed
    /// destination still starting with `canary` (see [`Mapping::landing`])
    /// holds `fresh`'s own pages and is unmapped with it; anything else there
    /// is another mapping, left alone.
    #[cfg(mmkit_mremap)]
    fn move_into(
        &mut self,
        fresh: Mapping,
        canary: u64,
        parts: &[Part],
        mover: &mut Mover<'_>,
    ) -> SysResult<()> {
        for (i, p) in parts.iter().enumerate() {
            let to = fresh.ptr.wrapping_add(p.start);
            let (e, lock_kept) = match move_part(self, &fresh, p, mover) {
                Ok(()) => continue,
                Err((e, Stranded::Moved)) => {
                    // Moved, but could not be locked again there.
                    let intact = self.move_back(&fresh, &parts[..=i], mover);
                    return Err(if intact {
                        e
                    } else {
                        io::Error::from_raw_os_error(libc::EIO)
                    });
                }
                Err((e, Stranded::Stayed)) => (e, true),
                Err((e, Stranded::StayedUnlocked)) => (e, false),
            };
            // Kernels before 6.17 unmap the destination before some checks
            // fail: take such a hole back before another thread maps there.
            // Else the destination holds fresh's own pages (the kernel
            // refused first), or another thread's mapping that took the hole.
            let ours = retake(to, p.len) || holds(to, canary);
            let intact = self.move_back(&fresh, &parts[..i], mover) && lock_kept;
            if !ours {
                // Unmapping another thread's mapping could pull memory from
                // under it: leave what is there.
                fresh.forget_range(p.start, p.len);
            }
            return Err(if intact {
                e
            } else {
                io::Error::from_raw_os_error(libc::EIO)
            });
        }
        // Every part now lives in `fresh`; the old range holds only the
        // emptied mappings MREMAP_DONTUNMAP left, unmapped with it.
        drop(std::mem::replace(self, fresh));
        Ok(())
    }

    /// Put the `moved` parts back from `fresh` after a failed grow; whether
    /// every byte came back.
    #[cfg(mmkit_mremap)]
    fn move_back(&self, fresh: &Mapping, moved: &[Part], mover: &mut Mover<'_>) -> bool {
        let mut intact = true;
        for p in moved.iter().rev() {
            // Back onto the old range, still ours (the move left it mapped),
            // again without unmapping the source: a hole in `fresh` could be
            // taken by another thread's mmap before `fresh` is unmapped.
            match move_part(fresh, self, p, mover) {
                Ok(()) => continue,
                Err((_, Stranded::Moved)) => {
                    intact = false; // back, but no longer locked
                    continue;
                }
                // Still in `fresh` (locked or not): copied back below, and
                // locked again in place if it was.
                Err((_, Stranded::Stayed | Stranded::StayedUnlocked)) => {}
            }
            let (from, to) = (
                fresh.ptr.wrapping_add(p.start),
                self.ptr.wrapping_add(p.start),
            );
            // Kernels before 6.17 may have unmapped the old range before
            // failing: take it back before another thread maps there. A
            // shared part is then an anonymous placeholder, cut off from its
            // file or object: not as it was.
            let hole = retake(to, p.len);
            if hole && p.shared {
                intact = false;
                continue;
            }
            // No room to move it back (vm.max_map_count). A shared part's old
            // range still maps its file or object: nothing to copy. A private
            // part's bytes are copied through a writable old range. Either
            // way its lock moves back (unlocked in `fresh` first, so
            // RLIMIT_MEMLOCK is not met twice); only its advice is lost.
            let copied = (p.shared && !hole)
                || (self
                    .protect(p.start, p.len, libc::PROT_READ | libc::PROT_WRITE)
                    .is_ok()
                    && fresh.protect(p.start, p.len, libc::PROT_READ).is_ok()
                    && copy_checked(Direction::Read, from, to, p.len).is_ok()
                    && self.protect(p.start, p.len, p.prot).is_ok());
            let relocked = !p.locked || {
                let _ = fresh.unlock(p.start, p.len);
                relock(self, p)
            };
            intact &= copied && relocked;
        }
        intact
    }

    /// Unmap all of this mapping but `[start, start+len)`, which is left
    /// mapped for good: after a failed move it may be someone else's.
    #[cfg(mmkit_mremap)]
    fn forget_range(self, start: usize, len: usize) {
        let this = std::mem::ManuallyDrop::new(self);
        let end = start + len;
        if start > 0 {
            // SAFETY: the head of the mapping this value owned.
            unsafe { libc::munmap(this.ptr.cast(), start) };
        }
        if end < this.len {
            // SAFETY: the tail of the mapping this value owned.
            unsafe { libc::munmap(this.ptr.add(end).cast(), this.len - end) };
        }
    }

    /// Grow without `mremap`: a new mapping and a fault-safe copy of the bytes
    /// a private mapping owns (shared ones see the same file or object).
    #[cfg(not(mmkit_mremap))]
    fn grow_by_copying(
        &mut self,
        new_len: usize,
        spec: &MapSpec,
        fd: Option<BorrowedFd<'_>>,
        offset: u64,
    ) -> SysResult<()> {
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
}

/// One kernel mapping (VMA) inside a mapping: offset from its start, length,
/// `PROT_*` bits, and whether it is a shared mapping.
#[cfg(mmkit_mremap)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Part {
    start: usize,
    len: usize,
    prot: i32,
    shared: bool,
    /// `VM_LOCKED` (from `/proc/self/smaps`; false when it cannot be read).
    locked: bool,
    /// Locked on fault (`mlock2(MLOCK_ONFAULT)`): its pages are not all in.
    onfault: bool,
    /// Moved unlocked and locked again where it lands (see [`move_part`]).
    unlock_to_move: bool,
}

/// Where a part is after [`move_part`] failed.
#[cfg(mmkit_mremap)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stranded {
    /// Still in `src`, as it was.
    Stayed,
    /// Still in `src`, but unlocked (it could not be locked again).
    StayedUnlocked,
    /// In `dst`, but unlocked (it could not be locked again there).
    Moved,
}

/// Move part `p` of `src` to the same offset in `dst` with `mover`. A
/// locked part moves unlocked when there is room to lock it again
/// (`p.unlock_to_move`) and is locked again where it lands (back in `src`
/// when the move fails): moved locked with `MREMAP_DONTUNMAP`, the kernel
/// counts it twice against `RLIMIT_MEMLOCK`, for good. (Without the room it
/// moves locked, as the only way to keep its lock.)
#[cfg(mmkit_mremap)]
fn move_part(
    src: &Mapping,
    dst: &Mapping,
    p: &Part,
    mover: &mut Mover<'_>,
) -> Result<(), (io::Error, Stranded)> {
    let unlock = p.unlock_to_move;
    if unlock {
        src.unlock(p.start, p.len)
            .map_err(|e| (e, Stranded::Stayed))?;
    }
    let (from, to) = (src.ptr.wrapping_add(p.start), dst.ptr.wrapping_add(p.start));
    match mover(from, p.len, to) {
        Ok(()) if unlock && !relock(dst, p) => {
            Err((io::Error::from_raw_os_error(libc::ENOMEM), Stranded::Moved))
        }
        Ok(()) => Ok(()),
        Err(e) if unlock && !relock(src, p) => Err((e, Stranded::StayedUnlocked)),
        Err(e) => Err((e, Stranded::Stayed)),
    }
}

/// Lock part `p` of `m` again as it was locked (on fault, if it was);
/// whether it is locked. `mlock` marks the range locked, then faults its
/// pages in: pages that cannot be (`PROT_NONE`, past the end of a file)
/// fail it with `ENOMEM` yet leave the part locked as before.
#[cfg(mmkit_mremap)]
fn relock(m: &Mapping, p: &Part) -> bool {
    let done = if p.onfault {
        m.lock_on_fault(p.start, p.len)
    } else {
        m.lock(p.start, p.len)
    };
    let flag = if p.onfault { "lf" } else { "lo" };
    done.is_ok()
        || smaps().is_some_and(|areas| flags_at(&areas, m.ptr as usize + p.start).contains(&flag))
}

/// Whether unlocking memory now leaves room to lock it again: no
/// `RLIMIT_MEMLOCK`, or no more locked than it allows (it may have been
/// lowered since), or the privilege to pass it.
#[cfg(mmkit_mremap)]
fn lock_room() -> bool {
    let Some(limit) = memlock_limit() else {
        return true;
    };
    locked_bytes().is_some_and(|locked| locked <= limit) || can_lock_past_limit()
}

/// Whether this thread may lock memory past `RLIMIT_MEMLOCK` (called when
/// more than the limit is locked already): the kernel answers, for this
/// thread in its user namespace, by locking one untouched page on fault
/// (unlocked again as the probe is unmapped). `/proc/self/status` would tell
/// the main thread's capabilities in the process's own namespace instead.
#[cfg(mmkit_mremap)]
fn can_lock_past_limit() -> bool {
    let spec = MapSpec {
        prot: libc::PROT_READ,
        share: Share::Private,
        noreserve: true,
        populate: false,
    };
    Mapping::map(page_size(), &spec, libc::MAP_ANON, None, 0)
        .is_ok_and(|probe| probe.lock_on_fault(0, page_size()).is_ok())
}

/// Whether `at` starts with `canary` (read without risking a signal).
#[cfg(mmkit_mremap)]
fn holds(at: *mut u8, canary: u64) -> bool {
    let mut seen = 0u64;
    copy_checked(Direction::Read, at, ptr::addr_of_mut!(seen).cast(), 8).is_ok() && seen == canary
}

/// A value no other mapping holds at a given address by chance.
#[cfg(mmkit_mremap)]
fn canary() -> u64 {
    let mut v = 0u64;
    // SAFETY: getrandom writes at most 8 bytes into `v`.
    let n = unsafe { libc::getrandom(ptr::addr_of_mut!(v).cast(), 8, libc::GRND_NONBLOCK) };
    if n != 8 {
        // No entropy yet (early boot): still unlikely to be found by chance.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        v = t ^ (ptr::addr_of!(v) as u64).rotate_left(32) ^ 0x6d6d_6b69_745f_6d6b;
    }
    v
}

/// Every kernel mapping's range and `VmFlags` (`lo`: locked, `dd`: not
/// dumped, ...), from `/proc/self/smaps`; `None` when it cannot be read.
#[cfg(mmkit_mremap)]
fn smaps() -> Option<Vec<(usize, usize, Vec<String>)>> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
    let mut areas = Vec::new();
    for line in smaps.lines() {
        if let Some((a, b)) = line.split(' ').next().and_then(|r| r.split_once('-')) {
            if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) {
                areas.push((a, b, Vec::new()));
                continue;
            }
        }
        if let (Some(f), Some(area)) = (line.strip_prefix("VmFlags:"), areas.last_mut()) {
            area.2 = f.split_whitespace().map(String::from).collect();
        }
    }
    Some(areas)
}

/// The `VmFlags` of the kernel mapping in `areas` (see [`smaps`]) holding
/// `addr`; none when no mapping holds it.
#[cfg(mmkit_mremap)]
fn flags_at(areas: &[(usize, usize, Vec<String>)], addr: usize) -> Vec<&str> {
    areas
        .iter()
        .find(|(a, b, _)| (*a..*b).contains(&addr))
        .map_or_else(Vec::new, |(_, _, f)| f.iter().map(String::as_str).collect())
}

/// The kernel mappings that make up a range, and whether the first starts
/// before it or the last ends after it (merged with a neighbour).
#[cfg(mmkit_mremap)]
#[derive(Debug)]
struct KernelMaps {
    parts: Vec<Part>,
    before: bool,
    after: bool,
}

/// The kernel mappings that make up `[start, start + len)`, clipped to it,
/// from `/proc/self/maps`; `None` when it cannot be read or does not cover
/// the range.
#[cfg(mmkit_mremap)]
fn kernel_mappings(start: usize, len: usize) -> Option<KernelMaps> {
    let end = start.checked_add(len)?;
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    let mut km = KernelMaps {
        parts: Vec::new(),
        before: false,
        after: false,
    };
    let mut next = start;
    for line in maps.lines() {
        let mut fields = line.split(' ');
        let (a, b) = fields.next()?.split_once('-')?;
        let (a, b) = (
            usize::from_str_radix(a, 16).ok()?,
            usize::from_str_radix(b, 16).ok()?,
        );
        if b <= start || a >= end {
            continue;
        }
        // The lines are sorted by address; a gap means the range changed.
        if a.max(start) != next {
            return None;
        }
        let perms = fields.next()?.as_bytes();
        let prot = [
            (b'r', libc::PROT_READ),
            (b'w', libc::PROT_WRITE),
            (b'x', libc::PROT_EXEC),
        ]
        .iter()
        .filter(|(c, _)| perms.contains(c))
        .fold(libc::PROT_NONE, |acc, (_, p)| acc | p);
        km.before |= a < start;
        km.after |= b > end;
        next = b.min(end);
        km.parts.push(Part {
            start: a.max(start) - start,
            len: next - a.max(start),
            prot,
            shared: perms.get(3) == Some(&b's'),
            locked: false,
            onfault: false,
            unlock_to_move: false,
        });
    }
    (next == end).then_some(km)
}

/// Moves `len` bytes at `src` to `dst` (both page-aligned), or fails.
#[cfg(mmkit_mremap)]
type Mover<'a> = dyn FnMut(*mut u8, usize, *mut u8) -> SysResult<()> + 'a;

/// The mover: `mremap` of one whole kernel mapping with `MREMAP_DONTUNMAP`,
/// which leaves the source range mapped (emptied), so nobody else can map
/// there before we are done. Kernels before 5.13 (5.7 for private memory)
/// refuse the flag: `ENOTSUP`.
#[cfg(mmkit_mremap)]
fn dontunmap_move(src: *mut u8, len: usize, dst: *mut u8) -> SysResult<()> {
    // SAFETY: callers pass ranges inside mappings they own; MREMAP_FIXED
    // replaces only their own fresh pages at dst, and MREMAP_DONTUNMAP keeps
    // src mapped.
    let p = unsafe {
        libc::mremap(
            src.cast(),
            len,
            len,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED | MREMAP_DONTUNMAP,
            dst.cast::<c_void>(),
        )
    };
    if p != libc::MAP_FAILED {
        return Ok(());
    }
    let e = last_os_error();
    Err(match e.raw_os_error() {
        Some(libc::EINVAL) => io::Error::from_raw_os_error(libc::ENOTSUP),
        _ => e,
    })
}

/// Map a placeholder at `[at, at+len)` only if all of it is unmapped: true
/// when it was (the range is ours again), false when something is there.
#[cfg(mmkit_mremap)]
fn retake(at: *mut u8, len: usize) -> bool {
    // SAFETY: MAP_FIXED_NOREPLACE never replaces a mapping (kernels before
    // 4.17 take the address as a hint, checked below).
    let p = unsafe {
        libc::mmap(
            at.cast(),
            len,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANON | libc::MAP_NORESERVE | MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return false;
    }
    if p.cast::<u8>() == at {
        return true;
    }
    drop(Mapping { ptr: p.cast(), len });
    false
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

    /// Private anonymous pages tagged with their index, between two
    /// inaccessible guard pages (left mapped) so that the kernel never
    /// merges them with another test's mapping.
    #[cfg(mmkit_mremap)]
    fn tagged(pages: usize) -> Mapping {
        let page = page_size();
        let spec = MapSpec {
            prot: libc::PROT_NONE,
            share: Share::Private,
            noreserve: true,
            populate: false,
        };
        let guarded = std::mem::ManuallyDrop::new(
            Mapping::fresh((pages + 2) * page, &spec, None, 0).unwrap(),
        );
        guarded
            .protect(page, pages * page, libc::PROT_READ | libc::PROT_WRITE)
            .unwrap();
        // SAFETY: the pages between the guards, which only this value owns.
        let m = Mapping {
            ptr: unsafe { guarded.ptr().add(page) },
            len: pages * page,
        };
        for i in 0..pages {
            // SAFETY: inside our fresh writable mapping.
            unsafe { *m.ptr().add(i * page) = b'a' + i as u8 };
        }
        m
    }

    #[cfg(mmkit_mremap)]
    fn tags(m: &Mapping, pages: usize) -> Vec<u8> {
        // SAFETY: reads inside the mapping, which is readable.
        (0..pages)
            .map(|i| unsafe { *m.ptr().add(i * page_size()) })
            .collect()
    }

    /// The kernel mappings of `m`, each wholly inside it.
    #[cfg(mmkit_mremap)]
    fn own_parts(m: &Mapping) -> Vec<Part> {
        let mut undo = Vec::new();
        let parts = m.own_kernel_mappings(&mut undo).unwrap();
        for (start, len, advice) in undo {
            m.advise(start, len, advice).unwrap();
        }
        parts
    }

    /// Five pages, the odd ones read-only: five kernel mappings.
    #[cfg(mmkit_mremap)]
    fn striped() -> (Mapping, Vec<Part>) {
        let m = tagged(5);
        m.protect(page_size(), page_size(), libc::PROT_READ)
            .unwrap();
        m.protect(3 * page_size(), page_size(), libc::PROT_READ)
            .unwrap();
        let parts = own_parts(&m);
        assert_eq!(parts.len(), 5, "{parts:?}");
        (m, parts)
    }

    /// The `VmFlags` of the kernel mapping holding `addr`.
    #[cfg(mmkit_mremap)]
    fn vm_flags(addr: usize) -> Option<Vec<String>> {
        let areas = smaps()?;
        Some(
            flags_at(&areas, addr)
                .into_iter()
                .map(String::from)
                .collect(),
        )
    }

    #[cfg(mmkit_mremap)]
    fn private_rw() -> MapSpec {
        MapSpec {
            prot: libc::PROT_READ | libc::PROT_WRITE,
            share: Share::Private,
            noreserve: false,
            populate: false,
        }
    }

    #[cfg(mmkit_mremap)]
    impl Mapping {
        /// [`Mapping::move_into`] a landing of `pages` pages, as a grow
        /// of private anonymous memory does.
        fn move_into_marked(
            &mut self,
            pages: usize,
            parts: &[Part],
            mover: &mut Mover<'_>,
        ) -> SysResult<()> {
            let canary = canary();
            let fresh = self
                .landing(pages * page_size(), &private_rw(), None, 0, parts, canary)
                .unwrap();
            for p in parts {
                assert!(holds(fresh.ptr().wrapping_add(p.start), canary));
            }
            self.move_into(fresh, canary, parts, mover)
        }
    }

    /// Grow `m` to 8 pages by moving its `parts` into a landing (the new
    /// pages made with `spec`, of `fd` at `tail`) with a mover that refuses:
    /// the error comes back and the landing is gone.
    #[cfg(mmkit_mremap)]
    fn refused_grow_leaves_no_landing(
        m: &mut Mapping,
        parts: &[Part],
        spec: &MapSpec,
        fd: Option<BorrowedFd<'_>>,
        tail: libc::off_t,
    ) {
        let canary = canary();
        let fresh = m
            .landing(8 * page_size(), spec, fd, tail, parts, canary)
            .unwrap();
        let fresh_at = fresh.ptr();
        let e = m
            .move_into(fresh, canary, parts, &mut |_, _, _| {
                Err(io::Error::from_raw_os_error(libc::ENOTSUP))
            })
            .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOTSUP));
        // (Not "unmapped": another test's thread may map there since.)
        assert!(!holds(fresh_at, canary), "the landing leaked");
    }

    /// `foreign`, a page "another thread" mapped into a hole a failed move
    /// left, is still mapped and starts with `byte`; then the test unmaps it.
    #[cfg(mmkit_mremap)]
    fn left_alone(foreign: *mut c_void, byte: u8) {
        assert!(
            kernel_mappings(foreign as usize, page_size()).is_some(),
            "another thread's mapping was unmapped"
        );
        // SAFETY: still mapped (checked above), readable, the test's own.
        unsafe {
            assert_eq!(*foreign.cast::<u8>(), byte);
            libc::munmap(foreign, page_size());
        }
    }

    /// A mover whose calls are counted and whose `fail`-th call fails with
    /// ENOMEM (vm.max_map_count).
    #[cfg(mmkit_mremap)]
    fn failing<'a>(
        calls: &'a mut usize,
        fail: &'static [usize],
    ) -> impl FnMut(*mut u8, usize, *mut u8) -> SysResult<()> + 'a {
        move |src, len, dst| {
            *calls += 1;
            if fail.contains(calls) {
                return Err(io::Error::from_raw_os_error(libc::ENOMEM));
            }
            dontunmap_move(src, len, dst)
        }
    }

    #[cfg(mmkit_mremap)]
    fn prots(m: &Mapping) -> Vec<i32> {
        let km = kernel_mappings(m.ptr() as usize, m.len()).unwrap();
        let mut per_page = Vec::new();
        for p in km.parts {
            per_page.extend(std::iter::repeat_n(p.prot, p.len / page_size()));
        }
        per_page
    }

    #[test]
    #[cfg(mmkit_mremap)]
    fn moving_kernel_mappings_keeps_every_byte_and_protection() {
        let (mut m, parts) = striped();
        let before = prots(&m);
        let mut calls = 0;
        m.move_into_marked(8, &parts, &mut failing(&mut calls, &[]))
            .unwrap();
        assert_eq!(calls, 5);
        assert_eq!(m.len(), 8 * page_size());
        assert_eq!(tags(&m, 8), b"abcde\0\0\0");
        assert_eq!(prots(&m)[..5], before[..]);
    }

    /// A failed move puts every part back where it was, with its bytes and
    /// protection: moved back, or (when that fails too) copied back, into
    /// its read-only page as well.
    #[test]
    #[cfg(mmkit_mremap)]
    fn a_failed_move_puts_every_part_back() {
        // Calls 1-3 move pages 0-2, call 4 fails, calls 5-7 move pages 2-0
        // back; in the second case call 6 (the read-only page 1) fails too.
        for fail in [&[4][..], &[4, 6]] {
            let (mut m, parts) = striped();
            let (at, before) = (m.ptr(), prots(&m));
            let mut calls = 0;
            let e = m
                .move_into_marked(8, &parts, &mut failing(&mut calls, fail))
                .unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ENOMEM));
            assert_eq!(calls, 7);
            assert_eq!((m.ptr(), m.len()), (at, 5 * page_size()));
            assert_eq!(tags(&m, 5), b"abcde");
            assert_eq!(prots(&m), before);
        }
    }

    /// Kernels before 6.17 may unmap the destination before they fail, and
    /// another thread's mmap may land in that hole: a failed grow must leave
    /// that mapping alone.
    #[test]
    #[cfg(mmkit_mremap)]
    fn a_failed_move_never_unmaps_what_took_its_place() {
        let page = page_size();
        let (mut m, parts) = striped();
        let at = m.ptr();
        let mut foreign = std::ptr::null_mut();
        let mut calls = 0;
        let e = m
            .move_into_marked(8, &parts, &mut |src, len, dst| {
                calls += 1;
                if calls != 2 {
                    return dontunmap_move(src, len, dst);
                }
                // SAFETY: dst is inside the test's fresh mapping; this
                // stands in for a kernel that unmapped it, and another
                // thread that mapped a page of its own there.
                unsafe {
                    libc::munmap(dst.cast(), len);
                    foreign = libc::mmap(
                        dst.cast(),
                        page,
                        libc::PROT_READ | libc::PROT_WRITE,
                        libc::MAP_PRIVATE | libc::MAP_ANON | MAP_FIXED_NOREPLACE,
                        -1,
                        0,
                    );
                    assert_eq!(foreign, dst.cast());
                    *foreign.cast::<u8>() = b'Z';
                }
                Err(io::Error::from_raw_os_error(libc::EFAULT))
            })
            .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EFAULT));
        assert_eq!((m.ptr(), m.len()), (at, 5 * page));
        assert_eq!(tags(&m, 5), b"abcde");
        left_alone(foreign, b'Z');
    }

    /// The kernel merges a region's end with a neighbouring mapping of the
    /// same flags. Growing the region (split in parts, so moved part by part)
    /// must leave the neighbour's lock and dump flag as they were: moving
    /// part of a kernel mapping with MREMAP_DONTUNMAP unlocks all of it.
    #[test]
    #[cfg(mmkit_mremap)]
    fn growing_next_to_a_merged_neighbour_keeps_its_lock() {
        let page = page_size();
        for dontdump in [false, true] {
            let all = std::mem::ManuallyDrop::new(tagged(8));
            if dontdump {
                all.advise(0, 8 * page, libc::MADV_DONTDUMP).unwrap();
            }
            let locked = all.lock(0, 8 * page).is_ok();
            // SAFETY: pages 0-2 and 3-7 of `all`, which is never dropped:
            // each now belongs to exactly one of these.
            let (neighbour, mut region) = unsafe {
                (
                    Mapping {
                        ptr: all.ptr(),
                        len: 3 * page,
                    },
                    Mapping {
                        ptr: all.ptr().add(3 * page),
                        len: 5 * page,
                    },
                )
            };
            // [0-4] [5 read-only] [6-7]: kernel mapping [0-4] is shared.
            region.protect(2 * page, page, libc::PROT_READ).unwrap();
            let km = kernel_mappings(region.ptr() as usize, region.len()).unwrap();
            assert!(km.before, "{km:?}");
            let mut undo = Vec::new();
            let parts = region.own_kernel_mappings(&mut undo).unwrap();
            assert_eq!(undo.len(), 1 + usize::from(km.after), "{undo:?}");
            region
                .move_into_marked(9, &parts, &mut dontunmap_move)
                .unwrap();
            for (start, len, advice) in undo {
                region.advise(start, len, advice).unwrap();
            }
            assert_eq!(tags(&region, 5), b"defgh");
            assert_eq!(tags(&neighbour, 3), b"abc");
            let pages = (0..3)
                .map(|p| neighbour.ptr() as usize + p * page)
                .chain((0..5).map(|p| region.ptr() as usize + p * page));
            for addr in pages {
                let vmflags = vm_flags(addr).unwrap();
                assert_eq!(
                    vmflags.contains(&"lo".into()),
                    locked,
                    "{addr:x}: {vmflags:?}"
                );
                assert_eq!(
                    vmflags.contains(&"dd".into()),
                    dontdump,
                    "{addr:x}: {vmflags:?}"
                );
            }
        }
    }

    /// Parts of a mapping locked, protected and plain: moved by kernel
    /// mapping, every part keeps its lock and protection.
    #[test]
    #[cfg(mmkit_mremap)]
    fn moving_whole_kernel_mappings_keeps_locks() {
        let page = page_size();
        let mut m = tagged(6);
        // Pages 1-4 locked, page 2 also read-only: [0] [1] [2] [3-4] [5].
        let locked = m.lock(page, 4 * page).is_ok();
        m.protect(2 * page, page, libc::PROT_READ).unwrap();
        let parts = own_parts(&m);
        assert_eq!(parts.iter().map(|p| p.len).sum::<usize>(), 6 * page);
        assert!(parts.len() >= 3, "{parts:?}");
        let mut calls = 0;
        m.move_into_marked(9, &parts, &mut failing(&mut calls, &[]))
            .unwrap();
        assert_eq!(calls, parts.len());
        assert_eq!(tags(&m, 9), b"abcdef\0\0\0");
        let after = kernel_mappings(m.ptr() as usize, 6 * page).unwrap();
        assert_eq!(after.parts.len(), parts.len(), "{after:?}");
        if locked {
            for p in 1..5 {
                let addr = m.ptr() as usize + p * page;
                let vmflags = vm_flags(addr).unwrap();
                assert!(vmflags.contains(&"lo".to_string()), "page {p}: {vmflags:?}");
            }
        }
    }

    /// Two ends that differ only by the dump flag, each merged with a
    /// neighbour: splitting the last end off merges it with the first, and
    /// that with the first neighbour. The grow must refuse (EBUSY), not move
    /// a piece of the neighbour's kernel mapping and unlock all of it.
    #[test]
    #[cfg(mmkit_mremap)]
    fn splitting_one_end_off_never_remerges_the_other() {
        let page = page_size();
        for first_dontdump in [true, false] {
            let all = std::mem::ManuallyDrop::new(tagged(8));
            let locked = all.lock(0, 8 * page).is_ok();
            let (a, b) = if first_dontdump {
                (libc::MADV_DONTDUMP, libc::MADV_DODUMP)
            } else {
                (libc::MADV_DODUMP, libc::MADV_DONTDUMP)
            };
            // Neighbour [0-2], region [3-5], neighbour [6-7]; kernel
            // mappings [0-4] [5-7].
            all.advise(0, 5 * page, a).unwrap();
            all.advise(5 * page, 3 * page, b).unwrap();
            // SAFETY: pages 3-5 of `all`, which is never dropped; this value
            // is never dropped either (the test owns all of it).
            let mut region = std::mem::ManuallyDrop::new(unsafe {
                Mapping {
                    ptr: all.ptr().add(3 * page),
                    len: 3 * page,
                }
            });
            let km = kernel_mappings(region.ptr() as usize, region.len()).unwrap();
            assert!(km.before && km.after && km.parts.len() == 2, "{km:?}");
            let e = region.resize(6 * page, &private_rw(), None, 0).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EBUSY));
            assert_eq!(tags(&all, 8), b"abcdefgh");
            for p in 0..8 {
                let f = vm_flags(all.ptr() as usize + p * page).unwrap();
                assert_eq!(f.contains(&"lo".into()), locked, "page {p}: {f:?}");
                let dd = if p < 5 {
                    first_dontdump
                } else {
                    !first_dontdump
                };
                assert_eq!(f.contains(&"dd".into()), dd, "page {p}: {f:?}");
            }
        }
    }

    /// Kernels before 6.17 may unmap the old range before a move back
    /// fails: the region must take that hole back (no other mapping can
    /// land inside it) and still get its bytes back.
    #[test]
    #[cfg(mmkit_mremap)]
    fn a_failed_move_back_leaves_no_hole() {
        let page = page_size();
        let (mut m, parts) = striped();
        let mut calls = 0;
        let e = m
            .move_into_marked(8, &parts, &mut |src, len, dst| {
                calls += 1;
                match calls {
                    3 => Err(io::Error::from_raw_os_error(libc::ENOMEM)),
                    4 => {
                        // SAFETY: dst is page 1 of `m`; this stands in for
                        // a kernel that unmapped it before failing.
                        unsafe { libc::munmap(dst.cast(), len) };
                        Err(io::Error::from_raw_os_error(libc::ENOMEM))
                    }
                    _ => dontunmap_move(src, len, dst),
                }
            })
            .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOMEM));
        assert_eq!(tags(&m, 5), b"abcde");
        let km = kernel_mappings(m.ptr() as usize, m.len()).expect("no hole");
        assert_eq!(km.parts.iter().map(|p| p.len).sum::<usize>(), 5 * page);
        assert_eq!(prots(&m)[1], libc::PROT_READ);
    }

    /// A move the kernel refuses before touching the destination (no
    /// MREMAP_DONTUNMAP: ENOTSUP; or the checks of kernels from 6.17) leaves
    /// the fresh pages there: they are recognised and unmapped, not leaked.
    #[test]
    #[cfg(mmkit_mremap)]
    fn a_refused_move_leaks_nothing() {
        for errno in [libc::ENOTSUP, libc::ENOMEM] {
            let (mut m, parts) = striped();
            let (mut fresh_at, mut canary) = (ptr::null_mut(), 0);
            let e = m
                .move_into_marked(8, &parts, &mut |_, _, dst| {
                    fresh_at = dst;
                    // SAFETY: the landing's first page, readable.
                    canary = unsafe { dst.cast::<u64>().read() };
                    Err(io::Error::from_raw_os_error(errno))
                })
                .unwrap_err();
            assert_eq!(e.raw_os_error(), Some(errno));
            assert_eq!(tags(&m, 5), b"abcde");
            // (Not "unmapped": another test's thread may map there since.)
            assert!(
                !holds(fresh_at, canary),
                "{errno}: the landing's first page is still mapped"
            );
        }
    }

    /// A shared mapping (a file or shareable object): split, grown by moving
    /// its parts, it still maps the object, the new pages too; a refused move
    /// leaks nothing, and never unmaps another view of the object that took
    /// a hole the kernel left.
    #[test]
    #[cfg(all(mmkit_mremap, mmkit_memfd))]
    fn moving_a_shared_mapping_keeps_it_on_its_object() {
        let page = page_size();
        let fd = memfd_object(c"mmkit-test").unwrap();
        set_len(fd.as_fd(), 8 * page as u64).unwrap();
        let spec = MapSpec {
            share: Share::Shared,
            ..private_rw()
        };
        let tail = (5 * page) as libc::off_t;
        let split = || {
            let m = map_fd(fd.as_fd(), 0, 5 * page, &spec).unwrap();
            m.protect(page, page, libc::PROT_READ).unwrap();
            let parts = own_parts(&m);
            assert_eq!(parts.len(), 3, "{parts:?}");
            assert!(parts.iter().all(|p| p.shared), "{parts:?}");
            (m, parts)
        };
        let object_byte = |at: usize| {
            let mut b = 0u8;
            // SAFETY: reads one byte into `b`.
            let n = unsafe {
                libc::pread(
                    fd.as_raw_fd(),
                    ptr::addr_of_mut!(b).cast(),
                    1,
                    at as libc::off_t,
                )
            };
            assert_eq!(n, 1);
            b
        };

        // Grown: every page, old and new, is the object's.
        let (mut m, parts) = split();
        let canary = canary();
        let fresh = m
            .landing(8 * page, &spec, Some(fd.as_fd()), tail, &parts, canary)
            .unwrap();
        m.move_into(fresh, canary, &parts, &mut dontunmap_move)
            .unwrap();
        assert_eq!(m.len(), 8 * page);
        m.protect(page, page, libc::PROT_READ | libc::PROT_WRITE)
            .unwrap();
        for p in 0..8 {
            // SAFETY: inside the grown mapping, writable.
            unsafe { *m.ptr().add(p * page) = b'A' + p as u8 };
            assert_eq!(object_byte(p * page), b'A' + p as u8, "page {p}");
        }
        drop(m);

        // Refused before anything moved: the landing is unmapped whole.
        let (mut m, parts) = split();
        refused_grow_leaves_no_landing(&mut m, &parts, &spec, Some(fd.as_fd()), tail);
        assert_eq!(tags(&m, 1), b"A");

        // The kernel unmapped the destination and another thread mapped the
        // same object at the same offset there: left alone.
        let fresh = m
            .landing(8 * page, &spec, Some(fd.as_fd()), tail, &parts, canary)
            .unwrap();
        let mut foreign = ptr::null_mut();
        let e = m
            .move_into(fresh, canary, &parts, &mut |_, len, dst| {
                // SAFETY: dst is in the landing; this stands in for the
                // kernel and another thread.
                unsafe {
                    libc::munmap(dst.cast(), len);
                    foreign = libc::mmap(
                        dst.cast(),
                        len,
                        libc::PROT_READ,
                        libc::MAP_SHARED | MAP_FIXED_NOREPLACE,
                        fd.as_raw_fd(),
                        0,
                    );
                }
                assert_eq!(foreign, dst.cast());
                Err(io::Error::from_raw_os_error(libc::ENOMEM))
            })
            .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOMEM));
        left_alone(foreign, b'A');
    }

    /// The landing's canaries are readable whatever the region's protection:
    /// a refused move of a region made `PROT_NONE` or execute-only leaks
    /// nothing either.
    #[test]
    #[cfg(mmkit_mremap)]
    fn a_refused_move_of_an_unreadable_region_leaks_nothing() {
        for prot in [libc::PROT_NONE, libc::PROT_EXEC] {
            let (mut m, parts) = striped();
            let spec = MapSpec {
                prot,
                ..private_rw()
            };
            refused_grow_leaves_no_landing(&mut m, &parts, &spec, None, 0);
        }
    }

    /// A private file region whose file another process truncated after the
    /// region checked its size: growing it (moving its parts) raises no
    /// signal, whatever it returns.
    #[test]
    #[cfg(mmkit_mremap)]
    fn growing_over_a_truncated_private_file_raises_no_signal() {
        let page = page_size();
        let file = tempfile_unlinked();
        file.set_len(8 * page as u64).unwrap();
        let fd = file.as_fd();
        let mut m = map_fd(fd, 0, 5 * page, &private_rw()).unwrap();
        m.protect(page, page, libc::PROT_READ).unwrap();
        let _next = occupy_after(&m);
        file.set_len(0).unwrap();
        let _ = m.resize(8 * page, &private_rw(), Some(fd), 0);
        // Still here: no SIGBUS.
        assert_eq!(m.len() % page, 0);
    }

    /// A read-only private region (file or anonymous) split in parts and
    /// grown far past RAM: the landing commits no memory, so the grow does
    /// not meet the overcommit limit (its new pages are read-only).
    #[test]
    #[cfg(mmkit_mremap)]
    fn a_big_grow_of_a_read_only_private_region_commits_nothing() {
        let page = page_size();
        let big = 64usize << 30;
        if std::fs::read_to_string("/proc/sys/vm/overcommit_memory").is_ok_and(|m| m.trim() == "2")
        {
            eprintln!("skipped: strict overcommit (vm.overcommit_memory=2) ignores MAP_NORESERVE");
            return;
        }
        let ro = MapSpec {
            prot: libc::PROT_READ,
            ..private_rw()
        };
        let file = tempfile_unlinked();
        file.set_len(big as u64).unwrap();
        for fd in [None, Some(file.as_fd())] {
            let mut m = match fd {
                Some(fd) => map_fd(fd, 0, 5 * page, &ro).unwrap(),
                None => map_anonymous(5 * page, &ro).unwrap(),
            };
            m.protect(page, page, libc::PROT_NONE).unwrap();
            let _next = occupy_after(&m);
            let r = m.resize(big, &ro, fd, 0);
            assert!(r.is_ok(), "file {}: {r:?}", fd.is_some());
            assert_eq!(m.len(), big);
        }
    }

    /// The kernel counts a locked mapping moved with MREMAP_DONTUNMAP twice
    /// against RLIMIT_MEMLOCK (VmLck), for good: a grow, or a failed grow,
    /// of a region with locked parts must leave the count as it was.
    /// (VmLck is the process's: measured in a child running this test alone.)
    #[test]
    #[cfg(mmkit_mremap)]
    fn growing_a_locked_region_counts_its_lock_once() {
        if !in_child(
            "sys::tests::growing_a_locked_region_counts_its_lock_once",
            &[],
        ) {
            return;
        }
        let page = page_size();
        let vmlck = || {
            let status = std::fs::read_to_string("/proc/self/status").unwrap();
            let line = status.lines().find(|l| l.starts_with("VmLck:")).unwrap();
            line.split_whitespace()
                .nth(1)
                .unwrap()
                .parse::<usize>()
                .unwrap()
                * 1024
        };
        let start = vmlck();
        // A grow that moves: pages 1-3 locked, page 2 read-only.
        let mut m = map_anonymous(5 * page, &private_rw()).unwrap();
        if m.lock(page, 3 * page).is_err() {
            eprintln!("skipped: RLIMIT_MEMLOCK below 3 pages");
            return;
        }
        m.protect(2 * page, page, libc::PROT_READ).unwrap();
        let _next = occupy_after(&m);
        m.resize(8 * page, &private_rw(), None, 0).unwrap();
        assert_eq!(vmlck(), start + 3 * page, "grown");
        for p in 1..4 {
            let f = vm_flags(m.ptr() as usize + p * page).unwrap();
            assert!(f.contains(&"lo".into()), "page {p} unlocked: {f:?}");
        }
        drop(m);
        assert_eq!(vmlck(), start, "unmapped");
        // A grow that fails and moves every part back.
        let (mut m, _) = striped();
        m.lock(0, 5 * page).unwrap();
        let parts = own_parts(&m);
        let mut calls = 0;
        m.move_into_marked(8, &parts, &mut failing(&mut calls, &[4]))
            .unwrap_err();
        assert_eq!(vmlck(), start + 5 * page, "moved back");
        drop(m);
        assert_eq!(vmlck(), start, "unmapped after the failed grow");
    }

    /// A shared part whose move back fails still maps its file in the old
    /// range (MREMAP_DONTUNMAP left it): nothing to copy, the region is as
    /// it was -- the grow's own error, not EIO, even when the file was opened
    /// read-only (so the old range could not be made writable for a copy).
    #[test]
    #[cfg(mmkit_mremap)]
    fn a_shared_part_that_cannot_move_back_is_as_it_was() {
        let page = page_size();
        let file = tempfile_unlinked();
        file.set_len(8 * page as u64).unwrap();
        for p in 0..5u8 {
            std::os::unix::fs::FileExt::write_at(&file, &[b'a' + p], u64::from(p) * page as u64)
                .unwrap();
        }
        let ro = std::fs::File::open(format!("/proc/self/fd/{}", file.as_raw_fd())).unwrap();
        let spec = MapSpec {
            prot: libc::PROT_READ,
            share: Share::Shared,
            noreserve: false,
            populate: false,
        };
        let mut m = map_fd(ro.as_fd(), 0, 5 * page, &spec).unwrap();
        m.protect(2 * page, page, libc::PROT_NONE).unwrap();
        let parts = own_parts(&m);
        assert_eq!(parts.len(), 3, "{parts:?}");
        let before = prots(&m);
        let canary = canary();
        let tail = (5 * page) as libc::off_t;
        let fresh = m
            .landing(8 * page, &spec, Some(ro.as_fd()), tail, &parts, canary)
            .unwrap();
        let mut calls = 0;
        // Call 1 moves part 0, call 2 (part 1) fails, call 3 (part 0 back) too.
        let e = m
            .move_into(fresh, canary, &parts, &mut failing(&mut calls, &[2, 3]))
            .unwrap_err();
        assert_eq!(calls, 3);
        assert_eq!(e.raw_os_error(), Some(libc::ENOMEM), "{e}");
        assert_eq!(prots(&m), before);
        assert_eq!(tags(&m, 2), b"ab");
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

    /// A locked region with a page made `PROT_NONE` (a guard page) grows:
    /// `mlock` of its moved part cannot fault that page in (ENOMEM), yet
    /// the part is locked as before.
    #[test]
    #[cfg(mmkit_mremap)]
    fn a_locked_region_with_a_guard_page_grows() {
        let page = page_size();
        let mut m = tagged(5);
        if m.lock(0, 5 * page).is_err() {
            eprintln!("skipped: RLIMIT_MEMLOCK below 5 pages");
            return;
        }
        m.protect(2 * page, page, libc::PROT_NONE).unwrap();
        let _next = occupy_after(&m);
        m.resize(8 * page, &private_rw(), None, 0).unwrap();
        assert_eq!(m.len(), 8 * page);
        for p in 0..5 {
            let f = vm_flags(m.ptr() as usize + p * page).unwrap();
            assert!(f.contains(&"lo".into()), "page {p} unlocked: {f:?}");
        }
    }

    /// The same for a locked shared file mapping whose file shrank under it
    /// (pages past the end cannot be faulted in).
    #[test]
    #[cfg(mmkit_mremap)]
    fn a_locked_mapping_past_the_end_of_its_file_grows() {
        let page = page_size();
        let file = tempfile_unlinked();
        file.set_len(5 * page as u64).unwrap();
        let spec = MapSpec {
            share: Share::Shared,
            ..private_rw()
        };
        let mut m = map_fd(file.as_fd(), 0, 5 * page, &spec).unwrap();
        if m.lock(0, 5 * page).is_err() {
            eprintln!("skipped: RLIMIT_MEMLOCK below 5 pages");
            return;
        }
        m.protect(page, page, libc::PROT_READ).unwrap();
        let _next = occupy_after(&m);
        file.set_len(3 * page as u64).unwrap();
        m.resize(8 * page, &spec, Some(file.as_fd()), 0).unwrap();
        assert_eq!(m.len(), 8 * page);
    }

    /// A part locked on fault (`mlock2(MLOCK_ONFAULT)`) stays locked on
    /// fault, its pages not faulted in by the grow.
    #[test]
    #[cfg(mmkit_mremap)]
    fn a_lock_on_fault_survives_a_grow() {
        let page = page_size();
        let spec = MapSpec {
            noreserve: true,
            ..private_rw()
        };
        let mut m = map_anonymous(64 * page, &spec).unwrap();
        if m.lock_on_fault(page, 32 * page).is_err() {
            eprintln!("skipped: no MLOCK_ONFAULT here");
            return;
        }
        let _next = occupy_after(&m);
        let at = m.ptr();
        m.resize(80 * page, &spec, None, 0).unwrap();
        assert_ne!(at, m.ptr(), "grown in place: nothing moved");
        let f = vm_flags(m.ptr() as usize + page).unwrap();
        assert!(
            f.contains(&"lo".into()) && f.contains(&"lf".into()),
            "{f:?}"
        );
        // Not faulted in: the part's pages are not resident.
        let mut resident = vec![0u8; 32];
        // SAFETY: mincore of 32 pages inside the mapping into a 32-byte vector.
        let rc =
            unsafe { libc::mincore(m.ptr().add(page).cast(), 32 * page, resident.as_mut_ptr()) };
        assert_eq!(rc, 0);
        assert!(
            resident.iter().all(|r| r & 1 == 0),
            "faulted in: {resident:?}"
        );
    }

    /// A landing whose new pages cannot be mapped (a shared writable tail of
    /// a file opened read-only: EACCES, before anything is unmapped) is
    /// unmapped whole.
    #[test]
    #[cfg(mmkit_mremap)]
    fn a_landing_whose_tail_cannot_be_mapped_is_unmapped() {
        let page = page_size();
        let m = tagged(5);
        let parts = own_parts(&m);
        let file = tempfile_unlinked();
        file.set_len(64 * page as u64).unwrap();
        let ro = std::fs::File::open(format!("/proc/self/fd/{}", file.as_raw_fd())).unwrap();
        let spec = MapSpec {
            share: Share::Shared,
            ..private_rw()
        };
        let extra = 37 * page; // a size nothing else here maps
        let tails = || {
            let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
            maps.lines()
                .filter(|l| {
                    let (a, b) = l.split(' ').next().unwrap().split_once('-').unwrap();
                    let len = usize::from_str_radix(b, 16).unwrap()
                        - usize::from_str_radix(a, 16).unwrap();
                    len == extra && l.contains(" rw-p ")
                })
                .count()
        };
        let before = tails();
        let e = m
            .landing(
                5 * page + extra,
                &spec,
                Some(ro.as_fd()),
                0,
                &parts,
                canary(),
            )
            .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EACCES), "{e}");
        assert_eq!(tails(), before, "the landing's tail was left mapped");
    }

    /// RLIMIT_MEMLOCK lowered below what is already locked (allowed: the
    /// locks stay): a grow must keep every lock (moving locked parts locked,
    /// as the only way), and a part that cannot be locked again in place
    /// after a failed move makes the error EIO, never "as it was".
    /// (Needs no CAP_IPC_LOCK: run in a child under setpriv.)
    #[test]
    #[cfg(mmkit_mremap)]
    fn a_grow_under_a_lowered_memlock_limit_keeps_its_locks() {
        let name = "sys::tests::a_grow_under_a_lowered_memlock_limit_keeps_its_locks";
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
        let set_limit = set_memlock;
        grow_with_memlock_lowered();

        set_limit(64 * page);
        let (mut m, _) = striped();
        m.lock(page, page).unwrap();
        let parts = own_parts(&m);
        assert!(parts[1].unlock_to_move, "{parts:?}");
        set_limit(0); // now nothing can be locked again
        let mut calls = 0;
        let e = m
            .move_into_marked(8, &parts, &mut failing(&mut calls, &[2]))
            .unwrap_err();
        let f = vm_flags(m.ptr() as usize + page).unwrap();
        assert!(
            f.contains(&"lo".into()) || e.raw_os_error() == Some(libc::EIO),
            "lock lost, yet {e}: {f:?}"
        );
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

    /// Lock 3 pages of a split region, lower RLIMIT_MEMLOCK below that,
    /// grow it (moving its parts): every lock must stay.
    #[cfg(mmkit_mremap)]
    fn grow_with_memlock_lowered() {
        let page = page_size();
        set_memlock(64 * page);
        let mut m = tagged(5);
        m.lock(page, 3 * page).unwrap();
        m.protect(2 * page, page, libc::PROT_READ).unwrap();
        set_memlock(page); // below the 3 pages locked
        let _next = occupy_after(&m);
        let r = m.resize(8 * page, &private_rw(), None, 0);
        for p in 1..4 {
            let f = vm_flags(m.ptr() as usize + p * page).unwrap();
            assert!(f.contains(&"lo".into()), "page {p} unlocked ({r:?}): {f:?}");
        }
        r.unwrap();
    }

    /// The same as root of a user namespace, whose CAP_IPC_LOCK
    /// (/proc/self/status shows it) does not let it pass the limit.
    #[test]
    #[cfg(mmkit_mremap)]
    fn a_grow_in_a_user_namespace_keeps_its_locks() {
        let name = "sys::tests::a_grow_in_a_user_namespace_keeps_its_locks";
        let unshare = "/usr/bin/unshare";
        if std::env::var_os("MMKIT_SYS_TEST_CHILD").is_none()
            && !std::process::Command::new(unshare)
                .args(["-U", "-r", "true"])
                .status()
                .is_ok_and(|s| s.success())
        {
            eprintln!("skipped: no user namespaces here");
            return;
        }
        if in_child(name, &[unshare, "-U", "-r"]) {
            grow_with_memlock_lowered();
        }
    }

    /// The same in a thread that dropped CAP_IPC_LOCK for itself only (the
    /// main thread, which /proc/self/status describes, keeps it).
    #[test]
    #[cfg(mmkit_mremap)]
    fn a_grow_in_a_thread_without_the_lock_capability_keeps_its_locks() {
        let name = "sys::tests::a_grow_in_a_thread_without_the_lock_capability_keeps_its_locks";
        if !in_child(name, &[]) {
            return;
        }
        std::thread::spawn(|| {
            #[repr(C)]
            struct Header {
                version: u32,
                pid: i32,
            }
            #[repr(C)]
            #[derive(Clone, Copy, Default)]
            struct Data {
                effective: u32,
                permitted: u32,
                inheritable: u32,
            }
            let mut h = Header {
                version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
                pid: 0,
            };
            let mut d = [Data::default(); 2];
            // SAFETY: capget/capset of this thread with a version 3 header
            // and the two data structs that version takes.
            unsafe {
                assert_eq!(libc::syscall(libc::SYS_capget, &mut h, d.as_mut_ptr()), 0);
                d[0].effective &= !(1 << 14); // CAP_IPC_LOCK
                assert_eq!(libc::syscall(libc::SYS_capset, &mut h, d.as_mut_ptr()), 0);
            }
            grow_with_memlock_lowered();
        })
        .join()
        .unwrap();
    }

    /// An open, already unlinked file in the temporary directory.
    #[cfg(mmkit_mremap)]
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

    /// A page mapped right after `m` unless something is there already: a
    /// grow cannot extend it in place.
    #[cfg(mmkit_mremap)]
    fn occupy_after(m: &Mapping) -> Option<Mapping> {
        // SAFETY: MAP_FIXED_NOREPLACE replaces nothing; checked below.
        let p = unsafe {
            libc::mmap(
                m.ptr().add(m.len()).cast(),
                page_size(),
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANON | MAP_FIXED_NOREPLACE,
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

    /// A part copied back (its move back failed too) is locked again, as it
    /// was: the error says the region is as it was, so it must be.
    #[test]
    #[cfg(mmkit_mremap)]
    fn a_copied_back_part_keeps_its_lock() {
        let page = page_size();
        let (mut m, _) = striped();
        if m.lock(0, 5 * page).is_err() {
            eprintln!("skipped: RLIMIT_MEMLOCK below 5 pages");
            return;
        }
        let parts = own_parts(&m);
        assert!(parts.iter().all(|p| p.locked), "{parts:?}");
        let mut calls = 0;
        let e = m
            .move_into_marked(8, &parts, &mut failing(&mut calls, &[4, 6]))
            .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOMEM));
        assert_eq!(tags(&m, 5), b"abcde");
        for p in 0..5 {
            let f = vm_flags(m.ptr() as usize + p * page).unwrap();
            assert!(f.contains(&"lo".into()), "page {p} unlocked: {f:?}");
        }
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
