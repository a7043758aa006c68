//! Sections as descriptors: telling a section handle from a file handle,
//! its size and granted access (`NtQuerySection`, `NtQueryObject`: ntdll's,
//! described in Microsoft's driver documentation, implemented by Wine), and
//! "truncating" one, which Windows cannot do.

use super::*;

/// What a handle is, as far as mapping cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Object {
    File,
    /// A section of this many bytes.
    Section(u64),
}

mod nt {
    use std::ffi::c_void;
    use windows_sys::Win32::Foundation::HANDLE;

    #[repr(C)]
    pub(super) struct SectionBasicInformation {
        pub base: *mut c_void,
        pub attributes: u32,
        pub size: i64,
    }

    #[repr(C)]
    pub(super) struct ObjectBasicInformation {
        pub attributes: u32,
        pub granted_access: u32,
        pub handle_count: u32,
        pub pointer_count: u32,
        pub reserved: [u32; 10],
    }

    /// `UNICODE_STRING`, the head of `OBJECT_TYPE_INFORMATION`.
    #[repr(C)]
    pub(super) struct UnicodeString {
        pub length: u16,
        pub maximum_length: u16,
        pub buffer: *const u16,
    }

    pub(super) const SECTION_BASIC_INFORMATION: u32 = 0;
    pub(super) const OBJECT_BASIC_INFORMATION: u32 = 0;
    pub(super) const OBJECT_TYPE_INFORMATION: u32 = 2;

    #[link(name = "ntdll")]
    extern "system" {
        pub(super) fn NtQuerySection(
            section: HANDLE,
            class: u32,
            info: *mut c_void,
            len: usize,
            ret: *mut usize,
        ) -> i32;
        pub(super) fn NtQueryObject(
            handle: HANDLE,
            class: u32,
            info: *mut c_void,
            len: u32,
            ret: *mut u32,
        ) -> i32;
    }
}

/// Whether `h` is a file or a section, and a section's size. A section
/// handle without `SECTION_QUERY` access (its size unknown) is `EACCES`.
pub(crate) fn object_of(h: HANDLE) -> SysResult<Object> {
    let mut info = nt::SectionBasicInformation {
        base: ptr::null_mut(),
        attributes: 0,
        size: 0,
    };
    // SAFETY: the class writes at most the struct's size into it; any
    // handle value is checked by the kernel.
    let status = unsafe {
        nt::NtQuerySection(
            h,
            nt::SECTION_BASIC_INFORMATION,
            ptr::addr_of_mut!(info).cast(),
            std::mem::size_of::<nt::SectionBasicInformation>(),
            ptr::null_mut(),
        )
    };
    if status >= 0 {
        return Ok(Object::Section(info.size.max(0) as u64));
    }
    if is_section(h) {
        return Err(errno_error(errno::EACCES));
    }
    Ok(Object::File)
}

/// Whether the object's type is "Section" (`NtQueryObject`).
fn is_section(h: HANDLE) -> bool {
    // OBJECT_TYPE_INFORMATION: the name, then counts; the name's characters
    // follow in the same buffer.
    let mut buf = [0u64; 64];
    // SAFETY: the class writes at most the buffer's size into it.
    let status = unsafe {
        nt::NtQueryObject(
            h,
            nt::OBJECT_TYPE_INFORMATION,
            buf.as_mut_ptr().cast(),
            std::mem::size_of_val(&buf) as u32,
            ptr::null_mut(),
        )
    };
    if status < 0 {
        return false;
    }
    // SAFETY: on success the buffer starts with the type's UNICODE_STRING,
    // whose characters lie inside the buffer.
    let name = unsafe {
        let s = &*buf.as_ptr().cast::<nt::UnicodeString>();
        if s.buffer.is_null() {
            return false;
        }
        std::slice::from_raw_parts(s.buffer, usize::from(s.length) / 2)
    };
    name.iter().copied().eq("Section".encode_utf16())
}

/// The access `h` was granted (`NtQueryObject`); `EBADF` when it is no
/// handle.
pub(crate) fn granted_access(h: HANDLE) -> SysResult<u32> {
    let mut info = std::mem::MaybeUninit::<nt::ObjectBasicInformation>::zeroed();
    // SAFETY: the class writes at most the struct's size.
    let status = unsafe {
        nt::NtQueryObject(
            h,
            nt::OBJECT_BASIC_INFORMATION,
            info.as_mut_ptr().cast(),
            std::mem::size_of::<nt::ObjectBasicInformation>() as u32,
            ptr::null_mut(),
        )
    };
    if status < 0 {
        return Err(errno_error(errno::EBADF));
    }
    // SAFETY: zeroed, then written by the call.
    Ok(unsafe { info.assume_init() }.granted_access)
}

/// `ftruncate` of a section of `have` bytes to `size`: a section never
/// changes its size, so growing it is `ENOTSUP`, and shrinking it zeroes
/// the bytes from `size` on, which a later grow (within the section) must
/// find as zeros, as after an `ftruncate` on Unix.
pub(crate) fn truncate_section(h: HANDLE, have: u64, size: u64) -> SysResult<()> {
    if size > have {
        return Err(errno_error(errno::ENOTSUP));
    }
    if size == have {
        return Ok(());
    }
    let start = size & !(map_granularity() as u64 - 1);
    let len = usize::try_from(have - start).map_err(|_| errno_error(errno::ENOMEM))?;
    let rw = Prot(Prot::READ | Prot::WRITE);
    let spec = MapSpec {
        prot: rw,
        share: Share::Shared,
        noreserve: false,
        populate: false,
    };
    let view = Mapping::view(h, start, len, &spec, rw)?;
    let from = (size - start) as usize;
    // SAFETY: [from, len) lies inside the fresh writable view.
    unsafe { ptr::write_bytes(view.ptr().add(from), 0, len - from) };
    Ok(())
}
