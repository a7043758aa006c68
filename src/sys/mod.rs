//! The platform backend: the only module that talks to the kernel.
//!
//! Everything target-specific is here, selected by the `mmkit_*` cfgs that
//! `build.rs` derives from `CARGO_CFG_TARGET_OS`. The rest of the crate sees
//! one small interface: [`Mapping`] (an owned `mmap` that is unmapped on drop)
//! and a handful of functions for anonymous, file and descriptor work.

use std::ffi::{c_void, CStr};
use std::fs::File;
use std::io;
use std::num::NonZeroU8;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};

mod anon;
mod copy;
mod create;
mod file;
mod grow;
mod guard;
mod limits;
mod populate;
mod pseudo_fs;
mod shareable;
#[cfg(test)]
mod test_support;

pub(crate) use crate::backend::*;
pub(crate) use anon::*;
pub(crate) use copy::*;
pub(crate) use create::*;
pub(crate) use file::*;
pub(crate) use guard::*;
pub(crate) use limits::*;
pub(crate) use populate::*;
pub(crate) use pseudo_fs::*;
pub(crate) use shareable::*;

/// A descriptor borrowed from its owner: a file descriptor here (a `HANDLE`
/// on Windows). The core speaks of descriptors only through these names.
pub type BorrowedDescriptor<'a> = std::os::fd::BorrowedFd<'a>;
/// A descriptor this value owns and closes on drop.
pub type OwnedDescriptor = std::os::fd::OwnedFd;
pub(crate) use std::os::fd::{AsFd as AsDescriptor, AsRawFd as AsRawDescriptor};

/// The descriptor `fd` of a C caller (`mm_map_fd`), borrowed.
///
/// # Safety
/// `fd >= 0`, and it stays open while borrowed (the caller's duty for the
/// length of the call); a descriptor that is not open is reported `EBADF`
/// by the system calls made on it.
#[inline]
pub(crate) unsafe fn borrow_c_fd<'a>(fd: i32) -> io::Result<BorrowedDescriptor<'a>> {
    // SAFETY: as the caller promises.
    Ok(unsafe { BorrowedFd::borrow_raw(fd) })
}

/// The C descriptor number of an owned descriptor (`mm_fd`).
#[inline]
pub(crate) fn c_fd(fd: &OwnedDescriptor) -> Option<i32> {
    Some(fd.as_raw_fd())
}

/// The system calls messages name, by what they do (the Windows backend
/// names its own).
pub(crate) mod calls {
    pub(crate) const OPEN: &str = "open";
    pub(crate) const READ_ONLY: &str = "O_RDONLY";
    pub(crate) const READ_WRITE: &str = "O_RDWR";
    pub(crate) const FSTAT: &str = "fstat";
    pub(crate) const MAP: &str = "mmap";
    pub(crate) const MAP_ANONYMOUS: &str = "mmap(MAP_ANONYMOUS)";
    pub(crate) const MAP_DEVZERO: &str = "mmap(/dev/zero)";
    pub(crate) const SYNC: &str = "msync";
    pub(crate) const LOCK: &str = "mlock";
    pub(crate) const UNLOCK: &str = "munlock";
    pub(crate) const ADVISE: &str = "madvise";
    pub(crate) const PROTECT: &str = "mprotect";
    pub(crate) const SET_LEN: &str = "ftruncate";
    /// How explicit huge pages are asked for.
    pub(crate) const HUGE_PAGES: &str = "MAP_HUGETLB";
    /// Where more explicit huge pages are reserved.
    pub(crate) const HUGE_PAGES_RESERVE: &str = "vm.nr_hugepages";
}

/// The system's error numbers, by their names: what the rest of the crate
/// reports (as `-errno` through the C ABI) and compares with.
pub(crate) mod errno {
    pub(crate) use libc::{
        EACCES, EAGAIN, EBADF, EBUSY, EDQUOT, EEXIST, EFAULT, EFBIG, EINTR, EINVAL, EIO, EISDIR,
        ELOOP, ENODEV, ENOENT, ENOMEM, ENOSPC, ENOTSUP, ENXIO, EPERM, EROFS, ESTALE,
    };
}

/// Write the system's text for error number `code` (`strerror_r` into a
/// stack buffer: no heap).
pub(crate) fn write_error_text(code: i32, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    let mut buf = [0 as libc::c_char; 256];
    // SAFETY: strerror_r writes at most buf.len() bytes, NUL included, into
    // the live buffer (the XSI version: it returns an int).
    let rc = unsafe { libc::strerror_r(code, buf.as_mut_ptr(), buf.len()) };
    if rc != 0 {
        return write!(f, "error {code}");
    }
    // SAFETY: on success the buffer holds a NUL-terminated string.
    let bytes = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_bytes();
    match std::str::from_utf8(bytes) {
        Ok(s) => f.write_str(s),
        Err(e) => f.write_str(std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or("")),
    }
}

