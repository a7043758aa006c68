//! The generated values: lengths and offsets, flag words, handles, paths,
//! descriptors and names, the operations, and a case.

use super::*;

/// A size or offset, resolved against a reference length (the region's, or
/// the file's) when the call is made, so shrinking keeps its meaning.
#[derive(Clone, Debug)]
pub(super) enum Num {
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
    pub(super) fn get(&self, rf: usize, page: usize) -> usize {
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
pub(super) fn num() -> impl Strategy<Value = Num> {
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
pub(super) fn size() -> impl Strategy<Value = Num> {
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
pub(super) fn flen() -> impl Strategy<Value = Num> {
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
pub(super) enum FOff {
    Zero,
    One,
    Page(u8, i8),
    Size(i8),
    Frac(u8),
    Huge(u8),
}

impl FOff {
    pub(super) fn get(&self, size: u64, page: usize) -> u64 {
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

pub(super) fn foff() -> impl Strategy<Value = FOff> {
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
pub(super) enum FlagGen {
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

pub(super) fn flag_gen() -> impl Strategy<Value = FlagGen> {
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
    pub(super) fn bits(&self, file: bool) -> u32 {
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
pub(super) enum H {
    Live(u8),
    Null,
}

pub(super) fn handle() -> impl Strategy<Value = H> {
    prop_oneof![12 => any::<u8>().prop_map(H::Live), 1 => Just(H::Null)]
}

#[derive(Clone, Debug)]
pub(super) enum PathSel {
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

pub(super) fn path_sel() -> impl Strategy<Value = PathSel> {
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
pub(super) enum FdSel {
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

pub(super) fn fd_sel() -> impl Strategy<Value = FdSel> {
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
pub(super) enum NameSel {
    Plain,
    Empty,
    TooLong,
    NotUtf8,
    Null,
}

pub(super) fn name_sel() -> impl Strategy<Value = NameSel> {
    prop_oneof![
        8 => Just(NameSel::Plain),
        1 => Just(NameSel::Empty),
        1 => Just(NameSel::TooLong),
        1 => Just(NameSel::NotUtf8),
        1 => Just(NameSel::Null),
    ]
}

#[derive(Clone, Debug)]
pub(super) enum Op {
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

pub(super) fn op() -> impl Strategy<Value = Op> {
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
pub(super) fn seed_map() -> impl Strategy<Value = Op> {
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

pub(super) fn case() -> impl Strategy<Value = Vec<Op>> {
    (
        prop::collection::vec(seed_map(), 1..=3),
        prop::collection::vec(op(), 10..50),
    )
        .prop_map(|(mut a, b)| {
            a.extend(b);
            a
        })
}
