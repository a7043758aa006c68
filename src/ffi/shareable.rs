//! Memory unrelated processes can map: making it, its descriptor, its seals.

use super::*;

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
