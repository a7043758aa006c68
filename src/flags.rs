//! Flag words of the C ABI and their typed Rust counterparts.
//!
//! The `MM_*` constants are what `mmkit.h` defines; their numeric values are
//! part of the ABI and never change once released.

use std::fmt;
use std::ops::{BitAnd, BitOr, BitOrAssign};

/// Protection: the region can be read.
pub const MM_READ: u32 = 0x1;
/// Protection: the region can be written (implies `MM_READ`).
pub const MM_WRITE: u32 = 0x2;
/// Protection: the region can be executed.
pub const MM_EXEC: u32 = 0x4;
/// Writes are shared: with the file, and with forked children.
pub const MM_SHARED: u32 = 0x10;
/// Copy-on-write: writes are never carried to the file or to other processes.
pub const MM_PRIVATE: u32 = 0x20;
/// Prefault the whole range before the call returns.
pub const MM_POPULATE: u32 = 0x100;
/// Use huge pages where possible: explicit ones if reserved, else transparent
/// huge page advice. Never fails because none are available.
pub const MM_HUGEPAGES: u32 = 0x200;
/// Do not reserve swap space for the mapping (where the platform can).
pub const MM_NORESERVE: u32 = 0x400;
/// Anonymous only: map `/dev/zero` instead of using `MAP_ANONYMOUS`. Reported by
/// `mm_flags()` whenever `/dev/zero` served an anonymous region.
pub const MM_DEVZERO: u32 = 0x1000;
/// File only: create the file if missing (mode 0600) and grow it to
/// `offset + len` with its blocks allocated.
pub const MM_CREATE: u32 = 0x2000;
/// With `MM_CREATE`: fail with `-EEXIST` if the file exists.
pub const MM_EXCL: u32 = 0x4000;
/// File, descriptor and shareable regions: a page the file (or memory object)
/// no longer covers never raises `SIGBUS`, whoever touches it; the access
/// sees a private zero page instead and the loss is recorded (`mm_check`).
/// Accepted, and a no-op, for anonymous regions (`mm_flags` does not report
/// it there).
pub const MM_GUARD: u32 = 0x8000;

/// `mm_sync`: write the pages and wait for the writes to finish (the default).
pub const MM_SYNC: u32 = 0x1;
/// `mm_sync`: schedule the writes and return.
pub const MM_ASYNC: u32 = 0x2;
/// `mm_sync`: also invalidate other mappings of the same file.
pub const MM_INVALIDATE: u32 = 0x4;

/// `mm_advise`: no special treatment.
pub const MM_ADV_NORMAL: i32 = 0;
/// `mm_advise`: expect random access (read ahead less).
pub const MM_ADV_RANDOM: i32 = 1;
/// `mm_advise`: expect sequential access (read ahead more, free behind).
pub const MM_ADV_SEQUENTIAL: i32 = 2;
/// `mm_advise`: the range will be needed soon (start reading it in).
pub const MM_ADV_WILLNEED: i32 = 3;
/// `mm_advise`: the range is not needed now. Private anonymous pages read back
/// as zeros afterwards; file-backed pages are read again from the file.
pub const MM_ADV_DONTNEED: i32 = 4;
/// `mm_advise`: back the range with transparent huge pages (Linux).
pub const MM_ADV_HUGEPAGE: i32 = 5;
/// `mm_advise`: do not use transparent huge pages for the range (Linux).
pub const MM_ADV_NOHUGEPAGE: i32 = 6;

/// `mm_seal`: nobody can shrink the object (its readers can never `SIGBUS`).
pub const MM_SEAL_SHRINK: u32 = 0x1;
/// `mm_seal`: nobody can grow the object.
pub const MM_SEAL_GROW: u32 = 0x2;
/// `mm_seal`: nobody can write the object through `write(2)` or a new
/// mapping (the sealing region's own writable mapping keeps working).
pub const MM_SEAL_WRITE: u32 = 0x4;

