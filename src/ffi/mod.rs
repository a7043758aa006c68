//! The C ABI. This is the only module with `#[no_mangle]` functions: here
//! the boundary every call goes through (the panic guard, the thread's last
//! message, NULL checks, the handle's memory), and one file a concept:
//! `map.rs` (making and unmapping regions), `accessors.rs` (what a region is,
//! the library's page size, version and last message), `ops.rs` (what is
//! done to a region: sync, lock, advise, protect, copies, resize),
//! `shareable.rs` (memory other processes map, its descriptor and seals),
//! `loss.rs` (what a guarded region lost: `mm_check`, `mm_lost_counter`),
//! `windows.rs` (Windows only: `mm_map_handle`, `mm_handle`).
//!
//! Every function (but `mm_version`, which only returns a static string)
//! checks its pointers for NULL, runs its body inside a panic boundary, returns 0 or a negative errno, and on failure stores a message
//! for `mm_last_error()` in a thread-local buffer.
//!
//! Safety contract shared by every function here (it is the C contract): a
//! region argument is NULL or a live handle returned by an `mm_map_*` call and
//! not yet passed to `mm_unmap`; `out` is NULL or points to writable storage
//! for one pointer; `path` is NULL or a NUL-terminated string. NULL is always
//! detected and reported; the rest cannot be checked from C pointers.

// The shared contract above stands for the per-function `# Safety` sections,
// which would otherwise be repeated in every comment of the C header.
#![allow(clippy::missing_safety_doc)]

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::{msg, Error, Result, Text};
use crate::flags::{Advice, Flags, SyncFlags};
use crate::region::Region;

// cbindgen writes the functions in the order of these declarations, which is
// the header's: one declaration a group, so that rustfmt keeps the order.
mod map;

mod accessors;

mod ops;

mod shareable;

mod loss;

#[cfg(windows)]
mod windows;

#[cfg(test)]
mod tests;

pub use accessors::*;
pub use loss::*;
pub use map::*;
pub use ops::*;
pub use shareable::*;
#[cfg(windows)]
pub use windows::*;

/// An opaque handle to one mapping, created by `mm_map_anon`, `mm_map_file`
/// or `mm_map_fd` and released by `mm_unmap`.
#[allow(non_camel_case_types)]
pub struct mm_region {
    region: Region,
}

/// Room for one thread's last error message, its terminating NUL included.
/// A longer message is cut, ending in "...".
const LAST_ERROR_ROOM: usize = 4096;

thread_local! {
    // A fixed buffer, not a heap string: storing a message never allocates,
    // so an exhausted heap still gets its message. Const-initialised and
    // without a destructor, it needs no lazy set-up either.
    static LAST_ERROR: RefCell<[u8; LAST_ERROR_ROOM]> =
        const { RefCell::new([0; LAST_ERROR_ROOM]) };
}

/// Writes a message into a NUL-terminated buffer, NUL bytes spelled `\0`,
/// cut with "..." where it does not fit.
struct MessageWriter<'a> {
    buf: &'a mut [u8; LAST_ERROR_ROOM],
    len: usize,
    cut: bool,
}

impl std::fmt::Write for MessageWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        // Keep room for "..." and the terminating NUL.
        const END: usize = LAST_ERROR_ROOM - 4;
        for ch in s.chars() {
            let mut utf8 = [0u8; 4];
            let bytes: &[u8] = if ch == '\0' {
                b"\\0"
            } else {
                ch.encode_utf8(&mut utf8).as_bytes()
            };
            if self.len + bytes.len() > END {
                self.cut = true;
                return Err(std::fmt::Error);
            }
            self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
            self.len += bytes.len();
        }
        Ok(())
    }
}

