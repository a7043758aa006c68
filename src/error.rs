//! The error type of the safe API. Every variant knows the errno it stands for,
//! which is what the C ABI returns (negated) and what Python raises `OSError` with.

use std::fmt;
use std::io;

/// What went wrong in an mmkit call.
///
/// The `Display` form is the message `mm_last_error()` returns: it starts with
/// the name of the C call (`mm_map_file: ...`) and names the values involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An argument is out of range or inconsistent (`EINVAL`).
    #[error("{call}: {msg}")]
    InvalidArgument {
        /// The C name of the call that failed.
        call: &'static str,
        /// What was wrong, with the values involved.
        msg: String,
    },
    /// The operation is not allowed on this region or descriptor (`EACCES`).
    #[error("{call}: {msg}")]
    AccessDenied {
        /// The C name of the call that failed.
        call: &'static str,
        /// What was refused, with the values involved.
        msg: String,
    },
    /// The platform or the region kind cannot do this (`ENOTSUP`).
    #[error("{call}: {msg}")]
    Unsupported {
        /// The C name of the call that failed.
        call: &'static str,
        /// What is not supported here.
        msg: String,
    },
    /// The size asked for cannot be represented or mapped (`ENOMEM`).
    #[error("{call}: {msg}")]
    TooLarge {
        /// The C name of the call that failed.
        call: &'static str,
        /// The size and why it cannot be mapped.
        msg: String,
    },
    /// A system call failed; the errno is the system's own.
    #[error("{call}: {msg}: {}", os_text(source))]
    Os {
        /// The C name of the call that failed.
        call: &'static str,
        /// The system call and the values it was given.
        msg: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A Rust panic was caught at the C boundary (`EIO`). A bug in mmkit.
    #[error("{call}: internal error (please report): {msg}")]
    Internal {
        /// The C name of the call that failed.
        call: &'static str,
        /// The panic message.
        msg: String,
    },
}

impl Error {
    /// The positive errno value this error stands for (`EINVAL`, `ENOMEM`, ...).
    pub fn errno(&self) -> i32 {
        match self {
            Error::InvalidArgument { .. } => libc::EINVAL,
            Error::AccessDenied { .. } => libc::EACCES,
            Error::Unsupported { .. } => libc::ENOTSUP,
            Error::TooLarge { .. } => libc::ENOMEM,
            Error::Os { source, .. } => source.raw_os_error().unwrap_or_else(|| kind_errno(source)),
            Error::Internal { .. } => libc::EIO,
        }
    }

    /// The name of the C call this error came from (`"mm_map_file"`, ...).
    pub fn call(&self) -> &'static str {
        match self {
            Error::InvalidArgument { call, .. }
            | Error::AccessDenied { call, .. }
            | Error::Unsupported { call, .. }
            | Error::TooLarge { call, .. }
            | Error::Os { call, .. }
            | Error::Internal { call, .. } => call,
        }
    }

    // Cold: errors are the rare path; callers' hot code stays compact.
    #[cold]
    pub(crate) fn invalid(call: &'static str, msg: impl fmt::Display) -> Self {
        Error::InvalidArgument {
            call,
            msg: msg.to_string(),
        }
    }

    #[cold]
    pub(crate) fn access(call: &'static str, msg: impl fmt::Display) -> Self {
        Error::AccessDenied {
            call,
            msg: msg.to_string(),
        }
    }

    #[cold]
    pub(crate) fn unsupported(call: &'static str, msg: impl fmt::Display) -> Self {
        Error::Unsupported {
            call,
            msg: msg.to_string(),
        }
    }

    #[cold]
    pub(crate) fn too_large(call: &'static str, msg: impl fmt::Display) -> Self {
        Error::TooLarge {
            call,
            msg: msg.to_string(),
        }
    }

    /// An OS error from an explicit errno value.
    #[cold]
    pub(crate) fn os(call: &'static str, errno: i32, msg: impl fmt::Display) -> Self {
        Error::Os {
            call,
            msg: msg.to_string(),
            source: io::Error::from_raw_os_error(errno),
        }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let errno = e.errno();
        io::Error::new(io::Error::from_raw_os_error(errno).kind(), e)
    }
}

/// An errno for an `io::Error` that carries none (std refuses some input
/// itself: a path with a NUL byte is `InvalidInput`, which is `EINVAL`).
fn kind_errno(e: &io::Error) -> i32 {
    use io::ErrorKind as K;
    match e.kind() {
        K::InvalidInput | K::InvalidData => libc::EINVAL,
        K::NotFound => libc::ENOENT,
        K::PermissionDenied => libc::EACCES,
        K::AlreadyExists => libc::EEXIST,
        K::OutOfMemory => libc::ENOMEM,
        K::Unsupported => libc::ENOTSUP,
        K::Interrupted => libc::EINTR,
        _ => libc::EIO,
    }
}

/// The system's text for an error, without Rust's " (os error N)" suffix.
fn os_text(e: &io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) if s.ends_with(')') => s[..i].to_string(),
        _ => s,
    }
}

/// The result type of the safe API.
pub type Result<T> = std::result::Result<T, Error>;