const PROT_BITS: u32 = MM_READ | MM_WRITE | MM_EXEC;
const ALL_BITS: u32 = PROT_BITS
    | MM_SHARED
    | MM_PRIVATE
    | MM_POPULATE
    | MM_HUGEPAGES
    | MM_NORESERVE
    | MM_DEVZERO
    | MM_CREATE
    | MM_EXCL
    | MM_GUARD;

/// The flags of a mapping: protection, sharing and options, as in the C ABI.
///
/// ```
/// use mmkit::Flags;
/// let f = Flags::READ | Flags::WRITE | Flags::SHARED;
/// assert!(f.contains(Flags::WRITE));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(u32);

impl Flags {
    /// No flag.
    pub const NONE: Flags = Flags(0);
    /// See [`MM_READ`].
    pub const READ: Flags = Flags(MM_READ);
    /// See [`MM_WRITE`].
    pub const WRITE: Flags = Flags(MM_WRITE);
    /// See [`MM_EXEC`].
    pub const EXEC: Flags = Flags(MM_EXEC);
    /// See [`MM_SHARED`].
    pub const SHARED: Flags = Flags(MM_SHARED);
    /// See [`MM_PRIVATE`].
    pub const PRIVATE: Flags = Flags(MM_PRIVATE);
    /// See [`MM_POPULATE`].
    pub const POPULATE: Flags = Flags(MM_POPULATE);
    /// See [`MM_HUGEPAGES`].
    pub const HUGEPAGES: Flags = Flags(MM_HUGEPAGES);
    /// See [`MM_NORESERVE`].
    pub const NORESERVE: Flags = Flags(MM_NORESERVE);
    /// See [`MM_DEVZERO`].
    pub const DEVZERO: Flags = Flags(MM_DEVZERO);
    /// See [`MM_CREATE`].
    pub const CREATE: Flags = Flags(MM_CREATE);
    /// See [`MM_EXCL`].
    pub const EXCL: Flags = Flags(MM_EXCL);
    /// See [`MM_GUARD`].
    pub const GUARD: Flags = Flags(MM_GUARD);

    /// The C flag word.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Flags from a C flag word, or the unknown bits as the error.
    pub const fn from_bits(bits: u32) -> Result<Flags, u32> {
        if bits & !ALL_BITS != 0 {
            Err(bits & !ALL_BITS)
        } else {
            Ok(Flags(bits))
        }
    }

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any bit of `other` is set.
    pub const fn intersects(self, other: Flags) -> bool {
        self.0 & other.0 != 0
    }

    /// These flags with the bits of `other` added (`|` usable in `const`).
    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    /// These flags without the bits of `other`.
    pub const fn without(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }

    /// Only the protection bits (`READ`, `WRITE`, `EXEC`).
    pub const fn protection(self) -> Flags {
        Flags(self.0 & PROT_BITS)
    }

    /// Whether the region may be written.
    pub const fn writable(self) -> bool {
        self.0 & MM_WRITE != 0
    }
}

impl BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

impl BitOrAssign for Flags {
    fn bitor_assign(&mut self, rhs: Flags) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for Flags {
    type Output = Flags;
    fn bitand(self, rhs: Flags) -> Flags {
        Flags(self.0 & rhs.0)
    }
}

const NAMES: &[(u32, &str)] = &[
    (MM_READ, "READ"),
    (MM_WRITE, "WRITE"),
    (MM_EXEC, "EXEC"),
    (MM_SHARED, "SHARED"),
    (MM_PRIVATE, "PRIVATE"),
    (MM_POPULATE, "POPULATE"),
    (MM_HUGEPAGES, "HUGEPAGES"),
    (MM_NORESERVE, "NORESERVE"),
    (MM_DEVZERO, "DEVZERO"),
    (MM_CREATE, "CREATE"),
    (MM_EXCL, "EXCL"),
    (MM_GUARD, "GUARD"),
];

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Flags {
    /// `MM_READ|MM_WRITE|MM_SHARED` style, `0` when empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (bit, name) in NAMES {
            if self.0 & bit != 0 {
                if !first {
                    f.write_str("|")?;
                }
                write!(f, "MM_{name}")?;
                first = false;
            }
        }
        if first {
            f.write_str("0")?;
        }
        Ok(())
    }
}

