//! The safe Rust core: [`Region`], one mapping with its bounds and flags.

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering};

use crate::error::{msg, Error, Result, Text};
use crate::flags::{Advice, Flags, SyncFlags, MM_SEAL_GROW, MM_SEAL_SHRINK, MM_SEAL_WRITE};
use crate::sys::{
    self, errno, Access, AsDescriptor, AsRawDescriptor, BorrowedDescriptor, FileKind, Guard,
    LockedRuns, MapSpec, Mapping, OwnedDescriptor, Prot, Share,
};

mod check;
// MM_CREATE: the sticky-directory rules of Unix, or Windows' one open.
#[cfg(unix)]
mod create;
#[cfg(windows)]
#[path = "create_windows.rs"]
mod create;
mod guard;
mod messages;
mod open;
mod ops;
mod resize;

use check::*;
use guard::*;
use messages::*;

/// What backs a region.
#[derive(Debug)]
enum Kind {
    Anonymous,
    /// A file; where it came from, for resizing.
    File(FileOrigin),
    /// Memory from [`Region::shareable`], keeping its descriptor.
    Shareable {
        fd: OwnedDescriptor,
        sealable: bool,
    },
}

/// The file under a file region. No descriptor is kept (the contract): a
/// resize that needs the file reopens `path` and checks it is the same file.
#[derive(Debug)]
struct FileOrigin {
    /// `None` for regions mapped from a caller's descriptor.
    path: Option<SavedPath>,
    dev: u64,
    ino: u64,
    /// File offset of the region's first byte.
    offset: u64,
}

/// The path a file region was mapped from, exactly as the caller passed it.
/// Paths of up to [`SavedPath::INLINE`] bytes (nearly all) are kept inline, so
/// mapping a file allocates nothing; longer ones go to the heap.
enum SavedPath {
    Inline {
        len: u8,
        bytes: [u8; SavedPath::INLINE],
    },
    Heap(std::path::PathBuf),
}

impl SavedPath {
    /// 46: with the tag and the length, 48 bytes, which keeps a `Region` (and
    /// a `Result<Region>`) within 128 bytes, the size the compiler still moves
    /// with a few inline stores instead of a call to `memcpy`.
    const INLINE: usize = 46;

    /// `None` when a long path finds no heap memory.
    fn new(path: &Path) -> Option<SavedPath> {
        let Some(b) = sys::path_bytes(path) else {
            // Not representable as bytes (Windows: not valid Unicode).
            return Some(SavedPath::Heap(path.to_path_buf()));
        };
        if b.len() <= Self::INLINE {
            let mut bytes = [0u8; Self::INLINE];
            bytes[..b.len()].copy_from_slice(b);
            return Some(SavedPath::Inline {
                len: b.len() as u8,
                bytes,
            });
        }
        let mut heap: Vec<u8> = Vec::new();
        heap.try_reserve_exact(b.len()).ok()?;
        // Within the reserved room; the conversions below move, not copy.
        heap.extend_from_slice(b);
        sys::path_buf_of_vec(heap).map(SavedPath::Heap)
    }

    fn as_path(&self) -> &Path {
        match self {
            SavedPath::Inline { len, bytes } => {
                // Bytes path_bytes gave, so always a path again.
                sys::path_of_bytes(&bytes[..usize::from(*len)]).unwrap_or(Path::new(""))
            }
            SavedPath::Heap(p) => p,
        }
    }
}

impl std::fmt::Debug for SavedPath {
    /// As the path itself (what a `PathBuf` here used to print).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_path(), f)
    }
}

/// One memory mapping: `len` usable bytes starting at [`Region::as_ptr`].
///
/// Create one with [`Region::anon`], [`Region::file`] or [`Region::from_fd`];
/// dropping it unmaps the memory. The bounds-checked operations take byte
/// offsets relative to the first usable byte and round to pages themselves.
///
/// A `Region` is `Send` and `Sync`: it can be synced, locked, advised and
/// protected from several threads at once.
///
/// ```
/// use mmkit::{Flags, Region};
/// let r = Region::anon(100, Flags::READ | Flags::WRITE | Flags::PRIVATE).unwrap();
/// assert_eq!(r.len(), 100);
/// // SAFETY: a private anonymous region is ours alone; nothing else writes it.
/// let bytes = unsafe { r.as_slice() };
/// assert!(bytes.iter().all(|&b| b == 0));
/// ```
#[derive(Debug)]
pub struct Region {
    /// The guard's slot of a guarded ([`Flags::GUARD`]) file or shareable
    /// region with a mapping. First, so that it is dropped first: the slot is
    /// retired (no fault handler left inside it) before the range is unmapped.
    guard: Option<Guard>,
    /// `None` for an empty region (length 0).
    map: Option<Mapping>,
    /// Offset of the first usable byte inside `map` (file offsets need not be aligned).
    delta: usize,
    len: usize,
    flags: AtomicU32,
    /// Which per-page state exists (`PART_*`), for platforms whose grow copies.
    parts: AtomicU8,
    /// Mapped with `MM_WRITE`: a write that the protection refuses now is a
    /// page `mm_protect` made inaccessible (`EFAULT`), not a region mapped
    /// read-only (`EACCES`).
    mapped_write: bool,
    kind: Kind,
}

