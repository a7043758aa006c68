//! `MM_CREATE` by path: `CreateFileW(CREATE_NEW)` makes the file, else the
//! one there is opened; names that are links are refused, and a file the
//! call made is removed when the call fails. New files get the directory's
//! inherited DACL (Windows has no `0600`; see the note in `open_create`).

use super::*;
use std::fs::File;

use windows_sys::Win32::Storage::FileSystem as fs;

/// The file `MM_CREATE` opened: `file` to map, and where this call created
/// it, `creator`, the handle that made it, which alone has `DELETE` access
/// (to remove it again when the call fails). `file` is a second handle
/// (`ReOpenFile`) without `DELETE`: the section keeps the file object it is
/// made from, and one with `DELETE` access would make every later open that
/// does not share delete (the C runtime's `_open`) fail while the region
/// lives.
pub(crate) struct Opened {
    pub(crate) file: File,
    pub(crate) creator: Option<File>,
}

/// `MM_CREATE`: the file at `path`, read-write: a new one made by
/// `CreateFileW(CREATE_NEW)`, or, unless `excl`, the one there
/// (`OPEN_EXISTING`; a file removed in between is made anew). A new file
/// takes the DACL its directory passes on, as every Windows program's files
/// do: an owner-only DACL (the contract's `0600`) was tried, and Wine, which
/// keeps Unix permission bits instead, then refused to delete the file
/// again when the call failed. A name
/// that is a symbolic link or a junction (a name-surrogate reparse point)
/// is `ELOOP`: Windows has no sticky directories whose rules would say
/// which links are safe, so none is followed. Other reparse points (cloud
/// placeholders, deduplicated files) are files: opened again normally and
/// checked to be the same file. A device (`NUL`, `CON`) is returned as it
/// is, never created, and refused by its kind by the caller.
pub(crate) fn open_create(path: &std::path::Path, excl: bool) -> SysResult<Opened> {
    const ERROR_FILE_EXISTS: u32 = 80;
    const ERROR_FILE_NOT_FOUND: u32 = 2;
    let w = wide(path)?;
    let flags = fs::FILE_ATTRIBUTE_NORMAL | fs::FILE_FLAG_OPEN_REPARSE_POINT;
    for _ in 0..8 {
        let made = create_file(
            &w,
            GENERIC_READ | GENERIC_WRITE | DELETE,
            fs::CREATE_NEW,
            flags,
        );
        let e = match made {
            // A device (NUL) opens whatever is asked: not made by us.
            // SAFETY: only reads the handle's type.
            Ok(dev) if unsafe { fs::GetFileType(raw(dev.as_handle())) } != fs::FILE_TYPE_DISK => {
                return Ok(Opened {
                    file: dev,
                    creator: None,
                });
            }
            Ok(creator) => {
                let file = reopen(&creator)?;
                return Ok(Opened {
                    file,
                    creator: Some(creator),
                });
            }
            Err(e) => e,
        };
        if excl || win_code(&e) != Some(ERROR_FILE_EXISTS) {
            return Err(e);
        }
        match create_file(&w, GENERIC_READ | GENERIC_WRITE, fs::OPEN_EXISTING, flags) {
            Ok(file) => {
                return existing(&w, file).map(|file| Opened {
                    file,
                    creator: None,
                })
            }
            // Removed meanwhile: made anew.
            Err(e) if win_code(&e) == Some(ERROR_FILE_NOT_FOUND) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(errno_error(errno::EAGAIN))
}

/// A second handle on `creator`'s file without `DELETE` (see [`Opened`]).
fn reopen(creator: &File) -> SysResult<File> {
    use std::os::windows::io::FromRawHandle;
    // SAFETY: a live handle; the new one is checked and owned below.
    let h = unsafe {
        fs::ReOpenFile(
            raw(creator.as_handle()),
            GENERIC_READ | GENERIC_WRITE,
            SHARE_ALL,
            0,
        )
    };
    if !valid(h) {
        return Err(last_error());
    }
    // SAFETY: a fresh handle nobody else owns.
    Ok(unsafe { File::from_raw_handle(h as _) })
}

/// An existing file `MM_CREATE` found, opened without following a link:
/// a device as it is, a link or junction `ELOOP`, another reparse point
/// opened again normally (see [`open_create`]).
fn existing(w: &[u16], file: File) -> SysResult<File> {
    // SAFETY: only reads the handle's type.
    if unsafe { fs::GetFileType(raw(file.as_handle())) } != fs::FILE_TYPE_DISK {
        return Ok(file);
    }
    let mut tag = std::mem::MaybeUninit::<fs::FILE_ATTRIBUTE_TAG_INFO>::zeroed();
    // SAFETY: the struct is written whole on success.
    let ok = unsafe {
        fs::GetFileInformationByHandleEx(
            raw(file.as_handle()),
            fs::FileAttributeTagInfo,
            tag.as_mut_ptr().cast(),
            std::mem::size_of::<fs::FILE_ATTRIBUTE_TAG_INFO>() as u32,
        )
    };
    if ok == 0 {
        return Err(last_error());
    }
    // SAFETY: zeroed, then written by the successful call.
    let tag = unsafe { tag.assume_init() };
    if tag.FileAttributes & fs::FILE_ATTRIBUTE_REPARSE_POINT == 0 {
        return Ok(file);
    }
    // IsReparseTagNameSurrogate: links and junctions.
    if tag.ReparseTag & 0x2000_0000 != 0 {
        return Err(errno_error(errno::ELOOP));
    }
    let again = create_file(
        w,
        GENERIC_READ | GENERIC_WRITE,
        fs::OPEN_EXISTING,
        fs::FILE_ATTRIBUTE_NORMAL,
    )?;
    let (a, b) = (fstat(file.as_handle())?, fstat(again.as_handle())?);
    if (a.dev, a.ino) != (b.dev, b.ino) {
        return Err(errno_error(errno::ELOOP));
    }
    Ok(again)
}

/// Remove the file `MM_CREATE` made, by the handle that made it (the only
/// one with `DELETE` access): exactly that file goes, whatever its name is
/// now, once its handles are closed.
pub(crate) fn remove_created(creator: &File) -> SysResult<()> {
    let info = fs::FILE_DISPOSITION_INFO { DeleteFile: true };
    set_info(creator.as_handle(), fs::FileDispositionInfo, &info)
}
