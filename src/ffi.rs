//! The C ABI. This is the only module with `#[no_mangle]` functions.
//!
//! Every function checks its pointers for NULL, runs its body inside a panic
//! boundary, returns 0 or a negative errno, and on failure stores a message
//! for `mm_last_error()` in a thread-local buffer.
//!
//! Safety contract shared by every function here (it is the C contract): a
//! region argument is NULL or a live handle returned by an `mm_map_*` call and
//! not yet passed to `mm_unmap`; `out` is NULL or points to writable storage
//! for one pointer; `path` is NULL or a NUL-terminated string. NULL is always
//! detected and reported; the rest cannot be checked from C pointers.

// The shared contract above stands for the per-function `# Safety` sections,
// which would otherwise be repeated in every comment of the C header.
#![allow(clippy::missing_safety_doc)]

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::{msg, Error, Result, Text};
use crate::flags::{Advice, Flags, SyncFlags};
use crate::region::Region;

/// An opaque handle to one mapping, created by `mm_map_anon`, `mm_map_file`
/// or `mm_map_fd` and released by `mm_unmap`.
#[allow(non_camel_case_types)]
pub struct mm_region {
    region: Region,
}

/// Room for one thread's last error message, its terminating NUL included.
/// A longer message is cut, ending in "...".
const LAST_ERROR_ROOM: usize = 4096;

thread_local! {
    // A fixed buffer, not a heap string: storing a message never allocates,
    // so an exhausted heap still gets its message. Const-initialised and
    // without a destructor, it needs no lazy set-up either.
    static LAST_ERROR: RefCell<[u8; LAST_ERROR_ROOM]> =
        const { RefCell::new([0; LAST_ERROR_ROOM]) };
}

/// Writes a message into a NUL-terminated buffer, NUL bytes spelled `\0`,
/// cut with "..." where it does not fit.
struct MessageWriter<'a> {
    buf: &'a mut [u8; LAST_ERROR_ROOM],
    len: usize,
    cut: bool,
}

impl std::fmt::Write for MessageWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        // Keep room for "..." and the terminating NUL.
        const END: usize = LAST_ERROR_ROOM - 4;
        for ch in s.chars() {
            let mut utf8 = [0u8; 4];
            let bytes: &[u8] = if ch == '\0' {
                b"\\0"
            } else {
                ch.encode_utf8(&mut utf8).as_bytes()
            };
            if self.len + bytes.len() > END {
                self.cut = true;
                return Err(std::fmt::Error);
            }
            self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
            self.len += bytes.len();
        }
        Ok(())
    }
}

/// Store `e` as this thread's last error message.
fn set_last_error(e: &Error) {
    use std::fmt::Write;
    // If the thread-local is being torn down there is nowhere to store it.
    let _ = LAST_ERROR.try_with(|slot| {
        let Ok(mut buf) = slot.try_borrow_mut() else {
            return;
        };
        let mut w = MessageWriter {
            buf: &mut buf,
            len: 0,
            cut: false,
        };
        let _ = write!(w, "{e}");
        let (mut len, cut) = (w.len, w.cut);
        if cut {
            buf[len..len + 3].copy_from_slice(b"...");
            len += 3;
        }
        buf[len] = 0;
    });
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> Text {
    if let Some(s) = payload.downcast_ref::<&str>() {
        msg!("{s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        msg!("{s}")
    } else {
        Text::Borrowed("panic with a non-string payload")
    }
}

/// Run `body` for the C call `call`: 0 on success, `-errno` on failure or panic.
pub(crate) fn guard(call: &'static str, body: impl FnOnce() -> Result<()>) -> c_int {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => failed(e),
        Err(payload) => panicked(call, payload),
    }
}

/// [`guard`]'s failure path, out of line: store the message, return `-errno`.
#[cold]
#[inline(never)]
fn failed(err: Error) -> c_int {
    set_last_error(&err);
    -err.errno()
}

/// [`guard`]'s panic path: the panic becomes an `EIO` error of `call`.
#[cold]
#[inline(never)]
fn panicked(call: &'static str, payload: Box<dyn std::any::Any + Send>) -> c_int {
    failed(Error::Internal {
        call,
        msg: panic_message(&*payload),
    })
}

/// Run an accessor that cannot fail; a panic (a bug) yields `fallback`.
fn quiet<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// A mapping call's flag word, with unknown bits refused.
#[inline]
fn map_flags(call: &'static str, bits: u32) -> Result<Flags> {
    Flags::from_bits(bits).map_err(|u| {
        Error::invalid(
            call,
            format_args!("unknown flag bits {u:#x} in flags {bits:#x}"),
        )
    })
}

#[cold]
fn null(call: &'static str, what: &str) -> Error {
    Error::invalid(call, format_args!("{what} is NULL"))
}

/// Borrow the region behind a C handle.
///
/// # Safety
/// `r` is NULL or a live handle from an `mm_map_*` call.
unsafe fn region<'a>(call: &'static str, r: *const mm_region) -> Result<&'a Region> {
    // SAFETY: per this function's contract.
    unsafe { peek(r) }.ok_or_else(|| null(call, "region"))
}

