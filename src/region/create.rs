//! `MM_CREATE` by path: find or create the file in its directory, by the
//! rules of shared (sticky) directories; make a new file durable, or remove it.

use super::*;
use crate::sys::OpenAt;

use std::os::unix::ffi::OsStrExt;

impl Region {
    /// [`Region::file`] with `MM_CREATE`: find or create the file with
    /// [`Region::open_to_create`], map it, and make a new file durable, or
    /// remove it again when the call fails.
    #[inline(never)]
    pub(super) fn file_create(
        call: &'static str,
        path: &Path,
        offset: u64,
        len: usize,
        checked: Checked,
    ) -> Result<Region> {
        let excl = checked.flags.contains(Flags::EXCL);
        let (file, created) = Self::open_to_create(call, path, excl).map_err(|e| {
            // A directory where the file was named ("dir", "dir/", "."):
            // ENODEV, as without MM_CREATE.
            if e.errno() == errno::EISDIR {
                a_directory(call, describe(path))
            } else {
                e
            }
        })?;
        let result = Self::map_open_file(
            call,
            Some(path),
            file.as_fd(),
            offset,
            len,
            checked,
            created.is_some(),
        );
        let Some((dir, name)) = created else {
            return result;
        };
        let result = result.and_then(|region| sync_parent_dir(call, &dir, path).map(|()| region));
        if result.is_err() {
            // We made this file and could not finish: leave nothing behind.
            remove_created(&dir, name.as_cstr(), &file);
        }
        result
    }

    /// Open `path` read-write for `MM_CREATE`: a new file (mode 0600) made by
    /// one `open(O_CREAT|O_EXCL|O_NOFOLLOW)` in its directory, or with
    /// `excl` unset the file found there by [`Region::open_existing`]. A new
    /// file comes with its directory and name there, to make it durable or
    /// remove exactly it.
    pub(super) fn open_to_create(
        call: &'static str,
        path: &Path,
        excl: bool,
    ) -> Result<(File, Option<(sys::Dir, sys::CPath)>)> {
        let os = |msg: Text| move |source| Error::Os { call, msg, source };
        let Some((parent, name)) = split_name(path.as_os_str().as_bytes()) else {
            // Empty, or ending in "/", "." or "..": no name to create; what
            // is there is a directory (EISDIR) or nothing (an error).
            let file = sys::open_path(path, None, true)
                .map_err(os(msg!("open({}, O_RDWR)", describe(path))))?;
            return Ok((file, None));
        };
        let dir = open_dir(call, path, None, parent)?;
        let name = sys::CPath::new(name).map_err(os(msg!("open({})", describe(path))))?;
        match dir.open_file(name.as_cstr(), true, OpenAt::New) {
            Ok(file) => return Ok((file, Some((dir, name)))),
            // The file may be there all the same (refused: only the create).
            Err(e)
                if !excl
                    && matches!(
                        sys::errno_of(&e),
                        Some(
                            errno::EEXIST
                                | errno::EACCES
                                | errno::EPERM
                                | errno::EROFS
                                | errno::ENOSPC
                                | errno::EDQUOT
                        )
                    ) => {}
            Err(e) => {
                return Err(Error::Os {
                    call,
                    msg: msg!(
                        "open({}, O_RDWR|O_CREAT|O_EXCL|O_NOFOLLOW, 0600)",
                        describe(path)
                    ),
                    source: e,
                })
            }
        }
        let file = Self::open_existing(call, path, dir, name)?;
        Ok((file, None))
    }

