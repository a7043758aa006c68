//! The guard's `SIGBUS` handler: installed once, at the first guarded
//! mapping; it repairs a fault on a lost page of a guarded mapping and hands
//! every other `SIGBUS` to the action installed before it, as the kernel
//! would have: its `SA_SIGINFO` handler with the original `siginfo` and
//! context, its plain handler, or the default action (the process dies of
//! the signal, with its own `si_code` where the platform lets a signal be
//! sent again with one). Only async-signal-safe calls; `errno` is kept.

use super::*;
use std::cell::UnsafeCell;
use std::ffi::c_int;
use std::mem::MaybeUninit;
use std::sync::Once;

/// The action installed before ours: written by the `sigaction` call that
/// installs ours, read by the handler only once [`READY`] says it is there.
struct Previous(UnsafeCell<MaybeUninit<libc::sigaction>>);

// SAFETY: written once, before READY is set (Release); read only after READY
// is seen (Acquire), never written again.
unsafe impl Sync for Previous {}

static PREVIOUS: Previous = Previous(UnsafeCell::new(MaybeUninit::zeroed()));
static READY: AtomicBool = AtomicBool::new(false);
/// The previous action was one-shot (`SA_RESETHAND`) and ran: the default now.
static SPENT: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();
static INSTALL_ERROR: AtomicI32 = AtomicI32::new(0);

/// Install the handler, once per process; later calls report how that went.
pub(super) fn install() -> SysResult<()> {
    INSTALL.call_once(|| {
        if let Err(e) = install_now() {
            let code = e.raw_os_error().unwrap_or(libc::EINVAL);
            INSTALL_ERROR.store(code, Ordering::Relaxed);
        }
    });
    match INSTALL_ERROR.load(Ordering::Relaxed) {
        0 => Ok(()),
        code => Err(io::Error::from_raw_os_error(code)),
    }
}

fn install_now() -> SysResult<()> {
    probe::open()?;
    // SAFETY: a zeroed sigaction is a valid value to fill in.
    let mut ours: libc::sigaction = unsafe { std::mem::zeroed() };
    ours.sa_sigaction = on_sigbus as *const () as libc::sighandler_t;
    ours.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESTART;
    // SAFETY: sa_mask is a live sigset_t.
    unsafe { libc::sigemptyset(&mut ours.sa_mask) };
    // SAFETY: both pointers are valid; the old action lands in PREVIOUS,
    // which the handler reads only after READY.
    cvt(unsafe { libc::sigaction(libc::SIGBUS, &ours, PREVIOUS.0.get().cast()) })?;
    READY.store(true, Ordering::Release);
    // SAFETY: registers a function that only stores to static atomics.
    unsafe { libc::pthread_atfork(None, None, Some(after_fork)) };
    Ok(())
}

extern "C" fn after_fork() {
    forget_other_threads();
}

/// Whether a `SIGBUS` with this `si_code` can be an access to a page past
/// the end of a mapped file or object on this platform (see `build.rs`).
/// Hardware memory errors (`BUS_MCEERR_AR`/`AO` on Linux, `BUS_ADRERR` on
/// illumos) and signals sent with `kill` or `raise` never are.
pub(crate) fn is_loss_code(code: c_int) -> bool {
    #[cfg(mmkit_guard_bus_adrerr)]
    let lost = code == libc::BUS_ADRERR;
    #[cfg(all(mmkit_guard_bus_objerr, not(mmkit_guard_bus_adrerr)))]
    let lost = code == BUS_OBJERR;
    #[cfg(not(any(mmkit_guard_bus_adrerr, mmkit_guard_bus_objerr)))]
    let lost = {
        let _ = code;
        false
    };
    lost
}

/// `BUS_OBJERR` (3 on every system that has it; the libc crate lacks it for illumos).
#[cfg(all(mmkit_guard_bus_objerr, not(mmkit_guard_bus_adrerr)))]
const BUS_OBJERR: c_int = 3;

/// The handler. Repairs, or passes on; `errno` as it found it.
extern "C" fn on_sigbus(sig: c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    // SAFETY: the thread's errno location is always valid.
    let saved = unsafe { *errno_location() };
    // SAFETY: an SA_SIGINFO handler gets a valid siginfo (checked for null
    // all the same); si_addr is the fault address for fault codes.
    let repaired = !info.is_null()
        && unsafe { is_loss_code((*info).si_code) && repair((*info).si_addr() as usize) };
    if !repaired {
        // SAFETY: the arguments are the kernel's, passed on unchanged.
        unsafe { pass_on(sig, info, ctx) };
    }
    // SAFETY: as above.
    unsafe { *errno_location() = saved };
}

