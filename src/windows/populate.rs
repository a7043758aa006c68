//! Prefaulting (`MM_POPULATE`): `PrefetchVirtualMemory` where the system has
//! it, then a read of every page through the fault-safe copy.

use super::*;

/// What memory a mapping holds, for [`populate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backing {
    Anonymous,
    File,
    Object,
}

/// Bring every page of `m` in. Pages are only read (a private view's pages
/// are copied on their first store, as on Unix for files); an unreadable
/// page (`MM_PROTECT` none at map time cannot happen: populate runs on a
/// fresh mapping) is `EFAULT`. A committed page of anonymous memory or a
/// section exists once touched: Windows charges commit at map time.
pub(crate) fn populate(m: &Mapping, _write: bool, _backing: Backing) -> SysResult<()> {
    let _ = prefetch(m.ptr().cast(), m.len());
    let page = page_size();
    let mut byte = 0u8;
    let mut at = 0;
    while at < m.len() {
        // SAFETY: at < m.len(), inside the live mapping; one byte into a local.
        copy_checked(
            Direction::Read,
            unsafe { m.ptr().add(at) },
            ptr::addr_of_mut!(byte),
            1,
        )?;
        at += page;
    }
    Ok(())
}