/// Borrow the region behind a C handle for an accessor, which reports no
/// error: `None` for NULL.
///
/// # Safety
/// `r` is NULL or a live handle from an `mm_map_*` call.
unsafe fn peek<'a>(r: *const mm_region) -> Option<&'a Region> {
    // SAFETY: per this function's contract, a non-NULL r is a live handle.
    unsafe { r.as_ref() }.map(|h| &h.region)
}

/// Make a region with `make` and hand it to the caller through `out`.
///
/// The handle's memory is had first (from `malloc`; `mm_unmap` frees it) and
/// the new region moved into it once; when `make` fails the memory is freed
/// and `out` is left alone.
///
/// # Safety
/// `out` was checked non-NULL and points to writable storage for a pointer.
#[inline(always)]
unsafe fn create(
    call: &'static str,
    out: *mut *mut mm_region,
    make: impl FnOnce() -> Result<Region>,
) -> Result<()> {
    let slot = HandleMemory::new(call)?;
    let handle = slot.fill(make()?);
    // SAFETY: per the contract above.
    unsafe { out.write(handle) };
    Ok(())
}

/// `malloc`ed memory for one `mm_region`, freed on drop unless filled.
struct HandleMemory(std::ptr::NonNull<mm_region>);

// malloc's blocks are aligned for any fundamental type, at least 8 bytes.
const _: () = assert!(std::mem::align_of::<mm_region>() <= 8);

impl HandleMemory {
    fn new(call: &'static str) -> Result<HandleMemory> {
        // SAFETY: malloc has no preconditions; the size is not zero.
        let p = unsafe { libc::malloc(std::mem::size_of::<mm_region>()) };
        std::ptr::NonNull::new(p.cast())
            .map(HandleMemory)
            .ok_or_else(|| {
                Error::os(
                    call,
                    libc::ENOMEM,
                    format_args!(
                        "no memory for the region handle ({} bytes)",
                        std::mem::size_of::<mm_region>()
                    ),
                )
            })
    }

    /// Move `region` into the memory and return the handle.
    fn fill(self, region: Region) -> *mut mm_region {
        let p = self.0.as_ptr();
        std::mem::forget(self);
        // SAFETY: p is a live malloc block of mm_region's size and alignment
        // (asserted above) that nothing else refers to.
        unsafe { p.write(mm_region { region }) };
        p
    }
}

impl Drop for HandleMemory {
    fn drop(&mut self) {
        // SAFETY: the block came from malloc, was never filled, and is ours.
        unsafe { libc::free(self.0.as_ptr().cast()) };
    }
}

