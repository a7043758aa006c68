//! The Windows backend: the same names as the Unix one (`src/sys/`), on
//! `VirtualAlloc`, sections (`CreateFileMappingW`) and views
//! (`MapViewOfFile`). `lib.rs` mounts it as `sys` on Windows targets.
//!
//! Descriptors are `HANDLE`s here; the C ABI's `int fd` is a C runtime
//! descriptor, turned into its `HANDLE` by `_get_osfhandle` ([`borrow_c_fd`]).
//! Errors are `GetLastError()` codes carried with the C runtime errno they
//! stand for ([`error`]); what Windows cannot do is `ENOTSUP`.

use std::ffi::{c_void, CStr};
use std::io;
use std::os::windows::io::{AsHandle, AsRawHandle, BorrowedHandle, OwnedHandle};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};

use windows_sys::Win32::Foundation::{HANDLE, INVALID_HANDLE_VALUE};
use windows_sys::Win32::System::Memory as mem;

mod anon;
mod copy;
mod create;
mod error;
mod file;
mod grow;
mod guard;
mod limits;
mod lock;
mod populate;
mod section;
mod shareable;

pub(crate) use crate::backend::*;
pub(crate) use anon::*;
pub(crate) use copy::*;
pub(crate) use create::*;
pub(crate) use error::*;
pub(crate) use file::*;
pub(crate) use guard::*;
pub(crate) use limits::*;
pub(crate) use populate::*;
pub(crate) use section::*;
pub(crate) use shareable::*;

/// A descriptor borrowed from its owner: a `HANDLE`.
pub type BorrowedDescriptor<'a> = BorrowedHandle<'a>;
/// A descriptor this value owns and closes on drop: a `HANDLE`.
pub type OwnedDescriptor = OwnedHandle;

/// `as_fd()`, the name the core uses, for anything holding a `HANDLE`.
pub(crate) trait AsDescriptor {
    fn as_fd(&self) -> BorrowedDescriptor<'_>;
}

impl<T: AsHandle> AsDescriptor for T {
    fn as_fd(&self) -> BorrowedDescriptor<'_> {
        self.as_handle()
    }
}

/// `as_raw_fd()`: the number messages show for a descriptor (the `HANDLE`'s
/// value).
pub(crate) trait AsRawDescriptor {
    fn as_raw_fd(&self) -> i32;
}

impl AsRawDescriptor for BorrowedHandle<'_> {
    fn as_raw_fd(&self) -> i32 {
        self.as_raw_handle() as isize as i32
    }
}

/// The `HANDLE` behind the C runtime descriptor `fd` (`mm_map_fd`), or
/// `EBADF` when `fd` is not an open descriptor.
///
/// # Safety
/// The descriptor must stay open while the handle is borrowed (the caller's
/// duty for the length of the call, as on Unix).
pub(crate) unsafe fn borrow_c_fd<'a>(fd: i32) -> io::Result<BorrowedDescriptor<'a>> {
    extern "C" {
        fn _get_osfhandle(fd: i32) -> isize;
    }
    // SAFETY: _get_osfhandle validates fd itself and returns -1 (or -2 for a
    // descriptor with no stream) when it is not an open descriptor.
    let h = unsafe { _get_osfhandle(fd) };
    if h == -1 || h == -2 || h == 0 {
        return Err(errno_error(errno::EBADF));
    }
    // SAFETY: h is the open handle of fd, which the caller keeps open.
    Ok(unsafe { BorrowedHandle::borrow_raw(h as HANDLE) })
}

/// The system calls messages name, by what they do.
pub(crate) mod calls {
    pub(crate) const OPEN: &str = "CreateFileW";
    pub(crate) const READ_ONLY: &str = "GENERIC_READ";
    pub(crate) const READ_WRITE: &str = "GENERIC_READ|GENERIC_WRITE";
    pub(crate) const FSTAT: &str = "GetFileInformationByHandle";
    pub(crate) const MAP: &str = "MapViewOfFile";
    pub(crate) const MAP_ANONYMOUS: &str = "VirtualAlloc or a pagefile section";
    pub(crate) const MAP_DEVZERO: &str = "MM_DEVZERO (Windows has no /dev/zero)";
    pub(crate) const SYNC: &str = "FlushViewOfFile";
    pub(crate) const LOCK: &str = "VirtualLock";
    pub(crate) const UNLOCK: &str = "VirtualUnlock";
    pub(crate) const ADVISE: &str = "advice";
    pub(crate) const PROTECT: &str = "VirtualProtect";
    pub(crate) const SET_LEN: &str = "SetFileInformationByHandle(FileEndOfFileInfo)";
    /// Never named: no region here is in large pages.
    pub(crate) const HUGE_PAGES: &str = "large pages";
    pub(crate) const HUGE_PAGES_RESERVE: &str = "SeLockMemoryPrivilege";
}

