//! The guard (`MM_GUARD`): each promise shown both ways, mostly in forked
//! children. An unguarded region dies of `SIGBUS` when its file is cut; a
//! guarded one reads zeros and reports the loss (`mm_check`, and `-EFAULT`
//! from `mm_read`, `mm_write`, `mm_sync` over a lost page). Faults that are
//! not a lost page of a guarded region reach the handler installed before
//! the guard's, with their own `siginfo`, or kill; hardware memory errors
//! pass (unit tests of the classification in `src/sys/guard/tests.rs`).
//! Threads read while another process cuts and regrows the file; a region
//! is unmapped while a thread faults in it; a forked child keeps the guard.
//!
//! The guard's handler is process-wide: once a test here mapped a guarded
//! region, every test of this binary runs under it (a fault it does not
//! repair goes on to the runtime's handler and kills, as before). The tests
//! of the order of handlers run alone in a process of their own (`alone!`),
//! where nothing installed the guard before them.

use std::fs::{File, OpenOptions};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::support::{alone, cstr, in_child, pattern, Exit, TempDir};
use mmkit::ffi::*;
use mmkit::{
    Flags, Region, SyncFlags, MM_DEVZERO, MM_GUARD, MM_PRIVATE, MM_READ, MM_SHARED, MM_WRITE,
};

const RW: Flags = Flags::READ.union(Flags::WRITE).union(Flags::SHARED);
const GUARDED: Flags = RW.union(Flags::GUARD);

fn page() -> usize {
    mmkit::page_size()
}

fn cut(path: &std::path::Path, len: usize) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len as u64)
        .unwrap();
}

/// A file of `pages` pages of pattern(seed) in `d`, mapped with `flags`.
fn mapped(d: &TempDir, name: &str, pages: usize, flags: Flags) -> (std::path::PathBuf, Region) {
    let p = d.file(name, &pattern(pages * page(), 7));
    let r = Region::file(&p, 0, 0, flags).unwrap();
    (p, r)
}

/// A plain load of byte `off` of the region.
fn load(r: &Region, off: usize) -> u8 {
    // SAFETY: inside the region; a lost page is what these tests provoke.
    unsafe { r.as_ptr().add(off).read_volatile() }
}

fn errno<T: std::fmt::Debug>(r: mmkit::Result<T>) -> i32 {
    r.unwrap_err().errno()
}

// ------------------------------------------------------------ both ways

#[test]
fn a_cut_file_kills_an_unguarded_reader_and_a_guarded_one_reads_zeros() {
    let d = TempDir::new("guard-both");
    let pg = page();
    let (p, plain) = mapped(&d, "plain", 4, RW);
    let (q, guarded) = mapped(&d, "guarded", 4, GUARDED);
    cut(&p, pg);
    cut(&q, pg);
    let at = plain.as_ptr() as usize;
    // SAFETY: the child's load faults by design.
    let status = in_child(|| unsafe { ((at + 3 * pg) as *const u8).read_volatile() as i32 });
    assert_eq!(status, Exit::Signal(libc::SIGBUS));

    let want = pattern(4 * pg, 7);
    assert_eq!(load(&guarded, 10), want[10]);
    assert_eq!(guarded.check().map_err(|e| e.errno()), Ok(()));
    assert_eq!(load(&guarded, 3 * pg + 5), 0);
    assert_eq!(load(&guarded, 2 * pg), 0);
    // The repaired pages stay: zeros, writable, never the file's.
    // SAFETY: inside the region, whose page 2 is now a private zero page.
    unsafe { guarded.as_ptr().add(2 * pg + 1).write_volatile(9) };
    assert_eq!(load(&guarded, 2 * pg + 1), 9);
    assert_eq!(std::fs::metadata(&q).unwrap().len(), pg as u64);
    let e = guarded.check().unwrap_err();
    assert_eq!(e.errno(), libc::EFAULT, "{e}");
    let m = e.to_string();
    assert!(
        m.starts_with("mm_check: 2 pages lost, the first at offset 8192")
            || m.contains(&format!("2 pages lost, the first at offset {}", 2 * pg)),
        "{m}"
    );
    // Page 0 is still the file's.
    assert_eq!(load(&guarded, pg - 1), want[pg - 1]);
    // The file growing again does not bring a lost page back.
    cut(&q, 4 * pg);
    assert_eq!(load(&guarded, 3 * pg + 5), 0);
}

