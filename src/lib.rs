//! # mmkit — the memory-mapping toolbox for Unix and Windows behind one small, stable C ABI
//!
//! mmkit maps anonymous memory and files for C (through `mmkit.h` and
//! `pkg-config mmkit`), Python (the `mmkit` ctypes package) and Rust (this
//! crate's safe API). Every failure is a clear error, never a crash.
//!
//! C:
//!
//! ```c
//! #include <mmkit.h>
//! mm_region *r;
//! int rc = mm_map_file("data.bin", 0, 0, MM_READ | MM_PRIVATE, &r);
//! if (rc < 0) { fprintf(stderr, "%s\n", mm_last_error()); return 1; }
//! fwrite(mm_ptr(r), 1, mm_len(r), stdout);
//! mm_unmap(r);
//! ```
//!
//! Rust:
//!
//! ```
//! use mmkit::{Flags, Region, SyncFlags};
//! let r = Region::anon(4096, Flags::READ | Flags::WRITE | Flags::SHARED)?;
//! assert_eq!(r.len(), 4096);
//! r.sync(0, 0, SyncFlags::SYNC)?; // anonymous: succeeds, nothing to write
//! # Ok::<(), mmkit::Error>(())
//! ```
//!
//! The layers: [`Region`] (the safe core), a private platform backend (the only
//! code that calls the kernel), and the C ABI in `ffi` (the only `#[no_mangle]`
//! code), which turns every [`Error`] into a negative errno plus a thread-local
//! message and never lets a panic cross into C.

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod backend;
mod error;
pub mod ffi;
mod flags;
mod region;
#[cfg(unix)]
mod sys;
#[cfg(windows)]
#[path = "windows/mod.rs"]
mod sys;

pub use error::{Error, Result};
pub use flags::*;
pub use region::Region;

/// The system page size in bytes.
pub fn page_size() -> usize {
    sys::page_size()
}

/// The library version, `MAJOR.MINOR.PATCH`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