/// Hand the signal to the action installed before ours.
///
/// # Safety
/// Called from [`on_sigbus`] with its arguments.
unsafe fn pass_on(sig: c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    while !READY.load(Ordering::Acquire) {
        // The installing thread is between its sigaction and READY.
        // SAFETY: sched_yield has no preconditions.
        unsafe { libc::sched_yield() };
    }
    // SAFETY: written before READY, never again.
    let prev = unsafe { &*PREVIOUS.0.get().cast::<libc::sigaction>() };
    let handler = if SPENT.load(Ordering::Relaxed) {
        libc::SIG_DFL
    } else {
        prev.sa_sigaction
    };
    // SAFETY: info is null or the kernel's siginfo.
    let code = (!info.is_null()).then(|| unsafe { (*info).si_code });
    let fault = code.is_some_and(refaults);
    if handler == libc::SIG_DFL || (handler == libc::SIG_IGN && fault) {
        // A fault cannot be ignored: the kernel kills for it then too.
        // SAFETY: as for this function.
        unsafe { die(sig, info, fault) };
        return;
    }
    if handler == libc::SIG_IGN {
        return;
    }
    if prev.sa_flags & libc::SA_RESETHAND != 0 {
        SPENT.store(true, Ordering::Relaxed);
    }
    // The mask the kernel would have set for it: ours (the interrupted
    // mask, plus sig) with its sa_mask, and sig unblocked for SA_NODEFER.
    // SAFETY: zeroed sigset_t values are valid to fill in; the calls only
    // change this thread's mask and are restored below.
    unsafe {
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, &prev.sa_mask, &mut old);
        if prev.sa_flags & libc::SA_NODEFER != 0 {
            let mut only: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut only);
            libc::sigaddset(&mut only, sig);
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &only, ptr::null_mut());
        }
        if prev.sa_flags & libc::SA_SIGINFO != 0 {
            let f: extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) =
                std::mem::transmute(handler);
            f(sig, info, ctx);
        } else {
            let f: extern "C" fn(c_int) = std::mem::transmute(handler);
            f(sig);
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, ptr::null_mut());
    }
}

/// Whether a signal with this `si_code` comes back when the handler returns:
/// a synchronous fault, whose instruction runs again and faults again.
pub(super) fn refaults(code: c_int) -> bool {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if code == libc::BUS_MCEERR_AO {
        // An action-optional memory error: reported once, asynchronously.
        return false;
    }
    // Kernel fault codes are small and positive; kill/raise/sigqueue ones
    // are 0, negative, or 0x10000 and up (the BSDs, macOS).
    code > 0 && code < 0x80
}

/// The default action: restore it and let the signal come again, now to
/// kill. A fault comes again by itself when the handler returns: its
/// instruction runs again and faults again, with its own siginfo. Any other
/// signal is sent again (Linux: with its own signal number, code and
/// address) and stays pending, as it is blocked inside the handler, until
/// the handler returns.
///
/// # Safety
/// Called from the handler with its arguments.
unsafe fn die(sig: c_int, info: *mut libc::siginfo_t, fault: bool) {
    // SAFETY: a zeroed sigaction with SIG_DFL is the default action.
    unsafe {
        let mut dfl: libc::sigaction = std::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        libc::sigemptyset(&mut dfl.sa_mask);
        libc::sigaction(sig, &dfl, ptr::null_mut());
    }
    if fault {
        return;
    }
    #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
    if !info.is_null() && resend(sig, info) {
        return;
    }
    let _ = info;
    // SAFETY: raise has no preconditions.
    unsafe { libc::raise(sig) };
}

/// Send `sig` to this thread again with the signal number, `si_code`,
/// `si_errno` and address (or sender) of `info`, the rest zero.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
fn resend(sig: c_int, info: *const libc::siginfo_t) -> bool {
    /// The kernel's 64-bit siginfo: three ints, padding, the union at 16.
    #[repr(C)]
    struct Fault {
        signo: c_int,
        errno: c_int,
        code: c_int,
        pad: c_int,
        addr: *mut c_void,
        rest: [u64; 13],
    }
    const _: () = assert!(std::mem::size_of::<Fault>() == 128);
    // SAFETY: info is the kernel's siginfo; these fields are always set.
    let copy = unsafe {
        Fault {
            signo: (*info).si_signo,
            errno: (*info).si_errno,
            code: (*info).si_code,
            pad: 0,
            addr: (*info).si_addr(),
            rest: [0; 13],
        }
    };
    // SAFETY: sends a siginfo of the kernel's size to this very thread.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_rt_tgsigqueueinfo,
            libc::getpid(),
            libc::gettid(),
            sig,
            &copy,
        )
    };
    rc == 0
}

/// This thread's `errno`.
fn errno_location() -> *mut c_int {
    // SAFETY: each of these returns the calling thread's errno location.
    unsafe {
        #[cfg(any(target_os = "linux", target_os = "dragonfly"))]
        let p = libc::__errno_location();
        #[cfg(any(target_os = "android", target_os = "netbsd", target_os = "openbsd"))]
        let p = libc::__errno();
        #[cfg(any(target_os = "freebsd", target_os = "macos", target_os = "ios"))]
        let p = libc::__error();
        #[cfg(any(target_os = "illumos", target_os = "solaris"))]
        let p = libc::___errno();
        p
    }
}