/// Map `len` bytes of zero-filled anonymous memory.
///
/// `flags`: `MM_READ` and/or `MM_WRITE` (optionally `MM_EXEC`), exactly one of
/// `MM_SHARED` / `MM_PRIVATE`, and any of `MM_POPULATE`, `MM_HUGEPAGES`,
/// `MM_NORESERVE`, `MM_DEVZERO` (and `MM_GUARD`, accepted and meaningless
/// here: nothing can shrink under anonymous memory). Uses `MAP_ANONYMOUS`;
/// maps `/dev/zero` instead when `MM_DEVZERO` is given, when the platform has no
/// `MAP_ANONYMOUS`, or when the kernel refuses it. `mm_flags()` of the result
/// tells which way was taken. `mm_len()` reports `len` exactly.
///
/// Returns 0 and stores the new region in `*out`, or a negative errno:
/// `-EINVAL` for `len == 0`, a NULL `out`, unknown or inconsistent flags;
/// `-ENOMEM` when the memory cannot be had (or `len` is absurdly large).
#[no_mangle]
pub unsafe extern "C" fn mm_map_anon(len: usize, flags: u32, out: *mut *mut mm_region) -> c_int {
    const CALL: &str = "mm_map_anon";
    guard(CALL, || {
        if out.is_null() {
            return Err(null(CALL, "out"));
        }
        let flags = map_flags(CALL, flags)?;
        // SAFETY: out is non-NULL and, per the C contract, writable.
        unsafe { create(CALL, out, || Region::anon(len, flags)) }
    })
}

/// Map `len` bytes of the file at `path`, starting at byte `offset`.
///
/// `len == 0` maps to the end of the file. `offset` need not be page-aligned:
/// `mm_ptr()` points at byte `offset`. An empty file (or `offset == size` with
/// `len == 0`) gives a valid region of length 0 whose `mm_ptr()` is NULL.
/// The file is opened with the access the flags need (`MM_WRITE|MM_SHARED`
/// opens read-write) and closed before returning; the mapping outlives it.
/// `MM_CREATE` creates a missing file with mode 0600 and grows it to
/// `offset + len` with blocks allocated (file and directory synced), so later
/// stores cannot fail on a full disk; `MM_EXCL` with it fails if the file exists.
/// `MM_CREATE` never creates a file through a symbolic link: a dangling one
/// is `-ELOOP` (with `MM_EXCL`, any link is `-EEXIST`). In a sticky directory
/// that others may write (`/tmp`), it follows a link, or accepts an existing
/// file, only when the caller or the directory's owner owns it: `-EPERM`
/// otherwise (use `MM_EXCL` or a private directory). With `MM_GUARD` a page
/// the file no longer covers (someone truncated it) never raises `SIGBUS`,
/// whoever touches it: it becomes a private zero page and the loss is
/// recorded (`mm_check`).
///
/// Errors: `-EINVAL` for NULL arguments, bad flags, `offset` past the end or
/// `offset + len` past the end without `MM_CREATE`; `-ENOENT`, `-EACCES`,
/// `-EEXIST` and the like from `open`; `-EISDIR` for a directory; `-ENODEV`
/// for pipes, sockets, devices and files on pseudo-filesystems (procfs,
/// sysfs, ...); `-ENOSPC` when `MM_CREATE` cannot allocate.
#[no_mangle]
pub unsafe extern "C" fn mm_map_file(
    path: *const c_char,
    offset: u64,
    len: usize,
    flags: u32,
    out: *mut *mut mm_region,
) -> c_int {
    const CALL: &str = "mm_map_file";
    guard(CALL, || {
        if path.is_null() {
            return Err(null(CALL, "path"));
        }
        if out.is_null() {
            return Err(null(CALL, "out"));
        }
        // SAFETY: path is non-NULL and, per the C contract, NUL-terminated.
        let path = unsafe { CStr::from_ptr(path) };
        let flags = map_flags(CALL, flags)?;
        // SAFETY: out is non-NULL and, per the C contract, writable.
        unsafe { create(CALL, out, || Region::file_c(path, offset, len, flags)) }
    })
}

