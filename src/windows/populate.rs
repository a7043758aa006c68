//! Prefaulting (`MM_POPULATE`): `PrefetchVirtualMemory` where the system has
//! it, then a read of every page through the fault-safe copy.

use super::*;

/// Bring every page of `m` in: `PrefetchVirtualMemory` (a hint), then a
/// fault-safe read of each page ([`touch`]), so a page that cannot be
/// supplied (an I/O error of the file) is `EFAULT`, never an exception.
/// Pages are only read: a private view's pages are copied on their first
/// store, as on Unix for files; Windows charged the commit of anonymous
/// memory and sections when they were made.
pub(crate) fn populate(m: &Mapping, _write: bool, _backing: Backing) -> SysResult<()> {
    let _ = prefetch(m.ptr().cast(), m.len());
    let page = page_size();
    let mut at = 0;
    while at < m.len() {
        // SAFETY: at < m.len(), inside the live mapping.
        touch(unsafe { m.ptr().add(at) })?;
        at += page;
    }
    Ok(())
}
