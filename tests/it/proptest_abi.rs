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
    | MM_EXCL;
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

// ------------------------------------------------------------------ generated values

/// A size or offset, resolved against a reference length (the region's, or
/// the file's) when the call is made, so shrinking keeps its meaning.
#[derive(Clone, Debug)]
enum Num {
    Zero,
    One,
    /// k pages plus d (-1, 0, +1).
    Page(u8, i8),
    /// The reference length plus d.
    Rel(i8),
    /// The reference length times f/256.
    Frac(u8),
    /// As `Frac`, rounded down to a page.
    PageFrac(u8),
    Raw(u16),
    /// One of the hostile huge values (all >= 2^57).
    Huge(u8),
}

impl Num {
    fn get(&self, rf: usize, page: usize) -> usize {
        let frac = |f: u8| (rf as u128 * f as u128 / 256) as usize;
        match *self {
            Num::Zero => 0,
            Num::One => 1,
            Num::Page(k, d) => (k as usize * page).wrapping_add_signed(d as isize),
            Num::Rel(d) => rf.saturating_add_signed(d as isize),
            Num::Frac(f) => frac(f),
            Num::PageFrac(f) => frac(f) / page * page,
            Num::Raw(v) => v as usize,
            Num::Huge(i) => {
                let huge = [
                    usize::MAX,
                    usize::MAX - page,
                    usize::MAX - page + 1,
                    isize::MAX as usize,
                    isize::MAX as usize + 1,
                    1 << 62,
                    1 << 60,
                    1 << 57,
                    usize::MAX - rf,
                    isize::MAX as usize - rf,
                ];
                huge[i as usize % huge.len()]
            }
        }
    }
}

/// Offsets and lengths inside a region (resolved against its length).
fn num() -> impl Strategy<Value = Num> {
    prop_oneof![
        5 => Just(Num::Zero),
        1 => Just(Num::One),
        3 => (0u8..=4, -1i8..=1).prop_map(|(k, d)| Num::Page(k, d)),
        3 => (1u8..=3).prop_map(|k| Num::Page(k, 0)),
        2 => Just(Num::Rel(0)),
        1 => (-2i8..=2).prop_map(Num::Rel),
        5 => any::<u8>().prop_map(Num::Frac),
        3 => any::<u8>().prop_map(Num::PageFrac),
        1 => any::<u16>().prop_map(Num::Raw),
        1 => any::<u8>().prop_map(Num::Huge),
    ]
}

/// Lengths of new regions and new lengths (resolved against 16 pages).
fn size() -> impl Strategy<Value = Num> {
    prop_oneof![
        1 => Just(Num::Zero),
        1 => Just(Num::One),
        4 => (0u8..=4, -1i8..=1).prop_map(|(k, d)| Num::Page(k, d)),
        5 => any::<u8>().prop_map(Num::Frac),
        2 => any::<u16>().prop_map(Num::Raw),
        1 => any::<u8>().prop_map(Num::Huge),
    ]
}

/// Lengths of file mappings (resolved against the bytes from the offset to
/// the end of the file): 0 means "to the end".
fn flen() -> impl Strategy<Value = Num> {
    prop_oneof![
        3 => Just(Num::Zero),
        1 => Just(Num::One),
        2 => (0u8..=4, -1i8..=1).prop_map(|(k, d)| Num::Page(k, d)),
        1 => (-1i8..=1).prop_map(Num::Rel),
        4 => any::<u8>().prop_map(Num::Frac),
        1 => any::<u16>().prop_map(Num::Raw),
        1 => any::<u8>().prop_map(Num::Huge),
    ]
}

/// A file offset (u64), resolved against the file's size.
#[derive(Clone, Debug)]
enum FOff {
    Zero,
    One,
    Page(u8, i8),
    Size(i8),
    Frac(u8),
    Huge(u8),
}

impl FOff {
    fn get(&self, size: u64, page: usize) -> u64 {
        let page = page as u64;
        match *self {
            FOff::Zero => 0,
            FOff::One => 1,
            FOff::Page(k, d) => (k as u64 * page).wrapping_add_signed(d as i64),
            FOff::Size(d) => size.saturating_add_signed(d as i64),
            FOff::Frac(f) => (size as u128 * f as u128 / 256) as u64,
            FOff::Huge(i) => {
                let huge = [
                    u64::MAX,
                    u64::MAX - page,
                    i64::MAX as u64,
                    i64::MAX as u64 + 1,
                    i64::MAX as u64 - 100,
                    1 << 62,
                    1 << 40,
                    1 << 43,
                    (1 << 44) - 1,
                ];
                huge[i as usize % huge.len()]
            }
        }
    }
}

fn foff() -> impl Strategy<Value = FOff> {
    prop_oneof![
        6 => Just(FOff::Zero),
        1 => Just(FOff::One),
        3 => (0u8..=3, -1i8..=1).prop_map(|(k, d)| FOff::Page(k, d)),
        2 => (-1i8..=1).prop_map(FOff::Size),
        3 => any::<u8>().prop_map(FOff::Frac),
        1 => any::<u8>().prop_map(FOff::Huge),
    ]
}

/// A mapping flag word: mostly composed of real flags, sometimes raw bits.
#[derive(Clone, Debug)]
enum FlagGen {
    Raw(u32),
    Make {
        prot: u32,
        share: u32,
        populate: bool,
        huge: bool,
        noreserve: bool,
        devzero: bool,
        create: bool,
        excl: bool,
        /// Keep bits that do not apply to the call (MM_CREATE for anonymous
        /// memory, MM_DEVZERO for files): otherwise they are dropped.
        wrong: bool,
    },
}

fn flag_gen() -> impl Strategy<Value = FlagGen> {
    let prot = prop_oneof![
        3 => Just(R),
        6 => Just(R | W),
        1 => Just(W),
        1 => Just(R | X),
        1 => Just(R | W | X),
        1 => Just(X),
        1 => Just(0),
    ];
    let prot = prop_oneof![8 => prot, 1 => Just(R | W)];
    let share = prop_oneof![
        5 => Just(MM_SHARED),
        5 => Just(MM_PRIVATE),
        1 => Just(0),
        1 => Just(MM_SHARED | MM_PRIVATE),
    ];
    let b = |p: f64| proptest::bool::weighted(p);
    let make = (
        prot,
        share,
        (b(0.15), b(0.1), b(0.1), b(0.2), b(0.35), b(0.1), b(0.08)),
    )
        .prop_map(
            |(prot, share, (populate, huge, noreserve, devzero, create, excl, wrong))| {
                FlagGen::Make {
                    prot,
                    share,
                    populate,
                    huge,
                    noreserve,
                    devzero,
                    create,
                    excl,
                    wrong,
                }
            },
        );
    prop_oneof![
        12 => make,
        1 => any::<u32>().prop_map(FlagGen::Raw),
        1 => prop::sample::select(vec![0, u32::MAX, 0x8000_0000, ALL_FLAGS, R | MM_SHARED | 0x10_0000])
            .prop_map(FlagGen::Raw),
    ]
}

impl FlagGen {
    /// The flag word for a file call (`file`) or an anonymous/shareable one.
    fn bits(&self, file: bool) -> u32 {
        match *self {
            FlagGen::Raw(b) => b,
            FlagGen::Make {
                prot,
                share,
                populate,
                huge,
                noreserve,
                devzero,
                create,
                excl,
                wrong,
            } => {
                let mut f = prot | share;
                let (devzero, create, excl) = match (wrong, file) {
                    (true, _) => (devzero, create, excl),
                    (false, true) => (false, create, excl),
                    (false, false) => (devzero, false, false),
                };
                for (on, bit) in [
                    (populate, MM_POPULATE),
                    (huge, MM_HUGEPAGES),
                    (noreserve, MM_NORESERVE),
                    (devzero, MM_DEVZERO),
                    (create, MM_CREATE),
                    (excl, MM_EXCL),
                ] {
                    if on {
                        f |= bit;
                    }
                }
                f
            }
        }
    }
}

/// Which region a call gets: a live one, or NULL.
#[derive(Clone, Debug)]
enum H {
    Live(u8),
    Null,
}

fn handle() -> impl Strategy<Value = H> {
    prop_oneof![12 => any::<u8>().prop_map(H::Live), 1 => Just(H::Null)]
}

#[derive(Clone, Debug)]
enum PathSel {
    /// One of the files that exist (made at the start, or created since).
    Pool(u8),
    /// `fresh0`..`fresh3` in the test directory: missing until created.
    Fresh(u8),
    Dir,
    DevNull,
    Fifo,
    Empty,
    MissingDir,
    TooLong,
    TrailingSlash(u8),
    Null,
}

fn path_sel() -> impl Strategy<Value = PathSel> {
    prop_oneof![
        10 => any::<u8>().prop_map(PathSel::Pool),
        5 => (0u8..4).prop_map(PathSel::Fresh),
        1 => Just(PathSel::Dir),
        1 => Just(PathSel::DevNull),
        1 => Just(PathSel::Fifo),
        1 => Just(PathSel::Empty),
        1 => Just(PathSel::MissingDir),
        1 => Just(PathSel::TooLong),
        1 => any::<u8>().prop_map(PathSel::TrailingSlash),
        1 => Just(PathSel::Null),
    ]
}

#[derive(Clone, Debug)]
enum FdSel {
    /// A descriptor of a pool file: mode 0 read-only, 1 read-write, 2 write-only.
    Pool(u8, u8),
    /// `mm_fd` of a live shareable region.
    Shareable(u8),
    Dir,
    Pipe,
    DevNull,
    Negative(bool),
    /// A number that cannot be open (above RLIMIT_NOFILE).
    NotOpen,
}

fn fd_sel() -> impl Strategy<Value = FdSel> {
    prop_oneof![
        8 => (any::<u8>(), prop_oneof![2 => Just(0u8), 3 => Just(1u8), 1 => Just(2u8)])
            .prop_map(|(k, m)| FdSel::Pool(k, m)),
        6 => any::<u8>().prop_map(FdSel::Shareable),
        1 => Just(FdSel::Dir),
        1 => Just(FdSel::Pipe),
        1 => Just(FdSel::DevNull),
        1 => any::<bool>().prop_map(FdSel::Negative),
        1 => Just(FdSel::NotOpen),
    ]
}

#[derive(Clone, Debug)]
enum NameSel {
    Plain,
    Empty,
    TooLong,
    NotUtf8,
    Null,
}

fn name_sel() -> impl Strategy<Value = NameSel> {
    prop_oneof![
        8 => Just(NameSel::Plain),
        1 => Just(NameSel::Empty),
        1 => Just(NameSel::TooLong),
        1 => Just(NameSel::NotUtf8),
        1 => Just(NameSel::Null),
    ]
}

