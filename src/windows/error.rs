//! Errors: a `GetLastError()` code with the C runtime errno it stands for.
//!
//! Both travel in one `io::Error` made by `from_raw_os_error`, which never
//! allocates (a failed call must not need the heap): the errno in the bits
//! from [`SHIFT`] up, the Windows code below (0: none). [`errno_of`] and
//! [`write_os_error`] read them back; nothing else looks inside.

use super::*;

/// The C runtime's error numbers (MinGW-w64's `errno.h`, which follows
/// Microsoft's): what the C ABI returns, negated.
pub(crate) mod errno {
    pub(crate) const EPERM: i32 = 1;
    pub(crate) const ENOENT: i32 = 2;
    pub(crate) const EINTR: i32 = 4;
    pub(crate) const EIO: i32 = 5;
    pub(crate) const ENXIO: i32 = 6;
    pub(crate) const EBADF: i32 = 9;
    pub(crate) const EAGAIN: i32 = 11;
    pub(crate) const ENOMEM: i32 = 12;
    pub(crate) const EACCES: i32 = 13;
    pub(crate) const EFAULT: i32 = 14;
    pub(crate) const EBUSY: i32 = 16;
    pub(crate) const EEXIST: i32 = 17;
    pub(crate) const ENODEV: i32 = 19;
    pub(crate) const ENOTDIR: i32 = 20;
    pub(crate) const EISDIR: i32 = 21;
    pub(crate) const EINVAL: i32 = 22;
    pub(crate) const EMFILE: i32 = 24;
    pub(crate) const EFBIG: i32 = 27;
    pub(crate) const ENOSPC: i32 = 28;
    pub(crate) const EROFS: i32 = 30;
    pub(crate) const ENAMETOOLONG: i32 = 38;
    pub(crate) const ELOOP: i32 = 114;
    pub(crate) const ENOTSUP: i32 = 129;
    /// No such errno in the C runtime: a quota is a full disk there.
    #[allow(dead_code)]
    pub(crate) const EDQUOT: i32 = ENOSPC;
    /// No such errno in the C runtime: a file that is no longer the one
    /// mapped is reported as gone.
    pub(crate) const ESTALE: i32 = ENOENT;
}

/// Where the errno starts in an encoded error.
const SHIFT: u32 = 20;
/// The Windows code's bits.
const CODE_MASK: i32 = (1 << SHIFT) - 1;

pub(crate) const ERROR_WORKING_SET_QUOTA: u32 = 1453;
pub(crate) const ERROR_NOT_LOCKED: u32 = 158;
pub(crate) const ERROR_LOCK_VIOLATION: u32 = 33;

/// An error standing for `errno`, with no Windows code.
#[inline]
pub(crate) fn errno_error(errno: i32) -> io::Error {
    io::Error::from_raw_os_error(errno << SHIFT)
}

/// An error for the Windows code `code`, with the errno it maps to.
pub(crate) fn win_error(code: u32) -> io::Error {
    let code = if code as i32 & !CODE_MASK != 0 {
        0
    } else {
        code
    };
    io::Error::from_raw_os_error((errno_for(code) << SHIFT) | code as i32)
}

/// `GetLastError()` as an error (the caller's message names the call).
pub(crate) fn last_error() -> io::Error {
    // SAFETY: no preconditions.
    win_error(unsafe { windows_sys::Win32::Foundation::GetLastError() })
}

/// The errno an error of this backend stands for; an error std made (a
/// plain `GetLastError` code, below [`SHIFT`]'s bits) is mapped as
/// [`win_error`] maps it.
#[inline]
pub(crate) fn errno_of(e: &io::Error) -> Option<i32> {
    e.raw_os_error().map(|raw| match raw >> SHIFT {
        0 => errno_for(raw as u32),
        errno => errno,
    })
}

/// The `io::ErrorKind` of a C runtime errno (std reads raw codes as
/// Windows codes, so it is told here).
pub(crate) fn kind_of(e: i32) -> io::ErrorKind {
    use io::ErrorKind as K;
    match e {
        errno::ENOENT => K::NotFound,
        errno::EACCES | errno::EPERM => K::PermissionDenied,
        errno::EEXIST => K::AlreadyExists,
        errno::EINVAL => K::InvalidInput,
        errno::ENOMEM => K::OutOfMemory,
        errno::ENOTSUP => K::Unsupported,
        errno::EINTR => K::Interrupted,
        _ => K::Other,
    }
}

/// The Windows code an error carries, if any.
pub(crate) fn win_code(e: &io::Error) -> Option<u32> {
    match e.raw_os_error()? & CODE_MASK {
        0 => None,
        c => Some(c as u32),
    }
}

