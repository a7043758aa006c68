//! Shareable memory: memfd, `O_TMPFILE` on `/dev/shm`, `shm_open` + `shm_unlink`, seals.

use super::*;

/// An anonymous shared-memory object no name refers to, ever, where the
/// platform allows: `memfd_create` on Linux (sealable); an `O_TMPFILE` file on
/// `/dev/shm` (Linux without memfd); `shm_open(SHM_ANON)` (FreeBSD). Elsewhere
/// `shm_open` under a random name, unlinked at once. Returns the descriptor
/// (close-on-exec) and whether it can be sealed. `len` is the size it will
/// be given (by [`set_len`], which every Unix object takes; a Windows section is
/// made with its size).
pub(crate) fn shareable_object(
    name: &std::ffi::CStr,
    _len: usize,
) -> SysResult<(std::os::fd::OwnedFd, bool)> {
    #[cfg(mmkit_memfd)]
    match memfd_object(name) {
        // Old kernels or a seccomp filter: fall back to the next kind.
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {}
        r => return r.map(|fd| (fd, cfg!(mmkit_seals))),
    }
    let _ = name;
    #[cfg(mmkit_o_tmpfile)]
    match tmpfile_object() {
        // No /dev/shm, or a kernel or file system without O_TMPFILE (old
        // kernels see O_DIRECTORY and say EISDIR).
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(
                    libc::ENOENT
                        | libc::ENOTDIR
                        | libc::EISDIR
                        | libc::EOPNOTSUPP
                        | libc::EINVAL
                        | libc::EACCES
                        | libc::EPERM
                        | libc::EROFS
                )
            ) => {}
        r => return r.map(|fd| (fd, false)),
    }
    #[cfg(mmkit_shm_anon)]
    {
        // SAFETY: SHM_ANON is the documented "no name" argument; the result is checked.
        let fd = unsafe { libc::shm_open(libc::SHM_ANON, libc::O_RDWR | libc::O_CLOEXEC, 0o600) };
        return owned(fd).map(|fd| (fd, false));
    }
    #[cfg(mmkit_shm_open)]
    #[allow(unreachable_code)]
    return shm_anonymous().map(|fd| (fd, false));
    // Android: no POSIX shared memory to fall back on.
    #[cfg(not(mmkit_shm_open))]
    #[allow(unreachable_code)]
    Err(io::Error::from_raw_os_error(libc::ENOTSUP))
}

/// `memfd_create`, close-on-exec, sealable where the build has seals.
#[cfg(mmkit_memfd)]
pub(super) fn memfd_object(name: &std::ffi::CStr) -> SysResult<std::os::fd::OwnedFd> {
    let mut flags = libc::MFD_CLOEXEC;
    if cfg!(mmkit_seals) {
        flags |= libc::MFD_ALLOW_SEALING;
    }
    // SAFETY: name is NUL-terminated; the result is checked.
    owned(unsafe { libc::memfd_create(name.as_ptr(), flags) })
}

/// An unnamed file on the `/dev/shm` tmpfs (`O_TMPFILE`): never in any
/// directory, so nothing can be left behind, and (`O_EXCL`) never linked
/// into one later through `/proc/self/fd`.
#[cfg(mmkit_o_tmpfile)]
fn tmpfile_object() -> SysResult<std::os::fd::OwnedFd> {
    // SAFETY: a NUL-terminated path; the mode is passed as the variadic
    // argument open(2) expects with O_TMPFILE; the result is checked.
    owned(unsafe {
        libc::open(
            c"/dev/shm".as_ptr(),
            libc::O_TMPFILE | libc::O_EXCL | libc::O_RDWR | libc::O_CLOEXEC,
            0o600 as libc::c_uint,
        )
    })
}

/// Own a descriptor a system call returned, or its error.
pub(super) fn owned(fd: libc::c_int) -> SysResult<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    if fd < 0 {
        return Err(last_os_error());
    }
    // SAFETY: a new descriptor, owned from here on.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// `shm_open` with a fresh random name and `O_EXCL`, then `shm_unlink` at once.
/// The one fallback with a window: a process killed between the two calls
/// leaves the (empty) name behind. Platforms with a nameless kind above never
/// get here.
#[cfg(mmkit_shm_open)]
#[allow(dead_code)]
fn shm_anonymous() -> SysResult<std::os::fd::OwnedFd> {
    use std::time::{SystemTime, UNIX_EPOCH};
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    for _ in 0..64 {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let mut name = [0u8; 64];
        {
            use std::io::Write;
            let mut w = &mut name[..63];
            // 64 bytes hold the longest name: "/mmkit-" and three numbers.
            let _ = write!(w, "/mmkit-{}-{seq}-{nanos:x}", std::process::id());
        }
        let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC;
        // SAFETY: name is NUL-terminated; shm_open sets FD_CLOEXEC itself (POSIX).
        #[cfg(not(mmkit_variadic_shm_open))]
        let fd = unsafe { libc::shm_open(name.as_ptr().cast(), flags, 0o600) };
        // SAFETY: as above; where shm_open is variadic (Apple), the mode is
        // passed promoted to an unsigned int, as C would.
        #[cfg(mmkit_variadic_shm_open)]
        let fd = unsafe { libc::shm_open(name.as_ptr().cast(), flags, 0o600 as libc::c_uint) };
        let owned = match owned(fd) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => continue,
            Err(e) => return Err(e),
        };
        // SAFETY: the same NUL-terminated name.
        cvt(unsafe { libc::shm_unlink(name.as_ptr().cast()) })?;
        return Ok(owned);
    }
    Err(io::Error::from_raw_os_error(libc::EEXIST))
}