/// A path's bytes, as the C ABI takes them here: UTF-8.
pub(crate) fn path_bytes(p: &std::path::Path) -> Option<&[u8]> {
    p.to_str().map(str::as_bytes)
}

/// The path of UTF-8 bytes (`None` when they are not UTF-8).
pub(crate) fn path_of_bytes(b: &[u8]) -> Option<&std::path::Path> {
    std::str::from_utf8(b).ok().map(std::path::Path::new)
}

/// [`path_of_bytes`], owned: the bytes move into the path, no copy.
pub(crate) fn path_buf_of_vec(v: Vec<u8>) -> Option<std::path::PathBuf> {
    String::from_utf8(v).ok().map(std::path::PathBuf::from)
}

/// Run `f` on `bytes` as a C string (`EINVAL` when they hold a NUL).
pub(crate) fn with_c_bytes<T>(bytes: &[u8], f: impl FnOnce(&CStr) -> SysResult<T>) -> SysResult<T> {
    if bytes.contains(&0) {
        return Err(errno_error(errno::EINVAL));
    }
    let mut v: Vec<u8> = Vec::new();
    v.try_reserve_exact(bytes.len() + 1)
        .map_err(|_| errno_error(errno::ENOMEM))?;
    v.extend_from_slice(bytes);
    v.push(0);
    let c = CStr::from_bytes_with_nul(&v).map_err(|_| errno_error(errno::EINVAL))?;
    f(c)
}

/// Result of a system call wrapper: the error (with its errno) on failure.
pub(crate) type SysResult<T> = std::result::Result<T, io::Error>;

fn system_info() -> windows_sys::Win32::System::SystemInformation::SYSTEM_INFO {
    // SAFETY: GetSystemInfo fills the whole struct it is given.
    unsafe {
        let mut si = std::mem::zeroed();
        windows_sys::Win32::System::SystemInformation::GetSystemInfo(&mut si);
        si
    }
}

/// The system page size, queried once.
pub(crate) fn page_size() -> usize {
    static PAGE: AtomicUsize = AtomicUsize::new(0);
    match PAGE.load(Ordering::Relaxed) {
        0 => {
            let page = match system_info().dwPageSize as usize {
                p if p.is_power_of_two() => p,
                _ => 4096,
            };
            PAGE.store(page, Ordering::Relaxed);
            page
        }
        page => page,
    }
}

/// Where a view of a file may start: the allocation granularity (64 KiB).
pub(crate) fn map_granularity() -> usize {
    static GRAIN: AtomicUsize = AtomicUsize::new(0);
    match GRAIN.load(Ordering::Relaxed) {
        0 => {
            let g = match system_info().dwAllocationGranularity as usize {
                g if g.is_power_of_two() && g >= page_size() => g,
                _ => 65536,
            };
            GRAIN.store(g, Ordering::Relaxed);
            g
        }
        g => g,
    }
}

/// A protection: some of read, write, execute (Windows has no write-only
/// pages: write implies read, as the contract says anyway).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Prot(u8);

impl Prot {
    const READ: u8 = 1;
    const WRITE: u8 = 2;
    const EXEC: u8 = 4;

    /// The protection of `MM_READ`, `MM_WRITE`, `MM_EXEC` in `flags`.
    #[inline]
    pub(crate) fn of(flags: crate::Flags) -> Prot {
        use crate::Flags;
        let mut p = 0;
        if flags.intersects(Flags::READ | Flags::WRITE) {
            p |= Prot::READ;
        }
        if flags.contains(Flags::WRITE) {
            p |= Prot::WRITE;
        }
        if flags.contains(Flags::EXEC) {
            p |= Prot::EXEC;
        }
        Prot(p)
    }

