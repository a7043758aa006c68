//! How messages name things: paths, files, limits, and the limit an `ENOMEM` met.

use super::*;

/// The limit an `ENOMEM` (`e`) of a call doing `asked` likely met, shown as
/// " (the process has 65530 mappings and vm.max_map_count is 65530)" in its
/// message; nothing for other errors or when no limit can be named.
#[cold]
#[inline(never)]
pub(super) fn because(e: &io::Error, asked: sys::Asked) -> Because {
    Because(if sys::errno_of(e) == Some(errno::ENOMEM) {
        sys::why_no_memory(asked)
    } else {
        None
    })
}

/// See [`because`].
pub(super) struct Because(Option<sys::NoMemory>);

impl std::fmt::Display for Because {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(why) => write!(f, " ({why})"),
            None => Ok(()),
        }
    }
}

pub(super) fn too_large(call: &'static str, what: impl std::fmt::Display) -> Error {
    Error::too_large(
        call,
        format_args!("{what} cannot be mapped: larger than the address space allows"),
    )
}

pub(super) fn describe(path: &Path) -> Quoted<'_> {
    Quoted(path)
}

/// Bytes of a path, quoted as [`describe`] quotes a path.
pub(super) fn show(bytes: &[u8]) -> Quoted<'_> {
    describe(sys::path_of_bytes(bytes).unwrap_or(Path::new("?")))
}

/// [`describe`]: a path as messages show it, formatted only when one is.
pub(super) struct Quoted<'a>(&'a Path);

impl std::fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0.as_os_str())
    }
}

/// How messages name a file: its path, or "fd N". Formatted only when an
/// error is reported, so the success path allocates nothing for it.
#[derive(Clone, Copy)]
pub(super) struct FileName<'a> {
    pub(super) path: Option<&'a Path>,
    pub(super) fd: i32,
}

impl std::fmt::Display for FileName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.path {
            Some(p) => write!(f, "{:?}", p.as_os_str()),
            None => write!(f, "fd {}", self.fd),
        }
    }
}

/// A failed `open` of `what` with `flags`. `ENXIO` (a socket, or a device
/// without its driver) is `ENODEV`, as for every file that is not regular.
#[cold]
pub(super) fn open_error(
    call: &'static str,
    what: impl std::fmt::Display,
    flags: &str,
    e: io::Error,
) -> Error {
    if sys::errno_of(&e) == Some(errno::EISDIR) {
        return a_directory(call, what);
    }
    if sys::errno_of(&e) == Some(errno::ENXIO) {
        return Error::os(
            call,
            errno::ENODEV,
            format_args!(
                "{what}: cannot map a socket or a device without its driver (open says ENXIO): \
                 only regular files can be mapped"
            ),
        );
    }
    Error::Os {
        call,
        msg: msg!("{}({what}, {flags})", sys::calls::OPEN),
        source: e,
    }
}

/// A directory where a file was named: `ENODEV`, as for every path that is
/// not a regular file (the contract), the message saying what it is.
#[cold]
pub(super) fn a_directory(call: &'static str, what: impl std::fmt::Display) -> Error {
    Error::os(
        call,
        errno::ENODEV,
        format_args!("{what}: is a directory: only regular files can be mapped"),
    )
}

/// A limit for messages: "N bytes", or "unlimited".
pub(super) struct Bytes(pub(super) Option<u64>);

impl std::fmt::Display for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(l) => write!(f, "{l} bytes"),
            None => f.write_str("unlimited"),
        }
    }
}

/// A number for messages between two texts, or nothing when it is not known:
/// `IfKnown(locked, ", ", " bytes already locked by this process (VmLck)")`.
pub(super) struct IfKnown(
    pub(super) Option<u64>,
    pub(super) &'static str,
    pub(super) &'static str,
);

impl std::fmt::Display for IfKnown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(n) => write!(f, "{}{n}{}", self.1, self.2),
            None => Ok(()),
        }
    }
}

/// A region's page size for messages: "4096 bytes", or "huge pages of
/// 2097152 bytes (MAP_HUGETLB)" for explicit huge pages.
pub(super) struct PageSize(pub(super) usize);

impl std::fmt::Display for PageSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 == sys::page_size() {
            write!(f, "{} bytes", self.0)
        } else {
            write!(
                f,
                "huge pages of {} bytes ({})",
                self.0,
                sys::calls::HUGE_PAGES
            )
        }
    }
}
