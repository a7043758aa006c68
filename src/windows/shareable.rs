//! Shareable memory: an unnamed section backed by the paging file, which
//! another process maps through a duplicated or inherited handle.

use super::*;

/// A new section of `len` bytes of zeros, no name (nothing in any
/// namespace), its handle not inheritable. Not sealable; a section never
/// changes its size, so a shareable region cannot grow here (`ENOTSUP`).
/// The region keeps the `HANDLE`, not a C runtime descriptor: a section
/// is not a file, and the C runtime's `_open_osfhandle` refuses it on
/// Windows (Wine takes it).
pub(crate) fn shareable_object(_name: &CStr, len: usize) -> SysResult<(OwnedHandle, bool)> {
    Ok((pagefile_section(len as u64, false)?, false))
}

/// No C descriptor: a region keeps a `HANDLE` here (`mm_fd` is `EBADF`).
pub(crate) fn c_fd(_fd: &OwnedHandle) -> Option<i32> {
    None
}