/// How `Region::sync` writes dirty pages back (`msync`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncMode {
    /// Write and wait (`MS_SYNC`).
    Sync,
    /// Schedule the writes (`MS_ASYNC`).
    Async,
}

/// Parsed `mm_sync` flags: mode plus `invalidate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncFlags {
    /// Sync or async.
    pub mode: SyncMode,
    /// Also `MS_INVALIDATE`.
    pub invalidate: bool,
}

impl SyncFlags {
    /// `MM_SYNC`: write and wait.
    pub const SYNC: SyncFlags = SyncFlags {
        mode: SyncMode::Sync,
        invalidate: false,
    };
    /// `MM_ASYNC`: schedule.
    pub const ASYNC: SyncFlags = SyncFlags {
        mode: SyncMode::Async,
        invalidate: false,
    };

    /// Parse a C `mm_sync` flag word: `0` means `MM_SYNC`; `MM_SYNC|MM_ASYNC`
    /// and unknown bits are errors (the message says which).
    pub fn from_bits(bits: u32) -> Result<SyncFlags, BadSyncFlags> {
        let unknown = bits & !(MM_SYNC | MM_ASYNC | MM_INVALIDATE);
        if unknown != 0 || (bits & MM_SYNC != 0 && bits & MM_ASYNC != 0) {
            return Err(BadSyncFlags(bits));
        }
        Ok(SyncFlags {
            mode: if bits & MM_ASYNC != 0 {
                SyncMode::Async
            } else {
                SyncMode::Sync
            },
            invalidate: bits & MM_INVALIDATE != 0,
        })
    }
}

/// A flag word [`SyncFlags::from_bits`] refused; its `Display` says why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadSyncFlags(pub u32);

impl fmt::Display for BadSyncFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bits = self.0;
        let unknown = bits & !(MM_SYNC | MM_ASYNC | MM_INVALIDATE);
        if unknown != 0 {
            write!(f, "unknown sync flag bits {unknown:#x} in {bits:#x}")
        } else {
            write!(
                f,
                "MM_SYNC and MM_ASYNC are mutually exclusive (flags {bits:#x})"
            )
        }
    }
}

/// Access-pattern advice for `Region::advise` (`madvise`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Advice {
    /// [`MM_ADV_NORMAL`]
    Normal,
    /// [`MM_ADV_RANDOM`]
    Random,
    /// [`MM_ADV_SEQUENTIAL`]
    Sequential,
    /// [`MM_ADV_WILLNEED`]
    WillNeed,
    /// [`MM_ADV_DONTNEED`]
    DontNeed,
    /// [`MM_ADV_HUGEPAGE`]
    HugePage,
    /// [`MM_ADV_NOHUGEPAGE`]
    NoHugePage,
}

impl Advice {
    /// The advice for a C `MM_ADV_*` value, if it is one.
    pub fn from_raw(advice: i32) -> Option<Advice> {
        Some(match advice {
            MM_ADV_NORMAL => Advice::Normal,
            MM_ADV_RANDOM => Advice::Random,
            MM_ADV_SEQUENTIAL => Advice::Sequential,
            MM_ADV_WILLNEED => Advice::WillNeed,
            MM_ADV_DONTNEED => Advice::DontNeed,
            MM_ADV_HUGEPAGE => Advice::HugePage,
            MM_ADV_NOHUGEPAGE => Advice::NoHugePage,
            _ => return None,
        })
    }

    /// The C name of the advice.
    pub fn name(self) -> &'static str {
        match self {
            Advice::Normal => "MM_ADV_NORMAL",
            Advice::Random => "MM_ADV_RANDOM",
            Advice::Sequential => "MM_ADV_SEQUENTIAL",
            Advice::WillNeed => "MM_ADV_WILLNEED",
            Advice::DontNeed => "MM_ADV_DONTNEED",
            Advice::HugePage => "MM_ADV_HUGEPAGE",
            Advice::NoHugePage => "MM_ADV_NOHUGEPAGE",
        }
    }
}
