//! Files: opening by path (UTF-8 to UTF-16), access modes, allocation,
//! truncation, file information, flushing; views of a file or a section.

use super::*;
use std::fs::File;
use std::os::windows::io::FromRawHandle;

use windows_sys::Win32::Storage::FileSystem as fs;

pub(super) fn raw(fd: BorrowedDescriptor<'_>) -> HANDLE {
    fd.as_raw_handle() as HANDLE
}

/// The huge page size a file is mapped in: none on Windows (no large-page
/// files), as for every file but a hugetlbfs one on Linux.
pub(crate) fn huge_page_of(_fd: BorrowedDescriptor<'_>, _st: &Stat) -> Option<usize> {
    None
}

/// Map `len` bytes of `fd` (a file or a section) from `offset` (a multiple
/// of the allocation granularity). A file gets a section of its current
/// size; the view asks only for the bytes the file has (the rest of its
/// last page reads as zeros), since a view may not pass its section.
pub(crate) fn map_fd(
    fd: BorrowedDescriptor<'_>,
    offset: u64,
    len: usize,
    spec: &MapSpec,
) -> SysResult<Mapping> {
    let h = raw(fd);
    let exec = spec.prot.exec();
    // What the descriptor allows, which mm_protect may ask for later (a
    // private view may always write its own copies).
    let max = match (spec.share, access_mode(fd)?) {
        (Share::Private, _) | (Share::Shared, Access::ReadWrite) => Prot::read_write(exec),
        (Share::Shared, _) => Prot(Prot::READ | if exec { Prot::EXEC } else { 0 }),
    };
    if let Object::Section(size) = object_of(h)? {
        let want = view_len(size, offset, len)?;
        let mut map = Mapping::view(h, offset, want, spec, max)?;
        map.len = len;
        return Ok(map);
    }
    let size = fstat(fd)?.size;
    let want = view_len(size, offset, len)?;
    let page = match (spec.share, max.writable(), exec) {
        (Share::Private, _, false) => mem::PAGE_WRITECOPY,
        (Share::Private, _, true) => mem::PAGE_EXECUTE_WRITECOPY,
        (Share::Shared, true, false) => mem::PAGE_READWRITE,
        (Share::Shared, true, true) => mem::PAGE_EXECUTE_READWRITE,
        (Share::Shared, false, false) => mem::PAGE_READONLY,
        (Share::Shared, false, true) => mem::PAGE_EXECUTE_READ,
    };
    // SAFETY: h is an open file handle; size 0 means "the file's size", so
    // the file is never grown; the result is checked.
    let section = unsafe { mem::CreateFileMappingW(h, ptr::null(), page, 0, 0, ptr::null()) };
    if section.is_null() {
        return Err(last_error());
    }
    // SAFETY: a fresh handle this function owns; the view keeps the section
    // alive after it is closed.
    let section = unsafe { OwnedHandle::from_raw_handle(section as _) };
    let mut map = Mapping::view(raw(section.as_handle()), offset, want, spec, max)?;
    map.len = len;
    if spec.share == Share::Shared && max.writable() {
        // For FlushFileBuffers at mm_sync: the file's handle, duplicated.
        if let How::View { file, .. } = &mut map.how {
            *file = Some(flush_handle(h)?);
        }
    }
    Ok(map)
}

/// A duplicate of the file handle `h` (the same access: a duplicate may not
/// ask for more than the original has), for `FlushFileBuffers`. It shares
/// the original's file object, so it keeps nobody out of the file that the
/// view (which holds that object) does not keep out already.
fn flush_handle(h: HANDLE) -> SysResult<OwnedHandle> {
    use windows_sys::Win32::Foundation::DuplicateHandle;
    let mut dup: HANDLE = ptr::null_mut();
    // SAFETY: duplicates a live handle of this process into it; the result
    // is checked and owned below.
    let ok = unsafe {
        DuplicateHandle(
            current_process(),
            h,
            current_process(),
            &mut dup,
            0,
            0,
            windows_sys::Win32::Foundation::DUPLICATE_SAME_ACCESS,
        )
    };
    if ok == 0 {
        return Err(last_error());
    }
    // SAFETY: a fresh handle nobody else owns.
    Ok(unsafe { OwnedHandle::from_raw_handle(dup as _) })
}

/// How many bytes of a section of `size` bytes a view from `offset` may ask
/// for when `len` are wanted: all of them, but not past its end.
fn view_len(size: u64, offset: u64, len: usize) -> SysResult<usize> {
    let have = size.saturating_sub(offset);
    if have == 0 {
        return Err(errno_error(errno::EINVAL));
    }
    Ok(usize::try_from(have).map_or(len, |h| h.min(len)))
}