#[test]
fn the_guarded_copies_and_sync_report_a_lost_page() {
    let d = TempDir::new("guard-copies");
    let pg = page();
    let (p, r) = mapped(&d, "f", 4, GUARDED);
    let want = pattern(4 * pg, 7);
    let mut buf = vec![0u8; 2 * pg];
    r.read(pg, &mut buf).unwrap();
    assert_eq!(buf, want[pg..3 * pg]);
    cut(&p, 2 * pg);
    // Nothing touched the cut pages yet: nothing lost.
    r.check().unwrap();
    r.sync(0, 0, SyncFlags::SYNC).unwrap();
    // A read across the end: the copy itself finds the page gone.
    let e = r.read(pg, &mut buf).unwrap_err();
    assert_eq!(e.errno(), libc::EFAULT, "{e}");
    let m = e.to_string();
    assert!(m.starts_with("mm_read: 1 page of the range"), "{m}");
    assert!(
        m.contains(&format!("the first at offset {}", 2 * pg)),
        "{m}"
    );
    // The bytes before it were copied; the lost page read as zeros.
    assert_eq!(buf[..pg], want[pg..2 * pg]);
    assert!(buf[pg..].iter().all(|&b| b == 0));
    // Ranges that do not touch the lost page are fine.
    r.read(0, &mut buf).unwrap();
    r.write(10, b"fine").unwrap();
    r.sync(0, 2 * pg, SyncFlags::SYNC).unwrap();
    // Over it: EFAULT, and the write does not reach the file.
    let e = r.write(2 * pg + 1, b"lost").unwrap_err();
    assert_eq!(e.errno(), libc::EFAULT, "{e}");
    assert!(e.to_string().starts_with("mm_write: "), "{e}");
    let e = r.sync(0, 0, SyncFlags::SYNC).unwrap_err();
    assert_eq!(e.errno(), libc::EFAULT, "{e}");
    assert!(e.to_string().starts_with("mm_sync: "), "{e}");
    assert_eq!(errno(r.sync(2 * pg, 1, SyncFlags::ASYNC)), libc::EFAULT);
    // A page never touched is not lost: page 3 reads zeros too, but is
    // recorded only now.
    assert_eq!(errno(r.read(3 * pg, &mut buf[..1])), libc::EFAULT);
    assert!(r.check().unwrap_err().to_string().contains("2 pages lost"));
    let on_disk = std::fs::read(&p).unwrap();
    assert_eq!(on_disk.len(), 2 * pg);
    assert_eq!(&on_disk[10..14], b"fine");
}

#[test]
fn mm_flags_reports_the_guard_where_it_means_something() {
    let d = TempDir::new("guard-flags");
    let p = d.file("f", &[1u8; 100]);
    let cp = cstr(&p);
    let mut r: *mut mm_region = std::ptr::null_mut();
    let bits = MM_READ | MM_SHARED | MM_GUARD;
    // SAFETY: valid arguments; each region is unmapped.
    unsafe {
        assert_eq!(mm_map_file(cp.as_ptr(), 0, 0, bits, &mut r), 0);
        assert_eq!(mm_flags(r) & MM_GUARD, MM_GUARD);
        assert_eq!(mm_check(r), 0);
        mm_unmap(r);
        let f = File::open(&p).unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&f);
        assert_eq!(
            mm_map_fd(fd, 0, 0, MM_READ | MM_PRIVATE | MM_GUARD, &mut r),
            0
        );
        assert_eq!(mm_flags(r) & MM_GUARD, MM_GUARD);
        mm_unmap(r);
        // Anonymous: accepted, not reported.
        assert_eq!(
            mm_map_anon(10, MM_READ | MM_WRITE | MM_PRIVATE | MM_GUARD, &mut r),
            0
        );
        assert_eq!(mm_flags(r) & MM_GUARD, 0);
        assert_eq!(mm_check(r), 0);
        mm_unmap(r);
        assert_eq!(
            mm_map_anon(10, MM_READ | MM_SHARED | MM_GUARD | MM_DEVZERO, &mut r),
            0
        );
        assert_eq!(mm_flags(r) & MM_GUARD, 0);
        mm_unmap(r);
        // Unguarded: nothing recorded, 0.
        assert_eq!(
            mm_map_file(cp.as_ptr(), 0, 0, MM_READ | MM_SHARED, &mut r),
            0
        );
        assert_eq!(mm_flags(r) & MM_GUARD, 0);
        assert_eq!(mm_check(r), 0);
        mm_unmap(r);
        assert_eq!(mm_check(std::ptr::null()), -libc::EINVAL);
        let m = std::ffi::CStr::from_ptr(mm_last_error()).to_string_lossy();
        assert!(m.starts_with("mm_check: region is NULL"), "{m}");
    }
    let _shm = crate::support::naming_in_dev_shm();
    let s = Region::shareable("mmkit-guard", 100, GUARDED).unwrap();
    assert!(s.flags().contains(Flags::GUARD));
    // An empty file region keeps the flag for the mapping a grow gives it.
    let e = d.file("empty", b"");
    let r = Region::file(&e, 0, 0, GUARDED.union(Flags::CREATE)).unwrap();
    assert!(r.flags().contains(Flags::GUARD));
}

