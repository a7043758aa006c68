//! The guard (`MM_GUARD`): guarded mappings in a fixed registry the `SIGBUS`
//! handler can read without locks, and the repair of a lost page.
//!
//! A guarded mapping holds one [`Guard`], a slot of [`SLOTS`]: its address
//! range, its protection and its loss record (how many pages were lost, the
//! first and the last, and a bitmap of them mapped by the first repair). The
//! handler (`guard/signal.rs`, installed at the first guarded mapping) finds
//! the live slot holding a faulting address, maps a private zero page over the
//! page, records it and returns, so the access goes on. Everything it touches
//! is static or mapped by itself: no heap, no lock but the slot's own repair
//! lock, only `mmap` and atomics.
//!
//! A slot is `FREE`, `CLAIMED` (being filled in), `LIVE` or `RETIRING`. The
//! handler enters a slot by counting itself in `busy` and then checking that
//! it is still `LIVE`; [`Guard::pause`] sets `RETIRING` and then waits for
//! `busy` to reach 0. Both sides use sequentially consistent operations, so
//! either the handler sees `RETIRING` and leaves, or the pause sees the
//! handler and waits: once a pause returns no handler can patch the range,
//! which is then unmapped or remapped before the slot is freed or re-armed.

use super::*;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize};

mod signal;
#[cfg(test)]
mod tests;

/// How many guarded mappings may exist at once in a process.
pub(crate) const GUARD_SLOTS: usize = 4096;

const FREE: u32 = 0;
const CLAIMED: u32 = 1;
const LIVE: u32 = 2;
const RETIRING: u32 = 3;

/// "No page": the first lost page of a slot that lost none.
const NONE: usize = usize::MAX;

/// Faults on pages the kernel can read that a slot lets run again (a few
/// hundredths of a second in all, a signal each) before it passes them on.
const RETRIES: u32 = 10_000;

/// One guarded mapping, as the handler sees it.
struct Slot {
    state: AtomicU32,
    /// Handlers inside this slot now.
    busy: AtomicU32,
    /// Held by the handler repairing one of this slot's pages.
    lock: AtomicBool,
    /// The mapping: first byte (page-aligned) and length (a page multiple).
    start: AtomicUsize,
    len: AtomicUsize,
    /// The protection of the whole region, which a repaired page gets.
    prot: AtomicI32,
    /// Faults on pages the kernel could read, since the last repair.
    retries: AtomicU32,
    /// `mm_protect` gave part of the region a protection of its own.
    parts: AtomicBool,
    /// Pages lost (repaired), the first and the last of them (page indices).
    lost: AtomicUsize,
    first: AtomicUsize,
    last: AtomicUsize,
    /// One bit a page, set for each lost page; mapped by the first repair
    /// (`bits_len` bytes). Null while nothing was lost, or when that mapping
    /// failed: then every page from the first lost to the last counts as lost.
    bits: AtomicPtr<AtomicU64>,
    bits_len: AtomicUsize,
}

impl Slot {
    #[allow(clippy::declare_interior_mutable_const)] // the array's initializer only
    const EMPTY: Slot = Slot {
        state: AtomicU32::new(FREE),
        busy: AtomicU32::new(0),
        lock: AtomicBool::new(false),
        start: AtomicUsize::new(0),
        len: AtomicUsize::new(0),
        prot: AtomicI32::new(0),
        retries: AtomicU32::new(0),
        parts: AtomicBool::new(false),
        lost: AtomicUsize::new(0),
        first: AtomicUsize::new(NONE),
        last: AtomicUsize::new(0),
        bits: AtomicPtr::new(ptr::null_mut()),
        bits_len: AtomicUsize::new(0),
    };
}

/// The registry. Static, so the handler never meets memory that goes away.
static SLOTS: [Slot; GUARD_SLOTS] = [Slot::EMPTY; GUARD_SLOTS];

/// One past the highest slot ever claimed: the handler looks no further.
static HIGH: AtomicUsize = AtomicUsize::new(0);

/// A guarded mapping's slot. Dropping it retires the slot (waiting for any
/// handler inside it) and frees it; the owner unmaps the range afterwards.
#[derive(Debug)]
pub(crate) struct Guard {
    slot: u32,
}