/// `mm_protect` changed part of the region (not all of it).
const PART_PROTECTED: u8 = 1;
/// `mm_lock` locked pages that no whole-region `mm_unlock` released since.
const PART_LOCKED: u8 = 2;

impl Region {
    /// The first usable byte; null for an empty region.
    pub fn as_ptr(&self) -> *mut u8 {
        match &self.map {
            // SAFETY: delta < map.len() for a non-empty region.
            Some(m) => unsafe { m.ptr().add(self.delta) },
            None => std::ptr::null_mut(),
        }
    }

    /// Number of usable bytes from [`Region::as_ptr`].
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the region has no bytes (an empty file was mapped).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The size of the pages the region is mapped in: the huge page size for
    /// a region of explicit huge pages (`MM_HUGEPAGES` with huge pages
    /// reserved: `MAP_HUGETLB` on Linux), else [`crate::page_size`]. The
    /// ranges [`Region::protect`] takes, and what [`Region::lock`],
    /// [`Region::advise`] and [`Region::resize`] round to, are in these pages.
    pub fn page_size(&self) -> usize {
        self.map
            .as_ref()
            .map_or_else(sys::page_size, Mapping::page_size)
    }

    /// The flags in effect: [`Flags::DEVZERO`] when `/dev/zero` served an
    /// anonymous region, [`Flags::HUGEPAGES`] only when huge pages were really
    /// requested from the kernel, and the protection last set on the whole region.
    pub fn flags(&self) -> Flags {
        Flags::from_bits(self.flags.load(Ordering::Relaxed)).unwrap_or_default()
    }

    /// The region's bytes.
    ///
    /// # Safety
    /// The region must be readable, and for the lifetime of the slice nobody
    /// may write the memory (another process through a shared mapping, or this
    /// one through a raw pointer) nor truncate a mapped file (`SIGBUS`).
    pub unsafe fn as_slice(&self) -> &[u8] {
        match &self.map {
            // SAFETY: the caller upholds the contract above; the range is mapped.
            Some(_) => unsafe { std::slice::from_raw_parts(self.as_ptr(), self.len) },
            None => &[],
        }
    }

    /// The region's bytes, writable.
    ///
    /// # Safety
    /// As for [`Region::as_slice`], and the region must be writable.
    pub unsafe fn as_mut_slice(&mut self) -> &mut [u8] {
        match &self.map {
            // SAFETY: the caller upholds the contract above; the range is mapped.
            Some(_) => unsafe { std::slice::from_raw_parts_mut(self.as_ptr(), self.len) },
            None => &mut [],
        }
    }

    /// Check `[offset, offset+len)` (len 0: to the end) against the region and
    /// return it as absolute offsets inside the mapping.
    fn span(&self, call: &'static str, offset: usize, len: usize) -> Result<(usize, usize)> {
        if offset > self.len {
            return Err(Error::invalid(
                call,
                format_args!(
                    "offset {offset} is past the end of the region ({} bytes)",
                    self.len
                ),
            ));
        }
        let len = if len == 0 { self.len - offset } else { len };
        match offset.checked_add(len) {
            Some(end) if end <= self.len => Ok((self.delta + offset, self.delta + end)),
            _ => Err(Error::invalid(
                call,
                format_args!(
                    "range of {len} bytes at offset {offset} is outside the region ({} bytes)",
                    self.len
                ),
            )),
        }
    }

    /// The mapping and the pages covering `[start, end)` (the mapping's own
    /// pages, huge ones included), or `None` when empty.
    fn pages(&self, start: usize, end: usize) -> Option<(&Mapping, usize, usize)> {
        let map = self.map.as_ref()?;
        if start == end {
            return None;
        }
        let page = map.page_size();
        let s = sys::round_down(start, page);
        // end <= delta + len <= map.len(), which is a page multiple.
        let e = sys::round_up(end, page).unwrap_or(map.len()).min(map.len());
        Some((map, s, e - s))
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// The page size a mapping records costs a `Region` no room: it stays
    /// within the 128 bytes [`SavedPath::INLINE`] is chosen for.
    #[test]
    fn a_region_stays_within_128_bytes() {
        assert!(std::mem::size_of::<Region>() <= 128);
        assert!(std::mem::size_of::<Result<Region>>() <= 128);
    }
}