    /// The file `name` in `dir` for `MM_CREATE` without `MM_EXCL`: opened by
    /// `open(O_CREAT|O_NOFOLLOW)`, so that the kernel's own
    /// `protected_regular` applies too (and a file gone meanwhile is made
    /// anew). Then the kernel's `protected_symlinks` and `protected_regular=2`
    /// rules, applied here whatever the sysctls say, in a sticky directory
    /// that others may write: a symbolic link is followed only when the
    /// caller or the directory's owner owns it (world-writable directories),
    /// an existing file accepted only when one of them owns it (world- or
    /// group-writable ones). Links are followed one at a time, each target
    /// judged in its own directory as the kernel would, and never created
    /// (a dangling link is `ELOOP`). No check-then-open window: the sticky
    /// bit keeps others from replacing a link of the caller or the
    /// directory's owner, and a file is judged by its open descriptor.
    pub(super) fn open_existing(
        call: &'static str,
        path: &Path,
        mut dir: sys::Dir,
        mut name: sys::CPath,
    ) -> Result<File> {
        // Linux's limit on links in one lookup.
        const MAX_LINKS: usize = 40;
        // Bounded: each round means the entry vanished between two calls.
        const ROUNDS: usize = 8;
        let euid = sys::euid();
        // The target of the last link followed; None for the path itself.
        let mut via: Option<Vec<u8>> = None;
        let (mut links, mut rounds) = (0, 0);
        loop {
            let ds = dir.stat().map_err(|e| Error::Os {
                call,
                msg: msg!("fstat of the directory of {}", here(path, &via)),
                source: e,
            })?;
            let links_guarded = ds.sticky() && ds.world_writable();
            let files_guarded = ds.sticky() && (ds.world_writable() || ds.group_writable());
            let trusted = |uid: u32| uid == euid || uid == ds.uid;
            let how = if via.is_none() {
                OpenAt::NewOrExisting
            } else {
                OpenAt::Existing
            };
            let err = match dir.open_file(name.as_cstr(), true, how) {
                Ok(file) => {
                    if files_guarded {
                        let st = sys::fstat(file.as_fd()).map_err(|e| Error::Os {
                            call,
                            msg: msg!("fstat of {}", here(path, &via)),
                            source: e,
                        })?;
                        if !trusted(st.uid) {
                            return Err(foreign(call, path, &via, false, st.uid, &ds, euid));
                        }
                        if st.nlink > 1 {
                            return Err(hard_linked(call, path, &via, st.nlink, &ds));
                        }
                    }
                    return Ok(file);
                }
                Err(e) => e,
            };
            let entry = match dir.stat_at(name.as_cstr()) {
                Ok(entry) => entry,
                Err(e) if e.kind() == io::ErrorKind::NotFound && via.is_some() => {
                    return Err(dangling(call, path, &via))
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound && rounds < ROUNDS => {
                    // Gone between the open and the look: open again.
                    rounds += 1;
                    continue;
                }
                Err(_) => return Err(open_failed(call, path, &via, how, err)),
            };
            if entry.kind != FileKind::Link {
                // The kernel's own protected_regular says EACCES: say why.
                if sys::errno_of(&err) == Some(errno::EACCES)
                    && matches!(entry.kind, FileKind::Regular | FileKind::Fifo)
                    && files_guarded
                    && !trusted(entry.uid)
                {
                    return Err(foreign(call, path, &via, false, entry.uid, &ds, euid));
                }
                return Err(open_failed(call, path, &via, how, err));
            }
            if links_guarded && !trusted(entry.uid) {
                return Err(foreign(call, path, &via, true, entry.uid, &ds, euid));
            }
            links += 1;
            if links > MAX_LINKS {
                return Err(Error::os(
                    call,
                    errno::ELOOP,
                    format_args!("{}: more than {MAX_LINKS} symbolic links", describe(path)),
                ));
            }
            let target = dir.read_link(name.as_cstr()).map_err(|e| Error::Os {
                call,
                msg: msg!("readlink of {}", here(path, &via)),
                source: e,
            })?;
            let bad_name = |e| Error::Os {
                call,
                msg: msg!("{}: the link to {}", describe(path), show(&target)),
                source: e,
            };
            match split_name(&target) {
                Some((parent, next)) => {
                    if let Some(parent) = parent {
                        dir = match open_dir(call, path, Some(&dir), Some(parent)) {
                            // The link's target is not there: dangling.
                            Err(e) if e.errno() == errno::ENOENT => {
                                return Err(dangling(call, path, &Some(target)))
                            }
                            r => r?,
                        };
                    }
                    name = sys::CPath::new(next).map_err(bad_name)?;
                }
                None => {
                    // "sub/", ".", "..": a directory (EISDIR) or an error,
                    // never a file to create or to judge.
                    let t = sys::CPath::new(&target).map_err(bad_name)?;
                    return dir
                        .open_file(t.as_cstr(), true, OpenAt::Following)
                        .map_err(bad_name);
                }
            }
            via = Some(target);
        }
    }
}

/// fsync the directory a new file was made in, so its entry is durable.
pub(super) fn sync_parent_dir(call: &'static str, dir: &sys::Dir, path: &Path) -> Result<()> {
    match dir.sync() {
        // Some file systems cannot fsync a directory; the entry is as durable as they allow.
        Err(e) if sys::errno_of(&e) == Some(errno::EINVAL) => Ok(()),
        r => r,
    }
    .map_err(|e| Error::Os {
        call,
        msg: msg!(
            "fsync of the directory of {} to make the new file durable",
            describe(path)
        ),
        source: e,
    })
}

/// Remove the file this call created as `name` in `dir`, if that entry is
/// still this file: never one that took its place meanwhile.
pub(super) fn remove_created(dir: &sys::Dir, name: &CStr, file: &File) {
    let (Ok(ours), Ok(there)) = (sys::fstat(file.as_fd()), dir.stat_at(name)) else {
        return;
    };
    if (ours.dev, ours.ino) == (there.dev, there.ino) {
        let _ = dir.unlink(name);
    }
}

/// A path split into its directory and its last component, the name that
/// `MM_CREATE` creates or looks at; `None` when it has none (empty, or ends
/// in `/`, `.` or `..`). The directory is `None` for a name alone: the
/// current directory (or, for a link's target, the link's own).
pub(super) fn split_name(p: &[u8]) -> Option<(Option<&[u8]>, &[u8])> {
    let (dir, name) = match p.iter().rposition(|&b| b == b'/') {
        Some(0) => (Some(&p[..1]), &p[1..]),
        Some(i) => (Some(&p[..i]), &p[i + 1..]),
        None => (None, p),
    };
    if name.is_empty() || name == b"." || name == b".." {
        return None;
    }
    Some((dir, name))
}

/// Open the directory `dir` (`None`: ".") relative to `at`, for `path`, one
/// component at a time, none followed blindly: a symbolic link on the way is
/// followed only as a last component's is (in a sticky world-writable
/// directory, only when the caller or the directory's owner owns it), so
/// nobody can send `MM_CREATE` elsewhere through a directory link they
/// planted (`/tmp/x` in `/tmp/x/out.dat`).
pub(super) fn open_dir(
    call: &'static str,
    path: &Path,
    at: Option<&sys::Dir>,
    dir: Option<&[u8]>,
) -> Result<sys::Dir> {
    // Linux's limit on links in one lookup.
    const MAX_LINKS: usize = 40;
    let dir = dir.unwrap_or(b".");
    let fail = |e: io::Error| Error::Os {
        call,
        msg: msg!(
            "open({}, O_DIRECTORY), the directory of {}",
            show(dir),
            describe(path)
        ),
        source: e,
    };
    let euid = sys::euid();
    // What is left to walk, in memory asked for fallibly: a link's target
    // takes the place of the link.
    let mut todo = owned_bytes(dir).map_err(fail)?;
    let mut cur = if todo.starts_with(b"/") {
        sys::Dir::open(None, c"/")
    } else {
        sys::Dir::open(at, c".")
    }
    .map_err(fail)?;
    let (mut pos, mut links) = (0, 0);
    loop {
        while todo.get(pos) == Some(&b'/') {
            pos += 1;
        }
        if pos == todo.len() {
            return Ok(cur);
        }
        let end = todo[pos..]
            .iter()
            .position(|&b| b == b'/')
            .map_or(todo.len(), |i| pos + i);
        let comp = &todo[pos..end];
        if comp == b"." {
            pos = end;
            continue;
        }
        let name = sys::CPath::new(comp).map_err(fail)?;
        let e = match sys::Dir::open_no_follow(Some(&cur), name.as_cstr()) {
            Ok(next) => {
                cur = next;
                pos = end;
                continue;
            }
            Err(e) => e,
        };
        match cur.stat_at(name.as_cstr()) {
            Ok(entry) if entry.kind == FileKind::Link => {
                let ds = cur.stat().map_err(fail)?;
                if ds.sticky() && ds.world_writable() && entry.uid != euid && entry.uid != ds.uid {
                    return Err(foreign_dir(call, path, comp, entry.uid, &ds, euid));
                }
            }
            _ => return Err(fail(e)),
        }
        links += 1;
        if links > MAX_LINKS {
            return Err(fail(sys::errno_error(errno::ELOOP)));
        }
        let target = cur.read_link(name.as_cstr()).map_err(fail)?;
        let mut next: Vec<u8> = Vec::new();
        next.try_reserve_exact(target.len() + 1 + todo.len() - end)
            .map_err(|_| fail(sys::errno_error(errno::ENOMEM)))?;
        next.extend_from_slice(&target);
        next.push(b'/');
        next.extend_from_slice(&todo[end..]);
        if target.starts_with(b"/") {
            cur = sys::Dir::open(None, c"/").map_err(fail)?;
        }
        todo = next;
        pos = 0;
    }
}

/// `bytes` in heap memory asked for fallibly (`ENOMEM` when refused).
fn owned_bytes(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut v = Vec::new();
    v.try_reserve_exact(bytes.len())
        .map_err(|_| sys::errno_error(errno::ENOMEM))?;
    v.extend_from_slice(bytes);
    Ok(v)
}

/// `EPERM`: a directory on the way to `path` is a symbolic link in a sticky
/// world-writable directory, owned by neither the caller nor its owner.
#[cold]
pub(super) fn foreign_dir(
    call: &'static str,
    path: &Path,
    link: &[u8],
    owner: u32,
    dir: &sys::Stat,
    euid: u32,
) -> Error {
    Error::os(
        call,
        errno::EPERM,
        format_args!(
            "{}: the directory {} on the way is a symbolic link owned by uid {owner} in a sticky \
             world-writable directory (mode {:o}, owner uid {}); MM_CREATE follows such a link only \
             when the caller or the directory's owner owns it (the kernel's protected_symlinks \
             rule); the caller is uid {euid}: use a private directory",
            describe(path),
            show(link),
            dir.perm,
            dir.uid
        ),
    )
}

/// `EPERM`: an existing file with more than one name in a sticky directory
/// that others may write: another name may be another user's file, linked
/// here to be written through this one.
#[cold]
pub(super) fn hard_linked(
    call: &'static str,
    path: &Path,
    via: &Option<Vec<u8>>,
    nlink: u64,
    dir: &sys::Stat,
) -> Error {
    Error::os(
        call,
        errno::EPERM,
        format_args!(
            "{} a file with {nlink} names (hard links) in a sticky directory others may write \
             (mode {:o}, owner uid {}); MM_CREATE accepts an existing file there only with one \
             name, since another may be someone else's file linked here: use MM_EXCL or a \
             private directory",
            Subject(path, via),
            dir.perm,
            dir.uid
        ),
    )
}

/// `path`, and the link target it led to if any.
pub(super) fn here<'a>(path: &'a Path, via: &'a Option<Vec<u8>>) -> Here<'a> {
    Here(path, via)
}

/// [`here`], formatted only when a message is.
pub(super) struct Here<'a>(&'a Path, &'a Option<Vec<u8>>);

impl std::fmt::Display for Here<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.1 {
            None => write!(f, "{}", describe(self.0)),
            Some(t) => write!(f, "{} (through the link to {})", describe(self.0), show(t)),
        }
    }
}