#[test]
fn mm_lost_counter_counts_the_pages_mm_check_reports_without_a_call() {
    let d = TempDir::new("guard-counter");
    let pg = page();
    let p = d.file("f", &pattern(4 * pg, 3));
    let cp = cstr(&p);
    let (mut r, mut plain): (*mut mm_region, *mut mm_region) =
        (std::ptr::null_mut(), std::ptr::null_mut());
    // SAFETY: valid arguments; the counts are static storage, read while
    // their regions are mapped; every region is unmapped.
    unsafe {
        assert_eq!(
            mm_map_file(cp.as_ptr(), 0, 0, MM_READ | MM_SHARED | MM_GUARD, &mut r),
            0
        );
        assert_eq!(
            mm_map_file(cp.as_ptr(), 0, 0, MM_READ | MM_SHARED, &mut plain),
            0
        );
        let count = mm_lost_counter(r);
        let none = mm_lost_counter(std::ptr::null());
        assert!(!count.is_null() && !none.is_null());
        // Unguarded and NULL: one static count that stays 0; the guarded
        // region's own count is another.
        assert_eq!(mm_lost_counter(plain), none);
        assert_ne!(count, none);
        let read = |c: *const std::sync::atomic::AtomicUsize| (*c).load(Ordering::Acquire);
        assert_eq!((read(count), read(none)), (0, 0));
        let at = mm_ptr(r) as *const u8;
        assert_eq!(at.read_volatile(), pattern(1, 3)[0]);
        cut(&p, pg);
        // A truncation nothing touched: nothing counted.
        assert_eq!(read(count), 0);
        assert_eq!(mm_check(r), 0);
        // Each page touched counts once, as mm_check reports.
        assert_eq!(at.add(2 * pg + 9).read_volatile(), 0);
        assert_eq!(read(count), 1);
        assert_eq!(at.add(2 * pg).read_volatile(), 0);
        assert_eq!(at.add(3 * pg + 1).read_volatile(), 0);
        assert_eq!(read(count), 2);
        assert_eq!(mm_check(r), -libc::EFAULT);
        let m = std::ffi::CStr::from_ptr(mm_last_error()).to_string_lossy();
        assert!(m.starts_with("mm_check: 2 pages lost"), "{m}");
        assert_eq!((read(none), mm_lost_counter(r)), (0, count));
        // A shrink past the lost pages drops them: the count goes down.
        assert_eq!(mm_resize(r, pg), 0);
        assert_eq!(mm_lost_counter(r), count);
        assert_eq!(read(count), 0);
        assert_eq!(mm_check(r), 0);
        mm_unmap(r);
        mm_unmap(plain);
        assert_eq!(read(none), 0);
    }
}

#[test]
fn a_guarded_shareable_region_survives_a_peer_shrinking_it() {
    let _shm = crate::support::naming_in_dev_shm();
    let pg = page();
    let r = Region::shareable("mmkit-guard-shrink", 3 * pg, GUARDED).unwrap();
    r.write(0, &[5u8; 100]).unwrap();
    let fd = r.fd().unwrap().as_fd().try_clone_to_owned().unwrap();
    File::from(fd).set_len(pg as u64).unwrap();
    assert_eq!(load(&r, 5), 5);
    assert_eq!(load(&r, 2 * pg), 0);
    assert_eq!(errno(r.check()), libc::EFAULT);
}