/// Map `len` bytes of the open descriptor `fd`, starting at byte `offset`.
///
/// As `mm_map_file`, but `fd` is neither closed nor kept. A write-shared
/// mapping (`MM_WRITE|MM_SHARED`) of a descriptor opened read-only is
/// `-EACCES`; `-EBADF` for a descriptor that is not open. `MM_CREATE` grows the
/// file (it needs a read-write descriptor); `MM_EXCL` is `-EINVAL` here.
#[no_mangle]
pub unsafe extern "C" fn mm_map_fd(
    fd: c_int,
    offset: u64,
    len: usize,
    flags: u32,
    out: *mut *mut mm_region,
) -> c_int {
    const CALL: &str = "mm_map_fd";
    guard(CALL, || {
        if out.is_null() {
            return Err(null(CALL, "out"));
        }
        if fd < 0 {
            return Err(Error::os(
                CALL,
                crate::sys::errno::EBADF,
                format_args!("fd {fd} is not a descriptor"),
            ));
        }
        let flags = map_flags(CALL, flags)?;
        // SAFETY: fd >= 0; it is only borrowed for this call and every use of
        // it goes through system calls that report EBADF if it is not open.
        let fd = unsafe { crate::sys::borrow_c_fd(fd) }.map_err(|e| Error::Os {
            call: CALL,
            msg: msg!("fd {fd} is not an open descriptor"),
            source: e,
        })?;
        // SAFETY: out is non-NULL and, per the C contract, writable.
        unsafe { create(CALL, out, || Region::from_fd(fd, offset, len, flags)) }
    })
}

/// Unmap a region and free its handle. NULL is a no-op returning 0.
///
/// The handle must not be used afterwards, nor concurrently with this call.
#[no_mangle]
pub unsafe extern "C" fn mm_unmap(r: *mut mm_region) -> c_int {
    guard("mm_unmap", || {
        if !r.is_null() {
            // SAFETY: per the C contract r came from an mm_map_* call (a
            // HandleMemory block, from malloc, holding a live mm_region) and is
            // released exactly once, here.
            unsafe {
                std::ptr::drop_in_place(r);
                libc::free(r.cast());
            }
        }
        Ok(())
    })
}

/// The region's first byte; NULL for a NULL or empty region.
#[no_mangle]
pub unsafe extern "C" fn mm_ptr(r: *const mm_region) -> *mut c_void {
    // SAFETY: r is NULL or a live handle (C contract).
    quiet(std::ptr::null_mut(), || {
        unsafe { peek(r) }.map_or(std::ptr::null_mut(), |r| r.as_ptr().cast())
    })
}

/// Bytes usable from `mm_ptr()`: the length asked for, not the page-rounded
/// size. 0 for NULL.
#[no_mangle]
pub unsafe extern "C" fn mm_len(r: *const mm_region) -> usize {
    // SAFETY: r is NULL or a live handle (C contract).
    quiet(0, || unsafe { peek(r) }.map_or(0, Region::len))
}

/// The flags in effect. `MM_DEVZERO` is set when `/dev/zero` served an
/// anonymous region (asked for or fallen back to); `MM_HUGEPAGES` only when
/// huge pages were really requested from the kernel (explicit, or advised).
/// The protection bits follow `mm_protect()` calls that cover the whole
/// region. 0 for NULL.
#[no_mangle]
pub unsafe extern "C" fn mm_flags(r: *const mm_region) -> u32 {
    // SAFETY: r is NULL or a live handle (C contract).
    quiet(0, || unsafe { peek(r) }.map_or(0, |r| r.flags().bits()))
}

/// The system page size in bytes.
#[no_mangle]
pub extern "C" fn mm_page_size() -> usize {
    quiet(4096, crate::sys::page_size)
}

/// This thread's message for the last failed mmkit call, naming the call, the
/// cause and the values involved. Never NULL: "" when nothing has failed. The
/// pointer stays valid until the next mmkit call on the same thread. The
/// message lives in a fixed 4096-byte buffer per thread (no heap): a longer
/// one is cut and ends in "...".
#[no_mangle]
pub extern "C" fn mm_last_error() -> *const c_char {
    static EMPTY: &CStr = c"";
    quiet(EMPTY.as_ptr(), || {
        LAST_ERROR
            .try_with(|slot| slot.as_ptr().cast::<c_char>().cast_const())
            .unwrap_or(EMPTY.as_ptr())
    })
}