impl Guard {
    /// Register `map` (protection `prot`) as guarded, installing the handler
    /// first if this is the process's first guarded mapping. `ENOMEM` when
    /// [`GUARD_SLOTS`] mappings are guarded already.
    pub(crate) fn arm(map: &Mapping, prot: Prot) -> SysResult<Guard> {
        signal::install()?;
        for (i, slot) in SLOTS.iter().enumerate() {
            if slot
                .state
                .compare_exchange(FREE, CLAIMED, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            slot.start.store(map.ptr() as usize, Ordering::Relaxed);
            slot.len.store(map.len(), Ordering::Relaxed);
            slot.prot.store(prot.0, Ordering::Relaxed);
            slot.retries.store(0, Ordering::Relaxed);
            slot.parts.store(false, Ordering::Relaxed);
            slot.lost.store(0, Ordering::Relaxed);
            slot.first.store(NONE, Ordering::Relaxed);
            slot.last.store(0, Ordering::Relaxed);
            HIGH.fetch_max(i + 1, Ordering::Release);
            slot.state.store(LIVE, Ordering::Release);
            return Ok(Guard { slot: i as u32 });
        }
        Err(io::Error::from_raw_os_error(libc::ENOMEM))
    }

    fn slot(&self) -> &'static Slot {
        &SLOTS[self.slot as usize]
    }

    /// How many pages the mapping lost (one load: the guarded copies' check).
    #[inline(always)]
    pub(crate) fn lost(&self) -> usize {
        self.slot().lost.load(Ordering::Acquire)
    }

    /// [`Guard::lost`] after a plain copy of the mapping: 0 when no page the
    /// copy touched was lost before or during it, whichever thread's fault
    /// found the loss (the load is ordered after the copy: `after_access`).
    #[inline(always)]
    pub(crate) fn lost_after_copy(&self) -> usize {
        after_access();
        self.lost()
    }