#[test]
fn a_private_guarded_mapping_and_an_unaligned_offset_survive_too() {
    let d = TempDir::new("guard-private");
    let pg = page();
    let p = d.file("f", &pattern(4 * pg, 3));
    let r = Region::file(&p, 100, 3 * pg, Flags::READ | Flags::PRIVATE | Flags::GUARD).unwrap();
    cut(&p, 0);
    assert_eq!(load(&r, 0), 0);
    let e = r.check().unwrap_err();
    // The first page starts 100 bytes before the region: offset 0.
    assert!(
        e.to_string().contains("1 page lost, the first at offset 0"),
        "{e}"
    );
    assert_eq!(load(&r, 3 * pg - 1), 0);
    assert!(r.check().unwrap_err().to_string().contains("2 pages lost"));
}

#[test]
fn protected_parts_are_copied_by_the_kernel_and_give_efault_not_sigsegv() {
    let d = TempDir::new("guard-protect");
    let pg = page();
    let (_p, r) = mapped(&d, "f", 3, GUARDED);
    r.protect(pg, pg, Flags::NONE).unwrap();
    let mut b = [0u8; 10];
    assert_eq!(errno(r.read(pg, &mut b)), libc::EFAULT);
    assert_eq!(errno(r.write(pg, &b)), libc::EFAULT);
    r.read(0, &mut b).unwrap();
    r.protect(0, 0, Flags::READ).unwrap();
    // Mapped writable: the page mm_protect made read-only is EFAULT (never
    // the plain copy's SIGSEGV).
    assert_eq!(errno(r.write(0, &b)), libc::EFAULT);
    r.read(2 * pg, &mut b).unwrap();
    // A lost page of a read-only guarded region is a read-only zero page.
    let (q, ro) = mapped(&d, "g", 2, Flags::READ | Flags::SHARED | Flags::GUARD);
    cut(&q, 0);
    assert_eq!(load(&ro, pg), 0);
    let at = ro.as_ptr() as usize + pg;
    // SAFETY: the child's store faults by design (read-only page).
    let status = in_child(|| unsafe {
        (at as *mut u8).write_volatile(1);
        0
    });
    assert_eq!(status, Exit::Signal(libc::SIGSEGV));
}

// ------------------------------------------------------------ resize

#[test]
fn a_resize_carries_the_guard_and_refuses_to_grow_over_lost_pages() {
    let d = TempDir::new("guard-resize");
    let pg = page();
    let p = d.file("f", &pattern(8 * pg, 1));
    let mut r = Region::file(&p, 0, 2 * pg, GUARDED).unwrap();
    // Grown (in place or moved): the new pages are guarded.
    r.resize(8 * pg).unwrap();
    cut(&p, 4 * pg);
    assert_eq!(load(&r, 6 * pg), 0);
    let e = r.resize(9 * pg).unwrap_err();
    assert_eq!(e.errno(), libc::EFAULT, "{e}");
    assert!(e.to_string().contains("cannot grow"), "{e}");
    // A shrink below the lost pages forgets them.
    r.resize(5 * pg).unwrap();
    assert!(r.check().is_ok());
    assert_eq!(load(&r, 4 * pg), 0);
    assert!(r.check().unwrap_err().to_string().contains("1 page lost"));
    r.resize(4 * pg).unwrap();
    r.check().unwrap();
    // Without losses it grows again, guarded.
    cut(&p, 8 * pg);
    r.resize(6 * pg).unwrap();
    cut(&p, 0);
    assert_eq!(load(&r, 5 * pg), 0);
    assert_eq!(errno(r.check()), libc::EFAULT);
}

#[test]
fn an_empty_guarded_region_is_guarded_once_it_grows() {
    let d = TempDir::new("guard-empty");
    let pg = page();
    let p = d.file("f", b"");
    let mut r = Region::file(&p, 0, 0, GUARDED.union(Flags::CREATE)).unwrap();
    r.resize(3 * pg).unwrap();
    cut(&p, 0);
    assert_eq!(load(&r, 2 * pg), 0);
    assert_eq!(errno(r.check()), libc::EFAULT);
}

// ------------------------------------------------------------ other faults