/// The C runtime errno for a Windows error code, as the C runtime's own
/// `_dosmaperr` maps them, with the mapping cases it lacks named here.
fn errno_for(code: u32) -> i32 {
    use errno::*;
    match code {
        2 | 3 | 15 | 18 | 53 | 67 | 123 | 161 => ENOENT, // FILE/PATH_NOT_FOUND, INVALID_DRIVE, ..., BAD_PATHNAME
        4 => EMFILE,                                     // TOO_MANY_OPEN_FILES
        5 | 32 | 33 | 65 | 82 | 1224 => EACCES, // ACCESS_DENIED, SHARING/LOCK_VIOLATION, USER_MAPPED_FILE
        6 => EBADF,                             // INVALID_HANDLE
        8 | 14 | 1450 | 1453 | 1454 | 1455 => ENOMEM, // NOT_ENOUGH_MEMORY, OUTOFMEMORY, quotas, COMMITMENT_LIMIT
        19 => EROFS,                                  // WRITE_PROTECT
        39 | 112 => ENOSPC,                           // HANDLE_DISK_FULL, DISK_FULL
        50 | 120 => ENOTSUP,                          // NOT_SUPPORTED, CALL_NOT_IMPLEMENTED
        80 | 183 => EEXIST,                           // FILE_EXISTS, ALREADY_EXISTS
        87 | 1006 | 1132 => EINVAL, // INVALID_PARAMETER, FILE_INVALID, MAPPED_ALIGNMENT
        158 => EINVAL,              // NOT_LOCKED
        206 => ENAMETOOLONG,        // FILENAME_EXCED_RANGE
        223 => EFBIG,               // FILE_TOO_LARGE
        267 => ENOTDIR,             // DIRECTORY
        299 | 998 => EFAULT,        // PARTIAL_COPY, NOACCESS
        1921 => ELOOP,              // CANT_RESOLVE_FILENAME
        0 => EIO,
        _ => EINVAL, // the C runtime's own default
    }
}

/// Write the C runtime's text for error number `code`.
pub(crate) fn write_error_text(code: i32, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    extern "C" {
        fn strerror(errnum: i32) -> *const std::ffi::c_char;
    }
    let text = match code {
        errno::ENOTSUP => "Operation not supported",
        errno::ELOOP => "Too many levels of symbolic links",
        _ => {
            // SAFETY: strerror returns a NUL-terminated string the C runtime
            // keeps per thread; it is read at once.
            let p = unsafe { strerror(code) };
            if p.is_null() {
                return write!(f, "error {code}");
            }
            // SAFETY: as above.
            let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
            return f.write_str(std::str::from_utf8(bytes).unwrap_or("unknown error"));
        }
    };
    f.write_str(text)
}

/// Write the text of `e`: the errno's, then the Windows error's code and
/// its own text (`FormatMessageW`, into a stack buffer).
pub(crate) fn write_os_error(e: &io::Error, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    let Some(errno) = errno_of(e) else {
        return std::fmt::Display::fmt(e, f);
    };
    write_error_text(errno, f)?;
    let Some(code) = win_code(e) else {
        return Ok(());
    };
    use windows_sys::Win32::System::Diagnostics::Debug::{
        FormatMessageW, FORMAT_MESSAGE_FROM_SYSTEM, FORMAT_MESSAGE_IGNORE_INSERTS,
    };
    let mut buf = [0u16; 512];
    // SAFETY: FormatMessageW writes at most buf.len() UTF-16 units into the
    // live buffer and returns how many (0 on failure).
    let n = unsafe {
        FormatMessageW(
            FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
            ptr::null(),
            code,
            0,
            buf.as_mut_ptr(),
            buf.len() as u32,
            ptr::null(),
        )
    } as usize;
    write!(f, " (Windows error {code}")?;
    let text = &buf[..n.min(buf.len())];
    let mut end = text.len();
    while end > 0 && matches!(text[end - 1], 0x0d | 0x0a | 0x20 | 0x2e) {
        end -= 1;
    }
    if end > 0 {
        f.write_str(": ")?;
        for c in char::decode_utf16(text[..end].iter().copied()) {
            use std::fmt::Write;
            f.write_char(c.unwrap_or(char::REPLACEMENT_CHARACTER))?;
        }
    }
    f.write_str(")")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_carries_its_errno_and_windows_code() {
        let e = win_error(5);
        assert_eq!(errno_of(&e), Some(errno::EACCES));
        assert_eq!(win_code(&e), Some(5));
        let e = errno_error(errno::ENOTSUP);
        assert_eq!(errno_of(&e), Some(errno::ENOTSUP));
        assert_eq!(win_code(&e), None);
        assert_eq!(errno_of(&win_error(998)), Some(errno::EFAULT));
        assert_eq!(errno_of(&win_error(1455)), Some(errno::ENOMEM));
    }

    #[test]
    fn an_error_std_made_is_mapped_too_never_errno_0() {
        // std's io::Error of a Win32 call: the plain GetLastError code.
        assert_eq!(
            errno_of(&io::Error::from_raw_os_error(5)),
            Some(errno::EACCES)
        );
        assert_eq!(
            errno_of(&io::Error::from_raw_os_error(8)),
            Some(errno::ENOMEM)
        );
        assert_eq!(win_code(&io::Error::from_raw_os_error(2)), Some(2));
        let e = crate::Error::Os {
            call: "mm_test",
            msg: "x".into(),
            source: io::Error::from_raw_os_error(2),
        };
        assert_eq!(e.errno(), errno::ENOENT);
        let e = crate::Error::Os {
            call: "mm_test",
            msg: "x".into(),
            source: io::Error::from_raw_os_error(0),
        };
        assert!(e.errno() > 0, "errno 0 would be success through the C ABI");
        let k: io::Error = crate::Error::os("mm_test", errno::ENOENT, "x").into();
        assert_eq!(k.kind(), io::ErrorKind::NotFound);
    }
}
