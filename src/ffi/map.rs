//! Making regions (anonymous memory, a file, a descriptor) and unmapping them.

use super::*;

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
/// `MM_HUGEPAGES` maps explicit huge pages (`MAP_HUGETLB`) when enough are
/// reserved and free, else advises transparent huge pages. A region of
/// explicit huge pages works in them: `mm_protect` ranges start and end on
/// huge page boundaries (or the region's ends), `mm_lock`, `mm_unlock` and
/// `mm_advise` act on the huge pages covering a range, and `mm_resize` rounds
/// to huge pages.
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
/// `-EEXIST` and the like from `open`; `-ENODEV` for what is not a regular
/// file (directories, pipes, sockets, devices) and files on pseudo-filesystems
/// (procfs, sysfs, ...); `-ENOSPC` when `MM_CREATE` cannot allocate.
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
