//! What a guarded region (`MM_GUARD`) lost to a truncation: `mm_check`.

use super::*;

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