/// Whether the byte at `addr` can be read now, asked of the kernel:
/// `Some(false)` where a load would fault, `None` when the kernel cannot
/// tell. The guard repairs only a page the kernel finds gone (see
/// `Slot::repair_locked`).
pub(super) fn readable(addr: usize) -> Option<bool> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if !probe::PIPE.load(Ordering::Acquire) {
        return probe::vm_readable(addr);
    }
    probe::pipe_readable(addr)
}

/// How the kernel is asked. Linux: `process_vm_readv` of one byte of this
/// process, `EFAULT` for a page that cannot be read, no descriptor needed.
/// Elsewhere, and on Linux when that call is refused (a seccomp filter, an
/// old kernel): a one-byte `write` from `addr` into a pipe opened for it at
/// installation and kept (non-blocking, close-on-exec), `EFAULT` likewise.
pub(super) mod probe {
    use super::*;
    use std::os::fd::IntoRawFd;

    /// The probe pipe's ends; `PIPE`: it is in use (Linux: only when
    /// `process_vm_readv` is refused).
    static FDS: [AtomicI32; 2] = [AtomicI32::new(-1), AtomicI32::new(-1)];
    /// The pipe's device and inode: what its descriptors must still be
    /// (a program that closes descriptors it does not know, and opens
    /// others, may have given these numbers to files of its own).
    static PIPE_ID: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
    pub(in crate::sys::guard) static PIPE: AtomicBool = AtomicBool::new(false);

    pub(in crate::sys::guard) fn open() -> SysResult<()> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let byte = 0u8;
            if vm_readable(&byte as *const u8 as usize).is_some() {
                return Ok(());
            }
        }
        open_pipe()
    }

    /// Open the probe pipe and use it from now on.
    pub(in crate::sys::guard) fn open_pipe() -> SysResult<()> {
        let (rd, wr) = crate::sys::copy::cloexec_pipe()?;
        for fd in [&rd, &wr] {
            // SAFETY: fcntl on a descriptor we own.
            cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) })?;
        }
        let st = crate::sys::fstat(rd.as_fd())?;
        PIPE_ID[0].store(st.dev, Ordering::Release);
        PIPE_ID[1].store(st.ino, Ordering::Release);
        FDS[0].store(rd.into_raw_fd(), Ordering::Release);
        FDS[1].store(wr.into_raw_fd(), Ordering::Release);
        PIPE.store(true, Ordering::Release);
        Ok(())
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub(in crate::sys::guard) fn vm_readable(addr: usize) -> Option<bool> {
        let mut byte = 0u8;
        let local = libc::iovec {
            iov_base: (&mut byte as *mut u8).cast(),
            iov_len: 1,
        };
        let remote = libc::iovec {
            iov_base: addr as *mut c_void,
            iov_len: 1,
        };
        // SAFETY: the kernel reads one byte at addr in this process into a
        // local, reporting a fault as EFAULT.
        let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
        // SAFETY: the thread's errno location.
        match (n, unsafe { *errno_location() }) {
            (1, _) => Some(true),
            (-1, libc::EFAULT) => Some(false),
            _ => None,
        }
    }

    /// Whether `fd` is still the probe pipe (`fstat` is async-signal-safe).
    fn is_the_pipe(fd: libc::c_int) -> bool {
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: fstat writes one struct stat into the buffer on success.
        if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
            return false;
        }
        // SAFETY: fstat succeeded, so the struct is initialised.
        let st = unsafe { st.assume_init() };
        #[allow(clippy::unnecessary_cast)] // dev_t and ino_t differ by platform
        let id = (st.st_dev as u64, st.st_ino as u64);
        st.st_mode & libc::S_IFMT == libc::S_IFIFO
            && id
                == (
                    PIPE_ID[0].load(Ordering::Acquire),
                    PIPE_ID[1].load(Ordering::Acquire),
                )
    }

    /// The probe pipe's descriptors (read end, write end), for tests.
    #[cfg(test)]
    pub(in crate::sys::guard) fn pipe_fds() -> (libc::c_int, libc::c_int) {
        (
            FDS[0].load(Ordering::Acquire),
            FDS[1].load(Ordering::Acquire),
        )
    }

    pub(in crate::sys::guard) fn pipe_readable(addr: usize) -> Option<bool> {
        let (rd, wr) = (
            FDS[0].load(Ordering::Acquire),
            FDS[1].load(Ordering::Acquire),
        );
        if !is_the_pipe(rd) || !is_the_pipe(wr) {
            // Closed, or another file now: never written to, nothing known.
            return None;
        }
        // SAFETY: the kernel reads one byte at addr, reporting a fault as EFAULT.
        let n = unsafe { libc::write(wr, addr as *const c_void, 1) };
        if n == 1 {
            let mut byte = 0u8;
            // SAFETY: reads the byte back into a local.
            unsafe { libc::read(rd, (&mut byte as *mut u8).cast(), 1) };
            return Some(true);
        }
        // SAFETY: the thread's errno location.
        (n < 0 && unsafe { *errno_location() } == libc::EFAULT).then_some(false)
    }
}
