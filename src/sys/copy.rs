//! Fault-safe copies: `process_vm_readv/writev` on the own process, or a pipe.

use super::*;

/// Copy `n` bytes between `mapped` (inside a mapping) and `buf` without ever
/// raising a signal: where a plain load or store would be `SIGBUS` (file
/// truncated) or `SIGSEGV` (no access), the kernel does the copy and answers
/// `EFAULT`. Linux: `process_vm_readv` / `process_vm_writev` on this process.
/// Elsewhere (and where those are refused): through a pipe, since `write(2)`
/// from and `read(2)` into a faulting address also fail with `EFAULT`.
pub(crate) fn copy_checked(
    dir: Direction,
    mapped: *mut u8,
    buf: *mut u8,
    n: usize,
) -> SysResult<()> {
    #[cfg(mmkit_process_vm)]
    match copy_process_vm(dir, mapped, buf, n) {
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {}
        r => return r,
    }
    copy_via_pipe(dir, mapped, buf, n)
}

#[cfg(mmkit_process_vm)]
fn copy_process_vm(dir: Direction, mapped: *mut u8, buf: *mut u8, n: usize) -> SysResult<()> {
    let mut done = 0;
    while done < n {
        // SAFETY (for the two adds): done < n, inside both ranges.
        let local = libc::iovec {
            iov_base: unsafe { buf.add(done) }.cast(),
            iov_len: n - done,
        };
        let remote = libc::iovec {
            iov_base: unsafe { mapped.add(done) }.cast(),
            iov_len: n - done,
        };
        // SAFETY: the kernel reads/writes only the iovec ranges, which lie in
        // this process's buffer and mapping, and reports faults as EFAULT.
        let rc = unsafe {
            let pid = libc::getpid();
            match dir {
                Direction::Read => libc::process_vm_readv(pid, &local, 1, &remote, 1, 0),
                Direction::Write => libc::process_vm_writev(pid, &local, 1, &remote, 1, 0),
            }
        };
        match rc {
            -1 => {
                let e = last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            // A partial copy stops at the faulting page; no progress is a fault.
            0 => return Err(io::Error::from_raw_os_error(libc::EFAULT)),
            k => done += k as usize,
        }
    }
    Ok(())
}

/// A pipe whose two ends are close-on-exec from the start where the platform
/// has `pipe2` (no thread that forks and execs meanwhile can inherit them).
pub(super) fn cloexec_pipe() -> SysResult<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    #[cfg(mmkit_pipe2)]
    // SAFETY: fds has room for the two descriptors pipe2 returns.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    #[cfg(not(mmkit_pipe2))]
    // SAFETY: fds has room for the two descriptors pipe returns.
    cvt(unsafe { libc::pipe(fds.as_mut_ptr()) })?;
    // SAFETY: both descriptors were just created and are owned from here on.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    #[cfg(not(mmkit_pipe2))]
    for fd in [&rd, &wr] {
        // SAFETY: fcntl on a descriptor we own. Without pipe2 there is a
        // window before this in which an exec'ing thread inherits the pipe.
        cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) })?;
    }
    Ok((rd, wr))
}

/// What a `read`/`write` on the copy pipe did: `Some(bytes)`, `None` when
/// interrupted (try again), `EFAULT` when nothing moved (a fault stopped it).
fn pipe_io(rc: isize) -> SysResult<Option<usize>> {
    match rc {
        0 => Err(io::Error::from_raw_os_error(libc::EFAULT)),
        n if n > 0 => Ok(Some(n as usize)),
        _ => {
            let e = last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

fn copy_via_pipe(dir: Direction, mapped: *mut u8, buf: *mut u8, n: usize) -> SysResult<()> {
    let (from, to) = match dir {
        Direction::Read => (mapped.cast_const(), buf),
        Direction::Write => (buf.cast_const(), mapped),
    };
    let (rd, wr) = cloexec_pipe()?;
    // SAFETY: fcntl on a descriptor we own: the write end non-blocking, so a
    // small pipe never hangs us.
    cvt(unsafe { libc::fcntl(wr.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) })?;
    let mut done = 0;
    while done < n {
        let chunk = (n - done).min(64 * 1024);
        // SAFETY: reads at most `chunk` bytes inside the source range; a
        // fault there is reported as EFAULT by the kernel.
        let w = unsafe { libc::write(wr.as_raw_fd(), from.add(done).cast(), chunk) };
        let Some(w) = pipe_io(w)? else { continue };
        let mut got = 0;
        while got < w {
            // SAFETY: writes at most the bytes just queued into the target
            // range; a fault there is reported as EFAULT by the kernel.
            let r = unsafe { libc::read(rd.as_raw_fd(), to.add(done + got).cast(), w - got) };
            let Some(r) = pipe_io(r)? else { continue };
            got += r;
        }
        done += got;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_pipes_are_close_on_exec() {
        let (rd, wr) = cloexec_pipe().unwrap();
        for fd in [rd, wr] {
            // SAFETY: F_GETFD on a descriptor we own.
            let fdflags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
            assert_ne!(fdflags & libc::FD_CLOEXEC, 0);
        }
    }
}
