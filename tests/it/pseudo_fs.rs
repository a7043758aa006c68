//! Files that are not files: procfs, sysfs and the like are refused with
//! `ENODEV` (the contract, ../shared/API.md, "Flags"), with or without `MM_CREATE`, before anything
//! is written to them or truncated.

use std::fs::{self, File, OpenOptions};
use std::os::fd::AsFd;
use std::path::Path;

use crate::support::cstr;
use mmkit::{Flags, Region};

const RO: Flags = Flags::READ.union(Flags::SHARED);
const RW: Flags = Flags::READ.union(Flags::WRITE).union(Flags::SHARED);
const COW: Flags = Flags::READ.union(Flags::WRITE).union(Flags::PRIVATE);
const CREATE: Flags = RW.union(Flags::CREATE);

/// The filesystem type of `path` as `stat -f` names it, if it can tell.
fn fs_type(path: &str) -> Option<String> {
    let out = std::process::Command::new("stat")
        .args(["-f", "-c", "%T", path])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[track_caller]
fn assert_enodev(r: mmkit::Result<Region>, what: &str, fs: &str) {
    let e = r.expect_err("a pseudo-filesystem file was mapped");
    let m = e.to_string();
    assert_eq!(e.errno(), libc::ENODEV, "{m}");
    assert!(m.contains(what), "{m} does not name {what}");
    assert!(m.contains(fs), "{m} does not name {fs}");
}

#[test]
fn proc_files_are_enodev() {
    for flags in [RO, COW, RW] {
        assert_enodev(
            Region::file("/proc/self/status", 0, 0, flags),
            "/proc/self/status",
            "proc",
        );
    }
    // A length that the empty-looking file "has not": still ENODEV first.
    assert_enodev(
        Region::file("/proc/self/status", 0, 10, RO),
        "/proc/self/status",
        "proc",
    );
}

#[test]
fn create_on_proc_comm_writes_and_truncates_nothing() {
    let before = fs::read("/proc/self/comm").unwrap();
    for (flags, len) in [(CREATE, 4096), (CREATE, 1), (RW, 0)] {
        assert_enodev(
            Region::file("/proc/self/comm", 0, len, flags),
            "/proc/self/comm",
            "proc",
        );
        assert_eq!(fs::read("/proc/self/comm").unwrap(), before, "{flags}");
        assert_eq!(fs::metadata("/proc/self/comm").unwrap().len(), 0);
    }
}

#[test]
fn a_descriptor_of_a_proc_file_is_enodev() {
    let status = File::open("/proc/self/status").unwrap();
    assert_enodev(Region::from_fd(status.as_fd(), 0, 0, RO), "fd", "proc");
    let before = fs::read("/proc/self/comm").unwrap();
    let comm = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/proc/self/comm")
        .unwrap();
    assert_enodev(Region::from_fd(comm.as_fd(), 0, 4096, CREATE), "fd", "proc");
    assert_eq!(fs::read("/proc/self/comm").unwrap(), before);
}

#[test]
fn sysfs_files_are_enodev_and_never_written() {
    if fs_type("/sys").as_deref() != Some("sysfs") {
        println!("skipped: /sys is not a mounted sysfs");
        return;
    }
    let ro = [
        "/sys/kernel/mm/transparent_hugepage/enabled",
        "/sys/devices/system/cpu/online",
    ]
    .into_iter()
    .find(|p| fs::read(p).is_ok());
    let Some(ro) = ro else {
        println!("skipped: no readable sysfs attribute found");
        return;
    };
    assert_enodev(Region::file(ro, 0, 0, RO), ro, "sysfs");
    // MM_CREATE on an attribute root may write: refused before any store.
    // (An integer attribute: a stray write would be refused by its parser.)
    let rw = "/sys/kernel/mm/transparent_hugepage/khugepaged/pages_to_scan";
    if Path::new(rw).exists() && OpenOptions::new().write(true).open(rw).is_ok() {
        let before = fs::read(rw).unwrap();
        assert_enodev(Region::file(rw, 0, 4096, CREATE), rw, "sysfs");
        assert_eq!(fs::read(rw).unwrap(), before);
    } else {
        println!("note: {rw} is not writable here; MM_CREATE on sysfs not tried");
    }
}

#[test]
fn the_c_abi_says_enodev_for_proc_files() {
    let c = cstr(Path::new("/proc/self/status"));
    let mut r = std::ptr::null_mut();
    // SAFETY: a valid C string and out pointer.
    let rc = unsafe {
        mmkit::ffi::mm_map_file(c.as_ptr(), 0, 0, mmkit::MM_READ | mmkit::MM_SHARED, &mut r)
    };
    // SAFETY: mm_last_error never returns NULL.
    let msg = unsafe { std::ffi::CStr::from_ptr(mmkit::ffi::mm_last_error()) }
        .to_string_lossy()
        .into_owned();
    assert_eq!(rc, -libc::ENODEV, "{msg}");
    assert!(r.is_null());
    assert!(
        msg.starts_with("mm_map_file: ")
            && msg.contains("/proc/self/status")
            && msg.contains("proc"),
        "{msg}"
    );
}

#[test]
fn sparse_files_on_real_filesystems_still_map() {
    // Its directory in /dev/shm is named "mmkit-test-sparse-PID".
    let _shm = crate::support::naming_in_dev_shm();
    // No blocks allocated: the one case in which the filesystem is asked.
    for base in [std::env::temp_dir(), "/dev/shm".into()] {
        if !base.is_dir() {
            continue;
        }
        let d = base.join(format!("mmkit-test-sparse-{}", std::process::id()));
        fs::create_dir(&d).unwrap();
        let _gone = Removed(&d);
        let p = d.join("sparse");
        File::create(&p).unwrap().set_len(8192).unwrap();
        let r = Region::file(&p, 0, 0, RO).unwrap();
        assert_eq!(r.len(), 8192, "{}", base.display());
        let e = d.join("empty");
        File::create(&e).unwrap();
        assert_eq!(Region::file(&e, 0, 0, RO).unwrap().len(), 0);
        Region::file(d.join("new"), 0, 4096, CREATE).unwrap();
    }
}

/// Removes a directory and its contents on drop.
struct Removed<'a>(&'a Path);

impl Drop for Removed<'_> {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(self.0);
    }
}