/// The errno an error of this backend stands for (what the C ABI returns,
/// negated), or `None` for an error that carries none.
#[inline]
pub(crate) fn errno_of(e: &io::Error) -> Option<i32> {
    e.raw_os_error()
}

/// An error standing for `errno` (the backend's own kind of error, so that
/// [`errno_of`] gives `errno` back).
#[inline]
pub(crate) fn errno_error(errno: i32) -> io::Error {
    io::Error::from_raw_os_error(errno)
}

/// The `io::ErrorKind` of an errno (std's own reading of it).
#[inline]
pub(crate) fn kind_of(errno: i32) -> io::ErrorKind {
    io::Error::from_raw_os_error(errno).kind()
}

/// Write the system's text for `e`: its errno's, or its own when it has none.
pub(crate) fn write_os_error(e: &io::Error, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    match e.raw_os_error() {
        Some(code) => write_error_text(code, f),
        None => std::fmt::Display::fmt(e, f),
    }
}

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

/// log2 of a page size (a power of two, so never 0 for one above a byte).
#[inline]
fn page_shift(page: usize) -> NonZeroU8 {
    NonZeroU8::new(page.trailing_zeros() as u8).unwrap_or(NonZeroU8::MIN)
}

/// Where a file mapping may start: file offsets are aligned down to a
/// multiple of this (the page size here).
#[inline]
pub(crate) fn map_granularity() -> usize {
    page_size()
}

/// A protection: the system's `PROT_*` bits for some of read, write, execute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Prot(pub(crate) i32);

impl Prot {
    /// The protection of `MM_READ`, `MM_WRITE`, `MM_EXEC` in `flags` (write
    /// implies read).
    #[inline]
    pub(crate) fn of(flags: crate::Flags) -> Prot {
        use crate::Flags;
        let mut p = libc::PROT_NONE;
        if flags.intersects(Flags::READ | Flags::WRITE) {
            p |= libc::PROT_READ;
        }
        if flags.contains(Flags::WRITE) {
            p |= libc::PROT_WRITE;
        }
        if flags.contains(Flags::EXEC) {
            p |= libc::PROT_EXEC;
        }
        Prot(p)
    }
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

/// Why `MM_NORESERVE` is refused here, where it is (Windows): on Unix it is
/// a hint, ignored (and not reported) where `MAP_NORESERVE` is missing.
pub(crate) const NORESERVE_REFUSED: Option<&str> = None;

/// An owned memory mapping: `len` bytes (a multiple of its page) at `ptr`,
/// unmapped on drop.
#[derive(Debug)]
pub(crate) struct Mapping {
    ptr: *mut u8,
    len: usize,
    /// log2 of the size of the pages the kernel maps it in: the system page,
    /// or the huge page of a `MAP_HUGETLB` mapping. Never 0, which keeps an
    /// `Option<Mapping>` (and so a `Region`) the size it was.
    shift: NonZeroU8,
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
                spec.prot.0,
                spec.mmap_flags() | extra,
                raw_fd,
                offset,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(last_os_error());
        }
        Ok(Mapping::of(p.cast(), len))
    }

    /// The mapping of `len` bytes at `ptr`, in system pages, which this
    /// value owns from now on (it unmaps them on drop).
    #[inline(always)]
    fn of(ptr: *mut u8, len: usize) -> Mapping {
        Mapping {
            ptr,
            len,
            shift: page_shift(page_size()),
        }
    }

    /// This mapping as the kernel made it in huge pages of `size` bytes (a
    /// hugetlbfs file's, [`huge_page_of`]): its length rounded up to them,
    /// as its VMA's is, so that `munmap` (which refuses a length inside a
    /// huge page, leaving the mapping behind) and every range go by them.
    pub(crate) fn in_pages_of(mut self, size: usize) -> Mapping {
        self.shift = page_shift(size);
        self.len = round_up(self.len, size).unwrap_or(self.len);
        self
    }

    /// The size of the pages the kernel maps this mapping in: the huge page
    /// size for explicit huge pages (`MAP_HUGETLB`), else [`page_size`].
    /// Its length, and the start and end of anything done to a part of it
    /// (`mprotect`, `madvise`, `munmap`), are multiples of this.
    #[inline]
    pub(crate) fn page_size(&self) -> usize {
        1 << self.shift.get()
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
    pub(crate) fn sync(&self, start: usize, len: usize, how: crate::SyncFlags) -> SysResult<()> {
        let mut flags = match how.mode {
            crate::SyncMode::Sync => libc::MS_SYNC,
            crate::SyncMode::Async => libc::MS_ASYNC,
        };
        if how.invalidate {
            flags |= libc::MS_INVALIDATE;
        }
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

    /// `mprotect` of `[start, start+len)`.
    pub(crate) fn protect(&self, start: usize, len: usize, prot: Prot) -> SysResult<()> {
        // SAFETY: the range lies inside this live mapping; changing protection
        // cannot invalidate Rust references because Region hands out none.
        cvt(unsafe { libc::mprotect(self.at(start, len), len, prot.0) })
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