/// The library's version, "MAJOR.MINOR.PATCH".
#[no_mangle]
pub extern "C" fn mm_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Write the pages covering `[offset, offset + len)` back to the file (`msync`).
///
/// `len == 0` means to the end of the region. `flags`: `MM_SYNC` (write and
/// wait; also what 0 means) or `MM_ASYNC` (schedule), optionally OR-ed with
/// `MM_INVALIDATE`. After `MM_SYNC` returns 0 the bytes are in the file for
/// any reader and survive the process being killed. On an anonymous region it
/// succeeds and does nothing. `-EINVAL` for `MM_SYNC|MM_ASYNC`, unknown bits, a
/// range outside the region or a NULL region; `-EFAULT` when the range holds a
/// page a guarded region lost (its writes never reached the file).
#[no_mangle]
pub unsafe extern "C" fn mm_sync(
    r: *mut mm_region,
    offset: usize,
    len: usize,
    flags: u32,
) -> c_int {
    const CALL: &str = "mm_sync";
    guard(CALL, || {
        // SAFETY: r is NULL or a live handle (C contract).
        let r = unsafe { region(CALL, r) }?;
        let how = SyncFlags::from_bits(flags).map_err(|m| Error::invalid(CALL, m))?;
        r.sync(offset, len, how)
    })
}

/// Lock the pages covering `[offset, offset + len)` in RAM (`mlock`).
///
/// `len == 0` means to the end. When the system refuses because of
/// `RLIMIT_MEMLOCK` or privilege the errno (`-ENOMEM`, `-EPERM`, `-EAGAIN`) is
/// passed through and `mm_last_error()` names `RLIMIT_MEMLOCK`, its value, the
/// bytes asked and the bytes already locked.
#[no_mangle]
pub unsafe extern "C" fn mm_lock(r: *mut mm_region, offset: usize, len: usize) -> c_int {
    const CALL: &str = "mm_lock";
    guard(CALL, || {
        // SAFETY: r is NULL or a live handle (C contract).
        unsafe { region(CALL, r) }?.lock(offset, len)
    })
}

/// Unlock the pages covering `[offset, offset + len)` (`munlock`); `len == 0`
/// means to the end.
#[no_mangle]
pub unsafe extern "C" fn mm_unlock(r: *mut mm_region, offset: usize, len: usize) -> c_int {
    const CALL: &str = "mm_unlock";
    guard(CALL, || {
        // SAFETY: r is NULL or a live handle (C contract).
        unsafe { region(CALL, r) }?.unlock(offset, len)
    })
}

/// Advise the kernel about `[offset, offset + len)` (`madvise`).
///
/// `advice` is one of `MM_ADV_NORMAL`, `MM_ADV_RANDOM`, `MM_ADV_SEQUENTIAL`,
/// `MM_ADV_WILLNEED`, `MM_ADV_DONTNEED`, `MM_ADV_HUGEPAGE`,
/// `MM_ADV_NOHUGEPAGE`; advice the platform lacks is `-ENOTSUP`, an unknown
/// value `-EINVAL`. `MM_ADV_DONTNEED` acts only on whole pages inside the range.
#[no_mangle]
pub unsafe extern "C" fn mm_advise(
    r: *mut mm_region,
    offset: usize,
    len: usize,
    advice: c_int,
) -> c_int {
    const CALL: &str = "mm_advise";
    guard(CALL, || {
        // SAFETY: r is NULL or a live handle (C contract).
        let r = unsafe { region(CALL, r) }?;
        let advice = Advice::from_raw(advice)
            .ok_or_else(|| Error::invalid(CALL, format_args!("unknown advice {advice}")))?;
        r.advise(offset, len, advice)
    })
}

