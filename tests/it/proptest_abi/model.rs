//! The model: memory objects and their contents, regions and their pages,
//! and what a call may return.

use super::*;

/// A byte of the model; `None`: one of several values the kernel may show.
pub(super) type Byte = Option<u8>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum ObjKind {
    /// The zero page behind private anonymous memory: never changes.
    Zero,
    /// The fixed-size object behind shared anonymous memory (and /dev/zero).
    ShmAnon,
    File,
    /// memfd (or shm_open) behind a shareable region.
    Memfd,
}

#[derive(Debug)]
pub(super) struct Obj {
    pub(super) kind: ObjKind,
    pub(super) size: u64,
    /// Sparse contents: a missing page is zeros.
    pub(super) pages: BTreeMap<u64, Vec<Byte>>,
    pub(super) seals: u32,
}

impl Obj {
    pub(super) fn new(kind: ObjKind, size: u64) -> Obj {
        Obj {
            kind,
            size,
            pages: BTreeMap::new(),
            seals: 0,
        }
    }

    pub(super) fn byte(&self, o: u64, page: usize) -> Byte {
        if self.kind == ObjKind::Zero {
            return Some(0);
        }
        let p = page as u64;
        self.pages
            .get(&(o / p))
            .map_or(Some(0), |v| v[(o % p) as usize])
    }

    pub(super) fn slot(&mut self, o: u64, page: usize) -> &mut Byte {
        let p = page as u64;
        &mut self
            .pages
            .entry(o / p)
            .or_insert_with(|| vec![Some(0); page])[(o % p) as usize]
    }

    /// Whether object page `p` can be touched without SIGBUS.
    pub(super) fn page_ok(&self, p: u64, page: usize) -> bool {
        self.page_ok_sized(p, page, self.size)
    }

    /// As `page_ok`, once the object has `size` bytes.
    pub(super) fn page_ok_sized(&self, p: u64, page: usize, size: u64) -> bool {
        match self.kind {
            ObjKind::Zero | ObjKind::ShmAnon => true,
            ObjKind::File | ObjKind::Memfd => p < size.div_ceil(page as u64),
        }
    }
}

/// Per-page attributes of a mapping (what splits a VMA).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Attr {
    pub(super) prot: u32,
    /// `None`: an mlock failed part-way, so it may or may not be locked.
    pub(super) locked: Option<bool>,
    /// 0 normal, 1 random, 2 sequential.
    pub(super) adv: u8,
    /// 0 default, 1 MADV_HUGEPAGE, 2 MADV_NOHUGEPAGE.
    pub(super) huge: u8,
}

/// A private copy of a page. `sure == false`: maybe copied, maybe still the
/// object's page; its bytes become unknown where the object changes.
#[derive(Clone, Debug)]
pub(super) struct Cow {
    pub(super) data: Vec<Byte>,
    pub(super) sure: bool,
}

#[derive(Clone, Debug)]
pub(super) enum Kind {
    Anon,
    File {
        path: Option<PathBuf>,
        off: u64,
        create: bool,
    },
    Shareable,
}

#[derive(Debug)]
pub(super) struct Reg {
    pub(super) h: *mut mm_region,
    pub(super) kind: Kind,
    pub(super) obj: usize,
    /// Object offset of mapping byte 0 (page aligned).
    pub(super) base: u64,
    /// Offset of the region's first byte in the mapping.
    pub(super) delta: usize,
    pub(super) len: usize,
    /// False for an empty file region, which has no mapping.
    pub(super) mapped: bool,
    pub(super) shared: bool,
    /// mprotect may add PROT_WRITE (VM_MAYWRITE).
    pub(super) may_write: bool,
    /// What mm_flags() must say, without MM_HUGEPAGES.
    pub(super) flags: u32,
    /// Mapped with MM_WRITE: a write the protection refuses is EFAULT, else EACCES.
    pub(super) mapped_write: bool,
    pub(super) attrs: Vec<Attr>,
    /// The attributes differed at some point (or a grow added a mapping of
    /// its own): the kernel need not have merged the VMAs again.
    pub(super) maybe_split: bool,
    pub(super) cow: BTreeMap<usize, Cow>,
    /// Region's `parts` (`PART_*`): what makes a grow without mremap -EBUSY.
    pub(super) parts: u8,
}

