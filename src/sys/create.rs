//! `MM_CREATE` by name: C paths without the heap, directories opened for the
//! `*at` calls, and the opens that never follow a link they must not.

use super::*;

/// A path, or a part of one, as a C string: on the stack when it is short
/// (nearly always), on the heap otherwise.
#[allow(clippy::large_enum_variant)] // the point: no heap for a short path
pub(crate) enum CPath {
    Stack {
        buf: [u8; CPath::STACK],
        len: usize,
    },
    /// The bytes and their NUL, in memory reserved fallibly.
    Heap(Vec<u8>),
}

impl CPath {
    /// As [`open_path`]'s stack buffer.
    const STACK: usize = 384;

    /// `bytes` as a C string. A NUL byte in them is `EINVAL`: the system
    /// would see another, shorter name.
    pub(crate) fn new(bytes: &[u8]) -> SysResult<CPath> {
        if bytes.contains(&0) {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        if bytes.len() < Self::STACK {
            let mut buf = [0u8; Self::STACK];
            buf[..bytes.len()].copy_from_slice(bytes);
            return Ok(CPath::Stack {
                buf,
                len: bytes.len(),
            });
        }
        let mut heap: Vec<u8> = Vec::new();
        heap.try_reserve_exact(bytes.len() + 1)
            .map_err(|_| io::Error::from_raw_os_error(libc::ENOMEM))?;
        // Within the reserved room: no further allocation.
        heap.extend_from_slice(bytes);
        heap.push(0);
        Ok(CPath::Heap(heap))
    }

    pub(crate) fn as_cstr(&self) -> &CStr {
        match self {
            // The buffer holds no NUL before `len` and one at `len` (new).
            CPath::Stack { buf, len } => {
                CStr::from_bytes_with_nul(&buf[..=*len]).unwrap_or_default()
            }
            CPath::Heap(c) => CStr::from_bytes_with_nul(c).unwrap_or_default(),
        }
    }
}

/// The flag that opens a directory to search it (for the `*at` calls)
/// without read permission, where the system has one.
#[cfg(mmkit_o_path)]
const O_SEARCH_ONLY: libc::c_int = libc::O_PATH;
#[cfg(all(mmkit_o_search, not(mmkit_o_path)))]
const O_SEARCH_ONLY: libc::c_int = libc::O_SEARCH;
#[cfg(not(any(mmkit_o_path, mmkit_o_search)))]
const O_SEARCH_ONLY: libc::c_int = 0;

/// How [`Dir::open_file`] opens a name in its directory. All but
/// `Following` refuse a symbolic link there (`O_NOFOLLOW`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OpenAt {
    /// `O_CREAT|O_EXCL`: a new file, mode 0600.
    New,
    /// `O_CREAT`: the file there, or a new one (mode 0600) if there is none.
    NewOrExisting,
    /// The file there; never a new one.
    Existing,
    /// Whatever the name leads to, links followed; never a new file.
    Following,
}

/// A directory opened for the `*at` calls: read-only, or search-only where
/// the caller may search it but not read it.
#[derive(Debug)]
pub(crate) struct Dir {
    file: File,
    readable: bool,
}

impl Dir {
    /// Open the directory `path`, relative to `at` (`None`: the current
    /// directory; an absolute `path` ignores it).
    pub(crate) fn open(at: Option<&Dir>, path: &CStr) -> SysResult<Dir> {
        Self::open_with(at, path, 0)
    }

    /// [`Dir::open`] of one name that must not be a symbolic link
    /// (`O_NOFOLLOW`: a link is an error, whose kind the caller asks
    /// [`Dir::stat_at`]).
    pub(crate) fn open_no_follow(at: Option<&Dir>, name: &CStr) -> SysResult<Dir> {
        Self::open_with(at, name, libc::O_NOFOLLOW)
    }

    fn open_with(at: Option<&Dir>, path: &CStr, extra: libc::c_int) -> SysResult<Dir> {
        let flags = libc::O_DIRECTORY | libc::O_CLOEXEC | libc::O_NOCTTY | extra;
        match openat(at, path, flags | libc::O_RDONLY, 0) {
            Err(e) if O_SEARCH_ONLY != 0 && e.raw_os_error() == Some(libc::EACCES) => Ok(Dir {
                file: openat(at, path, flags | O_SEARCH_ONLY, 0)?,
                readable: false,
            }),
            r => r.map(|file| Dir {
                file,
                readable: true,
            }),
        }
    }

    /// `fstat` of the directory itself.
    pub(crate) fn stat(&self) -> SysResult<Stat> {
        fstat(fd_of(&self.file))
    }