/// Send this thread a signal with the given `si_code` and `si_addr`, as the
/// kernel would for a fault (`rt_tgsigqueueinfo` lets a process send itself any).
#[cfg(target_os = "linux")]
fn send_self(sig: i32, code: i32, addr: usize) -> i64 {
    #[repr(C)]
    struct Info {
        signo: i32,
        errno: i32,
        code: i32,
        pad: i32,
        addr: usize,
        rest: [u64; 13],
    }
    let info = Info {
        signo: sig,
        errno: 0,
        code,
        pad: 0,
        addr,
        rest: [0; 13],
    };
    // SAFETY: a 128-byte siginfo for this thread.
    unsafe {
        libc::syscall(
            libc::SYS_rt_tgsigqueueinfo,
            libc::getpid(),
            libc::gettid(),
            sig,
            &info,
        )
    }
}

/// The `si_code`s of hardware memory errors: one that must be acted on (a
/// load of a poisoned page; it comes back when the load runs again) and one
/// reported once, asynchronously.
#[cfg(target_os = "linux")]
const BUS_MCEERR_AR: i32 = 4;
#[cfg(target_os = "linux")]
const BUS_MCEERR_AO: i32 = 5;

#[test]
#[cfg(target_os = "linux")]
fn with_the_default_action_before_it_every_other_sigbus_kills() {
    alone!(with_the_default_action_before_it_every_other_sigbus_kills);
    // As in a C program: SIGBUS at its default action when the guard comes.
    // SAFETY: resets this process's SIGBUS action to the default.
    unsafe { libc::signal(libc::SIGBUS, libc::SIG_DFL) };
    let d = TempDir::new("guard-default");
    let pg = page();
    let (q, g) = mapped(&d, "g", 2, GUARDED);
    let (p, plain) = mapped(&d, "plain", 2, RW);
    cut(&p, 0);
    cut(&q, 0);
    let (at, lost) = (plain.as_ptr() as usize + pg, g.as_ptr() as usize + pg);
    // SAFETY: each child faults or signals itself by design.
    unsafe {
        let status = in_child(|| ((at) as *const u8).read_volatile() as i32);
        assert_eq!(status, Exit::Signal(libc::SIGBUS));
        let status = in_child(|| libc::raise(libc::SIGBUS) + 10);
        assert_eq!(status, Exit::Signal(libc::SIGBUS));
        let status = in_child(|| libc::pthread_kill(libc::pthread_self(), libc::SIGBUS) + 10);
        assert_eq!(status, Exit::Signal(libc::SIGBUS));
        // An action-optional memory error (asynchronous: it does not come
        // back by itself) in a guarded region is not repaired: it kills.
        let status = in_child(|| send_self(libc::SIGBUS, BUS_MCEERR_AO, lost) as i32 + 10);
        assert_eq!(status, Exit::Signal(libc::SIGBUS));
        // The guarded region's own lost page is.
        let status = in_child(|| ((lost) as *const u8).read_volatile() as i32);
        assert_eq!(status, Exit::Code(0));
    }
}

#[test]
fn faults_that_are_not_lost_pages_still_kill() {
    let d = TempDir::new("guard-kill");
    let pg = page();
    let (_q, g) = mapped(&d, "g", 2, GUARDED); // the handler is installed
    let (p, plain) = mapped(&d, "plain", 2, RW);
    cut(&p, 0);
    let at = plain.as_ptr() as usize;
    // SAFETY: each child faults or signals itself by design.
    unsafe {
        let status = in_child(|| ((at + pg) as *const u8).read_volatile() as i32);
        assert_eq!(status, Exit::Signal(libc::SIGBUS));
        let status = in_child(|| (8 as *const u8).read_volatile() as i32);
        assert_eq!(status, Exit::Signal(libc::SIGSEGV));
        g.protect(0, pg, Flags::NONE).unwrap();
        let at = g.as_ptr() as usize;
        let status = in_child(|| (at as *const u8).read_volatile() as i32);
        assert_eq!(status, Exit::Signal(libc::SIGSEGV));
    }
}

/// What the application's own handlers saw: signal, code, address.
static SEEN: [AtomicUsize; 3] = [
    AtomicUsize::new(0),
    AtomicUsize::new(0),
    AtomicUsize::new(0),
];
static SEEN_COUNT: AtomicUsize = AtomicUsize::new(0);

