//! The OS-neutral half of the backend interface: the plain types and
//! helpers both backends (`src/sys/` for Unix, `src/windows/` for Windows)
//! speak in, defined once. Each backend re-exports them, so the core names
//! them `sys::Share`, `sys::MapSpec`, ... whichever backend is mounted.

use crate::sys::Prot;

/// `n` rounded up to a multiple of `align` (a power of two), or `None` on overflow.
pub(crate) fn round_up(n: usize, align: usize) -> Option<usize> {
    n.checked_add(align - 1).map(|v| v & !(align - 1))
}

/// `n` rounded down to a multiple of `align` (a power of two).
pub(crate) fn round_down(n: usize, align: usize) -> usize {
    n & !(align - 1)
}

/// How a mapping shares its writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Share {
    Shared,
    Private,
}

/// What the backend is asked to map: protection and options, already validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MapSpec {
    pub prot: Prot,
    pub share: Share,
    /// Ask for `MAP_NORESERVE` where the platform has it.
    #[cfg_attr(not(mmkit_map_noreserve), allow(dead_code))]
    pub noreserve: bool,
    /// Ask for `MAP_POPULATE` where the platform has it (a hint; the
    /// backend's `populate` prefaults and reports).
    #[cfg_attr(not(mmkit_map_populate), allow(dead_code))]
    pub populate: bool,
}

/// Which way a fault-safe copy goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// From the mapping into the caller's buffer.
    Read,
    /// From the caller's buffer into the mapping.
    Write,
}

/// What a descriptor was opened for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    ReadOnly,
    WriteOnly,
    ReadWrite,
}

/// What a range check of the guard found: lost pages in the range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Lost {
    /// How many pages of the range were lost.
    pub(crate) pages: usize,
    /// The first of them (page index in the mapping).
    pub(crate) first: usize,
    /// `false` when the record could not keep every page (no memory for its
    /// bitmap): then every page between the first and the last lost counts.
    pub(crate) exact: bool,
}

/// What memory a mapping holds, for the backend's `populate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Backing {
    /// Anonymous memory (`MAP_ANONYMOUS` or `/dev/zero`): every page exists.
    Anonymous,
    /// A file: a page can be missing (truncated meanwhile), and others may
    /// write the file while we populate.
    File,
    /// A shared memory object this process just made: a page can be missing
    /// (a full `/dev/shm`), nobody else has it yet.
    Object,
}