/// Change the protection of `[offset, offset + len)` (`mprotect`).
///
/// `prot` is `MM_READ|MM_WRITE|MM_EXEC` or 0 for no access. The range must
/// start and end on page boundaries of the mapping, or at the ends of the
/// region (`-EINVAL` otherwise), so no byte outside it changes. Asking for
/// write access to a read-only file mapping is `-EACCES`.
#[no_mangle]
pub unsafe extern "C" fn mm_protect(
    r: *mut mm_region,
    offset: usize,
    len: usize,
    prot: u32,
) -> c_int {
    const CALL: &str = "mm_protect";
    guard(CALL, || {
        // SAFETY: r is NULL or a live handle (C contract).
        let r = unsafe { region(CALL, r) }?;
        let prot = Flags::from_bits(prot)
            .ok()
            .filter(|p| p.protection() == *p)
            .ok_or_else(|| {
                Error::invalid(
                    CALL,
                    format_args!("prot {prot:#x} has bits other than MM_READ|MM_WRITE|MM_EXEC"),
                )
            })?;
        r.protect(offset, len, prot)
    })
}

/// Copy `n` bytes from byte `offset` of the region into `dst`, bounds-checked
/// and fault-safe: where a plain load would raise `SIGBUS` (the file under the
/// mapping was truncated) or `SIGSEGV` (no access), it returns `-EFAULT` and
/// the process goes on.
///
/// `-EINVAL` for a NULL region, a NULL `dst` with `n > 0`, or a range outside
/// the region. On a guarded region (`MM_GUARD`) it is a plain memory copy,
/// followed by a check of the region's loss record: `-EFAULT` when a page of
/// the range was lost before or during the copy (those bytes read as zeros).
/// Otherwise Linux copies through `process_vm_readv` on the own process;
/// other systems through a pipe (`write(2)` from a faulting address is `EFAULT`).
#[no_mangle]
pub unsafe extern "C" fn mm_read(
    r: *const mm_region,
    offset: usize,
    dst: *mut c_void,
    n: usize,
) -> c_int {
    const CALL: &str = "mm_read";
    guard(CALL, || {
        // SAFETY: r is NULL or a live handle (C contract).
        let r = unsafe { region(CALL, r) }?;
        if dst.is_null() && n > 0 {
            return Err(null(CALL, "dst"));
        }
        // SAFETY: per the C contract dst has room for n bytes; read_raw
        // checks the range before it touches dst (no slice of n bytes is made,
        // so any n is a clean -EINVAL).
        unsafe { r.read_raw(offset, dst.cast::<u8>(), n) }
    })
}

/// Copy `n` bytes from `src` into the region at byte `offset`, bounds-checked
/// and fault-safe like `mm_read` (`-EFAULT` instead of `SIGBUS`; on a guarded
/// region a plain copy, `-EFAULT` when a page of the range was lost, whose
/// bytes never reach the file). Writing a read-only region is `-EACCES`; a
/// range outside the region `-EINVAL`.
#[no_mangle]
pub unsafe extern "C" fn mm_write(
    r: *mut mm_region,
    offset: usize,
    src: *const c_void,
    n: usize,
) -> c_int {
    const CALL: &str = "mm_write";
    guard(CALL, || {
        // SAFETY: r is NULL or a live handle (C contract).
        let r = unsafe { region(CALL, r) }?;
        if src.is_null() && n > 0 {
            return Err(null(CALL, "src"));
        }
        // SAFETY: per the C contract src holds n bytes; write_raw checks the
        // range before it reads src (no slice of n bytes is made).
        unsafe { r.write_raw(offset, src.cast::<u8>(), n) }
    })
}