/// A successful mm_protect of part of the region (not all of it) set it; one
/// of the whole region clears it.
pub(super) const PART_PROTECTED: u8 = 1;
/// A successful mm_lock set it; a successful mm_unlock of the whole region
/// clears it.
pub(super) const PART_LOCKED: u8 = 2;

/// What a call may return.
#[derive(Clone, Debug)]
pub(super) struct Exp {
    pub(super) ok: bool,
    pub(super) errs: Vec<i32>,
}

pub(super) fn ok() -> Exp {
    Exp {
        ok: true,
        errs: vec![],
    }
}
pub(super) fn err(e: i32) -> Exp {
    Exp {
        ok: false,
        errs: vec![e],
    }
}
pub(super) fn errs(e: &[i32]) -> Exp {
    Exp {
        ok: false,
        errs: e.to_vec(),
    }
}
pub(super) fn ok_or(e: &[i32]) -> Exp {
    Exp {
        ok: true,
        errs: e.to_vec(),
    }
}

/// Calls the model does not make (skipped and counted).
#[derive(Clone, Copy, Debug)]
pub(super) enum Guard {
    /// The call would create a region larger than `MAX_REGION`, or allocate
    /// a file on a file system whose limits the model does not know.
    TooLargeForModel,
}

pub(super) static CALLS: AtomicUsize = AtomicUsize::new(0);
/// Per call: (successes, failures), printed at the end (`--nocapture`).
pub(super) static TALLY: std::sync::Mutex<BTreeMap<String, (usize, usize)>> =
    std::sync::Mutex::new(BTreeMap::new());
/// Bytes compared with the model after successful reads.
pub(super) static COMPARED: AtomicUsize = AtomicUsize::new(0);

pub(super) fn tally(call: &str, ok: bool) {
    let mut t = TALLY.lock().unwrap();
    let e = t.entry(call.to_string()).or_default();
    if ok {
        e.0 += 1;
    } else {
        e.1 += 1;
    }
}
pub(super) static SKIPS: [AtomicUsize; 1] = [AtomicUsize::new(0)];

pub(super) fn last_error() -> String {
    // SAFETY: mm_last_error never returns NULL; the string is NUL-terminated.
    unsafe { CStr::from_ptr(mm_last_error()) }
        .to_string_lossy()
        .into_owned()
}

pub(super) fn norm_prot(prot: u32) -> u32 {
    let mut p = prot & PROT;
    if p & W != 0 {
        p |= R;
    }
    p
}

/// The flags a new region reports (Region's `effective`).
pub(super) fn effective(bits: u32) -> u32 {
    let mut f = bits & !(MM_DEVZERO | MM_HUGEPAGES);
    if f & W != 0 {
        f |= R;
    }
    f
}

/// Region's `check_flags`: whether the word is acceptable for a map call.
pub(super) fn flags_ok(bits: u32, file: bool) -> bool {
    bits & !ALL_FLAGS == 0
        && bits & (R | W) != 0
        && (bits & MM_SHARED != 0) != (bits & MM_PRIVATE != 0)
        && !(file && bits & MM_DEVZERO != 0)
        && (file || bits & (MM_CREATE | MM_EXCL) == 0)
        && !(bits & MM_EXCL != 0 && bits & MM_CREATE == 0)
}

pub(super) fn round_up(n: usize, page: usize) -> Option<usize> {
    n.checked_add(page - 1).map(|v| v & !(page - 1))
}

pub(super) fn pattern(n: usize, seed: u8) -> Vec<u8> {
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

/// `a` then `b`: b is reached only when a succeeds.
/// One of two ways, whichever the library takes.
pub(super) fn either(a: Exp, b: Exp) -> Exp {
    Exp {
        ok: a.ok || b.ok,
        errs: [a.errs, b.errs].concat(),
    }
}

pub(super) fn then(a: Exp, b: Exp) -> Exp {
    if !a.ok {
        return a;
    }
    Exp {
        ok: b.ok,
        errs: [a.errs, b.errs].concat(),
    }
}

/// Whether the kernel's attributes `got` are the model's `want`.
pub(super) fn fits(want: Attr, got: Attr) -> bool {
    (want.prot, want.adv, want.huge) == (got.prot, got.adv, got.huge)
        && want.locked.map_or(true, |l| got.locked == Some(l))
}
