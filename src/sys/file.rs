//! Files: opening by path (no heap for the path), access modes, block allocation,
//! truncation, `fstat`, `fsync`.

use super::*;

/// Map `len` bytes of `fd` from `offset` (page-aligned by the caller).
pub(crate) fn map_fd(
    fd: BorrowedFd<'_>,
    offset: u64,
    len: usize,
    spec: &MapSpec,
) -> SysResult<Mapping> {
    Mapping::map(len, spec, 0, Some(fd), offset)
}

/// The huge page size the kernel maps the file `fd` (of status `st`) in: a
/// file on hugetlbfs, or a memfd made with `MFD_HUGETLB`, is mapped in its
/// huge pages whatever length is asked (see [`Mapping::in_pages_of`]);
/// `None` for every other file. Such a file's `st_blksize` is its huge page
/// size, so only a file whose block size is over the page size (hugetlbfs,
/// and network file systems with large blocks) costs an `fstatfs`.
pub(crate) fn huge_page_of(fd: BorrowedFd<'_>, st: &Stat) -> Option<usize> {
    if st.blksize <= page_size() as u64 {
        return None;
    }
    hugetlbfs_page(fd)
}

#[cfg(not(mmkit_map_hugetlb))]
fn hugetlbfs_page(_fd: BorrowedFd<'_>) -> Option<usize> {
    None
}

/// The huge page size of a file on hugetlbfs (`f_bsize`), else `None`.
#[cfg(mmkit_map_hugetlb)]
fn hugetlbfs_page(fd: BorrowedFd<'_>) -> Option<usize> {
    const HUGETLBFS_MAGIC: u32 = 0x9584_58f6;
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: fstatfs writes a whole struct statfs into the buffer on success.
    if unsafe { libc::fstatfs(fd.as_raw_fd(), st.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: fstatfs succeeded, so the struct is initialised.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast)] // f_type and f_bsize differ by platform
    let (kind, size) = (st.f_type as u64 as u32, st.f_bsize as u64);
    let size = usize::try_from(size).ok()?;
    (kind == HUGETLBFS_MAGIC && size.is_power_of_two() && size > page_size()).then_some(size)
}

/// What every open of a file to map adds to its flags: `O_NONBLOCK` (opening
/// a FIFO must not hang; it is refused after `fstat`), `O_NOCTTY` (a terminal
/// must not become our controlling terminal), `O_CLOEXEC`.
pub(super) const FOR_MAPPING: libc::c_int = libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;

/// Open `path` to map it: read-only, or read-write where `read_write`, with
/// [`FOR_MAPPING`]; EINTR retried. `c_path` is the same path as a C string
/// when the caller has one (the C ABI): it is opened as it is.
pub(crate) fn open_path(
    path: &std::path::Path,
    c_path: Option<&CStr>,
    read_write: bool,
) -> SysResult<File> {
    let flags = FOR_MAPPING
        | if read_write {
            libc::O_RDWR
        } else {
            libc::O_RDONLY
        };
    match c_path {
        Some(c) => open_c(c, flags, 0),
        None => with_c_path(path, |c| open_c(c, flags, 0)),
    }
}

/// Run `f` with `path` as a C string: copied into a stack buffer when it is
/// short (nearly always), else into heap memory asked for fallibly, so a long
/// path on an exhausted heap is `ENOMEM`, not an abort. A path with a NUL
/// byte is `EINVAL`.
pub(crate) fn with_c_path<T>(
    path: &std::path::Path,
    f: impl FnOnce(&CStr) -> SysResult<T>,
) -> SysResult<T> {
    use std::os::unix::ffi::OsStrExt;
    with_c_bytes(path.as_os_str().as_bytes(), f)
}

/// [`with_c_path`] for any bytes.
pub(crate) fn with_c_bytes<T>(bytes: &[u8], f: impl FnOnce(&CStr) -> SysResult<T>) -> SysResult<T> {
    const STACK: usize = 384;
    // SAFETY: memchr reads the bytes.len() bytes of a live slice.
    let nul = unsafe { libc::memchr(bytes.as_ptr().cast(), 0, bytes.len()) };
    if !nul.is_null() {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    if bytes.len() < STACK {
        let mut buf = std::mem::MaybeUninit::<[u8; STACK]>::uninit();
        let p = buf.as_mut_ptr().cast::<u8>();
        // SAFETY: bytes.len() + 1 <= STACK, so the copy and its terminator
        // fit; the bytes hold no NUL (memchr above), so the buffer is one C
        // string.
        let c = unsafe {
            ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
            p.add(bytes.len()).write(0);
            CStr::from_bytes_with_nul_unchecked(std::slice::from_raw_parts(p, bytes.len() + 1))
        };
        return f(c);
    }
    let c = CPath::new(bytes)?;
    f(c.as_cstr())
}

/// `open(2)` of a C string with raw flags, EINTR retried.
pub(crate) fn open_c(path: &CStr, flags: libc::c_int, mode: libc::c_uint) -> SysResult<File> {
    use std::os::fd::FromRawFd;
    // SAFETY: path is a NUL-terminated string; open only reads it.
    let fd = retry(|| unsafe { libc::open(path.as_ptr(), flags, mode) } as isize)?;
    // SAFETY: a fresh descriptor (it fits a c_int: open returned it) that
    // nothing else owns.
    Ok(unsafe { File::from_raw_fd(fd as libc::c_int) })
}

pub(super) fn fd_of(f: &File) -> BorrowedFd<'_> {
    use std::os::fd::AsFd;
    f.as_fd()
}

