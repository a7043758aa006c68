//! What a guarded region (`MM_GUARD`) lost to a truncation: `mm_check`, and
//! the count itself for a check without a call (`mm_lost_counter`).

use super::*;
use std::sync::atomic::AtomicUsize;

/// The count `mm_lost_counter` gives for NULL and for unguarded regions: never
/// written, so always 0.
static NOTHING_LOST: AtomicUsize = AtomicUsize::new(0);

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

/// The address of the count of pages the region `r` lost (see `mm_check`),
/// for a check without a call: 0 while nothing was lost. Never NULL: for NULL,
/// and for a region that is not guarded, the address of a count that stays 0.
/// The address is static storage, readable for the life of the process, but
/// it counts this region's pages only until `mm_unmap(r)` (the library may
/// use it for another region afterwards); ask again after `mm_resize` (an
/// empty guarded region gets its count when it grows). The fault handler
/// counts a lost page before it replaces it with zeros, so a thread that
/// copied zeros out of a lost page and then reads the count sees it nonzero,
/// if the read is ordered after the copy: by the program alone when this
/// thread's own fault found the loss; for a loss another thread's fault found,
/// with `__atomic_thread_fence(__ATOMIC_SEQ_CST)` between the copy and an
/// atomic (or volatile) load of the count (x86 keeps loads in order: a
/// compiler barrier is enough there). It can
/// go down when `mm_resize` drops lost pages. Nonzero says that some page of
/// the region was lost, not which: `mm_read` and `mm_check` tell.
#[no_mangle]
pub unsafe extern "C" fn mm_lost_counter(r: *const mm_region) -> *const AtomicUsize {
    quiet(&NOTHING_LOST, || {
        // SAFETY: r is NULL or a live handle (C contract).
        unsafe { peek(r) }
            .and_then(Region::lost_counter)
            .unwrap_or(&NOTHING_LOST)
    })
}
