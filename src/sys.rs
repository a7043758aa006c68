//! The platform backend: the only module that talks to the kernel.
//!
//! Everything target-specific is here, selected by the `mmkit_*` cfgs that
//! `build.rs` derives from `CARGO_CFG_TARGET_OS`. The rest of the crate sees
//! one small interface: [`Mapping`] (an owned `mmap` that is unmapped on drop)
//! and a handful of functions for anonymous, file and descriptor work.

use std::ffi::c_void;
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
#[derive(Clone, Copy, Debug)]
pub(crate) struct MapSpec {
    /// `PROT_*` bits.
    pub prot: i32,
    pub share: Share,
    /// Ask for `MAP_NORESERVE` where the platform has it.
    pub noreserve: bool,
    /// Ask for `MAP_POPULATE` where the platform has it (a hint; see [`populate`]).
    pub populate: bool,
}

impl MapSpec {
    fn mmap_flags(&self) -> i32 {
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
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| -> Option<usize> {
        let line = info.lines().find(|l| l.starts_with(name))?;
        line[name.len()..].split_whitespace().next()?.parse().ok()
    };
    let free = field("HugePages_Free:")?;
    let size_kb = field("Hugepagesize:")?;
    (free > 0).then_some((free, size_kb.checked_mul(1024)?))
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

/// Prefault every page of `m`, reporting failure (where `MAP_POPULATE` is
/// silent). Linux 5.14+: one `MADV_POPULATE_WRITE` / `_READ` pass, after any
/// huge page advice. Older Linux: `MAP_POPULATE` already did it at `mmap`.
/// Elsewhere: `MADV_WILLNEED` and a touch of every page (a store of the byte
/// it holds where `write`, so private pages are really allocated).
pub(crate) fn populate(m: &Mapping, write: bool) -> SysResult<()> {
    #[cfg(mmkit_map_populate)]
    {
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
        let page = page_size();
        let mut off = 0;
        while off < m.len() {
            // SAFETY: off < len, inside the live mapping, which is readable
            // (populate is only asked for readable mappings), writable where
            // `write`, and not yet handed to anyone who could race the store.
            // The region's bounds were checked against the file size.
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

/// The soft `RLIMIT_MEMLOCK` in bytes; `None` for unlimited or unknown.
pub(crate) fn memlock_limit() -> Option<u64> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut rl) } != 0
        || rl.rlim_cur == libc::RLIM_INFINITY
    {
        return None;
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is i64 on some BSDs
    Some(rl.rlim_cur as u64)
}

/// The soft `RLIMIT_FSIZE` in bytes; `None` for unlimited or unknown.
pub(crate) fn file_size_limit() -> Option<u64> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, &mut rl) } != 0
        || rl.rlim_cur == libc::RLIM_INFINITY
    {
        return None;
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is i64 on some BSDs
    Some(rl.rlim_cur as u64)
}

/// Bytes this process already has locked (`VmLck`), where the system tells.
pub(crate) fn locked_bytes() -> Option<u64> {
    #[cfg(mmkit_proc_status)]
    {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmLck:"))?;
        let kb: u64 = line["VmLck:".len()..]
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        kb.checked_mul(1024)
    }
    #[cfg(not(mmkit_proc_status))]
    {
        None
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
}

/// `fstat` of a descriptor.
pub(crate) fn fstat(fd: BorrowedFd<'_>) -> SysResult<Stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes a whole struct stat into the buffer on success.
    cvt(unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: fstat succeeded, so the struct is initialised.
    let st = unsafe { st.assume_init() };
    Ok(Stat {
        kind: st.st_mode & libc::S_IFMT,
        size: st.st_size.max(0) as u64,
        #[allow(clippy::unnecessary_cast)] // dev_t and ino_t differ by platform
        dev: st.st_dev as u64,
        #[allow(clippy::unnecessary_cast)]
        ino: st.st_ino as u64,
    })
}

/// `fsync` of a descriptor.
pub(crate) fn fsync(fd: BorrowedFd<'_>) -> SysResult<()> {
    loop {
        // SAFETY: fsync only acts on the descriptor.
        match cvt(unsafe { libc::fsync(fd.as_raw_fd()) }) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
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

fn copy_via_pipe(dir: Direction, mapped: *mut u8, buf: *mut u8, n: usize) -> SysResult<()> {
    use std::os::fd::{FromRawFd, OwnedFd};
    let (from, to) = match dir {
        Direction::Read => (mapped.cast_const(), buf),
        Direction::Write => (buf.cast_const(), mapped),
    };
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors pipe returns.
    cvt(unsafe { libc::pipe(fds.as_mut_ptr()) })?;
    // SAFETY: both descriptors were just created and are owned from here on.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    for fd in [&rd, &wr] {
        // SAFETY: fcntl on descriptors we own. Close-on-exec for exec'ing
        // threads; the write end non-blocking so a small pipe never hangs us.
        unsafe {
            libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC);
        }
    }
    // SAFETY: as above.
    unsafe {
        libc::fcntl(wr.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK);
    }
    let mut done = 0;
    while done < n {
        let chunk = (n - done).min(64 * 1024);
        // SAFETY: reads at most `chunk` bytes inside the source range; a
        // fault there is reported as EFAULT by the kernel.
        let w = unsafe { libc::write(wr.as_raw_fd(), from.add(done).cast(), chunk) };
        if w < 0 {
            let e = last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if w == 0 {
            return Err(io::Error::from_raw_os_error(libc::EFAULT));
        }
        let mut got = 0;
        while got < w as usize {
            // SAFETY: writes at most the bytes just queued into the target
            // range; a fault there is reported as EFAULT by the kernel.
            let r =
                unsafe { libc::read(rd.as_raw_fd(), to.add(done + got).cast(), w as usize - got) };
            if r < 0 {
                let e = last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if r == 0 {
                return Err(io::Error::from_raw_os_error(libc::EFAULT));
            }
            got += r as usize;
        }
        done += got;
    }
    Ok(())
}

// ---------------------------------------------------------------- shareable memory

/// An anonymous shared-memory object no name refers to: `memfd_create` on
/// Linux (sealable), else `shm_open` under a random name, unlinked at once.
/// Returns the descriptor (close-on-exec) and whether it can be sealed.
pub(crate) fn shareable_object(name: &std::ffi::CStr) -> SysResult<(std::os::fd::OwnedFd, bool)> {
    #[cfg(mmkit_memfd)]
    {
        use std::os::fd::FromRawFd;
        let mut flags = libc::MFD_CLOEXEC;
        if cfg!(mmkit_seals) {
            flags |= libc::MFD_ALLOW_SEALING;
        }
        // SAFETY: name is NUL-terminated; the result is checked.
        let fd = unsafe { libc::memfd_create(name.as_ptr(), flags) };
        if fd >= 0 {
            // SAFETY: a new descriptor, owned from here on.
            return Ok((
                unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) },
                cfg!(mmkit_seals),
            ));
        }
        let e = last_os_error();
        // Old kernels or a seccomp filter: fall back to POSIX shared memory.
        if !matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) {
            return Err(e);
        }
    }
    let _ = name;
    shm_anonymous().map(|fd| (fd, false))
}

/// `shm_open` with a fresh random name and `O_EXCL`, then `shm_unlink` at once:
/// nothing is left in any namespace, even if the process dies right after.
fn shm_anonymous() -> SysResult<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    use std::time::{SystemTime, UNIX_EPOCH};
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    for _ in 0..64 {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let name = format!("/mmkit-{}-{seq}-{nanos:x}\0", std::process::id());
        // SAFETY: name is NUL-terminated; shm_open sets FD_CLOEXEC itself (POSIX).
        let fd = unsafe {
            libc::shm_open(
                name.as_ptr().cast(),
                libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
                0o600 as libc::mode_t,
            )
        };
        if fd < 0 {
            let e = last_os_error();
            if e.raw_os_error() == Some(libc::EEXIST) {
                continue;
            }
            return Err(e);
        }
        // SAFETY: a new descriptor, owned from here on.
        let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
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

impl Mapping {
    /// Grow or shrink to `new_len` bytes (a page multiple); the address may
    /// change. `fd`/`offset` back file and shareable mappings (used where the
    /// platform has no `mremap`); private bytes are kept either way.
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
        #[cfg(mmkit_mremap)]
        {
            let _ = (spec, fd, offset);
            // SAFETY: remaps the mapping this value owns; MREMAP_MAYMOVE lets the
            // kernel pick a fresh range, never one in use.
            let p =
                unsafe { libc::mremap(self.ptr.cast(), self.len, new_len, libc::MREMAP_MAYMOVE) };
            if p == libc::MAP_FAILED {
                return Err(last_os_error());
            }
            self.ptr = p.cast();
            self.len = new_len;
            Ok(())
        }
        #[cfg(not(mmkit_mremap))]
        {
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
            let fresh = match fd {
                Some(fd) => Mapping::map(new_len, &spec, 0, Some(fd), offset)?,
                None => {
                    let anon = map_anonymous(new_len, &spec);
                    match anon {
                        Ok(m) => m,
                        Err(e) if anonymous_refused(&e) => map_devzero(new_len, &spec)?,
                        Err(e) => return Err(e),
                    }
                }
            };
            let readable_writable = spec.prot & (libc::PROT_READ | libc::PROT_WRITE)
                == libc::PROT_READ | libc::PROT_WRITE;
            if (fd.is_none() || spec.share == Share::Private) && readable_writable {
                // Anonymous memory, or private copies of file pages: carry the
                // bytes (a region that was never writable holds only zeros or
                // the file's bytes, which the new mapping has already).
                // SAFETY: both ranges are live mappings of at least self.len bytes
                // (the new one is larger) and do not overlap.
                unsafe { ptr::copy_nonoverlapping(self.ptr, fresh.ptr, self.len) };
            }
            *self = fresh;
            Ok(())
        }
    }
}

/// `ftruncate` returning the raw error, for resizing shareable objects.
pub(crate) fn set_len(fd: BorrowedFd<'_>, len: u64) -> SysResult<()> {
    truncate(fd, len)
}