/// The access mode of a descriptor (`O_RDONLY`, `O_WRONLY` or `O_RDWR`).
pub(crate) fn access_mode(fd: BorrowedFd<'_>) -> SysResult<Access> {
    // SAFETY: F_GETFL only reads the descriptor's status flags.
    let fl = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    if fl == -1 {
        return Err(last_os_error());
    }
    Ok(match fl & libc::O_ACCMODE {
        libc::O_RDONLY => Access::ReadOnly,
        libc::O_WRONLY => Access::WriteOnly,
        _ => Access::ReadWrite,
    })
}

/// Allocate the blocks of `[offset, offset+len)`, growing the file to at least
/// `offset + len`, so later stores through a mapping cannot hit a full disk.
pub(crate) fn allocate(fd: BorrowedFd<'_>, offset: u64, len: u64, old_size: u64) -> SysResult<()> {
    let off =
        libc::off_t::try_from(offset).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    let l = libc::off_t::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    // Growing past RLIMIT_FSIZE raises SIGXFSZ, which kills the process by
    // default: refuse with EFBIG before the kernel gets the chance.
    if let Some(limit) = file_size_limit() {
        if offset.saturating_add(len) > limit.max(old_size) {
            return Err(io::Error::from_raw_os_error(libc::EFBIG));
        }
    }
    #[cfg(mmkit_fallocate)]
    {
        // SAFETY: posix_fallocate only acts on the descriptor; it returns the
        // error number instead of setting errno.
        let rc = unsafe { libc::posix_fallocate(fd.as_raw_fd(), off, l) };
        match rc {
            0 => return Ok(()),
            // File systems without allocation (ZFS, some network ones): write zeros below.
            libc::EINVAL | libc::EOPNOTSUPP => {}
            e => return Err(io::Error::from_raw_os_error(e)),
        }
    }
    allocate_by_writing(fd, off, l, old_size)
}

/// Portable allocation: extend the file and write a zero into every block of
/// the new part (never over existing data, which may be in use).
fn allocate_by_writing(
    fd: BorrowedFd<'_>,
    off: libc::off_t,
    len: libc::off_t,
    old_size: u64,
) -> SysResult<()> {
    let end = off
        .checked_add(len)
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EFBIG))?;
    if (end as u64) <= old_size {
        return Ok(());
    }
    // SAFETY: ftruncate only acts on the descriptor.
    cvt(unsafe { libc::ftruncate(fd.as_raw_fd(), end) })?;
    let block = 4096i64.max(page_size() as i64);
    let mut pos = (old_size as i64).max(off);
    pos -= pos % block;
    let zero = 0u8;
    while pos < end {
        let at = pos.max(old_size as i64);
        // SAFETY: writes one byte from a live local to the descriptor.
        let n = unsafe { libc::pwrite(fd.as_raw_fd(), ptr::addr_of!(zero).cast(), 1, at) };
        if n != 1 {
            let e = last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        pos += block;
    }
    Ok(())
}

/// `ftruncate`, used to undo a growth that could not be completed.
pub(crate) fn truncate(fd: BorrowedFd<'_>, size: u64) -> SysResult<()> {
    let size =
        libc::off_t::try_from(size).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    // SAFETY: ftruncate only acts on the descriptor.
    cvt(unsafe { libc::ftruncate(fd.as_raw_fd(), size) })
}

/// What kind of file a descriptor or name is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileKind {
    Regular,
    Directory,
    Link,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    Other,
}

impl FileKind {
    fn of(mode: libc::mode_t) -> FileKind {
        match mode & libc::S_IFMT {
            libc::S_IFREG => FileKind::Regular,
            libc::S_IFDIR => FileKind::Directory,
            libc::S_IFLNK => FileKind::Link,
            libc::S_IFIFO => FileKind::Fifo,
            libc::S_IFSOCK => FileKind::Socket,
            libc::S_IFCHR => FileKind::CharDevice,
            libc::S_IFBLK => FileKind::BlockDevice,
            _ => FileKind::Other,
        }
    }