#[derive(Clone, Debug)]
enum Op {
    MapAnon {
        len: Num,
        flags: FlagGen,
        null_out: bool,
    },
    MapFile {
        path: PathSel,
        off: FOff,
        len: Num,
        flags: FlagGen,
        null_out: bool,
    },
    MapFd {
        fd: FdSel,
        off: FOff,
        len: Num,
        flags: FlagGen,
        null_out: bool,
    },
    MapShareable {
        name: NameSel,
        len: Num,
        flags: FlagGen,
        null_out: bool,
    },
    Sync {
        h: H,
        off: Num,
        len: Num,
        flags: u32,
    },
    Lock {
        h: H,
        off: Num,
        len: Num,
    },
    Unlock {
        h: H,
        off: Num,
        len: Num,
    },
    Advise {
        h: H,
        off: Num,
        len: Num,
        advice: i32,
    },
    Protect {
        h: H,
        off: Num,
        len: Num,
        prot: u32,
    },
    Read {
        h: H,
        off: Num,
        n: Num,
        null_buf: bool,
    },
    Write {
        h: H,
        off: Num,
        n: Num,
        seed: u8,
        null_buf: bool,
    },
    Resize {
        h: H,
        len: Num,
    },
    Unmap {
        h: H,
    },
    Fd {
        h: H,
    },
    Seal {
        h: H,
        seals: u32,
    },
    /// Not an mmkit call: another program truncates a file under its mappings.
    Truncate {
        file: u8,
        size: Num,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let rare = || proptest::bool::weighted(0.04);
    let sync_flags = prop_oneof![8 => 0u32..8, 1 => any::<u32>()];
    let advice = prop_oneof![
        12 => 0i32..7,
        1 => prop::sample::select(vec![-1, 7, 12345, i32::MIN, i32::MAX]),
    ];
    let prot = prop_oneof![10 => 0u32..8, 1 => any::<u32>()];
    let seals = prop_oneof![8 => 0u32..8, 1 => any::<u32>()];
    prop_oneof![
        6 => (size(), flag_gen(), rare())
            .prop_map(|(len, flags, null_out)| Op::MapAnon { len, flags, null_out }),
        7 => (path_sel(), foff(), flen(), flag_gen(), rare()).prop_map(
            |(path, off, len, flags, null_out)| Op::MapFile { path, off, len, flags, null_out }
        ),
        4 => (fd_sel(), foff(), flen(), flag_gen(), rare()).prop_map(
            |(fd, off, len, flags, null_out)| Op::MapFd { fd, off, len, flags, null_out }
        ),
        4 => (name_sel(), size(), flag_gen(), rare())
            .prop_map(|(name, len, flags, null_out)| Op::MapShareable { name, len, flags, null_out }),
        4 => (handle(), num(), num(), sync_flags)
            .prop_map(|(h, off, len, flags)| Op::Sync { h, off, len, flags }),
        3 => (handle(), num(), num()).prop_map(|(h, off, len)| Op::Lock { h, off, len }),
        2 => (handle(), num(), num()).prop_map(|(h, off, len)| Op::Unlock { h, off, len }),
        5 => (handle(), num(), num(), advice)
            .prop_map(|(h, off, len, advice)| Op::Advise { h, off, len, advice }),
        6 => (handle(), num(), num(), prot)
            .prop_map(|(h, off, len, prot)| Op::Protect { h, off, len, prot }),
        8 => (handle(), num(), num(), rare())
            .prop_map(|(h, off, n, null_buf)| Op::Read { h, off, n, null_buf }),
        8 => (handle(), num(), num(), any::<u8>(), rare())
            .prop_map(|(h, off, n, seed, null_buf)| Op::Write { h, off, n, seed, null_buf }),
        6 => (handle(), prop_oneof![2 => size(), 1 => num()])
            .prop_map(|(h, len)| Op::Resize { h, len }),
        2 => handle().prop_map(|h| Op::Unmap { h }),
        2 => handle().prop_map(|h| Op::Fd { h }),
        3 => (handle(), seals).prop_map(|(h, seals)| Op::Seal { h, seals }),
        2 => (any::<u8>(), num()).prop_map(|(file, size)| Op::Truncate { file, size }),
    ]
}

/// The first calls of every case: maps with valid flags, so that the random
/// calls after them have regions to work on.
fn seed_map() -> impl Strategy<Value = Op> {
    let prot = prop_oneof![1 => Just(R), 3 => Just(R | W)];
    let share = prop_oneof![Just(MM_SHARED), Just(MM_PRIVATE)];
    let flags =
        (prot, share, any::<bool>(), any::<bool>()).prop_map(|(prot, share, a, b)| FlagGen::Make {
            prot,
            share,
            populate: false,
            huge: false,
            noreserve: false,
            devzero: a,
            create: b,
            excl: false,
            wrong: false,
        });
    let len = (1u8..=5, -1i8..=1).prop_map(|(k, d)| Num::Page(k, d));
    prop_oneof![
        (len.clone(), flags.clone()).prop_map(|(len, flags)| Op::MapAnon {
            len,
            flags,
            null_out: false
        }),
        (any::<u8>(), foff(), flags.clone()).prop_map(|(k, off, flags)| Op::MapFile {
            path: PathSel::Pool(k),
            off,
            len: Num::Zero,
            flags,
            null_out: false
        }),
        (len, flags).prop_map(|(len, mut flags)| {
            if let FlagGen::Make { ref mut share, .. } = flags {
                *share = MM_SHARED;
            }
            Op::MapShareable {
                name: NameSel::Plain,
                len,
                flags,
                null_out: false,
            }
        }),
    ]
}

fn case() -> impl Strategy<Value = Vec<Op>> {
    (
        prop::collection::vec(seed_map(), 1..=3),
        prop::collection::vec(op(), 10..50),
    )
        .prop_map(|(mut a, b)| {
            a.extend(b);
            a
        })
}

// ------------------------------------------------------------------ the model

/// A byte of the model; `None`: one of several values the kernel may show.
type Byte = Option<u8>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ObjKind {
    /// The zero page behind private anonymous memory: never changes.
    Zero,
    /// The fixed-size object behind shared anonymous memory (and /dev/zero).
    ShmAnon,
    File,
    /// memfd (or shm_open) behind a shareable region.
    Memfd,
}

#[derive(Debug)]
struct Obj {
    kind: ObjKind,
    size: u64,
    /// Sparse contents: a missing page is zeros.
    pages: BTreeMap<u64, Vec<Byte>>,
    seals: u32,
}

impl Obj {
    fn new(kind: ObjKind, size: u64) -> Obj {
        Obj {
            kind,
            size,
            pages: BTreeMap::new(),
            seals: 0,
        }
    }

    fn byte(&self, o: u64, page: usize) -> Byte {
        if self.kind == ObjKind::Zero {
            return Some(0);
        }
        let p = page as u64;
        self.pages
            .get(&(o / p))
            .map_or(Some(0), |v| v[(o % p) as usize])
    }

    fn slot(&mut self, o: u64, page: usize) -> &mut Byte {
        let p = page as u64;
        &mut self
            .pages
            .entry(o / p)
            .or_insert_with(|| vec![Some(0); page])[(o % p) as usize]
    }

    /// Whether object page `p` can be touched without SIGBUS.
    fn page_ok(&self, p: u64, page: usize) -> bool {
        self.page_ok_sized(p, page, self.size)
    }

    /// As `page_ok`, once the object has `size` bytes.
    fn page_ok_sized(&self, p: u64, page: usize, size: u64) -> bool {
        match self.kind {
            ObjKind::Zero | ObjKind::ShmAnon => true,
            ObjKind::File | ObjKind::Memfd => p < size.div_ceil(page as u64),
        }
    }
}

/// Per-page attributes of a mapping (what splits a VMA).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Attr {
    prot: u32,
    /// `None`: an mlock failed part-way, so it may or may not be locked.
    locked: Option<bool>,
    /// 0 normal, 1 random, 2 sequential.
    adv: u8,
    /// 0 default, 1 MADV_HUGEPAGE, 2 MADV_NOHUGEPAGE.
    huge: u8,
}

/// A private copy of a page. `sure == false`: maybe copied, maybe still the
/// object's page; its bytes become unknown where the object changes.
#[derive(Clone, Debug)]
struct Cow {
    data: Vec<Byte>,
    sure: bool,
}

#[derive(Clone, Debug)]
enum Kind {
    Anon,
    File {
        path: Option<PathBuf>,
        off: u64,
        create: bool,
    },
    Shareable,
}

#[derive(Debug)]
struct Reg {
    h: *mut mm_region,
    kind: Kind,
    obj: usize,
    /// Object offset of mapping byte 0 (page aligned).
    base: u64,
    /// Offset of the region's first byte in the mapping.
    delta: usize,
    len: usize,
    /// False for an empty file region, which has no mapping.
    mapped: bool,
    shared: bool,
    /// mprotect may add PROT_WRITE (VM_MAYWRITE).
    may_write: bool,
    /// What mm_flags() must say, without MM_HUGEPAGES.
    flags: u32,
    attrs: Vec<Attr>,
    /// The attributes differed at some point (or a grow added a mapping of
    /// its own): the kernel need not have merged the VMAs again.
    maybe_split: bool,
    cow: BTreeMap<usize, Cow>,
    /// Region's `parts` (`PART_*`): what makes a grow without mremap -EBUSY.
    parts: u8,
}

/// A successful mm_protect of part of the region (not all of it) set it; one
/// of the whole region clears it.
const PART_PROTECTED: u8 = 1;
/// A successful mm_lock set it; a successful mm_unlock of the whole region
/// clears it.
const PART_LOCKED: u8 = 2;

/// What a call may return.
#[derive(Clone, Debug)]
struct Exp {
    ok: bool,
    errs: Vec<i32>,
}

fn ok() -> Exp {
    Exp {
        ok: true,
        errs: vec![],
    }
}
fn err(e: i32) -> Exp {
    Exp {
        ok: false,
        errs: vec![e],
    }
}
fn errs(e: &[i32]) -> Exp {
    Exp {
        ok: false,
        errs: e.to_vec(),
    }
}
fn ok_or(e: &[i32]) -> Exp {
    Exp {
        ok: true,
        errs: e.to_vec(),
    }
}

/// Calls the model does not make (skipped and counted).
#[derive(Clone, Copy, Debug)]
enum Guard {
    /// The call would create a region larger than `MAX_REGION`, or allocate
    /// a file on a file system whose limits the model does not know.
    TooLargeForModel,
}

static CALLS: AtomicUsize = AtomicUsize::new(0);
/// Per call: (successes, failures), printed at the end (`--nocapture`).
static TALLY: std::sync::Mutex<BTreeMap<String, (usize, usize)>> =
    std::sync::Mutex::new(BTreeMap::new());
/// Bytes compared with the model after successful reads.
static COMPARED: AtomicUsize = AtomicUsize::new(0);

fn tally(call: &str, ok: bool) {
    let mut t = TALLY.lock().unwrap();
    let e = t.entry(call.to_string()).or_default();
    if ok {
        e.0 += 1;
    } else {
        e.1 += 1;
    }
}
static SKIPS: [AtomicUsize; 1] = [AtomicUsize::new(0)];

fn last_error() -> String {
    // SAFETY: mm_last_error never returns NULL; the string is NUL-terminated.
    unsafe { CStr::from_ptr(mm_last_error()) }
        .to_string_lossy()
        .into_owned()
}

fn norm_prot(prot: u32) -> u32 {
    let mut p = prot & PROT;
    if p & W != 0 {
        p |= R;
    }
    p
}

/// The flags a new region reports (Region's `effective`).
fn effective(bits: u32) -> u32 {
    let mut f = bits & !(MM_DEVZERO | MM_HUGEPAGES);
    if f & W != 0 {
        f |= R;
    }
    f
}

/// Region's `check_flags`: whether the word is acceptable for a map call.
fn flags_ok(bits: u32, file: bool) -> bool {
    bits & !ALL_FLAGS == 0
        && bits & (R | W) != 0
        && (bits & MM_SHARED != 0) != (bits & MM_PRIVATE != 0)
        && !(file && bits & MM_DEVZERO != 0)
        && (file || bits & (MM_CREATE | MM_EXCL) == 0)
        && !(bits & MM_EXCL != 0 && bits & MM_CREATE == 0)
}