/// Store `e` as this thread's last error message.
fn set_last_error(e: &Error) {
    use std::fmt::Write;
    // If the thread-local is being torn down there is nowhere to store it.
    let _ = LAST_ERROR.try_with(|slot| {
        let Ok(mut buf) = slot.try_borrow_mut() else {
            return;
        };
        let mut w = MessageWriter {
            buf: &mut buf,
            len: 0,
            cut: false,
        };
        let _ = write!(w, "{e}");
        let (mut len, cut) = (w.len, w.cut);
        if cut {
            buf[len..len + 3].copy_from_slice(b"...");
            len += 3;
        }
        buf[len] = 0;
    });
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> Text {
    if let Some(s) = payload.downcast_ref::<&str>() {
        msg!("{s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        msg!("{s}")
    } else {
        Text::Borrowed("panic with a non-string payload")
    }
}

/// Run `body` for the C call `call`: 0 on success, `-errno` on failure or panic.
/// Inlined into each C function: out of line, the closure's captures went
/// through the stack and a call (the guarded 16-byte `mm_read` was 3.0x a
/// `memcpy`, 1.8x inlined: BENCHMARKS.md, run 18).
#[inline(always)]
pub(crate) fn guard(call: &'static str, body: impl FnOnce() -> Result<()>) -> c_int {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => failed(e),
        Err(payload) => panicked(call, payload),
    }
}

/// [`guard`]'s failure path, out of line: store the message, return `-errno`.
#[cold]
#[inline(never)]
fn failed(err: Error) -> c_int {
    set_last_error(&err);
    -err.errno()
}

/// [`guard`]'s panic path: the panic becomes an `EIO` error of `call`.
#[cold]
#[inline(never)]
fn panicked(call: &'static str, payload: Box<dyn std::any::Any + Send>) -> c_int {
    failed(Error::Internal {
        call,
        msg: panic_message(&*payload),
    })
}

/// Run an accessor that cannot fail; a panic (a bug) yields `fallback`.
/// Inlined, as [`guard`].
#[inline(always)]
fn quiet<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(fallback)
}

/// A mapping call's flag word, with unknown bits refused.
#[inline]
fn map_flags(call: &'static str, bits: u32) -> Result<Flags> {
    Flags::from_bits(bits).map_err(|u| {
        Error::invalid(
            call,
            format_args!("unknown flag bits {u:#x} in flags {bits:#x}"),
        )
    })
}

#[cold]
fn null(call: &'static str, what: &str) -> Error {
    Error::invalid(call, format_args!("{what} is NULL"))
}

/// Borrow the region behind a C handle.
///
/// # Safety
/// `r` is NULL or a live handle from an `mm_map_*` call.
unsafe fn region<'a>(call: &'static str, r: *const mm_region) -> Result<&'a Region> {
    // SAFETY: per this function's contract.
    unsafe { peek(r) }.ok_or_else(|| null(call, "region"))
}

/// Borrow the region behind a C handle for an accessor, which reports no
/// error: `None` for NULL.
///
/// # Safety
/// `r` is NULL or a live handle from an `mm_map_*` call.
unsafe fn peek<'a>(r: *const mm_region) -> Option<&'a Region> {
    // SAFETY: per this function's contract, a non-NULL r is a live handle.
    unsafe { r.as_ref() }.map(|h| &h.region)
}

/// Make a region with `make` and hand it to the caller through `out`.
///
/// The handle's memory is had first (from `malloc`; `mm_unmap` frees it) and
/// the new region moved into it once; when `make` fails the memory is freed
/// and `out` is left alone.
///
/// # Safety
/// `out` was checked non-NULL and points to writable storage for a pointer.
#[inline(always)]
unsafe fn create(
    call: &'static str,
    out: *mut *mut mm_region,
    make: impl FnOnce() -> Result<Region>,
) -> Result<()> {
    let slot = HandleMemory::new(call)?;
    let handle = slot.fill(make()?);
    // SAFETY: per the contract above.
    unsafe { out.write(handle) };
    Ok(())
}

/// `malloc`ed memory for one `mm_region`, freed on drop unless filled.
struct HandleMemory(std::ptr::NonNull<mm_region>);

// malloc's blocks are aligned for any fundamental type, at least 8 bytes.
const _: () = assert!(std::mem::align_of::<mm_region>() <= 8);

impl HandleMemory {
    fn new(call: &'static str) -> Result<HandleMemory> {
        // SAFETY: malloc has no preconditions; the size is not zero.
        let p = unsafe { libc::malloc(std::mem::size_of::<mm_region>()) };
        std::ptr::NonNull::new(p.cast())
            .map(HandleMemory)
            .ok_or_else(|| {
                Error::os(
                    call,
                    libc::ENOMEM,
                    format_args!(
                        "no memory for the region handle ({} bytes)",
                        std::mem::size_of::<mm_region>()
                    ),
                )
            })
    }

    /// Move `region` into the memory and return the handle.
    fn fill(self, region: Region) -> *mut mm_region {
        let p = self.0.as_ptr();
        std::mem::forget(self);
        // SAFETY: p is a live malloc block of mm_region's size and alignment
        // (asserted above) that nothing else refers to.
        unsafe { p.write(mm_region { region }) };
        p
    }
}

impl Drop for HandleMemory {
    fn drop(&mut self) {
        // SAFETY: the block came from malloc, was never filled, and is ours.
        unsafe { libc::free(self.0.as_ptr().cast()) };
    }
}