    /// Read and write, and execute where `exec`.
    fn read_write(exec: bool) -> Prot {
        Prot(Prot::READ | Prot::WRITE | if exec { Prot::EXEC } else { 0 })
    }

    fn exec(self) -> bool {
        self.0 & Prot::EXEC != 0
    }

    fn readable(self) -> bool {
        self.0 & Prot::READ != 0
    }

    fn writable(self) -> bool {
        self.0 & Prot::WRITE != 0
    }

    /// The `PAGE_*` value; `copy_on_write` for private views of a section,
    /// whose writable pages are `PAGE_WRITECOPY`.
    fn page(self, copy_on_write: bool) -> mem::PAGE_PROTECTION_FLAGS {
        let exec = self.0 & Prot::EXEC != 0;
        match (self.writable(), self.readable(), exec, copy_on_write) {
            (true, _, false, false) => mem::PAGE_READWRITE,
            (true, _, false, true) => mem::PAGE_WRITECOPY,
            (true, _, true, false) => mem::PAGE_EXECUTE_READWRITE,
            (true, _, true, true) => mem::PAGE_EXECUTE_WRITECOPY,
            (false, true, false, _) => mem::PAGE_READONLY,
            (false, true, true, _) => mem::PAGE_EXECUTE_READ,
            (false, false, true, _) => mem::PAGE_EXECUTE,
            (false, false, false, _) => mem::PAGE_NOACCESS,
        }
    }
}

/// Whether `MAP_NORESERVE` means anything on this target.
pub(crate) const HAS_NORESERVE: bool = false;

/// `MM_NORESERVE` is refused: Windows charges every committed page against
/// the commit limit, and memory committed on first touch would need a fault
/// handler (the contract: a Unix-only flag that cannot mean anything here is
/// `ENOTSUP`, never a silent success).
pub(crate) const NORESERVE_REFUSED: Option<&str> =
    Some("Windows commits (reserves backing for) every page it maps; there is no lazy commit");

/// How a [`Mapping`] was made, which says how to change and free it.
#[derive(Debug)]
enum How {
    /// `VirtualAlloc`: private anonymous memory.
    Virtual,
    /// `MapViewOfFile` of a section: shared anonymous memory, a shareable
    /// region's section, or a file. `file` is kept for a writable shared
    /// view of a file, so that `mm_sync` can `FlushFileBuffers`.
    View {
        copy_on_write: bool,
        /// The widest protection the view allows (what its section and
        /// access were made for): more is `EACCES`, as `mprotect` says of a
        /// mapping of a descriptor opened without the access.
        max: Prot,
        file: Option<OwnedHandle>,
    },
}

/// An owned memory mapping: `len` bytes (a page multiple) at `ptr`, freed on
/// drop (all of what was mapped: a shrink only lowers `len`).
#[derive(Debug)]
pub(crate) struct Mapping {
    ptr: *mut u8,
    len: usize,
    how: How,
}

