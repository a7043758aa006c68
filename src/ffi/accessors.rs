//! What a region is (address, length, flags); the page size, the thread's last
//! message, the version.

use super::*;

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