/// Grow or shrink a region to `new_len` bytes; `mm_ptr()` may change, so read
/// it again. Private anonymous and shareable regions keep their bytes up to
/// `min(old, new)` and gain zeros. A file region covers `[offset, offset +
/// new_len)` afterwards, which must lie inside the file (`-EINVAL`) unless it
/// was mapped with `MM_CREATE` (then the file grows, blocks allocated).
/// Shared anonymous memory (`MAP_SHARED|MAP_ANONYMOUS` or `/dev/zero`) cannot
/// grow past its pages: `-ENOTSUP` (its kernel object has a fixed size and
/// touching past it would be `SIGBUS`); use `mm_map_shareable` for growable
/// shared memory. A sealed shareable region refuses with `-EPERM`. A region
/// mapped with `mm_map_fd` keeps no descriptor and cannot grow (`-ENOTSUP`).
/// `new_len == 0` is `-EINVAL`. Must not race with other uses of the region.
/// A grow is in place when the addresses after the region are free (every
/// page keeps its protection, locks and advice), else a move of the region
/// when it is one kernel mapping (without `mremap`, non-Linux: a new mapping
/// and a copy, made only when no part has protection or locks of its own),
/// else `-EBUSY`: `mm_protect`, `mm_lock` or `mm_advise` of a part split it
/// into several kernel mappings; unmap it and map it again, or undo the split
/// (protect, unlock or advise the whole region). New pages get the whole
/// region's protection; with `mremap` they share the last page's lock and
/// advice (`-EAGAIN` when locking them would pass `RLIMIT_MEMLOCK`). A grow
/// over old bytes in a last page made read-only is `-EACCES`.
#[no_mangle]
pub unsafe extern "C" fn mm_resize(r: *mut mm_region, new_len: usize) -> c_int {
    const CALL: &str = "mm_resize";
    guard(CALL, || {
        // SAFETY: r is NULL or a live handle that, per the C contract, no other
        // thread uses during this call.
        let h = unsafe { r.as_mut() }.ok_or_else(|| null(CALL, "region"))?;
        h.region.resize(new_len)
    })
}

/// Shared anonymous memory that *unrelated* processes can map: `memfd_create`
/// (close-on-exec, sealable) on Linux; elsewhere `shm_open` under a random
/// name and `shm_unlink` at once, so nothing is left in any namespace. The
/// region keeps its descriptor (`mm_fd`); another process receives it by
/// inheritance or over a Unix socket (`SCM_RIGHTS`) and maps it with
/// `mm_map_fd(fd, 0, 0, MM_READ|MM_WRITE|MM_SHARED, &r)`.
///
/// `name` labels the object (shown in `/proc/PID/fd`). `flags`: `MM_READ`
/// and/or `MM_WRITE`, `MM_SHARED` (required; `MM_PRIVATE` is `-EINVAL`),
/// optionally `MM_POPULATE`, `MM_HUGEPAGES`, `MM_GUARD` (a peer that shrinks
/// the object cannot make this region raise `SIGBUS`). `len == 0` is `-EINVAL`.
#[no_mangle]
pub unsafe extern "C" fn mm_map_shareable(
    name: *const c_char,
    len: usize,
    flags: u32,
    out: *mut *mut mm_region,
) -> c_int {
    const CALL: &str = "mm_map_shareable";
    guard(CALL, || {
        if name.is_null() {
            return Err(null(CALL, "name"));
        }
        if out.is_null() {
            return Err(null(CALL, "out"));
        }
        // SAFETY: name is non-NULL and, per the C contract, NUL-terminated.
        // Its bytes as they are: a name need not be UTF-8, and a lossy copy
        // would need the heap.
        let name = unsafe { CStr::from_ptr(name) }.to_bytes();
        let flags = map_flags(CALL, flags)?;
        // SAFETY: out is non-NULL and, per the C contract, writable.
        unsafe { create(CALL, out, || Region::shareable_bytes(name, len, flags)) }
    })
}

/// The descriptor a shareable region keeps (close-on-exec; owned by the
/// region, do not close it), or `-EBADF` for a region that keeps none.
/// `-EINVAL` for NULL.
#[no_mangle]
pub unsafe extern "C" fn mm_fd(r: *const mm_region) -> c_int {
    const CALL: &str = "mm_fd";
    let mut fd = -1;
    let rc = guard(CALL, || {
        // SAFETY: r is NULL or a live handle (C contract).
        let r = unsafe { region(CALL, r) }?;
        match r.fd_number() {
            Some(n) => {
                fd = n;
                Ok(())
            }
            None => Err(Error::os(
                CALL,
                crate::sys::errno::EBADF,
                "the region keeps no descriptor (only mm_map_shareable regions do)",
            )),
        }
    });
    if rc == 0 {
        fd
    } else {
        rc
    }
}