/// The application's handler, installed before the first guarded map:
/// records what it got and repairs the fault itself (a zero page for a
/// SIGBUS, read access for a SIGSEGV), as an application might.
extern "C" fn app_handler(sig: i32, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel's (or the guard's, passed on) siginfo.
    let (code, addr) = unsafe { ((*info).si_code, (*info).si_addr() as usize) };
    SEEN[0].store(sig as usize, Ordering::SeqCst);
    SEEN[1].store(code as usize, Ordering::SeqCst);
    SEEN[2].store(addr, Ordering::SeqCst);
    SEEN_COUNT.fetch_add(1, Ordering::SeqCst);
    let pg = mmkit::page_size();
    let at = (addr & !(pg - 1)) as *mut libc::c_void;
    // SAFETY: the test's own pages, at the fault address.
    unsafe {
        if sig == libc::SIGBUS && code == libc::BUS_ADRERR {
            libc::mmap(
                at,
                pg,
                libc::PROT_READ,
                libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
        } else if sig == libc::SIGSEGV {
            libc::mprotect(at, pg, libc::PROT_READ);
        }
    }
}

fn install_app_handler(sig: i32) {
    // SAFETY: installs a handler that only uses atomics, mmap and mprotect.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = app_handler as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(sig, &sa, std::ptr::null_mut()), 0);
    }
}

fn seen() -> (i32, i32, usize, usize) {
    (
        SEEN[0].load(Ordering::SeqCst) as i32,
        SEEN[1].load(Ordering::SeqCst) as i32,
        SEEN[2].load(Ordering::SeqCst),
        SEEN_COUNT.load(Ordering::SeqCst),
    )
}

#[test]
#[cfg(target_os = "linux")]
fn an_earlier_handler_gets_every_other_fault_with_its_siginfo() {
    alone!(an_earlier_handler_gets_every_other_fault_with_its_siginfo);
    let d = TempDir::new("guard-chain");
    let pg = page();
    install_app_handler(libc::SIGBUS);
    install_app_handler(libc::SIGSEGV);
    let (q, g) = mapped(&d, "g", 4, GUARDED); // the guard installs now, after
    let (p, plain) = mapped(&d, "plain", 4, RW);
    cut(&p, pg);
    cut(&q, pg);
    // A lost page of the guarded region: repaired, the application sees nothing.
    assert_eq!(load(&g, 2 * pg), 0);
    assert_eq!(seen().3, 0);
    // A SIGBUS elsewhere reaches the application's handler, with its siginfo.
    let at = plain.as_ptr() as usize + 3 * pg + 17;
    assert_eq!(load(&plain, 3 * pg + 17), 0);
    assert_eq!(seen(), (libc::SIGBUS, libc::BUS_ADRERR, at, 1));
    // A SIGBUS sent by the process itself: passed on as it is.
    // SAFETY: signals this thread; the handler returns.
    unsafe { libc::raise(libc::SIGBUS) };
    assert_eq!(seen().0, libc::SIGBUS);
    assert_eq!(seen().1, libc::SI_TKILL);
    assert_eq!(seen().3, 2);
    // A hardware memory error, even in a guarded region, passes through.
    let lost = g.as_ptr() as usize + 2 * pg + 8;
    assert_eq!(send_self(libc::SIGBUS, BUS_MCEERR_AR, lost), 0);
    assert_eq!(seen(), (libc::SIGBUS, BUS_MCEERR_AR, lost, 3));
    assert!(g.check().unwrap_err().to_string().contains("1 page lost"));
    // A SIGSEGV (the guard does not touch it) reaches it too.
    g.protect(3 * pg, pg, Flags::NONE).unwrap();
    let at = g.as_ptr() as usize + 3 * pg + 5;
    let _ = load(&g, 3 * pg + 5);
    assert_eq!(seen(), (libc::SIGSEGV, SEGV_ACCERR, at, 4));
    // And the guard still repairs.
    assert_eq!(load(&g, pg + 1), 0);
    assert_eq!(seen().3, 4);
    assert_eq!(errno(g.check()), libc::EFAULT);
    // A "lost page" fault on a page the kernel can read is not repaired: it
    // is let run again (a fault left over from a range unmapped since, a file
    // grown back since), 10 000 times, then passed on. Sent here, it cannot
    // come back by itself: the first 10 000 vanish, the next one arrives.
    let readable = g.as_ptr() as usize + 9;
    for _ in 0..10_000 {
        assert_eq!(send_self(libc::SIGBUS, libc::BUS_ADRERR, readable), 0);
    }
    assert_eq!(seen().3, 4);
    // Nothing of page 0 was recorded or replaced: a copy of it succeeds.
    let mut head = [0u8; 16];
    g.read(0, &mut head).unwrap();
    assert_eq!(head, pattern(4 * pg, 7)[..16]);
    assert_eq!(send_self(libc::SIGBUS, libc::BUS_ADRERR, readable), 0);
    assert_eq!(seen(), (libc::SIGBUS, libc::BUS_ADRERR, readable, 5));
    // Pages 1 and 2, and 3 (made readable again by the handler, then lost).
    assert!(g.check().unwrap_err().to_string().contains("3 pages lost"));
}

