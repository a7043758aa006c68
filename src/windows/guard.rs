//! The guard (`MM_GUARD`) on Windows: nothing to guard against truncation.
//! Windows refuses to shrink a file below a mapped view
//! (`ERROR_USER_MAPPED_FILE`), and a section never shrinks, so no page of a
//! region is lost that way; the flag is accepted and every record is empty.
//! Not covered: a page Windows cannot read in (an I/O error of a network or
//! failing disk file) is `EXCEPTION_IN_PAGE_ERROR` on a direct access, and a
//! page of a view cannot be replaced as the Unix guard replaces one;
//! `mm_read`/`mm_write` report it (`EFAULT`).

use super::*;
use std::sync::atomic::AtomicUsize;

/// The library's limit of guarded regions (none is kept here).
pub(crate) const GUARD_SLOTS: usize = usize::MAX;

/// A guarded mapping's record: always empty.
#[derive(Debug)]
pub(crate) struct Guard(());

impl Guard {
    /// Register a mapping: nothing to install.
    pub(crate) fn arm(_map: &Mapping, _prot: Prot) -> SysResult<Guard> {
        Ok(Guard(()))
    }

    /// How many pages were lost, read after a plain copy: none.
    #[inline(always)]
    pub(crate) fn lost_after_copy(&self) -> usize {
        0
    }

    /// The count of lost pages: a static zero.
    pub(crate) fn lost_counter(&self) -> &'static AtomicUsize {
        static NONE_LOST: AtomicUsize = AtomicUsize::new(0);
        &NONE_LOST
    }

    /// Lost pages among `[first, end)`: none.
    pub(crate) fn lost_in(&self, _first: usize, _end: usize) -> Option<Lost> {
        None
    }

    /// Lost pages of the whole mapping: none.
    pub(crate) fn lost_all(&self) -> Option<Lost> {
        None
    }

    /// A protection change: nothing to follow.
    pub(crate) fn protected(&self, _prot: Prot, _whole: bool) {}

    /// Before a remap: nothing to pause.
    pub(crate) fn pause(&self) {}

    /// After a remap: nothing to follow.
    pub(crate) fn resume(&self, _map: &Mapping) {}
}
