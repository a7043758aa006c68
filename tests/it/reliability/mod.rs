//! Reliability and security battery (issue 6): descriptors, durability,
//! threads, resource exhaustion, file permissions and symlinks, /dev/shm.
//!
//! Everything goes through the C ABI (`mmkit::ffi`), as a C program calls it.
//! The tests of this module run one at a time (`serial()`). Those that count
//! descriptors or change process-wide state (umask) run alone in a process of
//! their own (`alone!`): the other modules' tests share this one. Two look for
//! names left in /dev/shm: no test that makes them runs meanwhile (`serial()`
//! takes `support::naming_in_dev_shm()` for the others). Whatever needs a limit
//! (`prlimit`), a signal or a possible crash runs in a child process: this
//! test binary re-executed with one of its `#[ignore]`d `helper_*` tests
//! (they do nothing when run directly). By concept: `descriptors`,
//! `durability`, `threads`, `exhaustion`, `security`, and `found_bugs`: the
//! reproductions of library bugs this battery found, kept as regressions.
#![cfg(target_os = "linux")]

use std::ffi::{c_int, CStr};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex, MutexGuard, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use crate::support::{
    self, alone, cstr, helper, pattern, results, run_limited, test_name, TempDir,
};
use mmkit::ffi::*;
use mmkit::*;

mod descriptors;
mod durability;
mod exhaustion;
mod found_bugs;
mod security;
mod threads;

const RO_SHARED: u32 = MM_READ | MM_SHARED;
const RW_SHARED: u32 = MM_READ | MM_WRITE | MM_SHARED;
const RW_PRIVATE: u32 = MM_READ | MM_WRITE | MM_PRIVATE;

static SERIAL: Mutex<()> = Mutex::new(());

/// One test at a time, as when this module was a test binary of its own; and
/// any of them may put names in /dev/shm (shareable regions in the portable
/// build), here or in a helper.
fn serial() -> (MutexGuard<'static, ()>, RwLockReadGuard<'static, ()>) {
    let one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    (one, support::naming_in_dev_shm())
}

/// As [`serial`], for a test that looks for names left in /dev/shm.
fn serial_listing_dev_shm() -> (MutexGuard<'static, ()>, RwLockWriteGuard<'static, ()>) {
    let one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    (one, support::listing_dev_shm())
}

fn disabled(cap: &str) -> bool {
    option_env!("MMKIT_DISABLE").is_some_and(|v| v.split(',').any(|c| c.trim() == cap))
}

fn last_error() -> String {
    // SAFETY: mm_last_error never returns NULL; the string is NUL-terminated.
    unsafe { CStr::from_ptr(mm_last_error()) }
        .to_string_lossy()
        .into_owned()
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// This process's open descriptors and what they are.
fn fd_table() -> Vec<(i32, String)> {
    let mut v: Vec<_> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            Some((n, target.to_string_lossy().into_owned()))
        })
        .collect();
    v.sort();
    v
}

/// Map, check, unmap: one call that must succeed.
fn map_ok(what: &str, rc: c_int, r: *mut mm_region) {
    assert_eq!(rc, 0, "{what}: {}", last_error());
    // SAFETY: the region was just mapped and is unmapped once.
    assert_eq!(unsafe { mm_unmap(r) }, 0);
}

fn say(key: &str, rc: c_int) {
    println!(
        "RESULT {key} {rc} {}",
        if rc < 0 { last_error() } else { String::new() }
    );
}

/// Start helper `name` with piped stdin/stdout and wait until it prints
/// `ready`. The caller kills and reaps it (`kill_9`).
#[allow(clippy::zombie_processes)]
fn start_helper(
    name: &str,
    env: &[(&str, &Path)],
) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut c = helper(name);
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 {
            let status = child.wait().unwrap();
            panic!("{name} exited before it was ready: {status:?}");
        }
        if line.trim_end().ends_with("ready") {
            return (child, out);
        }
    }
}

/// A map call of the "freed" rounds of the exhaustion helpers.
type MapCall<'a> = (&'a str, &'a dyn Fn(&mut *mut mm_region) -> c_int);

fn kill_9(mut child: Child) {
    child.kill().unwrap(); // SIGKILL: no destructors, no munmap, no exit handlers
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
}