// SAFETY: a Mapping is a plain address range owned by this value; the calls
// made on it (VirtualProtect, VirtualLock, FlushViewOfFile) are thread-safe.
unsafe impl Send for Mapping {}
// SAFETY: as above; shared references only issue thread-safe system calls.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// The first byte of the mapping.
    pub(crate) fn ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// The mapped length in bytes (a multiple of the page size).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The size of the pages it is mapped in: always [`page_size`] (no
    /// large pages here).
    #[inline]
    pub(crate) fn page_size(&self) -> usize {
        page_size()
    }

    /// The mapping in pages of `size` bytes: never asked here ([`huge_page_of`]
    /// finds none); it stays as it is.
    pub(crate) fn in_pages_of(self, _size: usize) -> Mapping {
        self
    }

    fn at(&self, start: usize, len: usize) -> *mut c_void {
        debug_assert!(start.checked_add(len).is_some_and(|e| e <= self.len));
        // SAFETY: callers pass ranges inside the mapping (checked by Region).
        unsafe { self.ptr.add(start).cast() }
    }

    fn copy_on_write(&self) -> bool {
        matches!(
            self.how,
            How::View {
                copy_on_write: true,
                ..
            }
        )
    }

    /// `FlushViewOfFile` of `[start, start+len)`, then `FlushFileBuffers`
    /// for `MM_SYNC` (a view of a file opened for writing). `MM_INVALIDATE`
    /// has nothing to do: views of one file share their pages.
    pub(crate) fn sync(&self, start: usize, len: usize, how: crate::SyncFlags) -> SysResult<()> {
        let How::View {
            copy_on_write: false,
            file,
            ..
        } = &self.how
        else {
            return Ok(());
        };
        // ERROR_LOCK_VIOLATION is transient (the cache manager holds the
        // pages): tried again a few times, as RocksDB and .NET do.
        let mut tries = 0;
        // SAFETY: the range lies inside this live view.
        while unsafe { mem::FlushViewOfFile(self.at(start, len), len) } == 0 {
            let e = last_error();
            tries += 1;
            if win_code(&e) != Some(ERROR_LOCK_VIOLATION) || tries == 10 {
                return Err(e);
            }
            std::thread::yield_now();
        }
        if let (crate::SyncMode::Sync, Some(file)) = (how.mode, file) {
            // SAFETY: file is an open handle this mapping owns.
            let ok = unsafe {
                windows_sys::Win32::Storage::FileSystem::FlushFileBuffers(
                    file.as_raw_handle() as HANDLE
                )
            };
            if ok == 0 {
                return Err(last_error());
            }
        }
        Ok(())
    }

    /// Advice, by the raw value [`madvise_value`] gave.
    pub(crate) fn advise(&self, start: usize, len: usize, advice: i32) -> SysResult<()> {
        match advice {
            ADVICE_WILLNEED => prefetch(self.at(start, len), len),
            ADVICE_DONTNEED => match self.how {
                // Private memory: its contents are no longer of interest.
                How::Virtual => {
                    let prot = Prot(Prot::READ | Prot::WRITE).page(false);
                    // SAFETY: MEM_RESET of committed pages inside this live
                    // allocation; it changes neither the range nor its protection.
                    let p = unsafe {
                        mem::VirtualAlloc(self.at(start, len), len, mem::MEM_RESET, prot)
                    };
                    if p.is_null() {
                        return Err(last_error());
                    }
                    Ok(())
                }
                // A view: out of the working set (VirtualUnlock of pages
                // that are not locked does that); the bytes stay. Locked
                // pages would be unlocked by it: refused, as Linux refuses
                // MADV_DONTNEED on locked pages.
                How::View { .. } => match self.locked_in(start, len) {
                    Some(false) => {
                        // SAFETY: the range lies inside this live view.
                        unsafe { mem::VirtualUnlock(self.at(start, len), len) };
                        Ok(())
                    }
                    Some(true) => Err(errno_error(errno::EINVAL)),
                    None => Err(errno_error(errno::ENOTSUP)),
                },
            },
            _ => Err(errno_error(errno::ENOTSUP)),
        }
    }

    /// `VirtualProtect` of `[start, start+len)`.
    pub(crate) fn protect(&self, start: usize, len: usize, prot: Prot) -> SysResult<()> {
        if let How::View { max, .. } = self.how {
            // Checked here: Wine says ERROR_INVALID_PARAMETER where Windows
            // says ERROR_ACCESS_DENIED.
            if prot.0 & !max.0 != 0 {
                return Err(errno_error(errno::EACCES));
            }
        }
        let mut old = 0;
        let page = prot.page(self.copy_on_write());
        // SAFETY: the range lies inside this live mapping; changing protection
        // cannot invalidate Rust references because Region hands out none.
        if unsafe { mem::VirtualProtect(self.at(start, len), len, page, &mut old) } == 0 {
            return Err(last_error());
        }
        Ok(())
    }

    /// A view of `section` from `offset` (a multiple of the allocation
    /// granularity), `len` bytes, allowing up to `max` (which the section
    /// must allow), with `spec`'s protection.
    fn view(
        section: HANDLE,
        offset: u64,
        len: usize,
        spec: &MapSpec,
        max: Prot,
    ) -> SysResult<Mapping> {
        let copy_on_write = spec.share == Share::Private;
        let mut access = if copy_on_write {
            mem::FILE_MAP_COPY
        } else if max.writable() {
            mem::FILE_MAP_WRITE
        } else {
            mem::FILE_MAP_READ
        };
        if max.0 & Prot::EXEC != 0 {
            access |= mem::FILE_MAP_EXECUTE;
        }
        // SAFETY: section is a live section handle; a view goes at an address
        // Windows chooses, replacing nothing; the result is checked.
        let view = unsafe {
            mem::MapViewOfFile(section, access, (offset >> 32) as u32, offset as u32, len)
        };
        if view.Value.is_null() {
            return Err(last_error());
        }
        let map = Mapping {
            ptr: view.Value.cast(),
            len,
            how: How::View {
                copy_on_write,
                max,
                file: None,
            },
        };
        // The view has its widest access; narrow it to the spec.
        if spec.prot != max {
            map.protect(0, len, spec.prot)?;
        }
        Ok(map)
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: ptr is the base of an allocation or view this value owns and
        // nobody else frees. Freeing a valid one cannot fail; there is nothing
        // to report from drop.
        unsafe {
            match self.how {
                How::Virtual => {
                    mem::VirtualFree(self.ptr.cast(), 0, mem::MEM_RELEASE);
                }
                How::View { .. } => {
                    mem::UnmapViewOfFile(mem::MEMORY_MAPPED_VIEW_ADDRESS {
                        Value: self.ptr.cast(),
                    });
                }
            }
        }
    }
}