fn round_up(n: usize, page: usize) -> Option<usize> {
    n.checked_add(page - 1).map(|v| v & !(page - 1))
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    let mut x = 0x9e37_79b9u32 ^ u32::from(seed) << 8 | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FdMode {
    Ro,
    Rw,
    Wo,
}

struct PoolFd {
    fd: c_int,
    mode: FdMode,
    obj: usize,
}

struct World {
    page: usize,
    build: Build,
    host: Host,
    dir: PathBuf,
    objs: Vec<Obj>,
    regs: Vec<Reg>,
    /// Regular files that exist, by path.
    files: HashMap<PathBuf, usize>,
    /// The order PathSel::Pool picks from.
    pool: Vec<PathBuf>,
    pool_fds: Vec<PoolFd>,
    special: Vec<c_int>,
    dir_fd: c_int,
    pipe_fd: c_int,
    null_fd: c_int,
    last_msg: String,
    log: Vec<String>,
}

type Res = Result<(), String>;

impl World {
    fn new(dir: PathBuf, build: Build, host: Host, seed: u8) -> World {
        let page = host.page;
        let mut w = World {
            page,
            build,
            host,
            dir,
            objs: vec![Obj::new(ObjKind::Zero, 0)],
            regs: vec![],
            files: HashMap::new(),
            pool: vec![],
            pool_fds: vec![],
            special: vec![],
            dir_fd: -1,
            pipe_fd: -1,
            null_fd: -1,
            last_msg: last_error(),
            log: vec![],
        };
        let sizes = [0, 1, page - 1, page, page + 1, 3 * page + 5, 20_000];
        for (i, &size) in sizes.iter().enumerate() {
            let p = w.dir.join(format!("pool{i}"));
            let data = pattern(size, seed.wrapping_add(i as u8));
            std::fs::write(&p, &data).unwrap();
            let mut o = Obj::new(ObjKind::File, size as u64);
            for (j, &b) in data.iter().enumerate() {
                *o.slot(j as u64, page) = Some(b);
            }
            w.objs.push(o);
            let id = w.objs.len() - 1;
            w.files.insert(p.clone(), id);
            w.pool.push(p.clone());
            if i % 2 == 1 || i == 6 {
                for (mode, flags) in [
                    (FdMode::Ro, libc::O_RDONLY),
                    (FdMode::Rw, libc::O_RDWR),
                    (FdMode::Wo, libc::O_WRONLY),
                ] {
                    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
                    // SAFETY: open of a path we made; the descriptor is closed in teardown.
                    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC) };
                    assert!(fd >= 0);
                    w.pool_fds.push(PoolFd { fd, mode, obj: id });
                }
            }
        }
        std::fs::create_dir(w.dir.join("d")).unwrap();
        let fifo = CString::new(w.dir.join("fifo").as_os_str().as_bytes()).unwrap();
        // SAFETY: mkfifo of a fresh path in our directory.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let d = CString::new(w.dir.join("d").as_os_str().as_bytes()).unwrap();
        let mut p = [0; 2];
        // SAFETY: plain opens and a pipe; all closed in teardown.
        unsafe {
            w.dir_fd = libc::open(d.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
            w.null_fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
            assert_eq!(libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC), 0);
        }
        w.pipe_fd = p[0];
        w.special = vec![w.dir_fd, w.null_fd, p[0], p[1]];
        w
    }

    // ------------------------------------------------------------ checking

    /// Check a return code against what the model allows; record the message.
    fn check(&mut self, call: &str, rc: c_int, exp: &Exp) -> Result<Option<i32>, String> {
        CALLS.fetch_add(1, Relaxed);
        tally(call, rc >= 0);
        if std::env::var_os("PROPTEST_ABI_ERRNOS").is_some() && rc < 0 {
            tally(
                &format!("{call} {}", std::io::Error::from_raw_os_error(-rc)),
                false,
            );
        }
        let msg = last_error();
        if rc == 0 {
            if !exp.ok {
                return Err(format!("{call} returned 0, expected {exp:?}"));
            }
            if msg != self.last_msg {
                return Err(format!(
                    "{call} succeeded but mm_last_error() changed from {:?} to {msg:?}",
                    self.last_msg
                ));
            }
            return Ok(None);
        }
        if rc > 0 {
            return Err(format!("{call} returned {rc}, neither 0 nor -errno"));
        }
        let e = -rc;
        if !exp.errs.contains(&e) {
            return Err(format!(
                "{call} returned -{e} ({}), expected {exp:?}; message {msg:?}",
                std::io::Error::from_raw_os_error(e)
            ));
        }
        if !msg.starts_with(&format!("{call}: ")) || msg.len() <= call.len() + 2 {
            return Err(format!(
                "{call} failed with -{e} but mm_last_error() is {msg:?}"
            ));
        }
        // EAGAIN (no memory to lock the pages in) is not a limit refusal.
        let limit_errs = [libc::ENOMEM, libc::EPERM];
        if call == "mm_lock" && limit_errs.contains(&e) && !msg.contains("RLIMIT_MEMLOCK") {
            return Err(format!(
                "mm_lock refusal does not name RLIMIT_MEMLOCK: {msg:?}"
            ));
        }
        self.last_msg = msg;
        Ok(Some(e))
    }

    fn skip(&mut self, g: Guard) -> Res {
        SKIPS[g as usize].fetch_add(1, Relaxed);
        self.log.push(format!("  skipped: {g:?}"));
        Ok(())
    }

    fn pick(&self, h: &H) -> Option<usize> {
        match h {
            H::Live(i) if !self.regs.is_empty() => Some(*i as usize % self.regs.len()),
            _ => None,
        }
    }

    fn handle(&self, ri: Option<usize>) -> *mut mm_region {
        ri.map_or(ptr::null_mut(), |i| self.regs[i].h)
    }

    /// mm_len, mm_ptr and mm_flags of every live region agree with the model.
    fn check_accessors(&self) -> Res {
        for (i, r) in self.regs.iter().enumerate() {
            // SAFETY: live handles.
            let (len, p, flags) = unsafe { (mm_len(r.h), mm_ptr(r.h), mm_flags(r.h)) };
            if len != r.len {
                return Err(format!("region {i}: mm_len {len}, model {}", r.len));
            }
            if p.is_null() == r.mapped {
                return Err(format!("region {i}: mm_ptr {p:p}, mapped {}", r.mapped));
            }
            if flags & !MM_HUGEPAGES != r.flags {
                return Err(format!(
                    "region {i}: mm_flags {flags:#x}, model {:#x}",
                    r.flags
                ));
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------ model helpers

    fn view(&self, r: &Reg, m: usize) -> Byte {
        let page = self.page;
        if let Some(c) = r.cow.get(&(m / page)) {
            return c.data[m % page];
        }
        self.objs[r.obj].byte(r.base + m as u64, page)
    }

    fn accessible(&self, r: &Reg, p: usize) -> bool {
        self.objs[r.obj].page_ok(r.base / self.page as u64 + p as u64, self.page)
    }

    /// Mapping pages covering mapping offsets [s, e); None when empty.
    fn page_range(&self, r: &Reg, s: usize, e: usize) -> Option<(usize, usize)> {
        if !r.mapped || s == e {
            return None;
        }
        Some((s / self.page, e.div_ceil(self.page).min(r.attrs.len())))
    }

    /// Region::span: [offset, offset+len) (len 0: to the end) as mapping offsets.
    fn span(r: &Reg, off: usize, len: usize) -> Option<(usize, usize)> {
        if off > r.len {
            return None;
        }
        let l = if len == 0 { r.len - off } else { len };
        match off.checked_add(l) {
            Some(end) if end <= r.len => Some((r.delta + off, r.delta + end)),
            _ => None,
        }
    }

    /// After object bytes [lo, hi) changed: "maybe copied" pages of private
    /// regions can no longer tell which value they show.
    fn propagate(&mut self, obj: usize, lo: u64, hi: u64) {
        let page = self.page as u64;
        for ri in 0..self.regs.len() {
            let r = &self.regs[ri];
            if r.obj != obj || r.shared || r.cow.values().all(|c| c.sure) {
                continue;
            }
            let mut updates = vec![];
            for (&p, c) in &r.cow {
                if c.sure {
                    continue;
                }
                let start = r.base + p as u64 * page;
                let (a, b) = (start.max(lo), (start + page).min(hi));
                for o in a..b.max(a) {
                    let i = (o - start) as usize;
                    if c.data[i].is_some() && c.data[i] != self.objs[obj].byte(o, self.page) {
                        updates.push((p, i));
                    }
                }
            }
            let r = &mut self.regs[ri];
            for (p, i) in updates {
                r.cow.get_mut(&p).unwrap().data[i] = None;
            }
        }
    }

    /// A file or memfd changes size (ftruncate, fallocate).
    fn resize_obj(&mut self, id: usize, new: u64) {
        let page = self.page as u64;
        let old = self.objs[id].size;
        if new < old {
            let keep = new.div_ceil(page);
            let o = &mut self.objs[id];
            let _ = o.pages.split_off(&keep);
            if new % page != 0 {
                if let Some(v) = o.pages.get_mut(&(new / page)) {
                    for b in &mut v[(new % page) as usize..] {
                        *b = Some(0);
                    }
                }
            }
            o.size = new;
            // Truncation unmaps private copies beyond the new last page too.
            for r in self.regs.iter_mut().filter(|r| r.obj == id && !r.shared) {
                let first = r.base / page;
                r.cow.retain(|&p, _| first + (p as u64) < keep);
            }
            self.propagate(id, new, keep * page);
        } else if new > old {
            self.fuzz_tail(id);
            self.objs[id].size = new;
        }
    }

    /// Bytes past the end of a file in its last page, written through a
    /// mapping, may survive the file growing again or be zeroed: unknown.
    fn fuzz_tail(&mut self, id: usize) {
        let page = self.page as u64;
        let o = &mut self.objs[id];
        let (old, end) = (o.size, o.size.div_ceil(page) * page);
        if let Some(v) = o.pages.get_mut(&(old / page)) {
            for b in &mut v[(old % page) as usize..(end - old / page * page) as usize] {
                if *b != Some(0) {
                    *b = None;
                }
            }
        }
        self.propagate(id, old, end);
    }

    /// The size of the file or memfd behind region ri, from the kernel.
    fn real_size(&mut self, ri: usize) -> Result<u64, String> {
        match &self.regs[ri].kind {
            Kind::File { path: Some(p), .. } => std::fs::metadata(p)
                .map(|m| m.len())
                .map_err(|e| format!("stat {}: {e}", p.display())),
            Kind::Shareable => {
                // SAFETY: a live handle; fstat writes one struct.
                let fd = unsafe { mm_fd(self.regs[ri].h) };
                self.check("mm_fd", fd.min(0), &ok())?;
                let mut st: libc::stat = unsafe { std::mem::zeroed() };
                if unsafe { libc::fstat(fd, &mut st) } != 0 {
                    return Err(format!("fstat({fd}): {}", std::io::Error::last_os_error()));
                }
                Ok(st.st_size as u64)
            }
            _ => Ok(self.objs[self.regs[ri].obj].size),
        }
    }

    /// Bytes past the end of the object in its last page: unknown.
    fn blur_tail(&mut self, id: usize) {
        let page = self.page as u64;
        let o = &mut self.objs[id];
        let (old, end) = (o.size, o.size.div_ceil(page) * page);
        if old % page != 0 {
            let v = o
                .pages
                .entry(old / page)
                .or_insert_with(|| vec![Some(0); page as usize]);
            for b in &mut v[(old % page) as usize..(end - old / page * page) as usize] {
                *b = None;
            }
        }
        self.propagate(id, old, end);
    }

    /// Store `v` at mapping offset m through region ri (a write that happened,
    /// or may have happened when `sure` is false).
    fn put(&mut self, ri: usize, m: usize, v: Byte, sure: bool) {
        let page = self.page;
        let r = &self.regs[ri];
        if r.shared {
            let (obj, o) = (r.obj, r.base + m as u64);
            let ob = &mut self.objs[obj];
            // Past the end of a file, in its last page: writeback zeroes
            // these bytes whenever it writes the page.
            let volatile = ob.kind == ObjKind::File && o >= ob.size;
            *ob.slot(o, page) = if volatile { None } else { v };
            return;
        }
        let p = m / page;
        if !r.cow.contains_key(&p) {
            let data = (0..page).map(|i| self.view(r, p * page + i)).collect();
            self.regs[ri].cow.insert(p, Cow { data, sure });
        }
        let c = self.regs[ri].cow.get_mut(&p).unwrap();
        c.sure |= sure;
        c.data[m % page] = v;
    }

    /// Something may have copied every page of a private region (mlock and
    /// populate write-fault private writable pages; mprotect of locked ones).
    fn maybe_copied(&mut self, ri: usize) {
        let page = self.page;
        let r = &self.regs[ri];
        if r.shared || self.objs[r.obj].kind == ObjKind::Zero {
            return;
        }
        let mut add = vec![];
        for p in 0..r.attrs.len() {
            if !r.cow.contains_key(&p) && self.accessible(r, p) {
                let data = (0..page).map(|i| self.view(r, p * page + i)).collect();
                add.push((p, data));
            }
        }
        for (p, data) in add {
            self.regs[ri].cow.insert(p, Cow { data, sure: false });
        }
    }

    /// Private copies of pages [a, b) may have been dropped (a failed
    /// MADV_DONTNEED): each byte is the copy's or the object's.
    fn maybe_dropped(&mut self, ri: usize, a: usize, b: usize) {
        let page = self.page;
        if self.regs[ri].shared {
            return;
        }
        for p in a..b {
            let Some(c) = self.regs[ri].cow.get(&p) else {
                continue;
            };
            let r = &self.regs[ri];
            let data: Vec<Byte> = (0..page)
                .map(|k| {
                    let under = self.objs[r.obj].byte(r.base + (p * page + k) as u64, page);
                    if c.data[k] == under {
                        under
                    } else {
                        None
                    }
                })
                .collect();
            self.regs[ri].cow.insert(p, Cow { data, sure: false });
        }
    }

    /// Whether reading page p faults: Some(true) yes, Some(false) no, None maybe.
    fn read_faults(&self, r: &Reg, p: usize) -> Option<bool> {
        self.read_faults_at(r, p, self.objs[r.obj].size)
    }

    /// As `read_faults`, once the object has `size` bytes.
    fn read_faults_at(&self, r: &Reg, p: usize, size: u64) -> Option<bool> {
        let o = &self.objs[r.obj];
        if !o.page_ok_sized(r.base / self.page as u64 + p as u64, self.page, size) {
            return Some(true);
        }
        let prot = r.attrs[p].prot;
        if prot & R != 0 {
            Some(false)
        } else if prot & X != 0 {
            None // exec-only: readable by the CPU on x86, not by process_vm_readv
        } else {
            Some(true)
        }
    }

    fn write_faults(&self, r: &Reg, p: usize) -> bool {
        !self.accessible(r, p) || r.attrs[p].prot & W == 0
    }

    /// After attributes changed on part of region ri.
    fn note_split(&mut self, ri: usize) {
        let r = &mut self.regs[ri];
        if r.attrs.windows(2).any(|w| w[0] != w[1]) {
            r.maybe_split = true;
        }
    }

    /// Whether the mapping is one VMA: Some(false) when attributes differ.
    fn uniform(r: &Reg) -> Option<bool> {
        let a = r.attrs[0];
        if r.attrs
            .iter()
            .any(|x| (x.prot, x.adv, x.huge) != (a.prot, a.adv, a.huge))
        {
            return Some(false);
        }
        let locks: Vec<_> = r.attrs.iter().map(|x| x.locked).collect();
        if locks.contains(&Some(true)) && locks.contains(&Some(false)) {
            Some(false)
        } else if locks.contains(&None) || r.maybe_split {
            None
        } else {
            Some(true)
        }
    }

    /// Add a region the library just returned; `at` is (base, delta, len).
    fn new_region(
        &mut self,
        h: *mut mm_region,
        kind: Kind,
        obj: usize,
        (base, delta, len): (u64, usize, usize),
        bits: u32,
        may_write: bool,
    ) -> usize {
        let page = self.page;
        let pages = if len == 0 {
            0
        } else {
            round_up(delta + len, page).unwrap() / page
        };
        // SAFETY: a live handle just returned.
        let huge = u8::from(unsafe { mm_flags(h) } & MM_HUGEPAGES != 0);
        let mut flags = effective(bits);
        if matches!(kind, Kind::Anon) && (bits & MM_DEVZERO != 0 || !self.build.map_anonymous) {
            flags |= MM_DEVZERO;
        }
        let attr = Attr {
            prot: norm_prot(bits),
            locked: Some(false),
            adv: 0,
            huge,
        };
        self.regs.push(Reg {
            h,
            kind,
            obj,
            base,
            delta,
            len,
            mapped: len > 0,
            shared: bits & MM_SHARED != 0,
            may_write,
            flags,
            attrs: vec![attr; pages],
            maybe_split: false,
            cow: BTreeMap::new(),
            parts: 0,
        });
        let ri = self.regs.len() - 1;
        if bits & MM_POPULATE != 0 && bits & W != 0 {
            self.maybe_copied(ri);
        }
        ri
    }

    // ------------------------------------------------------------ the calls

    fn step(&mut self, op: &Op) -> Res {
        match op {
            Op::MapAnon {
                len,
                flags,
                null_out,
            } => self.map_anon(len, flags, *null_out),
            Op::MapFile {
                path,
                off,
                len,
                flags,
                null_out,
            } => self.map_file(path, off, len, flags, *null_out),
            Op::MapFd {
                fd,
                off,
                len,
                flags,
                null_out,
            } => self.map_fd(fd, off, len, flags, *null_out),
            Op::MapShareable {
                name,
                len,
                flags,
                null_out,
            } => self.map_shareable(name, len, flags, *null_out),
            Op::Sync { h, off, len, flags } => self.sync(h, off, len, *flags),
            Op::Lock { h, off, len } => self.lock(h, off, len, true),
            Op::Unlock { h, off, len } => self.lock(h, off, len, false),
            Op::Advise {
                h,
                off,
                len,
                advice,
            } => self.advise(h, off, len, *advice),
            Op::Protect { h, off, len, prot } => self.protect(h, off, len, *prot),
            Op::Read {
                h,
                off,
                n,
                null_buf,
            } => self.read(h, off, n, *null_buf),
            Op::Write {
                h,
                off,
                n,
                seed,
                null_buf,
            } => self.write(h, off, n, *seed, *null_buf),
            Op::Resize { h, len } => self.resize(h, len),
            Op::Unmap { h } => self.unmap(h),
            Op::Fd { h } => self.fd(h),
            Op::Seal { h, seals } => self.seal(h, *seals),
            Op::Truncate { file, size } => self.truncate(*file, size),
        }?;
        self.check_accessors()
    }

    fn map_flags(&self, fg: &FlagGen, file: bool) -> u32 {
        let mut bits = fg.bits(file);
        if self.host.hugetlb {
            bits &= !MM_HUGEPAGES;
        }
        bits
    }

    /// Call a map function with a sentinel (or NULL) out-pointer; check it is
    /// written only on success.
    fn call_map(
        &mut self,
        call: &str,
        null_out: bool,
        exp: &Exp,
        f: impl FnOnce(*mut *mut mm_region) -> c_int,
    ) -> Result<Option<*mut mm_region>, String> {
        let sentinel = 0x5a5a_usize as *mut mm_region;
        let mut out = sentinel;
        let rc = f(if null_out { ptr::null_mut() } else { &mut out });
        self.log.push(format!("  -> {rc}"));
        let e = self.check(call, rc, exp)?;
        if e.is_some() {
            if out != sentinel {
                return Err(format!("{call} failed but wrote *out"));
            }
            return Ok(None);
        }
        if out == sentinel || out.is_null() {
            return Err(format!("{call} returned 0 without a region"));
        }
        Ok(Some(out))
    }

    fn map_anon(&mut self, len: &Num, fg: &FlagGen, null_out: bool) -> Res {
        let page = self.page;
        let bits = self.map_flags(fg, false);
        let len = len.get(16 * page, page);
        let exp = if null_out || !flags_ok(bits, false) || len == 0 {
            err(libc::EINVAL)
        } else if len > MAX_REGION {
            err(libc::ENOMEM)
        } else {
            ok()
        };
        // SAFETY: out is NULL or a valid pointer (call_map).
        let Some(h) = self.call_map("mm_map_anon", null_out, &exp, |out| unsafe {
            mm_map_anon(len, bits, out)
        })?
        else {
            return Ok(());
        };
        let map_len = round_up(len, page).unwrap();
        let obj = if bits & MM_SHARED != 0 {
            self.objs.push(Obj::new(ObjKind::ShmAnon, map_len as u64));
            self.objs.len() - 1
        } else {
            0
        };
        self.new_region(h, Kind::Anon, obj, (0, 0, len), bits, true);
        Ok(())
    }

    fn map_shareable(&mut self, name: &NameSel, len: &Num, fg: &FlagGen, null_out: bool) -> Res {
        let page = self.page;
        let bits = self.map_flags(fg, false);
        let len = len.get(16 * page, page);
        let cname: Option<CString> = match name {
            NameSel::Plain => Some(c"mmkit-prop".into()),
            NameSel::Empty => Some(c"".into()),
            NameSel::TooLong => Some(CString::new("n".repeat(300)).unwrap()),
            NameSel::NotUtf8 => Some(CString::new(vec![0xff, 0xfe, b'x']).unwrap()),
            NameSel::Null => None,
        };
        let lossy_len = cname.as_ref().map_or(0, |c| c.to_string_lossy().len());
        let exp = if cname.is_none()
            || null_out
            || !flags_ok(bits, false)
            || bits & (MM_PRIVATE | MM_DEVZERO) != 0
            || len == 0
        {
            err(libc::EINVAL)
        } else if !round_up(len, page).is_some_and(|l| l <= isize::MAX as usize) {
            err(libc::ENOMEM)
        } else if self.build.memfd && lossy_len > 249 {
            err(libc::EINVAL) // memfd_create's name limit
        } else if len > MAX_REGION {
            errs(&[libc::ENOMEM, libc::EFBIG, libc::EINVAL])
        } else if bits & X != 0 {
            ok_or(&[libc::EPERM, libc::EACCES]) // noexec /dev/shm or memfd_noexec
        } else {
            ok()
        };
        let name_ptr = cname.as_ref().map_or(ptr::null(), |c| c.as_ptr());
        // SAFETY: name is NULL or NUL-terminated; out is NULL or valid.
        let Some(h) = self.call_map("mm_map_shareable", null_out, &exp, |out| unsafe {
            mm_map_shareable(name_ptr, len, bits, out)
        })?
        else {
            return Ok(());
        };
        self.objs.push(Obj::new(ObjKind::Memfd, len as u64));
        let obj = self.objs.len() - 1;
        self.new_region(h, Kind::Shareable, obj, (0, 0, len), bits, true);
        Ok(())
    }

    /// The outcome of MM_CREATE allocating up to `end` (posix_fallocate).
    fn alloc_outcome(&self, end: u64, alloc_len: usize) -> Option<Exp> {
        let big = [libc::EFBIG, libc::ENOSPC, libc::EINVAL, libc::EOVERFLOW];
        if self.host.ext4 {
            // ext4 with 4 KiB blocks: files end below 2^44 - 4096.
            Some(if end > 1 << 44 {
                errs(&big)
            } else if end > 1 << 43 {
                ok_or(&big)
            } else {
                ok()
            })
        } else if alloc_len > MAX_REGION || end > 1 << 40 {
            None // not safe to try on an unknown file system
        } else {
            Some(ok())
        }
    }

    fn map_file(
        &mut self,
        sel: &PathSel,
        off: &FOff,
        len: &Num,
        fg: &FlagGen,
        null_out: bool,
    ) -> Res {
        let bits = self.map_flags(fg, true);
        let excl = bits & MM_EXCL != 0;
        let create = bits & MM_CREATE != 0;
        let read_write = create || (bits & W != 0 && bits & MM_SHARED != 0);
        // What the path is: a regular file (that may not exist yet) or an odd one.
        let (path, odd): (Option<PathBuf>, Option<Vec<i32>>) = match sel {
            PathSel::Pool(k) => (Some(self.pool[*k as usize % self.pool.len()].clone()), None),
            PathSel::Fresh(k) => (Some(self.dir.join(format!("fresh{k}"))), None),
            PathSel::Dir => (
                Some(self.dir.join("d")),
                Some(vec![if excl { libc::EEXIST } else { libc::EISDIR }]),
            ),
            PathSel::DevNull | PathSel::Fifo => (
                Some(if matches!(sel, PathSel::Fifo) {
                    self.dir.join("fifo")
                } else {
                    PathBuf::from("/dev/null")
                }),
                Some(vec![if excl { libc::EEXIST } else { libc::ENODEV }]),
            ),
            PathSel::Empty => (Some(PathBuf::new()), Some(vec![libc::ENOENT])),
            PathSel::MissingDir => (
                Some(self.dir.join("missing").join("x")),
                Some(vec![libc::ENOENT]),
            ),
            PathSel::TooLong => (
                Some(self.dir.join("x".repeat(300))),
                Some(vec![libc::ENAMETOOLONG]),
            ),
            PathSel::TrailingSlash(k) => {
                let mut p = self.pool[*k as usize % self.pool.len()]
                    .as_os_str()
                    .to_owned();
                p.push("/");
                (
                    Some(PathBuf::from(p)),
                    Some(vec![libc::ENOTDIR, libc::EISDIR, libc::EEXIST]),
                )
            }
            PathSel::Null => (None, None),
        };
        let cpath = path
            .as_ref()
            .map(|p| CString::new(p.as_os_str().as_bytes()).unwrap());
        let existing = path.as_ref().and_then(|p| self.files.get(p).copied());
        let size = existing.map_or(0, |id| self.objs[id].size);
        let file_off = off.get(size, self.page);
        let rf = size.saturating_sub(file_off).min(MAX_REGION as u64) as usize;
        let len_arg = len.get(rf, self.page);

        // (PathBuf equality ignores a trailing slash: "pool0/" finds pool0.)
        let regular = odd.is_none();
        let mut created = false;
        let plan = if path.is_none() || null_out || !flags_ok(bits, true) {
            Plan::Fail(err(libc::EINVAL))
        } else if let Some(e) = odd {
            Plan::Fail(errs(&e))
        } else if excl && existing.is_some() {
            Plan::Fail(err(libc::EEXIST))
        } else if existing.is_none() && !create {
            Plan::Fail(err(libc::ENOENT))
        } else {
            created = existing.is_none();
            self.plan_file_map(size, file_off, len_arg, bits, None)
        };
        let (exp, rlen, end) = match plan {
            Plan::Skip(g) => return self.skip(g),
            Plan::Fail(e) => (e, 0, 0),
            Plan::Map { exp, rlen, end } => (exp, rlen, end),
        };
        let path_ptr = cpath.as_ref().map_or(ptr::null(), |c| c.as_ptr());
        // SAFETY: path is NULL or NUL-terminated; out is NULL or valid.
        let h = self.call_map("mm_map_file", null_out, &exp, |out| unsafe {
            mm_map_file(path_ptr, file_off, len_arg, bits, out)
        })?;
        let Some(h) = h else {
            if let (Some(id), Some(p), true) = (existing, &path, regular) {
                // MM_CREATE may have grown the file and cut it back.
                let real = std::fs::metadata(p)
                    .map_err(|e| format!("stat: {e}"))?
                    .len();
                self.resize_obj(id, real);
                self.blur_tail(id);
            }
            return Ok(());
        };
        let path = path.unwrap();
        let id = match existing {
            Some(id) => {
                if create && end > self.objs[id].size {
                    self.resize_obj(id, end);
                }
                id
            }
            None => {
                debug_assert!(created);
                self.objs.push(Obj::new(ObjKind::File, end));
                let id = self.objs.len() - 1;
                self.files.insert(path.clone(), id);
                self.pool.push(path.clone());
                id
            }
        };
        let delta = (file_off % self.page as u64) as usize;
        let kind = Kind::File {
            path: Some(path),
            off: file_off,
            create,
        };
        let may_write = bits & MM_SHARED == 0 || read_write;
        let (base, delta) = if rlen == 0 {
            (0, 0)
        } else {
            (file_off - delta as u64, delta)
        };
        self.new_region(h, kind, id, (base, delta, rlen), bits, may_write);
        Ok(())
    }

    /// Region::map_open_file's checks for a regular file (or memfd) of `size`
    /// bytes; `memfd` is the object when mapping a shareable region's descriptor.
    fn plan_file_map(
        &self,
        size: u64,
        file_off: u64,
        len_arg: usize,
        bits: u32,
        memfd: Option<usize>,
    ) -> Plan {
        let page = self.page;
        let create = bits & MM_CREATE != 0;
        if file_off > size && !(create && len_arg > 0) {
            return Plan::Fail(err(libc::EINVAL));
        }
        let rlen = if len_arg == 0 {
            match usize::try_from(size - file_off) {
                Ok(l) => l,
                Err(_) => return Plan::Fail(err(libc::ENOMEM)),
            }
        } else {
            len_arg
        };
        let Some(end) = file_off
            .checked_add(rlen as u64)
            .filter(|&e| e <= i64::MAX as u64)
        else {
            return Plan::Fail(err(libc::EINVAL));
        };
        if end > size && !create {
            return Plan::Fail(err(libc::EINVAL));
        }
        let delta = (file_off % page as u64) as usize;
        if !delta
            .checked_add(rlen)
            .and_then(|l| round_up(l, page))
            .is_some_and(|l| l <= isize::MAX as usize)
        {
            return Plan::Fail(err(libc::ENOMEM));
        }
        let seals = memfd.map_or(0, |id| self.objs[id].seals);
        let mut exp = ok();
        if create && rlen > 0 {
            if memfd.is_some() {
                if end > size && seals & MM_SEAL_GROW != 0 {
                    return Plan::Fail(err(libc::EPERM));
                }
                if end > 1 << 40 {
                    exp = ok_or(&[
                        libc::EFBIG,
                        libc::ENOSPC,
                        libc::EINVAL,
                        libc::ENOMEM,
                        libc::EOVERFLOW,
                    ]);
                }
            } else {
                match self.alloc_outcome(end, rlen) {
                    None => return Plan::Skip(Guard::TooLargeForModel),
                    Some(e) if !e.ok => return Plan::Fail(e),
                    Some(e) => exp = e,
                }
            }
        }
        if rlen == 0 {
            return Plan::Map { exp, rlen, end };
        }
        if rlen > MAX_REGION {
            return Plan::Skip(Guard::TooLargeForModel);
        }
        if seals & MM_SEAL_WRITE != 0 && bits & MM_SHARED != 0 && bits & W != 0 {
            return Plan::Fail(err(libc::EPERM));
        }
        if bits & X != 0 {
            exp.ok = true;
            exp.errs.extend([libc::EPERM, libc::EACCES]);
        }
        Plan::Map { exp, rlen, end }
    }

    fn map_fd(&mut self, sel: &FdSel, off: &FOff, len: &Num, fg: &FlagGen, null_out: bool) -> Res {
        let bits = self.map_flags(fg, true);
        // (fd, its access mode, its object or the error fstat leads to)
        let (fd, mode, target): (c_int, FdMode, Result<usize, i32>) = match sel {
            FdSel::Pool(k, m) => {
                let want = [FdMode::Ro, FdMode::Rw, FdMode::Wo][*m as usize % 3];
                let all: Vec<_> = self.pool_fds.iter().filter(|f| f.mode == want).collect();
                let f = all[*k as usize % all.len()];
                (f.fd, f.mode, Ok(f.obj))
            }
            FdSel::Shareable(k) => {
                let shareable: Vec<usize> = (0..self.regs.len())
                    .filter(|&i| matches!(self.regs[i].kind, Kind::Shareable))
                    .collect();
                if shareable.is_empty() {
                    (-1, FdMode::Rw, Err(libc::EBADF))
                } else {
                    let ri = shareable[*k as usize % shareable.len()];
                    // SAFETY: a live handle.
                    let fd = unsafe { mm_fd(self.regs[ri].h) };
                    self.check("mm_fd", fd.min(0), &ok())?;
                    (fd, FdMode::Rw, Ok(self.regs[ri].obj))
                }
            }
            FdSel::Dir => (self.dir_fd, FdMode::Ro, Err(libc::EISDIR)),
            FdSel::Pipe => (self.pipe_fd, FdMode::Ro, Err(libc::ENODEV)),
            FdSel::DevNull => (self.null_fd, FdMode::Rw, Err(libc::ENODEV)),
            FdSel::Negative(min) => (if *min { c_int::MIN } else { -1 }, FdMode::Ro, Err(0)),
            FdSel::NotOpen => (1 << 20, FdMode::Ro, Err(libc::EBADF)),
        };
        let size = target.map_or(0, |id| self.objs[id].size);
        let file_off = off.get(size, self.page);
        let rf = size.saturating_sub(file_off).min(MAX_REGION as u64) as usize;
        let len_arg = len.get(rf, self.page);
        let create = bits & MM_CREATE != 0;
        let shared_w = bits & W != 0 && bits & MM_SHARED != 0;
        let plan = if null_out {
            Plan::Fail(err(libc::EINVAL))
        } else if fd < 0 {
            Plan::Fail(err(libc::EBADF))
        } else if !flags_ok(bits, true) || bits & MM_EXCL != 0 {
            Plan::Fail(err(libc::EINVAL))
        } else if target == Err(libc::EBADF) {
            Plan::Fail(err(libc::EBADF))
        } else if mode == FdMode::Wo || (mode == FdMode::Ro && (shared_w || create)) {
            Plan::Fail(err(libc::EACCES))
        } else {
            match target {
                Err(e) => Plan::Fail(err(e)),
                Ok(id) => {
                    let memfd = (self.objs[id].kind == ObjKind::Memfd).then_some(id);
                    self.plan_file_map(size, file_off, len_arg, bits, memfd)
                }
            }
        };
        let exp = match plan {
            Plan::Skip(g) => return self.skip(g),
            Plan::Fail(ref e) => e.clone(),
            Plan::Map { ref exp, .. } => exp.clone(),
        };
        // SAFETY: out is NULL or valid; fd is any number (checked by the library).
        let h = self.call_map("mm_map_fd", null_out, &exp, |out| unsafe {
            mm_map_fd(fd, file_off, len_arg, bits, out)
        })?;
        let (Some(h), Plan::Map { rlen, end, .. }, Ok(id)) = (h, plan, target) else {
            if let Ok(id) = target {
                // MM_CREATE may have grown the object and cut it back — or
                // not, when a seal forbids shrinking: ask the kernel.
                // SAFETY: fstat of a descriptor we hold; one struct written.
                let mut st: libc::stat = unsafe { std::mem::zeroed() };
                if unsafe { libc::fstat(fd, &mut st) } != 0 {
                    return Err(format!("fstat({fd}): {}", std::io::Error::last_os_error()));
                }
                self.resize_obj(id, st.st_size as u64);
                self.blur_tail(id);
            }
            return Ok(());
        };
        if create && end > self.objs[id].size {
            self.resize_obj(id, end);
        }
        let sealed_w = self.objs[id].seals & MM_SEAL_WRITE != 0;
        let may_write = bits & MM_SHARED == 0 || (mode == FdMode::Rw && !sealed_w);
        let delta = (file_off % self.page as u64) as usize;
        let kind = Kind::File {
            path: None,
            off: file_off,
            create,
        };
        let (base, delta) = if rlen == 0 {
            (0, 0)
        } else {
            (file_off - delta as u64, delta)
        };
        self.new_region(h, kind, id, (base, delta, rlen), bits, may_write);
        Ok(())
    }

    fn sync(&mut self, h: &H, off: &Num, len: &Num, flags: u32) -> Res {
        let ri = self.pick(h);
        let rf = ri.map_or(0, |i| self.regs[i].len);
        let (off, len) = (off.get(rf, self.page), len.get(rf, self.page));
        let bad_flags = flags & !(MM_SYNC | MM_ASYNC | MM_INVALIDATE) != 0
            || flags & (MM_SYNC | MM_ASYNC) == MM_SYNC | MM_ASYNC;
        let exp = match ri {
            None => err(libc::EINVAL),
            Some(_) if bad_flags => err(libc::EINVAL),
            Some(i) => {
                let r = &self.regs[i];
                match Self::span(r, off, len) {
                    None => err(libc::EINVAL),
                    Some(_) if matches!(r.kind, Kind::Anon) => ok(),
                    Some((s, e)) => match self.page_range(r, s, e) {
                        None => ok(),
                        Some((a, b)) if flags & MM_INVALIDATE != 0 => {
                            let locks: Vec<_> = r.attrs[a..b].iter().map(|x| x.locked).collect();
                            if locks.contains(&Some(true)) {
                                err(libc::EBUSY)
                            } else if locks.contains(&None) {
                                ok_or(&[libc::EBUSY])
                            } else {
                                ok()
                            }
                        }
                        Some(_) => ok(),
                    },
                }
            }
        };
        // SAFETY: a live handle or NULL.
        let rc = unsafe { mm_sync(self.handle(ri), off, len, flags) };
        self.log.push(format!("  -> {rc}"));
        self.check("mm_sync", rc, &exp)?;
        Ok(())
    }

    fn lock(&mut self, h: &H, off: &Num, len: &Num, lock: bool) -> Res {
        let call = if lock { "mm_lock" } else { "mm_unlock" };
        let ri = self.pick(h);
        let rf = ri.map_or(0, |i| self.regs[i].len);
        let (off, len) = (off.get(rf, self.page), len.get(rf, self.page));
        let mut range = None;
        let mut whole = false;
        let exp = match ri {
            None => err(libc::EINVAL),
            Some(i) => {
                let r = &self.regs[i];
                match Self::span(r, off, len) {
                    None => err(libc::EINVAL),
                    Some((s, e)) => match self.page_range(r, s, e) {
                        None => ok(),
                        Some((a, b)) => {
                            range = Some((a, b));
                            whole = s == r.delta && e == r.delta + r.len;
                            let bad =
                                (a..b).any(|p| !self.accessible(r, p) || r.attrs[p].prot == 0);
                            if !lock {
                                ok()
                            } else if bad {
                                // populating PROT_NONE or truncated pages fails
                                ok_or(&LOCK_ERRS)
                            } else if self.host.cap_ipc_lock {
                                ok()
                            } else {
                                ok_or(&LOCK_ERRS)
                            }
                        }
                    },
                }
            }
        };
        let hp = self.handle(ri);
        // SAFETY: a live handle or NULL.
        let rc = unsafe {
            if lock {
                mm_lock(hp, off, len)
            } else {
                mm_unlock(hp, off, len)
            }
        };
        self.log.push(format!("  -> {rc}"));
        let e = self.check(call, rc, &exp)?;
        if let (Some(i), Some((a, b))) = (ri, range) {
            let state = if e.is_none() { Some(lock) } else { None };
            for x in &mut self.regs[i].attrs[a..b] {
                x.locked = state;
            }
            // The library marks the region before mlock (a failed one may
            // still have locked some pages) and unmarks it only after a
            // whole-region munlock.
            if lock {
                self.regs[i].parts |= PART_LOCKED;
            } else if e.is_none() && whole {
                self.regs[i].parts &= !PART_LOCKED;
            }
            self.note_split(i);
            if lock {
                self.maybe_copied(i);
            }
        }
        Ok(())
    }

    fn advise(&mut self, h: &H, off: &Num, len: &Num, advice: i32) -> Res {
        let page = self.page;
        let ri = self.pick(h);
        let rf = ri.map_or(0, |i| self.regs[i].len);
        let (off, len) = (off.get(rf, page), len.get(rf, page));
        let mut range = None;
        let exp = match ri {
            None => err(libc::EINVAL),
            Some(_) if !(0..=6).contains(&advice) => err(libc::EINVAL),
            Some(i) => {
                let r = &self.regs[i];
                match Self::span(r, off, len) {
                    None => err(libc::EINVAL),
                    Some((s, e)) => {
                        let (s, e) = if advice == MM_ADV_DONTNEED {
                            // Region::inner_pages
                            let s2 = if s == r.delta {
                                s
                            } else {
                                round_up(s, page).unwrap_or(e)
                            };
                            let e2 = if e == r.delta + r.len {
                                e
                            } else {
                                e / page * page
                            };
                            if s2 >= e2 {
                                (s, s)
                            } else {
                                (s2, e2)
                            }
                        } else {
                            (s, e)
                        };
                        match self.page_range(r, s, e) {
                            None => ok(),
                            Some((a, b)) => {
                                range = Some((a, b));
                                let locks: Vec<_> =
                                    r.attrs[a..b].iter().map(|x| x.locked).collect();
                                if advice != MM_ADV_DONTNEED {
                                    ok()
                                } else if locks.contains(&Some(true)) {
                                    err(libc::EINVAL) // MADV_DONTNEED refuses locked pages
                                } else if locks.contains(&None) {
                                    ok_or(&[libc::EINVAL])
                                } else {
                                    ok()
                                }
                            }
                        }
                    }
                }
            }
        };
        // SAFETY: a live handle or NULL.
        let rc = unsafe { mm_advise(self.handle(ri), off, len, advice) };
        self.log.push(format!("  -> {rc}"));
        let e = self.check("mm_advise", rc, &exp)?;
        if let (Some(i), Some((a, b)), Some(_)) = (ri, range, e) {
            // madvise works VMA by VMA: pages before the first locked one
            // may have been dropped already.
            let r = &self.regs[i];
            let stop = (a..b)
                .find(|&p| r.attrs[p].locked != Some(false))
                .unwrap_or(b);
            self.maybe_dropped(i, a, stop);
        }
        if let (Some(i), Some((a, b)), None) = (ri, range, e) {
            let r = &mut self.regs[i];
            for x in &mut r.attrs[a..b] {
                match advice {
                    MM_ADV_NORMAL => x.adv = 0,
                    MM_ADV_RANDOM => x.adv = 1,
                    MM_ADV_SEQUENTIAL => x.adv = 2,
                    MM_ADV_HUGEPAGE => x.huge = 1,
                    MM_ADV_NOHUGEPAGE => x.huge = 2,
                    MM_ADV_DONTNEED => x.locked = Some(false),
                    _ => {}
                }
            }
            if advice == MM_ADV_DONTNEED && !r.shared {
                // Private copies are dropped: anonymous pages read zeros,
                // file pages the file again.
                r.cow.retain(|&p, _| p < a || p >= b);
            }
            self.note_split(i);
        }
        Ok(())
    }

    fn protect(&mut self, h: &H, off: &Num, len: &Num, prot: u32) -> Res {
        let page = self.page;
        let ri = self.pick(h);
        let rf = ri.map_or(0, |i| self.regs[i].len);
        let (off, len) = (off.get(rf, page), len.get(rf, page));
        let mut range = None;
        let mut whole = false;
        let exp = match ri {
            None => err(libc::EINVAL),
            Some(_) if prot & !PROT != 0 => err(libc::EINVAL),
            Some(i) => {
                let r = &self.regs[i];
                match Self::span(r, off, len) {
                    None => err(libc::EINVAL),
                    Some((s, e)) => {
                        let s_ok = s == r.delta || s % page == 0;
                        let e_ok = e == r.delta + r.len || e % page == 0;
                        whole = s == r.delta && e == r.delta + r.len;
                        if !s_ok || !e_ok {
                            err(libc::EINVAL)
                        } else {
                            match self.page_range(r, s, e) {
                                None => ok(),
                                Some((a, b)) => {
                                    range = Some((a, b));
                                    let obj = &self.objs[r.obj];
                                    let mut exp = ok();
                                    if prot & W != 0 && r.shared && !r.may_write {
                                        exp = err(libc::EACCES);
                                    } else {
                                        if prot & W != 0
                                            && r.shared
                                            && obj.seals & MM_SEAL_WRITE != 0
                                        {
                                            exp.errs.extend([libc::EPERM, libc::EACCES]);
                                        }
                                        if prot & X != 0 && obj.kind != ObjKind::Zero {
                                            exp.errs.extend([libc::EPERM, libc::EACCES]);
                                        }
                                    }
                                    exp
                                }
                            }
                        }
                    }
                }
            }
        };
        // SAFETY: a live handle or NULL.
        let rc = unsafe { mm_protect(self.handle(ri), off, len, prot) };
        self.log.push(format!("  -> {rc}"));
        let e = self.check("mm_protect", rc, &exp)?;
        if let (Some(i), Some(_), Some(_)) = (ri, range, e) {
            // Marked before mprotect (a failed one may still have changed
            // some pages), as the library does.
            self.regs[i].parts |= PART_PROTECTED;
        }
        if let (Some(i), Some((a, b)), None) = (ri, range, e) {
            let r = &mut self.regs[i];
            for x in &mut r.attrs[a..b] {
                x.prot = norm_prot(prot);
            }
            if whole {
                r.flags = r.flags & !PROT | norm_prot(prot);
                r.parts &= !PART_PROTECTED;
            } else {
                r.parts |= PART_PROTECTED;
            }
            self.note_split(i);
            self.maybe_copied(i);
        }
        Ok(())
    }

    /// Expected result of reading region bytes [off, off+n) (n > 0, in range).
    fn read_exp(&self, r: &Reg, off: usize, n: usize) -> Exp {
        let page = self.page;
        let (a, b) = ((r.delta + off) / page, (r.delta + off + n).div_ceil(page));
        let f: Vec<_> = (a..b).map(|p| self.read_faults(r, p)).collect();
        if f.contains(&Some(true)) {
            err(libc::EFAULT)
        } else if f.contains(&None) {
            ok_or(&[libc::EFAULT])
        } else {
            ok()
        }
    }

    /// Compare bytes read at region offset `off` with the model; learn unknowns.
    fn compare(&mut self, ri: usize, off: usize, got: &[u8]) -> Res {
        COMPARED.fetch_add(got.len(), Relaxed);
        for (k, &v) in got.iter().enumerate() {
            let m = self.regs[ri].delta + off + k;
            match self.view(&self.regs[ri], m) {
                Some(want) if want != v => {
                    return Err(format!(
                        "region {ri}: byte {} is {v:#04x}, model says {want:#04x}",
                        off + k
                    ))
                }
                Some(_) => {}
                None => self.learn(ri, m, v),
            }
        }
        Ok(())
    }

    /// Byte m of region ri's mapping (unknown in the model) is v.
    fn learn(&mut self, ri: usize, m: usize, v: u8) {
        let page = self.page;
        let r = &mut self.regs[ri];
        if let Some(c) = r.cow.get_mut(&(m / page)) {
            c.data[m % page] = Some(v);
        } else {
            let (obj, o) = (r.obj, r.base + m as u64);
            let ob = &mut self.objs[obj];
            if !(ob.kind == ObjKind::File && o >= ob.size) {
                *ob.slot(o, page) = Some(v);
            }
        }
    }

    fn read(&mut self, h: &H, off: &Num, n: &Num, null_buf: bool) -> Res {
        let ri = self.pick(h);
        let rf = ri.map_or(0, |i| self.regs[i].len);
        let (off, n) = (off.get(rf, self.page), n.get(rf, self.page));
        let in_range =
            ri.is_some_and(|i| off.checked_add(n).is_some_and(|e| e <= self.regs[i].len));
        let exp = match ri {
            None => err(libc::EINVAL),
            Some(_) if null_buf && n > 0 => err(libc::EINVAL),
            Some(_) if !in_range => err(libc::EINVAL),
            Some(_) if n == 0 => ok(),
            Some(i) => self.read_exp(&self.regs[i], off, n),
        };
        // The buffer holds n bytes whenever the call may copy; a shorter one
        // is passed with an out-of-range n, which must be refused unread.
        let mut buf = vec![0xa5u8; if in_range { n } else { 16 }];
        let dst = if null_buf {
            ptr::null_mut()
        } else {
            buf.as_mut_ptr().cast()
        };
        // SAFETY: a live handle or NULL; dst is NULL or holds n bytes when in range.
        let rc = unsafe { mm_read(self.handle(ri), off, dst, n) };
        self.log.push(format!("  -> {rc}"));
        let e = self.check("mm_read", rc, &exp)?;
        if let (Some(i), None, true) = (ri, e, in_range && !null_buf) {
            self.compare(i, off, &buf)?;
        }
        Ok(())
    }

    fn write(&mut self, h: &H, off: &Num, n: &Num, seed: u8, null_buf: bool) -> Res {
        let page = self.page;
        let ri = self.pick(h);
        let rf = ri.map_or(0, |i| self.regs[i].len);
        let (off, n) = (off.get(rf, page), n.get(rf, page));
        let in_range =
            ri.is_some_and(|i| off.checked_add(n).is_some_and(|e| e <= self.regs[i].len));
        let mut first_fault = None;
        let exp = match ri {
            None => err(libc::EINVAL),
            Some(_) if null_buf && n > 0 => err(libc::EINVAL),
            Some(i) if self.regs[i].flags & W == 0 => err(libc::EACCES),
            Some(_) if !in_range => err(libc::EINVAL),
            Some(_) if n == 0 => ok(),
            Some(i) => {
                let r = &self.regs[i];
                let (a, b) = ((r.delta + off) / page, (r.delta + off + n).div_ceil(page));
                first_fault = (a..b).find(|&p| self.write_faults(r, p));
                if first_fault.is_some() {
                    err(libc::EFAULT)
                } else {
                    ok()
                }
            }
        };
        let data = pattern(if in_range { n } else { 16 }, seed);
        let src = if null_buf {
            ptr::null()
        } else {
            data.as_ptr().cast()
        };
        // SAFETY: a live handle or NULL; src is NULL or holds n bytes when in range.
        let rc = unsafe { mm_write(self.handle(ri), off, src, n) };
        self.log.push(format!("  -> {rc}"));
        let e = self.check("mm_write", rc, &exp)?;
        let Some(i) = ri else { return Ok(()) };
        if !in_range || null_buf || n == 0 || self.regs[i].flags & W == 0 {
            return Ok(());
        }
        let delta = self.regs[i].delta;
        let (obj, shared, base) = (self.regs[i].obj, self.regs[i].shared, self.regs[i].base);
        match (e, first_fault) {
            (None, _) => {
                for (k, &v) in data.iter().enumerate() {
                    self.put(i, delta + off + k, Some(v), true);
                }
            }
            (Some(_), Some(fp)) => {
                // Pages before the faulting one may have been written.
                let stop = (fp * page).saturating_sub(delta).min(off + n);
                for k in off..stop.max(off) {
                    let m = delta + k;
                    let old = self.view(&self.regs[i], m);
                    let v = data[k - off];
                    let b = if old == Some(v) { old } else { None };
                    self.put(i, m, b, false);
                }
            }
            _ => {}
        }
        if shared {
            let lo = base + (delta + off) as u64;
            self.propagate(obj, lo, lo + n as u64);
        }
        Ok(())
    }

    fn resize(&mut self, h: &H, len: &Num) -> Res {
        let page = self.page;
        let ri = self.pick(h);
        let rf = ri.map_or(0, |i| self.regs[i].len);
        let new_len = len.get(rf, page);
        let Some(i) = ri else {
            // SAFETY: NULL is refused.
            let rc = unsafe { mm_resize(ptr::null_mut(), new_len) };
            self.log.push(format!("  -> {rc}"));
            self.check("mm_resize", rc, &err(libc::EINVAL))?;
            return Ok(());
        };
        let plan = match self.plan_resize(i, new_len) {
            Ok(p) => p,
            Err(g) => return self.skip(g),
        };
        let ResizePlan {
            exp,
            obj_size,
            delta,
            new_pages,
            tail,
            new_attrs,
        } = plan;
        let cur_pages = self.regs[i].attrs.len();
        self.log.push(format!(
            "  region {i}: {} bytes, {cur_pages} pages; expect {exp:?}, {new_pages} pages, tail {tail:?}",
            self.regs[i].len
        ));

        // SAFETY: a live handle, used by nobody else.
        let before = unsafe { mm_ptr(self.regs[i].h) };
        // SAFETY: as above.
        let rc = unsafe { mm_resize(self.regs[i].h, new_len) };
        self.log.push(format!("  -> {rc}"));
        let e = self.check("mm_resize", rc, &exp)?;
        // The tail is zeroed (or checked) before the object or the mapping
        // changes, and stays so when a later step fails.
        if let Some(t) = &tail {
            self.apply_tail(i, t, e);
        }
        let obj = self.regs[i].obj;
        match (e, obj_size) {
            (None, Some(s)) => self.resize_obj(obj, s),
            (Some(_), Some(_)) => {
                // The object may have changed size before the remap failed
                // (and a shareable one is then put back to its size before,
                // if still ours): ask the file system what it is now.
                let real = self.real_size(i)?;
                self.resize_obj(obj, real);
                self.blur_tail(obj);
            }
            _ => {}
        }
        if e.is_some() {
            self.maybe_copied(i);
            return Ok(());
        }
        // Success: the new geometry.
        let r = &mut self.regs[i];
        let was_mapped = r.mapped;
        if !r.mapped {
            if let Kind::File { off, .. } = r.kind {
                r.delta = delta;
                r.base = off - delta as u64;
            }
        }
        r.mapped = true;
        r.len = new_len;
        if new_pages < cur_pages {
            r.attrs.truncate(new_pages);
            r.cow.retain(|&q, _| q < new_pages);
        } else if new_pages > cur_pages {
            // SAFETY: a live handle.
            let moved = unsafe { mm_ptr(self.regs[i].h) } != before;
            self.grow_pages(i, was_mapped, moved, cur_pages, new_pages, new_attrs)?;
        }
        self.maybe_copied(i);
        Ok(())
    }

    /// After a successful grow of region i from `cur` to `new` pages: the
    /// attributes of its pages (the new ones as the kernel shows them, which
    /// must be what the model allows) and, after a copy into a new mapping
    /// (without mremap, when the region moved), the private copies it holds.
    fn grow_pages(
        &mut self,
        i: usize,
        was_mapped: bool,
        moved: bool,
        cur: usize,
        new: usize,
        want: Attr,
    ) -> Res {
        let page = self.page;
        let r = &self.regs[i];
        // SAFETY: a live handle.
        let start = unsafe { mm_ptr(r.h) } as usize - r.delta;
        let seen = vma_attrs(start, new, page)?;
        // A whole new mapping: an empty file region's first, or a copy.
        let copied = !was_mapped || (moved && !self.build.mremap);
        if !copied {
            // The old pages kept their own attributes.
            if let Some(q) = (0..cur).find(|&q| !fits(r.attrs[q], seen[q])) {
                return Err(format!(
                    "mm_resize: old page {q} is {:?} in the kernel, the model says {:?}",
                    seen[q], r.attrs[q]
                ));
            }
        }
        let a = seen[cur];
        if seen[cur..].iter().any(|x| *x != a) {
            return Err(format!(
                "mm_resize: the new pages differ in the kernel: {:?}",
                &seen[cur..]
            ));
        }
        if !fits(want, a) {
            return Err(format!(
                "mm_resize: the new pages are {a:?} in the kernel, the model says {want:?}"
            ));
        }
        let how = match (was_mapped, moved, copied) {
            (false, _, _) => "new mapping",
            (true, false, _) => "grown in place",
            (true, true, false) => "moved",
            (true, true, true) => "moved, copied",
        };
        tally(&format!("mm_resize ({how})"), true);
        if copied {
            // A new mapping: every page has the region's protection, nothing
            // locked or advised. A private one holds copies of the old pages.
            if let Some(q) = (0..cur).find(|&q| seen[q] != a) {
                return Err(format!(
                    "mm_resize: page {q} of the new mapping is {:?} in the kernel, not {a:?}",
                    seen[q]
                ));
            }
            if was_mapped && !r.shared {
                let pages: Vec<(usize, Vec<Byte>)> = (0..cur)
                    .map(|q| (q, (0..page).map(|k| self.view(r, q * page + k)).collect()))
                    .collect();
                let r = &mut self.regs[i];
                for (q, data) in pages {
                    r.cow.insert(q, Cow { data, sure: true });
                }
            }
            let r = &mut self.regs[i];
            r.attrs = vec![a; new];
            r.maybe_split = false;
            return Ok(());
        }
        let r = &mut self.regs[i];
        r.attrs.resize(new, a);
        if !self.build.mremap {
            // New pages of their own (for a file, of another open file
            // description): maybe never merged with the old ones.
            r.maybe_split = true;
        }
        Ok(())
    }

    /// What mm_resize will do, mirroring Region::resize, or the guard that
    /// keeps the call from being made.
    fn plan_resize(&self, i: usize, new_len: usize) -> Result<ResizePlan, Guard> {
        let page = self.page;
        let r = &self.regs[i];
        let old_len = r.len;
        let delta = match (&r.kind, r.mapped) {
            (Kind::File { off, .. }, false) => (*off % page as u64) as usize,
            _ => r.delta,
        };
        let cur_pages = r.attrs.len();
        let new_map = delta
            .checked_add(new_len)
            .and_then(|l| round_up(l, page))
            .filter(|&l| l <= isize::MAX as usize);
        let new_pages = new_map.map_or(0, |l| l / page);
        let grows = r.mapped && new_pages > cur_pages;
        // The pages a grow adds, with the region's protection either way:
        // with mremap, those of the kernel mapping holding the last page,
        // extended in place or moved (its lock and advice); without it,
        // pages of their own (unlocked, no advice).
        let fresh = Attr {
            prot: norm_prot(r.flags),
            locked: Some(false),
            adv: 0,
            huge: 0,
        };
        let new_attrs = if !grows || !self.build.mremap {
            fresh
        } else {
            Attr {
                prot: fresh.prot,
                ..r.attrs[cur_pages - 1]
            }
        };
        let mut plan = ResizePlan {
            exp: ok(),
            obj_size: None,
            delta,
            new_pages,
            tail: None,
            new_attrs,
        };
        if new_len == 0 {
            plan.exp = err(libc::EINVAL);
            return Ok(plan);
        }
        if new_map.is_none() {
            plan.exp = err(libc::ENOMEM);
            return Ok(plan);
        }
        let remap = |size| self.remap_exp(r, new_len, new_pages, size);
        let size = self.objs[r.obj].size;
        match &r.kind {
            Kind::Anon => {
                if r.shared && new_pages > cur_pages {
                    plan.exp = err(libc::ENOTSUP);
                } else {
                    if new_len > old_len {
                        plan.tail = self.plan_tail(r, old_len, new_len);
                    }
                    let t = plan.tail.as_ref().map_or(ok(), Tail::exp);
                    plan.exp = then(t, remap(size));
                }
            }
            Kind::Shareable => {
                let o = &self.objs[r.obj];
                let (before, n) = (o.size, new_len as u64);
                // Only bytes past the object's end are zeroed.
                if new_len > old_len && before >= old_len as u64 {
                    let from = usize::try_from(before).unwrap_or(usize::MAX).max(old_len);
                    if from < new_len {
                        plan.tail = self.plan_tail(r, from, new_len);
                    }
                }
                let mut exp = plan.tail.as_ref().map_or(ok(), Tail::exp);
                // A grow never shrinks the object.
                if !(new_len > old_len && before >= n) {
                    if n < before && o.seals & MM_SEAL_SHRINK != 0
                        || n > before && o.seals & MM_SEAL_GROW != 0
                    {
                        exp = then(exp, err(libc::EPERM));
                    } else {
                        plan.obj_size = Some(n);
                    }
                }
                plan.exp = then(exp, remap(size));
            }
            Kind::File { path, off, create } => {
                match off
                    .checked_add(new_len as u64)
                    .filter(|&e| e <= i64::MAX as u64)
                {
                    None => plan.exp = err(libc::EINVAL),
                    Some(_) if new_len <= old_len => plan.exp = ok(),
                    Some(_) if path.is_none() => plan.exp = err(libc::ENOTSUP),
                    Some(end) => {
                        let size = self.objs[r.obj].size;
                        if end > size && !create {
                            plan.exp = err(libc::EINVAL);
                        } else {
                            let mut e = ok();
                            if end > size {
                                e = self
                                    .alloc_outcome(end, new_len)
                                    .ok_or(Guard::TooLargeForModel)?;
                                if e.ok {
                                    plan.obj_size = Some(end);
                                }
                            }
                            // (The copy without mremap reads the old pages
                            // of the file as grown.)
                            plan.exp = then(e, remap(end.max(size)));
                        }
                    }
                }
            }
        }
        if plan.exp.ok && new_len > MAX_REGION {
            return Err(Guard::TooLargeForModel);
        }
        Ok(plan)
    }

    /// What Region::remap may answer once the steps before it succeeded,
    /// the object then having `size` bytes.
    fn remap_exp(&self, r: &Reg, new_len: usize, new_pages: usize, size: u64) -> Exp {
        let cur_pages = r.attrs.len();
        let obj = &self.objs[r.obj];
        // A new mapping of a file or object with PROT_EXEC: a noexec mount
        // (or memfd_noexec) may refuse it.
        let exec: Vec<i32> = if r.flags & X != 0 && obj.kind != ObjKind::Zero {
            vec![libc::EPERM, libc::EACCES]
        } else {
            vec![]
        };
        if !r.mapped {
            // An empty file region's first mapping.
            return Exp {
                ok: true,
                errs: exec,
            };
        }
        if new_pages <= cur_pages {
            return ok();
        }
        if new_len > MAX_REGION {
            return errs(&[
                libc::ENOMEM,
                libc::EINVAL,
                libc::EFAULT,
                libc::EFBIG,
                libc::ENOSPC,
            ]);
        }
        if !self.build.mremap {
            // In place: the new pages mapped after the end, when free.
            let in_place = Exp {
                ok: true,
                errs: exec.clone(),
            };
            // Else moved: refused when pages have state of their own (what
            // mm_protect of a part / mm_lock set), else a new mapping, then
            // a fault-safe copy of a private region's pages (an unreadable
            // one is -EFAULT).
            let moved = if r.parts != 0 {
                err(libc::EBUSY)
            } else if r.shared {
                Exp {
                    ok: true,
                    errs: exec,
                }
            } else {
                let f: Vec<_> = (0..cur_pages)
                    .map(|q| self.read_faults_at(r, q, size))
                    .collect();
                let copy = if f.contains(&Some(true)) {
                    err(libc::EFAULT)
                } else if f.contains(&None) {
                    ok_or(&[libc::EFAULT])
                } else {
                    ok()
                };
                then(
                    Exp {
                        ok: true,
                        errs: exec,
                    },
                    copy,
                )
            };
            return either(in_place, moved);
        }
        // mremap of a locked mapping counts against RLIMIT_MEMLOCK.
        let maybe_locked = r.attrs.iter().any(|x| x.locked != Some(false));
        let limit: &[i32] = if maybe_locked && !self.host.cap_ipc_lock {
            &[libc::EAGAIN, libc::ENOMEM]
        } else {
            &[]
        };
        let grown = Exp {
            ok: true,
            errs: limit.to_vec(),
        };
        // In place, or moved when it is one kernel mapping: a region that
        // may be in parts may find no room after it, and cannot move.
        match World::uniform(r) {
            Some(true) => grown,
            _ => either(grown, err(libc::EBUSY)),
        }
    }

    /// Region::zero_tail(from, new_len) for region r, before a grow.
    fn plan_tail(&self, r: &Reg, from: usize, new_len: usize) -> Option<Tail> {
        let page = self.page;
        if !r.mapped {
            return None;
        }
        let s = r.delta + from;
        let e = round_up(s, page)
            .unwrap_or(s)
            .min(r.delta + new_len)
            .min(r.attrs.len() * page);
        if e <= s {
            return None;
        }
        let q = s / page;
        let bytes: Vec<Byte> = (s..e).map(|m| self.view(r, m)).collect();
        let nonzero = bytes.iter().any(|b| b.is_some_and(|v| v != 0));
        let unknown = bytes.contains(&None);
        let rf = self.read_faults(r, q);
        let act = if rf == Some(false) && !nonzero && !unknown {
            TailAct::Nothing
        } else if !self.write_faults(r, q) {
            TailAct::Zero { sure: nonzero }
        } else if nonzero || rf == Some(true) {
            TailAct::Refuse
        } else {
            TailAct::Check
        };
        Some(Tail { s, e, act })
    }

    /// The effect of the tail step of mm_resize on region i, which ended
    /// with errno `e` (None: success).
    fn apply_tail(&mut self, i: usize, t: &Tail, e: Option<i32>) {
        let act = match t.act {
            TailAct::Zero { sure: false } => "Zero (maybe)".to_string(),
            a => format!("{a:?}"),
        };
        tally(&format!("mm_resize (tail {act})"), e.is_none());
        match t.act {
            TailAct::Nothing | TailAct::Refuse => {}
            TailAct::Zero { sure } => {
                for m in t.s..t.e {
                    self.put(i, m, Some(0), sure);
                }
                let r = &self.regs[i];
                if r.shared {
                    let lo = r.base + t.s as u64;
                    self.propagate(r.obj, lo, lo + (t.e - t.s) as u64);
                }
            }
            // It passed (the call went on): the bytes were zeros.
            TailAct::Check if e != Some(libc::EACCES) => {
                for m in t.s..t.e {
                    if self.view(&self.regs[i], m).is_none() {
                        self.learn(i, m, 0);
                    }
                }
            }
            TailAct::Check => {}
        }
    }

    fn unmap(&mut self, h: &H) -> Res {
        let ri = self.pick(h);
        // SAFETY: a live handle (removed from the model at once) or NULL.
        let rc = unsafe { mm_unmap(self.handle(ri)) };
        self.log.push(format!("  -> {rc}"));
        self.check("mm_unmap", rc, &ok())?;
        if let Some(i) = ri {
            self.regs.remove(i);
        }
        Ok(())
    }

    fn fd(&mut self, h: &H) -> Res {
        let ri = self.pick(h);
        // SAFETY: a live handle or NULL.
        let rc = unsafe { mm_fd(self.handle(ri)) };
        self.log.push(format!("  -> {rc}"));
        match ri {
            None => {
                self.check("mm_fd", rc, &err(libc::EINVAL))?;
            }
            Some(i) if matches!(self.regs[i].kind, Kind::Shareable) => {
                if rc < 0 {
                    return Err(format!("mm_fd of a shareable region returned {rc}"));
                }
                // SAFETY: F_GETFD only reads the descriptor flags.
                let fl = unsafe { libc::fcntl(rc, libc::F_GETFD) };
                if fl < 0 || fl & libc::FD_CLOEXEC == 0 {
                    return Err(format!(
                        "mm_fd {rc} is not an open close-on-exec descriptor"
                    ));
                }
                self.check("mm_fd", 0, &ok())?;
            }
            Some(_) => {
                self.check("mm_fd", rc, &err(libc::EBADF))?;
            }
        }
        Ok(())
    }

    fn seal(&mut self, h: &H, seals: u32) -> Res {
        let ri = self.pick(h);
        let exp = match ri {
            None => err(libc::EINVAL),
            Some(_) if seals & !ALL_SEALS != 0 => err(libc::EINVAL),
            Some(i) if !matches!(self.regs[i].kind, Kind::Shareable) => err(libc::ENOTSUP),
            Some(_) if !self.build.sealable => err(libc::ENOTSUP),
            Some(_) => ok(),
        };
        // SAFETY: a live handle or NULL.
        let rc = unsafe { mm_seal(self.handle(ri), seals) };
        self.log.push(format!("  -> {rc}"));
        if self.check("mm_seal", rc, &exp)?.is_none() {
            if let Some(i) = ri {
                let obj = self.regs[i].obj;
                self.objs[obj].seals |= seals;
            }
        }
        Ok(())
    }

    fn truncate(&mut self, file: u8, size: &Num) -> Res {
        let path = self.pool[file as usize % self.pool.len()].clone();
        let id = self.files[&path];
        let rf = self.objs[id].size.min(MAX_REGION as u64) as usize;
        let size = size.get(rf, self.page);
        if size > MAX_REGION {
            return Ok(());
        }
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_len(size as u64))
            .map_err(|e| format!("truncate {}: {e}", path.display()))?;
        self.resize_obj(id, size as u64);
        Ok(())
    }

    /// Read every region whole, page by page, and unmap it.
    fn finish(&mut self) -> Res {
        let page = self.page;
        while let Some(i) = self.regs.len().checked_sub(1) {
            let (delta, len) = (self.regs[i].delta, self.regs[i].len);
            let mut off = 0;
            while off < len {
                let n = ((delta + off) / page * page + page - delta - off).min(len - off);
                let exp = self.read_exp(&self.regs[i], off, n);
                let mut buf = vec![0u8; n];
                // SAFETY: a live handle; buf holds n bytes.
                let rc = unsafe { mm_read(self.regs[i].h, off, buf.as_mut_ptr().cast(), n) };
                if self.check("mm_read", rc, &exp)?.is_none() {
                    self.compare(i, off, &buf)
                        .map_err(|e| format!("final read: {e}"))?;
                }
                off += n;
            }
            // SAFETY: a live handle, removed from the model.
            let rc = unsafe { mm_unmap(self.regs[i].h) };
            self.check("mm_unmap", rc, &ok())?;
            self.regs.pop();
        }
        Ok(())
    }

    fn teardown(&mut self) {
        for r in self.regs.drain(..) {
            // SAFETY: live handles, unmapped once.
            unsafe { mm_unmap(r.h) };
        }
        for fd in self
            .pool_fds
            .drain(..)
            .map(|f| f.fd)
            .chain(self.special.drain(..))
        {
            // SAFETY: descriptors opened in new().
            unsafe { libc::close(fd) };
        }
    }
}

struct ResizePlan {
    exp: Exp,
    /// The object's size after the call (ftruncate / fallocate before the remap).
    obj_size: Option<u64>,
    delta: usize,
    new_pages: usize,
    /// The tail zeroing the call reaches (anonymous and shareable grows).
    tail: Option<Tail>,
    /// What the pages a successful grow adds look like.
    new_attrs: Attr,
}

/// Region::zero_tail: mapping offsets [s, e), in the page of the old end.
#[derive(Debug)]
struct Tail {
    s: usize,
    e: usize,
    act: TailAct,
}

#[derive(Clone, Copy, Debug)]
enum TailAct {
    /// Readable and all zeros: nothing is written.
    Nothing,
    /// Written with zeros; `sure`: certainly (else only if they were not).
    Zero { sure: bool },
    /// Not writable, maybe zeros: -EACCES unless they are.
    Check,
    /// Not writable and not readably zeros: -EACCES, nothing changes.
    Refuse,
}

impl Tail {
    fn exp(&self) -> Exp {
        match self.act {
            TailAct::Nothing | TailAct::Zero { .. } => ok(),
            TailAct::Check => ok_or(&[libc::EACCES]),
            TailAct::Refuse => err(libc::EACCES),
        }
    }
}

/// `a` then `b`: b is reached only when a succeeds.
/// One of two ways, whichever the library takes.
fn either(a: Exp, b: Exp) -> Exp {
    Exp {
        ok: a.ok || b.ok,
        errs: [a.errs, b.errs].concat(),
    }
}

fn then(a: Exp, b: Exp) -> Exp {
    if !a.ok {
        return a;
    }
    Exp {
        ok: b.ok,
        errs: [a.errs, b.errs].concat(),
    }
}

/// Whether the kernel's attributes `got` are the model's `want`.
fn fits(want: Attr, got: Attr) -> bool {
    (want.prot, want.adv, want.huge) == (got.prot, got.adv, got.huge)
        && want.locked.map_or(true, |l| got.locked == Some(l))
}

/// The kernel's attributes (`/proc/self/smaps` VmFlags) of the `n` pages
/// from address `addr`.
fn vma_attrs(addr: usize, n: usize, page: usize) -> Result<Vec<Attr>, String> {
    let smaps = std::fs::read_to_string("/proc/self/smaps")
        .map_err(|e| format!("reading /proc/self/smaps: {e}"))?;
    let mut vmas: Vec<(usize, usize, Vec<&str>)> = vec![];
    let mut cur = None;
    for line in smaps.lines() {
        if let Some(flags) = line.strip_prefix("VmFlags:") {
            if let Some((s, e)) = cur.take() {
                vmas.push((s, e, flags.split_whitespace().collect()));
            }
        } else if let Some((s, e)) = line
            .split(' ')
            .next()
            .and_then(|range| range.split_once('-'))
        {
            if let (Ok(s), Ok(e)) = (usize::from_str_radix(s, 16), usize::from_str_radix(e, 16)) {
                cur = Some((s, e));
            }
        }
    }
    (0..n)
        .map(|k| {
            let at = addr + k * page;
            let (_, _, f) = vmas
                .iter()
                .find(|(s, e, _)| (*s..*e).contains(&at))
                .ok_or_else(|| format!("no mapping at {at:#x} in /proc/self/smaps"))?;
            let has = |x: &str| f.contains(&x);
            let prot = [("rd", R), ("wr", W), ("ex", X)]
                .iter()
                .filter(|(name, _)| has(name))
                .fold(0, |p, (_, bit)| p | bit);
            Ok(Attr {
                prot,
                locked: Some(has("lo")),
                adv: if has("rr") {
                    1
                } else if has("sr") {
                    2
                } else {
                    0
                },
                huge: if has("hg") {
                    1
                } else if has("nh") {
                    2
                } else {
                    0
                },
            })
        })
        .collect()
}

impl Drop for World {
    fn drop(&mut self) {
        // Also when a case panics: unmap, close, remove the directory.
        self.teardown();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Which way a file map goes, before the call.
enum Plan {
    Skip(Guard),
    Fail(Exp),
    Map { exp: Exp, rlen: usize, end: u64 },
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