/// Seal a shareable region's memory object (Linux memfd seals):
/// `MM_SEAL_SHRINK` (nobody can shrink it, so its readers can never
/// `SIGBUS`), `MM_SEAL_GROW`, `MM_SEAL_WRITE` (nobody can write it through
/// `write(2)` or a new writable mapping; this region's own writable mapping,
/// if any, keeps writing). Seals cannot be removed. `-ENOTSUP` for regions not
/// from `mm_map_shareable` and platforms without seals; `-EINVAL` for unknown bits.
#[no_mangle]
pub unsafe extern "C" fn mm_seal(r: *mut mm_region, seals: u32) -> c_int {
    const CALL: &str = "mm_seal";
    guard(CALL, || {
        // SAFETY: r is NULL or a live handle (C contract).
        unsafe { region(CALL, r) }?.seal(seals)
    })
}

/// Whether a guarded region (`MM_GUARD`) lost pages: 0, or `-EFAULT` when an
/// access found pages its file (or memory object) no longer covers;
/// `mm_last_error()` then says how many and the offset of the first. Such a
/// page was replaced by a private zero page in the fault handler: reads see
/// zeros, writes never reach the file, and it stays so (map the file again
/// to see its contents). A page counts once something touched it; truncation
/// alone is not seen. An unguarded region records nothing: 0. `-EINVAL` for NULL.
#[no_mangle]
pub unsafe extern "C" fn mm_check(r: *const mm_region) -> c_int {
    const CALL: &str = "mm_check";
    guard(CALL, || {
        // SAFETY: r is NULL or a live handle (C contract).
        unsafe { region(CALL, r) }?.check()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> String {
        // SAFETY: mm_last_error never returns NULL.
        unsafe { CStr::from_ptr(mm_last_error()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn a_panic_in_a_body_becomes_an_error_return() {
        let rc = guard("mm_test", || panic!("boom {}", 42));
        assert_eq!(rc, -libc::EIO);
        assert_eq!(
            message(),
            "mm_test: internal error (please report): boom 42"
        );
        let rc = guard("mm_test", || std::panic::panic_any(7u8));
        assert_eq!(rc, -libc::EIO);
        assert!(message().contains("non-string payload"));
        // The boundary still works afterwards.
        assert_eq!(guard("mm_test", || Ok(())), 0);
    }

    #[test]
    fn errors_become_negative_errno_and_a_message() {
        let rc = guard("mm_test", || {
            Err(Error::os("mm_test", libc::EMFILE, "open(\"x\")"))
        });
        assert_eq!(rc, -libc::EMFILE);
        assert!(
            message().starts_with("mm_test: open(\"x\"): "),
            "{}",
            message()
        );
    }

    #[test]
    fn a_nul_in_a_message_does_not_lose_it() {
        let rc = guard("mm_test", || Err(Error::invalid("mm_test", "a\0b")));
        assert_eq!(rc, -libc::EINVAL);
        assert_eq!(message(), "mm_test: a\\0b");
    }

    #[test]
    fn a_message_too_long_for_the_buffer_is_cut_and_terminated() {
        let long = "x".repeat(3 * LAST_ERROR_ROOM);
        let rc = guard("mm_test", || Err(Error::invalid("mm_test", &long)));
        assert_eq!(rc, -libc::EINVAL);
        let m = message();
        assert_eq!(
            m.len(),
            LAST_ERROR_ROOM - 1,
            "the buffer is used to its end"
        );
        assert!(m.starts_with("mm_test: xxx") && m.ends_with("x..."), "{m}");
        // A multi-byte character is never split at the cut.
        let wide = "\u{e9}".repeat(LAST_ERROR_ROOM);
        guard("mm_test", || Err(Error::invalid("mm_test", &wide)));
        assert!(message().ends_with("\u{e9}..."));
        // The next, shorter message replaces it whole.
        guard("mm_test", || Err(Error::invalid("mm_test", "short")));
        assert_eq!(message(), "mm_test: short");
    }

    #[test]
    fn system_error_texts_come_from_strerror() {
        let e = Error::os("mm_test", libc::ENOENT, "open(\"x\")");
        assert_eq!(
            e.to_string(),
            "mm_test: open(\"x\"): No such file or directory"
        );
        let e = Error::os("mm_test", 99999, "y");
        assert!(e.to_string().starts_with("mm_test: y: "), "{e}");
    }
}
