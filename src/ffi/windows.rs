//! Windows only: mapping by `HANDLE`. A C runtime descriptor means something
//! only to the C runtime that made it (mmkit.dll uses msvcrt.dll, as MinGW
//! does; a program built with MSVC or the UCRT has its own table, where the
//! same number is another file), and a section is no file to the C runtime
//! at all. A `HANDLE` is the process's own, and the way to give memory to
//! another process (`DuplicateHandle`, or inheritance).

use super::*;

/// Windows only: map `len` bytes of the file or section `handle` (a
/// `HANDLE`) from `offset`, as `mm_map_fd` maps a descriptor: the handle is
/// neither closed nor kept; a write-shared mapping of a handle without
/// write access is `-EACCES`; `-EBADF` for NULL or `INVALID_HANDLE_VALUE`.
/// Another process maps a shareable region this way, from the section
/// handle `mm_handle` gives, duplicated into it (`DuplicateHandle`) or
/// inherited. A program whose C runtime is not mmkit.dll's (MSVC, UCRT)
/// maps a descriptor with `mm_map_handle((void *)_get_osfhandle(fd), ...)`.
#[no_mangle]
pub unsafe extern "C" fn mm_map_handle(
    handle: *mut c_void,
    offset: u64,
    len: usize,
    flags: u32,
    out: *mut *mut mm_region,
) -> c_int {
    const CALL: &str = "mm_map_handle";
    guard(CALL, || {
        if out.is_null() {
            return Err(null(CALL, "out"));
        }
        if handle.is_null() || handle as isize == -1 {
            return Err(Error::os(
                CALL,
                crate::sys::errno::EBADF,
                format_args!("handle {handle:p} is not a handle"),
            ));
        }
        let flags = map_flags(CALL, flags)?;
        // SAFETY: a handle value the caller keeps open for the call (the C
        // contract); every use of it goes through system calls that report
        // an invalid handle.
        let h = unsafe { std::os::windows::io::BorrowedHandle::borrow_raw(handle) };
        // SAFETY: out is non-NULL and, per the C contract, writable.
        unsafe { create(CALL, out, || Region::from_fd(h, offset, len, flags)) }
    })
}

/// Windows only: the `HANDLE` of the section a shareable region keeps,
/// written to `*out` (owned by the region: do not close it; duplicate it
/// with `DuplicateHandle` to give it to another process, which maps it with
/// `mm_map_handle`). `-EBADF` for a region that keeps none, `-EINVAL` for
/// NULL.
#[no_mangle]
pub unsafe extern "C" fn mm_handle(r: *const mm_region, out: *mut *mut c_void) -> c_int {
    const CALL: &str = "mm_handle";
    guard(CALL, || {
        // SAFETY: r is NULL or a live handle (C contract).
        let r = unsafe { region(CALL, r) }?;
        if out.is_null() {
            return Err(null(CALL, "out"));
        }
        let Some(h) = r.fd() else {
            return Err(Error::os(
                CALL,
                crate::sys::errno::EBADF,
                "the region keeps no handle (only mm_map_shareable regions do)",
            ));
        };
        // SAFETY: out is non-NULL and, per the C contract, writable.
        unsafe { out.write(std::os::windows::io::AsRawHandle::as_raw_handle(&h)) };
        Ok(())
    })
}