/// `EPERM`: a link (or file) in a sticky directory that others may write,
/// owned by neither the caller nor the directory's owner.
#[cold]
pub(super) fn foreign(
    call: &'static str,
    path: &Path,
    via: &Option<Vec<u8>>,
    link: bool,
    owner: u32,
    dir: &sys::Stat,
    euid: u32,
) -> Error {
    let subject = Subject(path, via);
    let (what, rule) = if link {
        (
            "a symbolic link",
            "follows such a link only when the caller or the directory's owner owns it \
             (the kernel's protected_symlinks rule)",
        )
    } else {
        (
            "an existing file",
            "accepts such a file only when the caller or the directory's owner owns it \
             (the kernel's protected_regular rule): its owner could read and change the mapping",
        )
    };
    let by = if dir.world_writable() {
        "world"
    } else {
        "group"
    };
    Error::os(
        call,
        errno::EPERM,
        format_args!(
            "{subject} {what} owned by uid {owner} in a sticky {by}-writable directory \
             (mode {:o}, owner uid {}); MM_CREATE {rule}; the caller is uid {euid}: \
             use MM_EXCL or a private directory",
            dir.perm, dir.uid
        ),
    )
}

/// [`foreign`]'s subject: the path, and the link target it led to if any.
pub(super) struct Subject<'a>(&'a Path, &'a Option<Vec<u8>>);

