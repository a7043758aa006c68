//! Limits: the working set (`VirtualLock`'s quota) and the commit limit,
//! named in messages as the Unix side names `RLIMIT_MEMLOCK` and overcommit.

use super::*;
use windows_sys::Win32::System::Threading::{GetProcessWorkingSetSize, SetProcessWorkingSetSize};

/// No `RLIMIT_MEMLOCK`: locking is bounded by the working set.
pub(crate) const HAS_MEMLOCK_RLIMIT: bool = false;

/// What locking memory needs, shown in a refusal: the working set, with its
/// sizes read when the message is made.
pub(crate) const LOCK_PRIVILEGE: WorkingSet = WorkingSet;

/// [`LOCK_PRIVILEGE`]'s text.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WorkingSet;

impl std::fmt::Display for WorkingSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match working_set() {
            Some((min, max)) => write!(
                f,
                "a working set that holds the pages: this process's is {min} bytes minimum, \
                 {max} bytes maximum (GetProcessWorkingSetSize; mm_lock grew it by the bytes \
                 asked and tried again)"
            ),
            None => f.write_str("a working set that holds the pages (SetProcessWorkingSetSize)"),
        }
    }
}

/// The process's working-set minimum and maximum.
fn working_set() -> Option<(usize, usize)> {
    let (mut min, mut max) = (0usize, 0usize);
    // SAFETY: writes two usizes into live locals.
    let ok = unsafe { GetProcessWorkingSetSize(current_process(), &mut min, &mut max) };
    (ok != 0).then_some((min, max))
}

/// Grow the working set by `bytes` (minimum and maximum), so that
/// `VirtualLock` of that many more bytes fits its quota.
pub(super) fn grow_working_set(bytes: usize) -> SysResult<()> {
    let (min, max) = working_set().ok_or_else(last_error)?;
    let (min, max) = (min.saturating_add(bytes), max.saturating_add(bytes));
    // SAFETY: only changes this process's working-set sizes.
    if unsafe { SetProcessWorkingSetSize(current_process(), min, max) } == 0 {
        return Err(last_error());
    }
    Ok(())
}

/// No `RLIMIT_MEMLOCK` here.
pub(crate) fn memlock_limit() -> Option<u64> {
    None
}

/// Not known here.
pub(crate) fn locked_bytes() -> Option<u64> {
    None
}

/// What a call that failed with `ENOMEM` was doing, for [`why_no_memory`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum Asked {
    #[allow(dead_code)]
    Map(usize),
    #[allow(dead_code)]
    Protect {
        commits: bool,
    },
    Lock,
}

/// The limit an `ENOMEM` likely met: the system's commit limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NoMemory {
    /// Never made here; named by the core's messages.
    #[allow(dead_code)]
    MapCount { maps: u64, max: u64 },
    /// The commit limit (RAM + paging files) and what is left of it.
    Commit { limit: u64, available: u64 },
}

impl std::fmt::Display for NoMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            NoMemory::MapCount { maps, max } => write!(f, "{maps} mappings of {max}"),
            NoMemory::Commit { limit, available } => write!(
                f,
                "the system's commit limit (RAM + paging files) is {limit} bytes, of which \
                 {available} bytes are left"
            ),
        }
    }
}

/// The commit limit, for an `ENOMEM` of a map or a grow.
pub(crate) fn why_no_memory(asked: Asked) -> Option<NoMemory> {
    use windows_sys::Win32::System::SystemInformation::{GlobalMemoryStatusEx, MEMORYSTATUSEX};
    if matches!(asked, Asked::Lock) {
        return None;
    }
    // SAFETY: a zeroed struct with its length set, as the call requires.
    let mut st: MEMORYSTATUSEX = unsafe { std::mem::zeroed() };
    st.dwLength = std::mem::size_of::<MEMORYSTATUSEX>() as u32;
    // SAFETY: writes into the live struct.
    if unsafe { GlobalMemoryStatusEx(&mut st) } == 0 {
        return None;
    }
    Some(NoMemory::Commit {
        limit: st.ullTotalPageFile,
        available: st.ullAvailPageFile,
    })
}

/// `VirtualLock` either locks the whole range or nothing.
pub(crate) const MLOCK_MAY_LEAVE_LOCKS: bool = false;

/// The locked parts of a range (never asked for here).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LockedRuns {
    _none: (),
}

/// Not known here.
pub(crate) fn locked_runs(_m: &Mapping, _start: usize, _len: usize) -> Option<LockedRuns> {
    None
}

/// `VirtualUnlock` of the range (nothing is kept, see [`LockedRuns`]).
pub(crate) fn unlock_except(
    m: &Mapping,
    start: usize,
    len: usize,
    _keep: &LockedRuns,
) -> SysResult<()> {
    m.unlock(start, len)
}