/// Add seals (`F_SEAL_*` bits) to a memfd. `MM_SEAL_WRITE` is `F_SEAL_WRITE`,
/// or `F_SEAL_FUTURE_WRITE` while writable shared mappings exist (ours).
#[cfg(mmkit_seals)]
pub(crate) fn add_seals(
    fd: BorrowedFd<'_>,
    shrink: bool,
    grow: bool,
    write: bool,
) -> SysResult<()> {
    let mut seals = 0;
    if shrink {
        seals |= libc::F_SEAL_SHRINK;
    }
    if grow {
        seals |= libc::F_SEAL_GROW;
    }
    if write {
        // SAFETY: fcntl on a descriptor the region owns.
        let rc = unsafe {
            libc::fcntl(
                fd.as_raw_fd(),
                libc::F_ADD_SEALS,
                seals | libc::F_SEAL_WRITE,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let e = last_os_error();
        if e.raw_os_error() != Some(libc::EBUSY) {
            return Err(e);
        }
        seals |= libc::F_SEAL_FUTURE_WRITE;
    }
    // SAFETY: fcntl on a descriptor the region owns.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsFd, OwnedFd};

    /// Every kind of shareable object this build has: sized, mapped twice
    /// (what one mapping writes the other reads), close-on-exec, nameless.
    fn check_object(fd: OwnedFd) {
        let page = page_size();
        truncate(fd.as_fd(), 2 * page as u64).unwrap();
        let spec = MapSpec {
            prot: Prot(libc::PROT_READ | libc::PROT_WRITE),
            share: Share::Shared,
            noreserve: false,
            populate: false,
        };
        let a = map_fd(fd.as_fd(), 0, 2 * page, &spec).unwrap();
        let b = map_fd(fd.as_fd(), 0, 2 * page, &spec).unwrap();
        // SAFETY: both mappings are ours, 2 pages long.
        unsafe {
            *a.ptr().add(page + 7) = 42;
            assert_eq!(*b.ptr().add(page + 7), 42);
        }
        // SAFETY: F_GETFD on a descriptor we own.
        let fdflags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
        assert_ne!(fdflags & libc::FD_CLOEXEC, 0);
        let st = fstat(fd.as_fd()).unwrap();
        assert_eq!(st.size, 2 * page as u64);
    }

    fn dev_shm_names() -> Vec<String> {
        std::fs::read_dir("/dev/shm").map_or(Vec::new(), |d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&format!("mmkit-{}-", std::process::id())))
                .collect()
        })
    }

    #[test]
    #[cfg(mmkit_memfd)]
    fn memfd_objects_work() {
        check_object(memfd_object(c"t").unwrap());
    }

    #[test]
    #[cfg(mmkit_o_tmpfile)]
    fn tmpfile_objects_work_and_have_no_name() {
        check_object(tmpfile_object().unwrap());
        assert!(dev_shm_names().is_empty());
    }

    /// `O_EXCL`: nobody can give the object a name later (linkat through
    /// /proc/self/fd works on an O_TMPFILE file opened without it).
    #[test]
    #[cfg(mmkit_o_tmpfile)]
    fn tmpfile_objects_cannot_be_linked() {
        let fd = tmpfile_object().unwrap();
        let from = std::ffi::CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
        let to =
            std::ffi::CString::new(format!("/dev/shm/mmkit-{}-link", std::process::id())).unwrap();
        // SAFETY: two NUL-terminated paths; the result is checked.
        let rc = unsafe {
            libc::linkat(
                libc::AT_FDCWD,
                from.as_ptr(),
                libc::AT_FDCWD,
                to.as_ptr(),
                libc::AT_SYMLINK_FOLLOW,
            )
        };
        let e = last_os_error();
        // SAFETY: a NUL-terminated path (cleanup should the link exist).
        unsafe { libc::unlink(to.as_ptr()) };
        assert_eq!((rc, e.raw_os_error()), (-1, Some(libc::ENOENT)));
    }

    #[test]
    #[cfg(mmkit_shm_open)]
    fn shm_open_objects_work_and_are_unlinked() {
        check_object(shm_anonymous().unwrap());
        assert!(dev_shm_names().is_empty());
    }
}
