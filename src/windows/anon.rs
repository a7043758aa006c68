//! Anonymous memory: `VirtualAlloc` (private), a pagefile-backed section
//! (shared). No `/dev/zero` and no huge pages here.

use super::*;

/// Anonymous memory is always available.
pub(crate) const HAS_MAP_ANONYMOUS: bool = true;

/// `len` bytes (a page multiple) of zero-filled memory: `VirtualAlloc` for
/// private memory, a view of a new pagefile-backed section for shared.
pub(crate) fn map_anonymous(len: usize, spec: &MapSpec) -> SysResult<Mapping> {
    match spec.share {
        Share::Private => virtual_alloc(len, spec.prot),
        Share::Shared => {
            let exec = spec.prot.exec();
            let section = pagefile_section(len as u64, exec)?;
            Mapping::view(raw_handle(&section), 0, len, spec, Prot::read_write(exec))
        }
    }
}

/// `VirtualAlloc(MEM_RESERVE|MEM_COMMIT)` of `len` bytes with `prot`.
pub(super) fn virtual_alloc(len: usize, prot: Prot) -> SysResult<Mapping> {
    // SAFETY: a NULL address lets Windows choose a fresh range; checked below.
    let p = unsafe {
        mem::VirtualAlloc(
            ptr::null(),
            len,
            mem::MEM_RESERVE | mem::MEM_COMMIT,
            prot.page(false),
        )
    };
    if p.is_null() {
        return Err(last_error());
    }
    Ok(Mapping {
        ptr: p.cast(),
        len,
        how: How::Virtual,
    })
}

/// A new, unnamed section of `size` bytes backed by the paging file.
pub(super) fn pagefile_section(size: u64, exec: bool) -> SysResult<OwnedHandle> {
    use std::os::windows::io::FromRawHandle;
    let page = if exec {
        mem::PAGE_EXECUTE_READWRITE
    } else {
        mem::PAGE_READWRITE
    };
    // SAFETY: INVALID_HANDLE_VALUE asks for the paging file; no name, no
    // security attributes; the result is checked.
    let h = unsafe {
        mem::CreateFileMappingW(
            INVALID_HANDLE_VALUE,
            ptr::null(),
            page | mem::SEC_COMMIT,
            (size >> 32) as u32,
            size as u32,
            ptr::null(),
        )
    };
    if h.is_null() {
        return Err(last_error());
    }
    // SAFETY: a fresh handle this function owns.
    Ok(unsafe { OwnedHandle::from_raw_handle(h as _) })
}

pub(super) fn raw_handle(h: &OwnedHandle) -> HANDLE {
    h.as_raw_handle() as HANDLE
}

/// Never: a failure of anonymous memory here is a real one.
pub(crate) fn anonymous_refused(_e: &io::Error) -> bool {
    false
}

/// `MM_DEVZERO`: Windows has no `/dev/zero`.
pub(crate) fn map_devzero(_len: usize, _spec: &MapSpec) -> SysResult<Mapping> {
    Err(errno_error(errno::ENOTSUP))
}

/// No explicit huge pages (large pages need `SeLockMemoryPrivilege` and
/// cannot be paged; not offered).
pub(crate) fn map_hugetlb(_len: usize, _spec: &MapSpec) -> Option<Mapping> {
    None
}

/// No explicit huge pages, none free.
pub(crate) fn huge_pages_free() -> Option<u64> {
    None
}

/// No transparent huge pages to advise.
pub(crate) fn advise_hugepage(_m: &Mapping) -> bool {
    false
}
