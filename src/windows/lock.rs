//! Locking: `VirtualLock`/`VirtualUnlock`, and which pages are locked
//! (`QueryWorkingSetEx`), so that an unlock of a partly locked range and a
//! `DONTNEED` never do more than asked.

use super::*;
use windows_sys::Win32::System::ProcessStatus::{
    K32QueryWorkingSetEx, PSAPI_WORKING_SET_EX_INFORMATION,
};

/// `PSAPI_WORKING_SET_EX_BLOCK`: the page is in the working set, and locked.
const VALID: usize = 1;
const LOCKED: usize = 1 << 22;

impl Mapping {
    /// `VirtualLock` of `[start, start+len)`; when the working-set quota
    /// refuses, the working set is grown by `len` and the lock tried again.
    pub(crate) fn lock(&self, start: usize, len: usize) -> SysResult<()> {
        // SAFETY: the range lies inside this live mapping.
        if unsafe { mem::VirtualLock(self.at(start, len), len) } != 0 {
            return Ok(());
        }
        let e = last_error();
        if win_code(&e) != Some(ERROR_WORKING_SET_QUOTA) || grow_working_set(len).is_err() {
            // (A failed grow reports the quota, which the message names.)
            return Err(e);
        }
        // SAFETY: as above.
        if unsafe { mem::VirtualLock(self.at(start, len), len) } != 0 {
            return Ok(());
        }
        Err(last_error())
    }

    /// `VirtualUnlock` of `[start, start+len)`: pages that were not locked
    /// are not an error (as `munlock`). Windows answers `ERROR_NOT_LOCKED`
    /// when any page of the range was not locked, without saying what it did
    /// with the locked ones: those still locked are then unlocked one by one.
    pub(crate) fn unlock(&self, start: usize, len: usize) -> SysResult<()> {
        // SAFETY: the range lies inside this live mapping.
        if unsafe { mem::VirtualUnlock(self.at(start, len), len) } != 0 {
            return Ok(());
        }
        let e = last_error();
        if win_code(&e) != Some(ERROR_NOT_LOCKED) {
            return Err(e);
        }
        let page = page_size();
        let mut result = Ok(());
        let scanned = self.each_page(start, len, |at, flags| {
            if flags & (VALID | LOCKED) == VALID | LOCKED {
                // SAFETY: one page inside this live mapping.
                if unsafe { mem::VirtualUnlock(self.at(at, page), page) } == 0 && result.is_ok() {
                    result = Err(last_error());
                }
            }
            true
        });
        match scanned {
            Some(()) => result,
            // Cannot tell which pages are locked: the first answer stands
            // for what Windows did.
            None => Ok(()),
        }
    }

    /// Whether any page of `[start, start+len)` is locked; `None` when the
    /// system cannot tell.
    pub(super) fn locked_in(&self, start: usize, len: usize) -> Option<bool> {
        let mut locked = false;
        self.each_page(start, len, |_, flags| {
            locked = flags & (VALID | LOCKED) == VALID | LOCKED;
            !locked
        })?;
        Some(locked)
    }

    /// Call `f(offset, flags)` with the working-set flags of each page of
    /// `[start, start+len)` while it returns `true` (`QueryWorkingSetEx`,
    /// 256 pages a call, into a stack buffer). `None` when the query fails.
    fn each_page(
        &self,
        start: usize,
        len: usize,
        mut f: impl FnMut(usize, usize) -> bool,
    ) -> Option<()> {
        const CHUNK: usize = 256;
        let page = page_size();
        let mut at = start;
        let end = start + len;
        while at < end {
            let n = ((end - at) / page).clamp(1, CHUNK);
            let mut info = [PSAPI_WORKING_SET_EX_INFORMATION::default(); CHUNK];
            for (i, e) in info[..n].iter_mut().enumerate() {
                e.VirtualAddress = self.at(at + i * page, page);
            }
            let size = (n * std::mem::size_of::<PSAPI_WORKING_SET_EX_INFORMATION>()) as u32;
            // SAFETY: n entries of the live buffer, each naming a page of
            // this mapping; the call fills in their attributes.
            if unsafe { K32QueryWorkingSetEx(current_process(), info.as_mut_ptr().cast(), size) }
                == 0
            {
                return None;
            }
            for (i, e) in info[..n].iter().enumerate() {
                // SAFETY: every bit pattern of the union is a valid usize.
                if !f(at + i * page, unsafe { e.VirtualAttributes.Flags }) {
                    return Some(());
                }
            }
            at += n * page;
        }
        Some(())
    }
}
