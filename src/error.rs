//! The error type of the safe API. Every variant knows the errno it stands for,
//! which is what the C ABI returns (negated) and what Python raises `OSError` with.

use std::borrow::Cow;
use std::fmt;
use std::io;

use crate::sys::errno;

/// A message's text. Built by [`text`] without any allocation that could
/// abort: when the heap is exhausted it is a fixed text.
pub type Text = Cow<'static, str>;

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
        msg: Text,
    },
    /// The operation is not allowed on this region or descriptor (`EACCES`).
    #[error("{call}: {msg}")]
    AccessDenied {
        /// The C name of the call that failed.
        call: &'static str,
        /// What was refused, with the values involved.
        msg: Text,
    },
    /// The platform or the region kind cannot do this (`ENOTSUP`).
    #[error("{call}: {msg}")]
    Unsupported {
        /// The C name of the call that failed.
        call: &'static str,
        /// What is not supported here.
        msg: Text,
    },
    /// The size asked for cannot be represented or mapped (`ENOMEM`).
    #[error("{call}: {msg}")]
    TooLarge {
        /// The C name of the call that failed.
        call: &'static str,
        /// The size and why it cannot be mapped.
        msg: Text,
    },
    /// A system call failed; the errno is the system's own.
    #[error("{call}: {msg}: {}", os_text(source))]
    Os {
        /// The C name of the call that failed.
        call: &'static str,
        /// The system call and the values it was given.
        msg: Text,
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
        msg: Text,
    },
}

impl Error {
    /// The positive errno value this error stands for (`EINVAL`, `ENOMEM`, ...).
    pub fn errno(&self) -> i32 {
        match self {
            Error::InvalidArgument { .. } => errno::EINVAL,
            Error::AccessDenied { .. } => errno::EACCES,
            Error::Unsupported { .. } => errno::ENOTSUP,
            Error::TooLarge { .. } => errno::ENOMEM,
            // Never 0: the C ABI would read it as success.
            Error::Os { source, .. } => match crate::sys::errno_of(source) {
                Some(e) if e > 0 => e,
                _ => kind_errno(source),
            },
            Error::Internal { .. } => errno::EIO,
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
            msg: text(format_args!("{msg}")),
        }
    }

    #[cold]
    pub(crate) fn access(call: &'static str, msg: impl fmt::Display) -> Self {
        Error::AccessDenied {
            call,
            msg: text(format_args!("{msg}")),
        }
    }

    #[cold]
    pub(crate) fn unsupported(call: &'static str, msg: impl fmt::Display) -> Self {
        Error::Unsupported {
            call,
            msg: text(format_args!("{msg}")),
        }
    }

    #[cold]
    pub(crate) fn too_large(call: &'static str, msg: impl fmt::Display) -> Self {
        Error::TooLarge {
            call,
            msg: text(format_args!("{msg}")),
        }
    }

    /// An OS error from an explicit errno value.
    #[cold]
    pub(crate) fn os(call: &'static str, errno: i32, msg: impl fmt::Display) -> Self {
        Error::Os {
            call,
            msg: text(format_args!("{msg}")),
            source: crate::sys::errno_error(errno),
        }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let errno = e.errno();
        io::Error::new(crate::sys::kind_of(errno), e)
    }
}

/// An errno for an `io::Error` that carries none (std refuses some input
/// itself: a path with a NUL byte is `InvalidInput`, which is `EINVAL`).
fn kind_errno(e: &io::Error) -> i32 {
    use io::ErrorKind as K;
    match e.kind() {
        K::InvalidInput | K::InvalidData => errno::EINVAL,
        K::NotFound => errno::ENOENT,
        K::PermissionDenied => errno::EACCES,
        K::AlreadyExists => errno::EEXIST,
        K::OutOfMemory => errno::ENOMEM,
        K::Unsupported => errno::ENOTSUP,
        K::Interrupted => errno::EINTR,
        _ => errno::EIO,
    }
}

/// The system's text for an error, without Rust's " (os error N)" suffix.
pub(crate) fn os_text(e: &io::Error) -> OsText<'_> {
    OsText(e)
}

/// [`os_text`]: the system's text written straight into the message, through a
/// stack buffer (std's own `Display` of an OS error allocates the text).
pub(crate) struct OsText<'a>(&'a io::Error);

impl fmt::Display for OsText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::sys::write_os_error(self.0, f)
    }
}

/// The text of an error whose own could not be had: no memory to format it.
pub(crate) const NO_MEMORY_TEXT: &str =
    "(the details were lost: there was no memory to format them)";

/// Format a message without an allocation that could abort: measured first,
/// then written into a `String` whose memory was reserved fallibly. When the
/// heap refuses, the message is [`NO_MEMORY_TEXT`]; a text without arguments
/// is borrowed as it is.
#[cold]
pub(crate) fn text(args: fmt::Arguments<'_>) -> Text {
    if let Some(s) = args.as_str() {
        return Cow::Borrowed(s);
    }
    struct Count(usize);
    impl fmt::Write for Count {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.0 += s.len();
            Ok(())
        }
    }
    /// Writes into reserved room only: never makes the `String` grow.
    struct Fill<'a>(&'a mut String);
    impl fmt::Write for Fill<'_> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let room = self.0.capacity() - self.0.len();
            if s.len() <= room {
                self.0.push_str(s);
                return Ok(());
            }
            let mut cut = room;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            self.0.push_str(&s[..cut]);
            Err(fmt::Error)
        }
    }
    let mut n = Count(0);
    if fmt::write(&mut n, args).is_err() {
        return Cow::Borrowed("(a message could not be formatted)");
    }
    let mut s = String::new();
    if s.try_reserve_exact(n.0).is_err() {
        return Cow::Borrowed(NO_MEMORY_TEXT);
    }
    // A value that writes more the second time is cut at the first length.
    let _ = fmt::write(&mut Fill(&mut s), args);
    Cow::Owned(s)
}

/// [`text`] with `format!`'s syntax: an error message that cannot abort.
macro_rules! msg {
    ($($arg:tt)*) => {
        $crate::error::text(format_args!($($arg)*))
    };
}
pub(crate) use msg;

/// The result type of the safe API.
pub type Result<T> = std::result::Result<T, Error>;
