//! Property test of the C ABI: random sequences of `mm_*` calls, made exactly
//! as C makes them (the `extern "C"` functions of `mmkit::ffi`), with hostile
//! values — 0, 1, page±1, `SIZE_MAX`, `SIZE_MAX - page`, huge file offsets,
//! random flag words, unknown advice, NULL handles, buffers and out-pointers —
//! checked against a model of what every live region must contain.
//!
//! The model keeps one *object* per thing memory can come from (a file, a
//! memfd/shm object, a shared anonymous object, or the zero page of private
//! anonymous memory) and, per region, where it maps that object, the
//! protection/lock/advice of each page, and the private (copy-on-write) copies
//! of its pages. Bytes the kernel may legitimately show either way (a partial
//! copy that faulted half-way, a page that may or may not have been copied)
//! are "unknown" until a read shows them. Every call must return 0 or the
//! negative errno the model predicts; after a failure `mm_last_error()` names
//! the call; after a success the message is unchanged; contents read with the
//! fault-safe `mm_read` equal the model; the process never takes a signal.
//! At the end of each case every region is read whole and unmapped, no
//! descriptor is left open and no file is left behind that the model does not
//! know about.
//!
//! `cargo test --test it proptest_abi::`: 256 cases of 1..3 maps and 10..50 calls
//! (debug: a few seconds). `make fuzz` (or `PROPTEST_CASES=N`) runs many more.
//! With `--nocapture` it prints per call how many succeeded and failed
//! (`PROPTEST_ABI_ERRNOS=1`: per errno too), which way grows went and what
//! their tail zeroing did (`mm_resize (...)` lines), and what was skipped.
//!
//! A grow is in place when the addresses after the region are free, else a
//! move when the region is one kernel mapping, else `-EBUSY`. Whether the
//! addresses are free the model cannot know: for a region in parts
//! (`mm_protect`, `mm_lock` or `mm_advise` of some pages) it allows both a
//! grow and `-EBUSY`, and after a grow it reads the new pages' state from
//! `/proc/self/smaps` (and, without `mremap`, whether the region moved).
//!
//! Calls that would make a region too large for the model are skipped and
//! counted (see `Guard`).
//!
//! The parts: `generators` (the operations and their arguments), `model`
//! (objects, regions, what a call may return), `world` (one case's model
//! beside the library's handles: checking results, keeping contents), `ops`
//! (each operation made and applied to the model); here the facts about the
//! build and the host, one case, and the test.
#![cfg(target_os = "linux")]