/// Raw advice values of this backend (the rest is `ENOTSUP`).
const ADVICE_WILLNEED: i32 = 3;
const ADVICE_DONTNEED: i32 = 4;

/// The raw advice value for an advice, or `None` where Windows has no
/// counterpart: `WILLNEED` (`PrefetchVirtualMemory`) and `DONTNEED`
/// (`MEM_RESET`, or the view's pages out of the working set).
pub(crate) fn madvise_value(advice: crate::Advice) -> Option<i32> {
    use crate::Advice;
    match advice {
        Advice::WillNeed => Some(ADVICE_WILLNEED),
        Advice::DontNeed => Some(ADVICE_DONTNEED),
        _ => None,
    }
}

/// `PrefetchVirtualMemory` (Windows 8 and later), looked up at run time
/// once: `ENOTSUP` where the system lacks it.
fn prefetch(at: *mut c_void, len: usize) -> SysResult<()> {
    type Prefetch =
        unsafe extern "system" fn(HANDLE, usize, *const mem::WIN32_MEMORY_RANGE_ENTRY, u32) -> i32;
    // 0: not looked up yet; 1: not there.
    static FOUND: AtomicUsize = AtomicUsize::new(0);
    let f = match FOUND.load(Ordering::Acquire) {
        0 => {
            let f = kernel32_proc(c"PrefetchVirtualMemory").map_or(1, |f| f as usize);
            FOUND.store(f, Ordering::Release);
            f
        }
        f => f,
    };
    if f == 1 {
        return Err(errno_error(errno::ENOTSUP));
    }
    // SAFETY: f is the address GetProcAddress gave for this symbol, which
    // has this signature (memoryapi.h).
    let f: Prefetch = unsafe { std::mem::transmute::<usize, Prefetch>(f) };
    let range = mem::WIN32_MEMORY_RANGE_ENTRY {
        VirtualAddress: at,
        NumberOfBytes: len,
    };
    // SAFETY: one entry describing a range inside a live mapping.
    if unsafe { f(current_process(), 1, &range, 0) } == 0 {
        return Err(last_error());
    }
    Ok(())
}

/// A function of kernel32.dll by name, or `None` where it lacks it.
fn kernel32_proc(name: &CStr) -> Option<unsafe extern "system" fn() -> isize> {
    use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
    const KERNEL32: [u16; 13] = {
        let b = *b"kernel32.dll\0";
        let mut w = [0u16; 13];
        let mut i = 0;
        while i < 13 {
            w[i] = b[i] as u16;
            i += 1;
        }
        w
    };
    // SAFETY: a NUL-terminated name; kernel32 is always loaded.
    let h = unsafe { GetModuleHandleW(KERNEL32.as_ptr()) };
    if h.is_null() {
        return None;
    }
    // SAFETY: a live module handle and a NUL-terminated name.
    unsafe { GetProcAddress(h, name.as_ptr().cast()) }
}

/// The pseudo-handle of this process.
fn current_process() -> HANDLE {
    // SAFETY: no preconditions; the pseudo-handle needs no closing.
    unsafe { windows_sys::Win32::System::Threading::GetCurrentProcess() }
}

/// Whether a handle value is a real handle.
fn valid(h: HANDLE) -> bool {
    !h.is_null() && h != INVALID_HANDLE_VALUE
}