    /// The mapping's count of lost pages itself, for a reader that checks it
    /// without a call (`mm_lost_counter`). Static storage: readable for the
    /// life of the process, but this mapping's count only until the guard is
    /// dropped (the slot may be armed again for another mapping). A repair
    /// counts its page before it maps the zeros.
    pub(crate) fn lost_counter(&self) -> &'static AtomicUsize {
        &self.slot().lost
    }

    /// The lost pages among pages `[first, end)` of the mapping, or `None`.
    pub(crate) fn lost_in(&self, first: usize, end: usize) -> Option<Lost> {
        after_access();
        let slot = self.slot();
        if slot.lost.load(Ordering::Acquire) == 0 || first >= end {
            return None;
        }
        let bits = slot.bits.load(Ordering::Acquire);
        if bits.is_null() {
            let lo = slot.first.load(Ordering::Acquire).max(first);
            let hi = slot.last.load(Ordering::Acquire).min(end - 1);
            return (lo <= hi).then_some(Lost {
                pages: hi - lo + 1,
                first: lo,
                exact: false,
            });
        }
        // SAFETY: the bitmap covers every page of the mapping and stays
        // mapped while the slot is live (it is unmapped only once retired).
        let words = unsafe { bitmap(bits, slot.bits_len.load(Ordering::Acquire)) };
        let mut found = Lost {
            pages: 0,
            first: NONE,
            exact: true,
        };
        let end = end.min(words.len() * 64);
        let mut p = first;
        while p < end {
            let (w, b) = (p / 64, p % 64);
            let n = (64 - b).min(end - p);
            let mask = if n == 64 {
                u64::MAX
            } else {
                ((1u64 << n) - 1) << b
            };
            let v = words[w].load(Ordering::Acquire) & mask;
            if v != 0 {
                found.pages += v.count_ones() as usize;
                found.first = found.first.min(w * 64 + v.trailing_zeros() as usize);
            }
            p += n;
        }
        (found.pages > 0).then_some(found)
    }

    /// Every lost page of the mapping: how many, and the first.
    pub(crate) fn lost_all(&self) -> Option<Lost> {
        after_access();
        let slot = self.slot();
        let pages = slot.lost.load(Ordering::Acquire);
        let first = slot.first.load(Ordering::Acquire);
        // A failed repair puts `first` back after `lost`: both or neither.
        (pages > 0 && first != NONE).then(|| Lost {
            pages,
            first,
            exact: !slot.bits.load(Ordering::Acquire).is_null(),
        })
    }

    /// The region's protection changed: as a whole (`whole`: repaired pages
    /// get `prot` from now on), or for a part only.
    pub(crate) fn protected(&self, prot: Prot, whole: bool) {
        let slot = self.slot();
        if whole {
            slot.prot.store(prot.0, Ordering::Relaxed);
        }
        slot.parts.store(!whole, Ordering::Relaxed);
    }

    /// Retire the slot for a remap: once this returns no handler is inside
    /// it and none will enter until [`Guard::resume`].
    pub(crate) fn pause(&self) {
        let slot = self.slot();
        slot.state.store(RETIRING, Ordering::SeqCst);
        while slot.busy.load(Ordering::SeqCst) != 0 {
            // SAFETY: sched_yield has no preconditions.
            unsafe { libc::sched_yield() };
        }
    }

    /// Re-arm a paused slot for `map`, the region's mapping now (moved or
    /// resized). Pages past its end are forgotten: a shrink drops them. A
    /// mapping grown past what the bitmap covers gets a new one when it next
    /// loses a page (a grow is refused while pages are lost).
    pub(crate) fn resume(&self, map: &Mapping) {
        let slot = self.slot();
        let pages = map.len() / page_size();
        slot.start.store(map.ptr() as usize, Ordering::Relaxed);
        slot.len.store(map.len(), Ordering::Relaxed);
        let bits = slot.bits.load(Ordering::Relaxed);
        let bits_len = slot.bits_len.load(Ordering::Relaxed);
        if !bits.is_null() {
            // SAFETY: paused: no handler uses the bitmap; it is ours to edit.
            let words = unsafe { bitmap(bits, bits_len) };
            let (mut lost, mut first, mut last) = (0, NONE, 0);
            for (w, word) in words.iter().enumerate() {
                let base = w * 64;
                let keep = match pages.saturating_sub(base) {
                    0 => 0,
                    n if n >= 64 => u64::MAX,
                    n => (1u64 << n) - 1,
                };
                let v = word.load(Ordering::Relaxed) & keep;
                word.store(v, Ordering::Relaxed);
                if v != 0 {
                    lost += v.count_ones() as usize;
                    first = first.min(base + v.trailing_zeros() as usize);
                    last = base + 63 - v.leading_zeros() as usize;
                }
            }
            slot.lost.store(lost, Ordering::Relaxed);
            slot.first.store(first, Ordering::Relaxed);
            slot.last.store(last, Ordering::Relaxed);
            if lost == 0 && words.len() * 64 < pages {
                // SAFETY: the bitmap is this slot's own mapping, unused now.
                unsafe { libc::munmap(bits.cast(), bits_len) };
                slot.bits.store(ptr::null_mut(), Ordering::Relaxed);
                slot.bits_len.store(0, Ordering::Relaxed);
            }
        } else if slot.lost.load(Ordering::Relaxed) > 0 {
            // Without a bitmap: the span from the first to the last lost page.
            let first = slot.first.load(Ordering::Relaxed);
            let last = slot
                .last
                .load(Ordering::Relaxed)
                .min(pages.saturating_sub(1));
            let lost = if first < pages { last - first + 1 } else { 0 };
            slot.lost.store(lost, Ordering::Relaxed);
            if lost == 0 {
                slot.first.store(NONE, Ordering::Relaxed);
                slot.last.store(0, Ordering::Relaxed);
            } else {
                slot.last.store(last, Ordering::Relaxed);
            }
        }
        slot.state.store(LIVE, Ordering::Release);
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.pause();
        let slot = self.slot();
        let bits = slot.bits.swap(ptr::null_mut(), Ordering::Relaxed);
        let bits_len = slot.bits_len.swap(0, Ordering::Relaxed);
        if !bits.is_null() {
            // SAFETY: retired: no handler uses the bitmap, a mapping the slot owns.
            unsafe { libc::munmap(bits.cast(), bits_len) };
        }
        slot.lost.store(0, Ordering::Relaxed);
        slot.state.store(FREE, Ordering::Release);
    }
}

/// A slot's bitmap as words.
///
/// # Safety
/// `bits` is a live mapping of `len` bytes (a multiple of 8).
unsafe fn bitmap<'a>(bits: *mut AtomicU64, len: usize) -> &'a [AtomicU64] {
    // SAFETY: per the contract; AtomicU64 has u64's layout.
    unsafe { std::slice::from_raw_parts(bits, len / 8) }
}

