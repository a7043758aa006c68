//! Guarded regions (`MM_GUARD`): the region's side of the guard. The backend
//! (`sys::Guard`) repairs a lost page in its fault handler and keeps the
//! record; here the record is read: `mm_check`, the check that follows a
//! guarded copy, `mm_sync`'s, and the rules of a resize.

use super::*;
use std::sync::atomic::AtomicUsize;

/// Register a new mapping with the guard (`Region::finish`, a grow of an
/// empty region): `ENOMEM` when the library's slots are all taken.
#[cold]
#[inline(never)]
pub(super) fn guard_mapping(call: &'static str, map: &Mapping, flags: Flags) -> Result<Guard> {
    Guard::arm(map, Prot::of(flags)).map_err(|e| {
        let why = if sys::errno_of(&e) == Some(errno::ENOMEM) {
            msg!(
                "MM_GUARD: {} guarded regions are mapped already, the library's limit; unmap one \
                 (or map without MM_GUARD)",
                sys::GUARD_SLOTS
            )
        } else {
            msg!("MM_GUARD: installing the SIGBUS handler")
        };
        Error::Os {
            call,
            msg: why,
            source: e,
        }
    })
}

impl Region {
    /// Whether pages of this region were lost (`mm_check`): `EFAULT`, with a
    /// message that says how many and where the first one is, when an access
    /// found pages the file (or memory object) no longer covers. A guarded
    /// region repairs such a page with a private zero page (reads see zeros,
    /// writes never reach the file); the loss is seen only once something
    /// touched the page. Unguarded regions record nothing and return `Ok`.
    pub fn check(&self) -> Result<()> {
        let Some(lost) = self.guard.as_ref().and_then(Guard::lost_all) else {
            return Ok(());
        };
        Err(Error::os(
            "mm_check",
            errno::EFAULT,
            format_args!(
                "{}{} lost, the first at offset {} (the file or memory object under the \
                 mapping was truncated: those pages read as zeros now and writes to them never \
                 reach it; map it again to see its contents)",
                if lost.exact { "" } else { "up to " },
                Pages(lost.pages),
                self.page_offset(lost.first)
            ),
        ))
    }

    /// The guard's count of this region's lost pages (`mm_lost_counter`), for
    /// a reader that checks it without a call; `None` when the region is not
    /// guarded. A static address, this region's count until it is dropped;
    /// a resize may give a region that had no slot (an empty one) a slot.
    pub(crate) fn lost_counter(&self) -> Option<&'static AtomicUsize> {
        self.guard.as_ref().map(Guard::lost_counter)
    }

    /// The region offset where page `p` of the mapping starts (0 for the
    /// first page, which may start before the region).
    pub(super) fn page_offset(&self, p: usize) -> usize {
        (p * sys::page_size()).saturating_sub(self.delta)
    }

    /// The guard's check of `[start, end)` (offsets in the mapping) for a
    /// call about that range: `EFAULT` when any page of it was lost.
    #[cold]
    #[inline(never)]
    pub(super) fn check_lost(
        &self,
        call: &'static str,
        start: usize,
        end: usize,
        what: &str,
    ) -> Result<()> {
        let (Some(guard), true) = (&self.guard, start < end) else {
            return Ok(());
        };
        let page = sys::page_size();
        let Some(lost) = guard.lost_in(start / page, end.div_ceil(page)) else {
            return Ok(());
        };
        Err(Error::os(
            call,
            errno::EFAULT,
            format_args!(
                "{}{} of the range [{}, {}) {} lost, the first at offset {}: the file or memory \
                 object under the mapping was truncated ({what})",
                if lost.exact { "" } else { "up to " },
                Pages(lost.pages),
                start - self.delta,
                end - self.delta,
                if lost.pages == 1 && lost.exact {
                    "was"
                } else {
                    "were"
                },
                self.page_offset(lost.first).max(start - self.delta)
            ),
        ))
    }

    /// Whether a copy in direction `dir` may be a plain memory copy: the
    /// region is guarded (a lost page is repaired, not a signal) and no page
    /// of it lacks the access (`mm_protect` of a part, or an unreadable
    /// whole), which would be `SIGSEGV`.
    #[inline(always)]
    pub(super) fn plain_copy(&self, dir: sys::Direction) -> bool {
        self.guard.is_some()
            && self.parts.load(Ordering::Relaxed) & PART_PROTECTED == 0
            && self.flags().contains(match dir {
                sys::Direction::Read => Flags::READ,
                sys::Direction::Write => Flags::WRITE,
            })
    }

    /// A resize of a guarded region that adds pages is refused once pages
    /// were lost: the repaired pages are anonymous memory that a remap would
    /// extend, or that a new mapping would forget.
    pub(super) fn guard_allows_resize(&self, grows: bool) -> Result<()> {
        let Some(lost) = self
            .guard
            .as_ref()
            .filter(|_| grows)
            .and_then(Guard::lost_all)
        else {
            return Ok(());
        };
        Err(Error::os(
            "mm_resize",
            errno::EFAULT,
            format_args!(
                "the region lost {}{} to a truncation of its file or memory object (the first at \
                 offset {}), and a guarded region that lost pages cannot grow; map it again",
                if lost.exact { "" } else { "up to " },
                Pages(lost.pages),
                self.page_offset(lost.first)
            ),
        ))
    }

    /// Before a remap: no fault handler is inside the guard's slot when this
    /// returns, and none enters until [`Region::guard_resumed`].
    pub(super) fn guard_paused(&self) {
        if let Some(guard) = &self.guard {
            guard.pause();
        }
    }

    /// After a resize (done or failed): the guard follows the mapping, and a
    /// guarded region that had none gets its slot now.
    pub(super) fn guard_resumed(&mut self, call: &'static str) -> Result<()> {
        match (&self.guard, &self.map) {
            (Some(guard), Some(map)) => guard.resume(map),
            (None, Some(map)) if self.flags().contains(Flags::GUARD) => {
                match guard_mapping(call, map, self.flags()) {
                    Ok(guard) => self.guard = Some(guard),
                    Err(e) => {
                        self.map = None;
                        return Err(e);
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The guard hears of a protection change of `whole` the region or a
    /// part, before it is made (a failed `mprotect` may have changed pages)
    /// and, for the whole region, once it succeeded with `prot`.
    pub(super) fn guard_protect(&self, whole: bool, prot: Option<Flags>) {
        if let Some(guard) = &self.guard {
            match prot {
                Some(p) if whole => guard.protected(Prot::of(p), true),
                _ => guard.protected(Prot::of(self.flags()), false),
            }
        }
    }
}

/// "1 page", "3 pages".
struct Pages(usize);

impl std::fmt::Display for Pages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            1 => f.write_str("1 page"),
            n => write!(f, "{n} pages"),
        }
    }
}
