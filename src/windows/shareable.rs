//! Shareable memory: an unnamed section backed by the paging file, which
//! another process maps through a duplicated or inherited handle.

use super::*;
use std::os::windows::io::FromRawHandle;

/// A shareable region's section, with the C runtime descriptor `mm_fd`
/// shows for it (`_open_osfhandle` of a duplicate of the handle, so the C
/// runtime owns that one). Both close on drop.
#[derive(Debug)]
pub struct Section {
    handle: OwnedHandle,
    crt_fd: i32,
}

extern "C" {
    fn _open_osfhandle(handle: isize, flags: i32) -> i32;
    fn _close(fd: i32) -> i32;
}

impl Section {
    /// Another owner of the same section (for a resize).
    pub(crate) fn try_clone(&self) -> io::Result<OwnedHandle> {
        self.handle.try_clone()
    }
}

impl AsHandle for Section {
    fn as_handle(&self) -> BorrowedHandle<'_> {
        self.handle.as_handle()
    }
}

impl AsRawDescriptor for Section {
    /// The C runtime descriptor (`mm_fd`).
    fn as_raw_fd(&self) -> i32 {
        self.crt_fd
    }
}

impl Drop for Section {
    fn drop(&mut self) {
        // SAFETY: crt_fd is the C runtime descriptor this value made; closing
        // it closes only the duplicate handle it owns.
        unsafe { _close(self.crt_fd) };
    }
}

/// A new section of `len` bytes of zeros, no name (nothing in any
/// namespace), its handles not inheritable. Not sealable; a section never
/// changes its size, so a shareable region cannot grow here (`ENOTSUP`).
pub(crate) fn shareable_object(_name: &CStr, len: usize) -> SysResult<(Section, bool)> {
    let handle = pagefile_section(len as u64, false)?;
    let dup = handle.try_clone()?;
    let raw = std::os::windows::io::IntoRawHandle::into_raw_handle(dup);
    // SAFETY: raw is a handle this function owns; on success the C runtime
    // owns it (closed by _close), on failure it is closed here.
    let crt_fd = unsafe { _open_osfhandle(raw as isize, 0) };
    if crt_fd < 0 {
        // SAFETY: still ours: _open_osfhandle failed.
        drop(unsafe { OwnedHandle::from_raw_handle(raw) });
        return Err(errno_error(errno::EMFILE));
    }
    Ok((Section { handle, crt_fd }, false))
}
