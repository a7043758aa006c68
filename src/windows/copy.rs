//! Fault-safe copies: `ReadProcessMemory` / `WriteProcessMemory` on the own
//! process, which answer an error instead of raising an access violation.

use super::*;
use windows_sys::Win32::System::Diagnostics::Debug::{ReadProcessMemory, WriteProcessMemory};

/// Copy `n` bytes between `mapped` (inside a mapping) and `buf` without an
/// access violation: a page without the access is `EFAULT`.
/// `WriteProcessMemory` would make a read-only page writable for the copy,
/// and Wine's `ReadProcessMemory` reads `PAGE_NOACCESS` pages of the own
/// process, so both first ask `VirtualQuery` that every page of the range
/// has the access.
pub(crate) fn copy_checked(
    dir: Direction,
    mapped: *mut u8,
    buf: *mut u8,
    n: usize,
) -> SysResult<()> {
    let mut done = 0usize;
    // SAFETY: both ranges are n bytes the caller vouches for (buf is its
    // buffer; mapped lies inside a mapping); the system checks the mapped
    // side's access and fails instead of faulting.
    let ok = unsafe {
        match dir {
            Direction::Read => {
                if !accessible(mapped, n, false) {
                    return Err(errno_error(errno::EFAULT));
                }
                ReadProcessMemory(current_process(), mapped.cast(), buf.cast(), n, &mut done)
            }
            Direction::Write => {
                if !accessible(mapped, n, true) {
                    return Err(errno_error(errno::EFAULT));
                }
                WriteProcessMemory(current_process(), mapped.cast(), buf.cast(), n, &mut done)
            }
        }
    };
    if ok == 0 || done != n {
        return Err(errno_error(errno::EFAULT));
    }
    Ok(())
}

/// Read the byte at `at` without an access violation (`MM_POPULATE`'s
/// touch of a page of a mapping it just made readable): `EFAULT` when it
/// cannot be read.
pub(crate) fn touch(at: *mut u8) -> SysResult<()> {
    let (mut byte, mut done) = (0u8, 0usize);
    // SAFETY: one byte into a live local; the system checks `at`'s access.
    let ok = unsafe {
        ReadProcessMemory(
            current_process(),
            at.cast(),
            ptr::addr_of_mut!(byte).cast(),
            1,
            &mut done,
        )
    };
    if ok == 0 || done != 1 {
        return Err(errno_error(errno::EFAULT));
    }
    Ok(())
}

/// Whether every page of `[at, at + n)` is committed and readable (or
/// `write`: writable) now.
fn accessible(at: *mut u8, n: usize, write: bool) -> bool {
    let end = at as usize + n;
    let mut p = at as usize;
    while p < end {
        let mut info = std::mem::MaybeUninit::<mem::MEMORY_BASIC_INFORMATION>::uninit();
        let size = std::mem::size_of::<mem::MEMORY_BASIC_INFORMATION>();
        // SAFETY: VirtualQuery writes at most size bytes into the struct.
        if unsafe { mem::VirtualQuery(p as *const c_void, info.as_mut_ptr(), size) } == 0 {
            return false;
        }
        // SAFETY: initialised by the successful call.
        let info = unsafe { info.assume_init() };
        let w = mem::PAGE_READWRITE
            | mem::PAGE_WRITECOPY
            | mem::PAGE_EXECUTE_READWRITE
            | mem::PAGE_EXECUTE_WRITECOPY;
        let w = if write {
            w
        } else {
            w | mem::PAGE_READONLY | mem::PAGE_EXECUTE_READ
        };
        if info.State != mem::MEM_COMMIT
            || info.Protect & w == 0
            || info.Protect & mem::PAGE_GUARD != 0
        {
            return false;
        }
        p = info.BaseAddress as usize + info.RegionSize;
    }
    true
}