/// Zero-filled memory mapped by the handler: `MAP_ANONYMOUS`, or `/dev/zero`
/// where this build has no `MAP_ANONYMOUS` (opened and closed here: `open`,
/// `mmap` and `close` are async-signal-safe). `at`: exactly there
/// (`MAP_FIXED`), replacing what is mapped; null: anywhere. Null on failure.
fn map_zeros(at: *mut u8, len: usize, prot: i32) -> *mut c_void {
    let fixed = if at.is_null() { 0 } else { libc::MAP_FIXED };
    #[cfg(mmkit_map_anonymous)]
    // SAFETY: with MAP_FIXED, `at` is a page of a guarded mapping the caller
    // has checked is live and lost (replacing it is the repair); else the
    // kernel picks a fresh range.
    let p = unsafe {
        libc::mmap(
            at.cast(),
            len,
            prot,
            libc::MAP_PRIVATE | libc::MAP_ANON | fixed,
            -1,
            0,
        )
    };
    #[cfg(not(mmkit_map_anonymous))]
    let p = {
        // SAFETY: a constant NUL-terminated path.
        let fd = unsafe { libc::open(c"/dev/zero".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        if fd < 0 {
            return ptr::null_mut();
        }
        // SAFETY: as above; the descriptor is ours and closed at once.
        unsafe {
            let p = libc::mmap(at.cast(), len, prot, libc::MAP_PRIVATE | fixed, fd, 0);
            libc::close(fd);
            p
        }
    };
    if p == libc::MAP_FAILED {
        return ptr::null_mut();
    }
    if !at.is_null() && p != at.cast() {
        // Put elsewhere (an emulator may refuse MAP_FIXED): not a repair.
        // SAFETY: unmaps the fresh mapping just made.
        unsafe { libc::munmap(p, len) };
        return ptr::null_mut();
    }
    p
}

/// Keeps the reads of a loss record after the accesses to the memory that
/// came before them (see [`Guard::lost_after_copy`]). A fault of this thread's
/// own access was repaired between its instructions, so only the compiler
/// must keep the order. A repair made by another thread's handler counts the
/// page before it maps the zeros, so an access that met those zeros must be
/// ordered before the read of the count: x86 keeps loads in order (and the
/// translation of a store is a load of the page tables); elsewhere (arm64,
/// POWER, RISC-V) a fence does it.
#[inline(always)]
fn after_access() {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    std::sync::atomic::compiler_fence(Ordering::SeqCst);
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
    std::sync::atomic::fence(Ordering::SeqCst);
}

/// The handler's work for a fault at `addr`: repair it if it lies in a live
/// guarded mapping. `false`: not ours (or the repair failed), pass it on.
///
/// # Safety
/// Called from the `SIGBUS` handler (or a test) with a fault address.
unsafe fn repair(addr: usize) -> bool {
    let high = HIGH.load(Ordering::Acquire);
    for slot in &SLOTS[..high] {
        if slot.state.load(Ordering::Acquire) != LIVE
            || addr.wrapping_sub(slot.start.load(Ordering::Relaxed))
                >= slot.len.load(Ordering::Relaxed)
        {
            continue;
        }
        slot.busy.fetch_add(1, Ordering::SeqCst);
        // Counted in: a pause from now on waits for us. Still live, and
        // still this range (a slot freed and claimed again meanwhile holds
        // another mapping, whose range is checked here afresh)? The state
        // first: a slot armed again since publishes its range before LIVE,
        // so the range read after a LIVE is that mapping's, never a mix.
        let live = slot.state.load(Ordering::SeqCst) == LIVE;
        let start = slot.start.load(Ordering::SeqCst);
        let ours = live && addr.wrapping_sub(start) < slot.len.load(Ordering::SeqCst);
        let repaired = ours && slot.repair(start, addr);
        slot.busy.fetch_sub(1, Ordering::SeqCst);
        if ours {
            return repaired;
        }
    }
    false
}

impl Slot {
    /// Map a private zero page over the page of `addr` and record it lost.
    fn repair(&self, start: usize, addr: usize) -> bool {
        let page = page_size();
        let prot = self.prot.load(Ordering::Relaxed);
        if prot == libc::PROT_NONE {
            // No access at all: a zero page would fault again.
            return false;
        }
        if cfg!(mmkit_guard_sigbus_prot) && self.parts.load(Ordering::Relaxed) {
            // SIGBUS here also means a protection fault, and some pages have
            // a protection of their own: none of this region's is repaired.
            return false;
        }
        while self
            .lock
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            // Another thread repairs a page of this mapping: a few microseconds.
            // SAFETY: sched_yield has no preconditions.
            unsafe { libc::sched_yield() };
        }
        let done = self.repair_locked(start, addr & !(page - 1), page, prot);
        self.lock.store(false, Ordering::Release);
        done
    }

    fn repair_locked(&self, start: usize, at: usize, page: usize, prot: i32) -> bool {
        let p = (at - start) / page;
        let bits = self.bitmap_for(self.len.load(Ordering::Relaxed) / page);
        let (word, bit) = (p / 64, 1u64 << (p % 64));
        // SAFETY: a bitmap covers every page of the mapping.
        let words = (!bits.is_null())
            .then(|| unsafe { bitmap(bits, self.bits_len.load(Ordering::Relaxed)) });
        // A bitmap too short for the page (never, with the resize rules; but
        // nothing in a signal handler may panic) counts as none.
        let words = words.filter(|w| word < w.len());
        if words.is_some_and(|w| w[word].load(Ordering::Relaxed) & bit != 0) {
            // Repaired already by another thread: the access is retried.
            return true;
        }
        // Only a page the kernel finds gone now is replaced. One it can read
        // is not lost: the fault was for a range unmapped and mapped again
        // since (a thread racing mm_unmap, the next region at the same
        // addresses), or the file grew back since, or it is not a truncation
        // at all (a write refused by a full disk; a protection fault on
        // macOS). The access is tried again; a fault that keeps coming back
        // on pages the kernel can read goes on to the earlier handler.
        if signal::readable(at) != Some(false) {
            // (Not known either way -- the probe failed -- is not "gone":
            // nothing is replaced on a guess.)
            if self.retries.fetch_add(1, Ordering::Relaxed) < RETRIES {
                return true;
            }
            self.retries.store(0, Ordering::Relaxed);
            return false;
        }
        // Recorded before the page is replaced: a copy that reads the zeros
        // then also sees the loss.
        if let Some(w) = words {
            w[word].fetch_or(bit, Ordering::SeqCst);
        }
        let (first, last) = (
            self.first.load(Ordering::Relaxed),
            self.last.load(Ordering::Relaxed),
        );
        self.first.store(first.min(p), Ordering::SeqCst);
        self.last.store(last.max(p), Ordering::SeqCst);
        self.lost.fetch_add(1, Ordering::SeqCst);
        if !map_zeros(at as *mut u8, page, prot).is_null() {
            self.retries.store(0, Ordering::Relaxed);
            return true;
        }
        // Not repaired: the fault goes on to the earlier handler.
        self.lost.fetch_sub(1, Ordering::SeqCst);
        self.first.store(first, Ordering::SeqCst);
        self.last.store(last, Ordering::SeqCst);
        if let Some(w) = words {
            w[word].fetch_and(!bit, Ordering::SeqCst);
        }
        false
    }

    /// The slot's bitmap for a mapping of `pages` pages, mapped now if it has
    /// none; null when that fails. Called with the repair lock held.
    fn bitmap_for(&self, pages: usize) -> *mut AtomicU64 {
        let bits = self.bits.load(Ordering::Relaxed);
        if !bits.is_null() {
            return bits;
        }
        let Some(len) = round_up(pages.div_ceil(64) * 8, page_size()) else {
            return ptr::null_mut();
        };
        let p = map_zeros(ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE);
        if !p.is_null() {
            self.bits_len.store(len, Ordering::Relaxed);
            self.bits.store(p.cast(), Ordering::Release);
        }
        p.cast()
    }
}

/// In a child after `fork`, only the forking thread exists: handlers that
/// were inside a slot in other threads of the parent never leave it.
fn forget_other_threads() {
    for slot in &SLOTS[..HIGH.load(Ordering::Relaxed)] {
        slot.busy.store(0, Ordering::Relaxed);
        slot.lock.store(false, Ordering::Relaxed);
    }
}