// ------------------------------------------------------------ concurrency

#[test]
fn threads_read_while_another_process_cuts_and_regrows_the_file() {
    let d = TempDir::new("guard-threads");
    let pg = page();
    let pages = 16;
    let p = d.file("f", &vec![0xAB; pages * pg]);
    let r = Region::file(&p, 0, 0, Flags::READ | Flags::SHARED | Flags::GUARD).unwrap();
    // The other process: cut to a random length, grow back, again and again.
    let cp = cstr(&p);
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    // SAFETY: the child only makes system calls and exits with _exit.
    let child = unsafe { libc::fork() };
    assert!(child >= 0);
    if child == 0 {
        // SAFETY: open/ftruncate/pwrite on the test's file; _exit at the end.
        unsafe {
            let fd = libc::open(cp.as_ptr(), libc::O_RDWR);
            let fill = [0xABu8; 4096];
            for i in 0..400u64 {
                libc::ftruncate(fd, ((i * 7919) % (pages as u64)) as i64 * pg as i64);
                libc::ftruncate(fd, (pages * pg) as i64);
                for k in 0..pages {
                    libc::pwrite(
                        fd,
                        fill.as_ptr().cast(),
                        fill.len().min(pg),
                        (k * pg) as i64,
                    );
                }
            }
            libc::_exit(0);
        }
    }
    let readers: Vec<_> = (0..4)
        .map(|t| {
            let base = r.as_ptr() as usize;
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut odd = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    for k in 0..pages {
                        let off = ((k + t) % pages) * pg + t * 64;
                        // SAFETY: inside the region, which outlives the threads.
                        let b = unsafe { ((base + off) as *const u8).read_volatile() };
                        // The file's byte, or zero (lost, or cut and not yet rewritten).
                        odd += usize::from(b != 0xAB && b != 0);
                    }
                }
                odd
            })
        })
        .collect();
    assert_eq!(crate::support::wait(child), Exit::Code(0));
    stop.store(true, Ordering::Relaxed);
    for t in readers {
        assert_eq!(t.join().unwrap(), 0);
    }
    // Whatever was lost is reported; the rest reads as the file.
    let mut all = vec![0u8; pages * pg];
    match r.read(0, &mut all) {
        Ok(()) => assert!(all.iter().all(|&b| b == 0xAB)),
        Err(e) => {
            assert_eq!(e.errno(), libc::EFAULT, "{e}");
            assert_eq!(errno(r.check()), libc::EFAULT);
        }
    }
}