/// UTF-16, NUL-terminated, for the `W` functions (fallible allocation).
pub(crate) fn wide(path: &std::path::Path) -> SysResult<Vec<u16>> {
    use std::os::windows::ffi::OsStrExt;
    let n = path.as_os_str().encode_wide().count();
    let mut w: Vec<u16> = Vec::new();
    w.try_reserve_exact(n + 1)
        .map_err(|_| errno_error(errno::ENOMEM))?;
    w.extend(path.as_os_str().encode_wide());
    if w.contains(&0) {
        return Err(errno_error(errno::EINVAL));
    }
    w.push(0);
    Ok(w)
}

pub(super) const SHARE_ALL: fs::FILE_SHARE_MODE =
    fs::FILE_SHARE_READ | fs::FILE_SHARE_WRITE | fs::FILE_SHARE_DELETE;

pub(super) fn create_file(
    path: &[u16],
    access: u32,
    disposition: fs::FILE_CREATION_DISPOSITION,
    flags: fs::FILE_FLAGS_AND_ATTRIBUTES,
) -> SysResult<File> {
    // SAFETY: path is NUL-terminated; the handle is checked and owned below.
    let h = unsafe {
        fs::CreateFileW(
            path.as_ptr(),
            access,
            SHARE_ALL,
            ptr::null(),
            disposition,
            flags,
            ptr::null_mut(),
        )
    };
    if !valid(h) {
        return Err(last_error());
    }
    // SAFETY: a fresh handle nobody else owns.
    Ok(unsafe { File::from_raw_handle(h as _) })
}

pub(super) const GENERIC_READ: u32 = 0x8000_0000;
pub(super) const GENERIC_WRITE: u32 = 0x4000_0000;
pub(super) const GENERIC_EXECUTE: u32 = 0x2000_0000;
pub(super) const DELETE: u32 = 0x0001_0000;

/// Open `path` to map it: read-only, or read-write where `read_write`; with
/// execute access where the file allows it (for `MM_EXEC`), and
/// `FILE_FLAG_BACKUP_SEMANTICS` so that a directory opens and is refused
/// by its kind (`ENODEV`), as on Unix. `c_path` is unused: paths are UTF-8
/// and become UTF-16 here.
pub(crate) fn open_path(
    path: &std::path::Path,
    _c_path: Option<&CStr>,
    read_write: bool,
) -> SysResult<File> {
    let w = wide(path)?;
    let access = GENERIC_READ | if read_write { GENERIC_WRITE } else { 0 };
    let flags = fs::FILE_ATTRIBUTE_NORMAL | fs::FILE_FLAG_BACKUP_SEMANTICS;
    match create_file(&w, access | GENERIC_EXECUTE, fs::OPEN_EXISTING, flags) {
        Err(e) if errno_of(&e) == Some(errno::EACCES) => {
            create_file(&w, access, fs::OPEN_EXISTING, flags)
        }
        r => r,
    }
}

/// The access a handle was granted: file data read/write, or for a section
/// map read/write.
pub(crate) fn access_mode(fd: BorrowedDescriptor<'_>) -> SysResult<Access> {
    let h = raw(fd);
    let granted = granted_access(h)?;
    let (read, write) = match object_of(h)? {
        Object::Section(_) => (0x4, 0x2), // SECTION_MAP_READ, SECTION_MAP_WRITE
        Object::File => (0x1, 0x2),       // FILE_READ_DATA, FILE_WRITE_DATA
    };
    Ok(match (granted & read != 0, granted & write != 0) {
        (true, true) => Access::ReadWrite,
        (false, true) => Access::WriteOnly,
        _ => Access::ReadOnly,
    })
}

pub(super) fn set_info<T>(
    fd: BorrowedDescriptor<'_>,
    class: fs::FILE_INFO_BY_HANDLE_CLASS,
    info: &T,
) -> SysResult<()> {
    // SAFETY: info is a live struct of the class's type and size.
    let ok = unsafe {
        fs::SetFileInformationByHandle(
            raw(fd),
            class,
            (info as *const T).cast(),
            std::mem::size_of::<T>() as u32,
        )
    };
    if ok == 0 {
        return Err(last_error());
    }
    Ok(())
}