impl std::fmt::Display for Subject<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.1 {
            None => write!(f, "{} is", describe(self.0)),
            Some(t) => write!(f, "{} leads to {}, which is", describe(self.0), show(t)),
        }
    }
}

/// `ELOOP`: `path` is (or leads through) a symbolic link whose target does
/// not exist, which `MM_CREATE` never creates.
#[cold]
pub(super) fn dangling(call: &'static str, path: &Path, via: &Option<Vec<u8>>) -> Error {
    Error::os(
        call,
        errno::ELOOP,
        format_args!(
            "{} is a symbolic link to a file that does not exist; MM_CREATE does not create \
             files through links: use MM_EXCL or a private directory to create a new file",
            here(path, via)
        ),
    )
}

/// The error of [`Region::open_existing`]'s open, as it is.
#[cold]
pub(super) fn open_failed(
    call: &'static str,
    path: &Path,
    via: &Option<Vec<u8>>,
    how: OpenAt,
    e: io::Error,
) -> Error {
    let flags = if how == OpenAt::NewOrExisting {
        "O_RDWR|O_CREAT|O_NOFOLLOW, 0600"
    } else {
        "O_RDWR|O_NOFOLLOW"
    };
    open_error(call, here(path, via), flags, e)
}

#[cfg(test)]
mod create_path_tests {
    use super::*;

    #[test]
    pub(super) fn names_split_off_their_directory() {
        type Split<'a> = Option<(Option<&'a [u8]>, &'a [u8])>;
        let cases: [(&[u8], Split); 11] = [
            (b"f", Some((None, b"f"))),
            (b"d/f", Some((Some(b"d"), b"f"))),
            (b"/f", Some((Some(b"/"), b"f"))),
            (b"//f", Some((Some(b"/"), b"f"))),
            (b"a/b/c", Some((Some(b"a/b"), b"c"))),
            (b"d/..f", Some((Some(b"d"), b"..f"))),
            (b"", None),
            (b"d/", None),
            (b".", None),
            (b"d/..", None),
            (b"/", None),
        ];
        for (path, want) in cases {
            assert_eq!(
                split_name(path),
                want,
                "{:?}",
                std::ffi::OsStr::from_bytes(path)
            );
        }
    }
}

// Both test the run-time decision, which a build without MAP_ANONYMOUS never makes.