/// The test's one load instruction, `movzx eax, byte ptr [rdi]` (3 bytes).
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn skippable_load(at: usize) -> u8 {
    let v: u32;
    // SAFETY: a one-byte load; a fault in it is skipped by skip_handler.
    unsafe {
        std::arch::asm!("movzx eax, byte ptr [rdi]", in("rdi") at, out("eax") v, options(nostack, readonly));
    }
    v as u8
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
static SKIPPED: AtomicUsize = AtomicUsize::new(0);

/// The application's handler for the unmap race: a fault in the test's own
/// load instruction (a range unmapped under it) is skipped, loading 0xEE.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
extern "C" fn skip_handler(_sig: i32, _info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel's ucontext for this thread; the bytes at RIP are
    // the test's load instruction or the handler does nothing.
    unsafe {
        let uc = &mut *ctx.cast::<libc::ucontext_t>();
        let rip = uc.uc_mcontext.gregs[libc::REG_RIP as usize] as usize;
        let code = std::slice::from_raw_parts(rip as *const u8, 3);
        if code == [0x0f, 0xb6, 0x07] {
            uc.uc_mcontext.gregs[libc::REG_RIP as usize] += 3;
            uc.uc_mcontext.gregs[libc::REG_RAX as usize] = 0xEE;
            SKIPPED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[test]
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn a_region_unmapped_while_a_thread_faults_in_it_leaves_the_next_range_alone() {
    alone!(a_region_unmapped_while_a_thread_faults_in_it_leaves_the_next_range_alone);
    let d = TempDir::new("guard-unmap-race");
    let pg = page();
    let pages = 8;
    // SAFETY: installs a handler that only edits the interrupted context.
    unsafe {
        for sig in [libc::SIGSEGV, libc::SIGBUS] {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = skip_handler as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO;
            libc::sigemptyset(&mut sa.sa_mask);
            assert_eq!(libc::sigaction(sig, &sa, std::ptr::null_mut()), 0);
        }
    }
    let cut_file = d.join("cut");
    let kept = d.file("kept", &vec![0x5A; pages * pg]);
    let at = std::sync::Arc::new(AtomicUsize::new(0));
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let reader = {
        let (at, stop) = (at.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let base = at.load(Ordering::Acquire);
                if base == 0 {
                    continue;
                }
                for k in 0..pages {
                    n += u64::from(skippable_load(base + k * pg));
                }
            }
            n
        })
    };
    let mut reused = 0;
    for round in 0..300 {
        std::fs::write(&cut_file, vec![0x11; pages * pg]).unwrap();
        let r = Region::file(&cut_file, 0, 0, GUARDED).unwrap();
        cut(&cut_file, 0);
        at.store(r.as_ptr() as usize, Ordering::Release);
        for _ in 0..(round % 5) * 50 {
            std::hint::spin_loop();
        }
        let old = r.as_ptr() as usize;
        drop(r); // unmapped while the reader faults in it
                 // Mapped next, likely at the same addresses: guarded or not, its
                 // pages are the file's and must stay so.
        let flags = if round % 2 == 0 { GUARDED } else { RW };
        let k = Region::file(&kept, 0, 0, flags).unwrap();
        reused += usize::from(k.as_ptr() as usize == old);
        at.store(k.as_ptr() as usize, Ordering::Release);
        for _ in 0..200 {
            std::hint::spin_loop();
        }
        at.store(0, Ordering::Release);
        // SAFETY: our own readable region, which nothing truncates.
        let bytes = unsafe { k.as_slice() };
        assert!(
            bytes.iter().all(|&b| b == 0x5A),
            "round {round}: a kept page was replaced"
        );
        k.check().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    eprintln!(
        "unmap race: the next region took the same addresses in {reused} of 300 rounds; {} loads skipped",
        SKIPPED.load(Ordering::Relaxed)
    );
    assert!(
        reused > 0,
        "the address reuse the test is about never happened"
    );
}

// ------------------------------------------------------------ fork

#[test]
fn a_forked_child_keeps_the_guard() {
    let d = TempDir::new("guard-fork");
    let pg = page();
    let (p, r) = mapped(&d, "f", 4, GUARDED);
    let at = r.as_ptr() as usize;
    let rr = &r;
    let status = in_child(|| {
        // The child cuts the file under its inherited mapping and reads on.
        let _ = std::fs::File::options()
            .write(true)
            .open(&p)
            .and_then(|f| f.set_len(pg as u64));
        // SAFETY: inside the inherited region.
        let b = unsafe { ((at + 3 * pg) as *const u8).read_volatile() };
        let lost = rr.check().is_err();
        if b == 0 && lost {
            0
        } else {
            1
        }
    });
    assert_eq!(status, Exit::Code(0));
    // The parent's own copy: the file is cut for it as well, and its record
    // is its own (nothing lost here until it touches the page).
    r.check().unwrap();
    assert_eq!(load(&r, 3 * pg), 0);
    assert_eq!(errno(r.check()), libc::EFAULT);
}

/// `si_code` of a SIGSEGV on a page without the access (the libc crate lacks it).
const SEGV_ACCERR: i32 = 2;