/// Reserve the blocks of `[offset, offset+len)` and make the file at least
/// `offset + len` long, so later stores through a view cannot meet a full
/// disk (`FileAllocationInfo` where the system has it, then
/// `FileEndOfFileInfo`).
pub(crate) fn allocate(
    fd: BorrowedDescriptor<'_>,
    offset: u64,
    len: u64,
    old_size: u64,
) -> SysResult<()> {
    let end = offset
        .checked_add(len)
        .filter(|&e| e <= i64::MAX as u64)
        .ok_or_else(|| errno_error(errno::EFBIG))?;
    if end <= old_size {
        return Ok(());
    }
    let reserved = set_info(
        fd,
        fs::FileAllocationInfo,
        &fs::FILE_ALLOCATION_INFO {
            AllocationSize: end as i64,
        },
    );
    match reserved {
        // Wine has no FileAllocationInfo; setting the end of file allocates
        // the clusters anyway (NTFS files are not sparse unless asked).
        Err(e) if errno_of(&e) == Some(errno::ENOTSUP) => {}
        r => r?,
    }
    truncate(fd, end)
}

/// Set the file's length (`FileEndOfFileInfo`); for a section see
/// [`truncate_section`].
pub(crate) fn truncate(fd: BorrowedDescriptor<'_>, size: u64) -> SysResult<()> {
    if let Object::Section(have) = object_of(raw(fd))? {
        return truncate_section(raw(fd), have, size);
    }
    let size = i64::try_from(size).map_err(|_| errno_error(errno::EFBIG))?;
    set_info(
        fd,
        fs::FileEndOfFileInfo,
        &fs::FILE_END_OF_FILE_INFO { EndOfFile: size },
    )
}

/// [`truncate`], for resizing shareable objects.
pub(crate) fn set_len(fd: BorrowedDescriptor<'_>, len: u64) -> SysResult<()> {
    truncate(fd, len)
}

/// `FlushFileBuffers`.
pub(crate) fn fsync(fd: BorrowedDescriptor<'_>) -> SysResult<()> {
    // SAFETY: only acts on the handle.
    if unsafe { fs::FlushFileBuffers(raw(fd)) } == 0 {
        return Err(last_error());
    }
    Ok(())
}

/// What kind of file a handle is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileKind {
    Regular,
    Directory,
    Fifo,
    CharDevice,
    Other,
}

impl FileKind {
    /// The kind with its article, for messages ("a directory").
    pub(crate) fn name(self) -> &'static str {
        match self {
            FileKind::Regular => "a regular file",
            FileKind::Directory => "a directory",
            FileKind::Fifo => "a pipe",
            FileKind::CharDevice => "a character device (console, NUL, COM port)",
            FileKind::Other => "an unknown kind of file",
        }
    }
}

/// What the system says of a handle, as far as mapping cares.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stat {
    pub kind: FileKind,
    pub size: u64,
    /// The volume serial number and the file index: which file this is.
    pub dev: u64,
    pub ino: u64,
}

/// The kind, size and identity of a file, or of a section (a regular
/// "file" of its size, identity 0).
pub(crate) fn fstat(fd: BorrowedDescriptor<'_>) -> SysResult<Stat> {
    let h = raw(fd);
    if let Object::Section(size) = object_of(h)? {
        return Ok(Stat {
            kind: FileKind::Regular,
            size,
            dev: 0,
            ino: 0,
        });
    }
    // SAFETY: only reads the handle's type.
    let kind = match unsafe { fs::GetFileType(h) } {
        fs::FILE_TYPE_DISK => FileKind::Regular,
        fs::FILE_TYPE_PIPE => FileKind::Fifo,
        fs::FILE_TYPE_CHAR => FileKind::CharDevice,
        _ => {
            let e = last_error();
            if win_code(&e).is_some() {
                return Err(e);
            }
            FileKind::Other
        }
    };
    if kind != FileKind::Regular {
        return Ok(Stat {
            kind,
            size: 0,
            dev: 0,
            ino: 0,
        });
    }
    let mut info = std::mem::MaybeUninit::<fs::BY_HANDLE_FILE_INFORMATION>::uninit();
    // SAFETY: the struct is written whole on success.
    if unsafe { fs::GetFileInformationByHandle(h, info.as_mut_ptr()) } == 0 {
        return Err(last_error());
    }
    // SAFETY: initialised by the successful call.
    let info = unsafe { info.assume_init() };
    let kind = if info.dwFileAttributes & fs::FILE_ATTRIBUTE_DIRECTORY != 0 {
        FileKind::Directory
    } else {
        FileKind::Regular
    };
    Ok(Stat {
        kind,
        size: (u64::from(info.nFileSizeHigh) << 32) | u64::from(info.nFileSizeLow),
        dev: u64::from(info.dwVolumeSerialNumber),
        ino: (u64::from(info.nFileIndexHigh) << 32) | u64::from(info.nFileIndexLow),
    })
}

/// No pseudo-filesystems on Windows.
pub(crate) fn may_be_pseudo(_st: &Stat) -> bool {
    false
}

/// No pseudo-filesystems on Windows.
pub(crate) fn pseudo_fs(_fd: BorrowedDescriptor<'_>) -> SysResult<Option<&'static str>> {
    Ok(None)
}