    /// `fstatat(AT_SYMLINK_NOFOLLOW)`: the entry `name` itself, a link as a link.
    pub(crate) fn stat_at(&self, name: &CStr) -> SysResult<Stat> {
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: name is NUL-terminated; fstatat writes a whole struct stat
        // into the buffer on success.
        cvt(unsafe {
            libc::fstatat(
                self.file.as_raw_fd(),
                name.as_ptr(),
                st.as_mut_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })?;
        // SAFETY: fstatat succeeded, so the struct is initialised.
        Ok(stat_of(&unsafe { st.assume_init() }))
    }

    /// Open `name` in this directory to map it, as `how` says, `O_RDONLY` or
    /// `O_RDWR`, with [`FOR_MAPPING`]; EINTR retried.
    pub(crate) fn open_file(&self, name: &CStr, read_write: bool, how: OpenAt) -> SysResult<File> {
        let flags = FOR_MAPPING
            | if read_write {
                libc::O_RDWR
            } else {
                libc::O_RDONLY
            }
            | match how {
                OpenAt::New => libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
                OpenAt::NewOrExisting => libc::O_CREAT | libc::O_NOFOLLOW,
                OpenAt::Existing => libc::O_NOFOLLOW,
                OpenAt::Following => 0,
            };
        openat(Some(self), name, flags, 0o600)
    }

    /// The target of the symbolic link `name`, as it is written.
    pub(crate) fn read_link(&self, name: &CStr) -> SysResult<Vec<u8>> {
        let mut buf: Vec<u8> = Vec::new();
        let mut room = 256;
        loop {
            // Memory asked for fallibly; the resize stays within it.
            buf.try_reserve_exact(room - buf.len())
                .map_err(|_| io::Error::from_raw_os_error(libc::ENOMEM))?;
            buf.resize(room, 0);
            // SAFETY: name is NUL-terminated; readlinkat writes at most
            // buf.len() bytes into buf.
            let n = retry(|| unsafe {
                libc::readlinkat(
                    self.file.as_raw_fd(),
                    name.as_ptr(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                )
            })?;
            if n < buf.len() {
                buf.truncate(n);
                return Ok(buf);
            }
            // Perhaps cut short: ask again with room for more.
            if buf.len() >= 1 << 16 {
                return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
            }
            room = buf.len() * 4;
        }
    }

    /// `unlinkat` of the file `name`.
    pub(crate) fn unlink(&self, name: &CStr) -> SysResult<()> {
        // SAFETY: name is NUL-terminated; unlinkat only reads it.
        cvt(unsafe { libc::unlinkat(self.file.as_raw_fd(), name.as_ptr(), 0) })
    }

    /// `fsync` of the directory, so that an entry made in it is durable.
    pub(crate) fn sync(&self) -> SysResult<()> {
        if self.readable {
            return self.file.sync_all();
        }
        // A search-only descriptor cannot be synced; this needs read
        // permission, as syncing a directory always did.
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
        openat(Some(self), c".", flags, 0)?.sync_all()
    }
}

/// `openat(2)`, EINTR retried; `at == None` is the current directory.
fn openat(
    at: Option<&Dir>,
    path: &CStr,
    flags: libc::c_int,
    mode: libc::c_uint,
) -> SysResult<File> {
    use std::os::fd::FromRawFd;
    let dirfd = at.map_or(libc::AT_FDCWD, |d| d.file.as_raw_fd());
    // SAFETY: path is a NUL-terminated string; openat only reads it.
    let fd = retry(|| unsafe { libc::openat(dirfd, path.as_ptr(), flags, mode) } as isize)?;
    // SAFETY: a fresh descriptor (it fits a c_int: openat returned it) that
    // nothing else owns.
    Ok(unsafe { File::from_raw_fd(fd as libc::c_int) })
}

/// The effective user id: who owns what this process creates.
pub(crate) fn euid() -> u32 {
    // SAFETY: geteuid cannot fail and touches no memory of ours.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_paths_short_and_long() {
        let short = CPath::new(b"abc").unwrap();
        assert_eq!(short.as_cstr().to_bytes(), b"abc");
        assert!(matches!(short, CPath::Stack { .. }));
        let long = vec![b'x'; 5000];
        let c = CPath::new(&long).unwrap();
        assert_eq!(c.as_cstr().to_bytes(), &long[..]);
        let edge = vec![b'y'; CPath::STACK - 1];
        assert_eq!(CPath::new(&edge).unwrap().as_cstr().to_bytes(), &edge[..]);
        assert_eq!(
            CPath::new(b"a\0b").err().and_then(|e| e.raw_os_error()),
            Some(libc::EINVAL)
        );
    }
}