    /// The kind with its article, for messages ("a directory").
    pub(crate) fn name(self) -> &'static str {
        match self {
            FileKind::Regular => "a regular file",
            FileKind::Directory => "a directory",
            FileKind::Link => "a symbolic link",
            FileKind::Fifo => "a pipe (FIFO)",
            FileKind::Socket => "a socket",
            FileKind::CharDevice => "a character device",
            FileKind::BlockDevice => "a block device",
            FileKind::Other => "an unknown kind of file",
        }
    }
}

/// What `fstat` says of a descriptor, as far as mapping cares.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stat {
    /// From `st_mode & S_IFMT`.
    pub kind: FileKind,
    /// `st_size`.
    pub size: u64,
    /// `st_dev`, `st_ino`: which file this is.
    pub dev: u64,
    pub ino: u64,
    /// `st_mode & 07777`: permission, sticky, set-id bits (for messages; ask
    /// [`Stat::sticky`] and the like).
    pub perm: u32,
    /// `st_uid`: the owner.
    pub uid: u32,
    /// `st_blocks`: the storage allocated, in 512-byte units.
    pub blocks: u64,
    /// `st_nlink`: the names (hard links) the file has.
    pub nlink: u64,
    /// `st_blksize`: the file system's preferred I/O size (a hugetlbfs
    /// file's huge page size).
    pub blksize: u64,
}

#[allow(clippy::unnecessary_cast)] // mode_t is u16 on some platforms
impl Stat {
    /// The sticky bit: only an entry's owner, or the directory's, may
    /// remove or rename it.
    pub(crate) fn sticky(&self) -> bool {
        self.perm & libc::S_ISVTX as u32 != 0
    }

    /// Writable by every user.
    pub(crate) fn world_writable(&self) -> bool {
        self.perm & libc::S_IWOTH as u32 != 0
    }

    /// Writable by the group.
    pub(crate) fn group_writable(&self) -> bool {
        self.perm & libc::S_IWGRP as u32 != 0
    }
}

/// `fstat` of a descriptor.
pub(crate) fn fstat(fd: BorrowedFd<'_>) -> SysResult<Stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes a whole struct stat into the buffer on success.
    cvt(unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: fstat succeeded, so the struct is initialised.
    Ok(stat_of(&unsafe { st.assume_init() }))
}

pub(super) fn stat_of(st: &libc::stat) -> Stat {
    Stat {
        kind: FileKind::of(st.st_mode),
        size: st.st_size.max(0) as u64,
        #[allow(clippy::unnecessary_cast)] // dev_t and ino_t differ by platform
        dev: st.st_dev as u64,
        #[allow(clippy::unnecessary_cast)]
        ino: st.st_ino as u64,
        #[allow(clippy::unnecessary_cast)] // mode_t is u16 on some platforms
        perm: (st.st_mode & 0o7777) as u32,
        uid: st.st_uid,
        blocks: st.st_blocks.max(0) as u64,
        #[allow(clippy::unnecessary_cast)] // nlink_t differs by platform
        nlink: st.st_nlink as u64,
        #[allow(clippy::unnecessary_cast)] // blksize_t differs by platform
        blksize: st.st_blksize.max(0) as u64,
    }
}

/// `fsync` of a descriptor.
pub(crate) fn fsync(fd: BorrowedFd<'_>) -> SysResult<()> {
    // SAFETY: fsync only acts on the descriptor.
    retry(|| unsafe { libc::fsync(fd.as_raw_fd()) } as isize).map(drop)
}

/// `ftruncate` returning the raw error, for resizing shareable objects.
pub(crate) fn set_len(fd: BorrowedFd<'_>, len: u64) -> SysResult<()> {
    truncate(fd, len)
}

/// A path's bytes, as the system takes them.
#[inline]
pub(crate) fn path_bytes(p: &std::path::Path) -> Option<&[u8]> {
    use std::os::unix::ffi::OsStrExt;
    Some(p.as_os_str().as_bytes())
}

/// The path of these bytes (any bytes are a Unix path).
#[inline]
pub(crate) fn path_of_bytes(b: &[u8]) -> Option<&std::path::Path> {
    use std::os::unix::ffi::OsStrExt;
    Some(std::path::Path::new(std::ffi::OsStr::from_bytes(b)))
}

/// [`path_of_bytes`], owned: the bytes move into the path, no copy.
pub(crate) fn path_buf_of_vec(v: Vec<u8>) -> Option<std::path::PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    Some(std::ffi::OsString::from_vec(v).into())
}