use std::collections::{BTreeMap, HashMap};
use std::ffi::{c_int, CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use mmkit::ffi::*;
use mmkit::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::result::Result;

mod generators;
mod model;
mod ops;
mod world;

use generators::*;
use model::*;
use world::*;

const R: u32 = MM_READ;
const W: u32 = MM_WRITE;
const X: u32 = MM_EXEC;
const PROT: u32 = R | W | X;
const ALL_FLAGS: u32 = R
    | W
    | X
    | MM_SHARED
    | MM_PRIVATE
    | MM_POPULATE
    | MM_HUGEPAGES
    | MM_NORESERVE
    | MM_DEVZERO
    | MM_CREATE
    | MM_EXCL
    | MM_GUARD;
const ALL_SEALS: u32 = MM_SEAL_SHRINK | MM_SEAL_GROW | MM_SEAL_WRITE;
/// No region larger than this is ever created (mlock, populate and the model
/// stay cheap). The hostile lengths are all >= 2^57 and must fail.
const MAX_REGION: usize = 1 << 20;
/// `mm_lock` failures: the errno is passed through; for ENOMEM and EPERM the
/// message names the limit.
const LOCK_ERRS: [i32; 3] = [libc::ENOMEM, libc::EPERM, libc::EAGAIN];

// ------------------------------------------------------------------ the build

fn disabled(cap: &str) -> bool {
    option_env!("MMKIT_DISABLE").is_some_and(|v| v.split(',').any(|c| c.trim() == cap))
}

/// What this build of the library does (build.rs, `MMKIT_DISABLE`).
#[derive(Clone, Copy, Debug)]
struct Build {
    map_anonymous: bool,
    memfd: bool,
    sealable: bool,
    mremap: bool,
}

impl Build {
    fn get() -> Build {
        Build {
            map_anonymous: !disabled("map_anonymous"),
            memfd: !disabled("memfd"),
            sealable: !disabled("memfd") && !disabled("seals"),
            mremap: !disabled("mremap"),
        }
    }
}

/// Facts about the machine the predictions depend on.
#[derive(Clone, Copy, Debug)]
struct Host {
    page: usize,
    /// mlock is never refused (CAP_IPC_LOCK).
    cap_ipc_lock: bool,
    /// Explicit huge pages are reserved: MM_HUGEPAGES would change page sizes,
    /// which the model does not follow, so it is not asked for.
    hugetlb: bool,
    /// The test directory is on ext4: a file end above 2^44 is EFBIG.
    ext4: bool,
}

impl Host {
    fn get(dir: &Path) -> Host {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let cap_eff = status
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(0);
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let hugetlb = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("HugePages_Total:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0)
            > 0;
        let c = CString::new(dir.as_os_str().as_bytes()).unwrap();
        // SAFETY: statfs writes one struct into the zeroed buffer we pass.
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        let ext4 = unsafe { libc::statfs(c.as_ptr(), &mut st) } == 0 && st.f_type == 0xEF53;
        Host {
            page: mm_page_size(),
            cap_ipc_lock: cap_eff & (1 << 14) != 0, // CAP_IPC_LOCK
            hugetlb,
            ext4,
        }
    }
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn run_case(ops: &[Op], build: Build, host: Host, n: usize) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("proptest-abi-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let fds_before = open_fds();
    let mut w = World::new(dir.clone(), build, host, n as u8);
    let mut result = Ok(());
    for (k, op) in ops.iter().enumerate() {
        w.log.push(format!("{k}: {op:?}"));
        if let Err(e) = w.step(op) {
            result = Err(format!("step {k} {op:?}: {e}"));
            break;
        }
    }
    if result.is_ok() {
        result = w.finish();
    }
    if result.is_ok() {
        // Nothing left behind: the directory holds exactly the files the model knows.
        let mut on_disk: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| !p.ends_with("d") && !p.ends_with("fifo"))
            .collect();
        on_disk.sort();
        let mut known: Vec<PathBuf> = w.files.keys().cloned().collect();
        known.sort();
        if on_disk != known {
            result = Err(format!("files on disk {on_disk:?}, model {known:?}"));
        }
    }
    w.teardown();
    if result.is_ok() && open_fds() != fds_before {
        result = Err(format!(
            "descriptor leak: {fds_before} open before the case, {} after",
            open_fds()
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);
    result.map_err(|e| {
        let tail: Vec<_> = w.log.iter().rev().take(80).rev().cloned().collect();
        format!("{e}\ncall log (last 80 lines):\n{}", tail.join("\n"))
    })
}

#[test]
fn random_call_sequences_match_the_model() {
    // Its shareable regions are named for a moment in the portable build.
    let _shm = crate::support::naming_in_dev_shm();
    // Each case counts this process's descriptors.
    crate::support::alone!(random_call_sequences_match_the_model);
    let build = Build::get();
    let host = Host::get(&std::env::temp_dir());
    let mut config = Config {
        failure_persistence: None,
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_MAX_SHRINK_ITERS").is_none() {
        config.max_shrink_iters = 2000;
    }
    // `make test` (no PROPTEST_* set) runs the same cases every time, so a
    // rare mismatch cannot turn CI red at random; `make fuzz` (which sets
    // PROPTEST_CASES) and PROPTEST_RNG_SEED explore new ones.
    if std::env::var_os("PROPTEST_CASES").is_none()
        && std::env::var_os("PROPTEST_RNG_SEED").is_none()
    {
        config.rng_seed = proptest::test_runner::RngSeed::Fixed(0x6d6d_6b69_745f_6162);
    }
    let cases = config.cases;
    let mut runner = TestRunner::new(config);
    let counter = AtomicUsize::new(0);
    let start = std::time::Instant::now();
    let result = runner.run(&case(), |ops| {
        let n = counter.fetch_add(1, Relaxed);
        run_case(&ops, build, host, n).map_err(TestCaseError::fail)
    });
    eprintln!(
        "proptest_abi: {} cases ({cases} asked), {} calls in {:.1?}; {build:?}, {host:?}",
        counter.load(Relaxed),
        CALLS.load(Relaxed),
        start.elapsed()
    );
    let names = ["TooLargeForModel"];
    for (call, (ok, failed)) in TALLY.lock().unwrap().iter() {
        eprintln!("  {call}: {ok} succeeded, {failed} failed");
    }
    eprintln!(
        "  {} bytes read back and compared with the model",
        COMPARED.load(Relaxed)
    );
    for (name, n) in names.iter().zip(&SKIPS) {
        eprintln!("  skipped (model limit) {name}: {}", n.load(Relaxed));
    }
    if let Err(e) = result {
        panic!("{e}");
    }
}
