//! What is done to a region: sync, lock, advise, protect, the fault-safe
//! copies, resize.

use super::*;

/// Write the pages covering `[offset, offset + len)` back to the file (`msync`).
///
/// `len == 0` means to the end of the region. `flags`: `MM_SYNC` (write and
/// wait; also what 0 means) or `MM_ASYNC` (schedule), optionally OR-ed with
/// `MM_INVALIDATE`. After `MM_SYNC` returns 0 the bytes are in the file for
/// any reader and survive the process being killed. On an anonymous region it
/// succeeds and does nothing. `-EINVAL` for `MM_SYNC|MM_ASYNC`, unknown bits, a
/// range outside the region or a NULL region; `-EFAULT` when the range holds a
/// page a guarded region lost (its writes never reached the file).
#[no_mangle]
pub unsafe extern "C" fn mm_sync(
    r: *mut mm_region,
    offset: usize,
    len: usize,
    flags: u32,
) -> c_int {
    const CALL: &str = "mm_sync";
    guard(CALL, || {
        // SAFETY: r is NULL or a live handle (C contract).
        let r = unsafe { region(CALL, r) }?;
        let how = SyncFlags::from_bits(flags).map_err(|m| Error::invalid(CALL, m))?;
        r.sync(offset, len, how)
    })
}

/// Lock the pages covering `[offset, offset + len)` in RAM (`mlock`).
///
/// `len == 0` means to the end. When the system refuses because of
/// `RLIMIT_MEMLOCK` or privilege the errno (`-ENOMEM`, `-EPERM`, `-EAGAIN`) is
/// passed through and `mm_last_error()` names `RLIMIT_MEMLOCK`, its value, the
/// bytes asked and the bytes already locked. The pages are the region's own:
/// huge pages for explicit huge pages (`MM_HUGEPAGES`, `MAP_HUGETLB`).
#[no_mangle]
pub unsafe extern "C" fn mm_lock(r: *mut mm_region, offset: usize, len: usize) -> c_int {
    const CALL: &str = "mm_lock";
    guard(CALL, || {
        // SAFETY: r is NULL or a live handle (C contract).
        unsafe { region(CALL, r) }?.lock(offset, len)
    })
}

/// Unlock the pages covering `[offset, offset + len)` (`munlock`); `len == 0`
/// means to the end.
#[no_mangle]
pub unsafe extern "C" fn mm_unlock(r: *mut mm_region, offset: usize, len: usize) -> c_int {
    const CALL: &str = "mm_unlock";
    guard(CALL, || {
        // SAFETY: r is NULL or a live handle (C contract).
        unsafe { region(CALL, r) }?.unlock(offset, len)
    })
}

/// Advise the kernel about `[offset, offset + len)` (`madvise`).
///
/// `advice` is one of `MM_ADV_NORMAL`, `MM_ADV_RANDOM`, `MM_ADV_SEQUENTIAL`,
/// `MM_ADV_WILLNEED`, `MM_ADV_DONTNEED`, `MM_ADV_HUGEPAGE`,
/// `MM_ADV_NOHUGEPAGE`; advice the platform lacks is `-ENOTSUP`, an unknown
/// value `-EINVAL`. The advice covers the region's pages the range touches
/// (huge pages for explicit huge pages); `MM_ADV_DONTNEED` acts only on whole
/// pages inside the range.
#[no_mangle]
pub unsafe extern "C" fn mm_advise(
    r: *mut mm_region,
    offset: usize,
    len: usize,
    advice: c_int,
) -> c_int {
    const CALL: &str = "mm_advise";
    guard(CALL, || {
        // SAFETY: r is NULL or a live handle (C contract).
        let r = unsafe { region(CALL, r) }?;
        let advice = Advice::from_raw(advice)
            .ok_or_else(|| Error::invalid(CALL, format_args!("unknown advice {advice}")))?;
        r.advise(offset, len, advice)
    })
}

/// Change the protection of `[offset, offset + len)` (`mprotect`).
///
/// `prot` is `MM_READ|MM_WRITE|MM_EXEC` or 0 for no access. The range must
/// start and end on page boundaries of the mapping, or at the ends of the
/// region (`-EINVAL` otherwise, with a message naming the page size), so no
/// byte outside it changes. For a region of explicit huge pages
/// (`MM_HUGEPAGES`, `MAP_HUGETLB`) the page is the huge page. Asking for
/// write access to a read-only file mapping is `-EACCES`.
#[no_mangle]
pub unsafe extern "C" fn mm_protect(
    r: *mut mm_region,
    offset: usize,
    len: usize,
    prot: u32,
) -> c_int {
    const CALL: &str = "mm_protect";
    guard(CALL, || {
        // SAFETY: r is NULL or a live handle (C contract).
        let r = unsafe { region(CALL, r) }?;
        let prot = Flags::from_bits(prot)
            .ok()
            .filter(|p| p.protection() == *p)
            .ok_or_else(|| {
                Error::invalid(
                    CALL,
                    format_args!("prot {prot:#x} has bits other than MM_READ|MM_WRITE|MM_EXEC"),
                )
            })?;
        r.protect(offset, len, prot)
    })
}

/// Copy `n` bytes from byte `offset` of the region into `dst`, bounds-checked
/// and fault-safe: where a plain load would raise `SIGBUS` (the file under the
/// mapping was truncated) or `SIGSEGV` (no access), it returns `-EFAULT` and
/// the process goes on.
///
/// `-EINVAL` for a NULL region, a NULL `dst` with `n > 0`, or a range outside
/// the region. On a guarded region (`MM_GUARD`) it is a plain memory copy,
/// followed by a check of the region's loss record: `-EFAULT` when a page of
/// the range was lost before or during the copy (those bytes read as zeros).
/// Otherwise Linux copies through `process_vm_readv` on the own process;
/// other systems through a pipe (`write(2)` from a faulting address is `EFAULT`).
#[no_mangle]
pub unsafe extern "C" fn mm_read(
    r: *const mm_region,
    offset: usize,
    dst: *mut c_void,
    n: usize,
) -> c_int {
    const CALL: &str = "mm_read";
    guard(CALL, || {
        // SAFETY: r is NULL or a live handle (C contract).
        let r = unsafe { region(CALL, r) }?;
        if dst.is_null() && n > 0 {
            return Err(null(CALL, "dst"));
        }
        // SAFETY: per the C contract dst has room for n bytes; read_raw
        // checks the range before it touches dst (no slice of n bytes is made,
        // so any n is a clean -EINVAL).
        unsafe { r.read_raw(offset, dst.cast::<u8>(), n) }
    })
}

/// Copy `n` bytes from `src` into the region at byte `offset`, bounds-checked
/// and fault-safe like `mm_read` (`-EFAULT` instead of `SIGBUS`; on a guarded
/// region a plain copy, `-EFAULT` when a page of the range was lost, whose
/// bytes never reach the file). Writing a region mapped without `MM_WRITE` is
/// `-EACCES`; one mapped with it whose pages `mm_protect` made read-only or
/// inaccessible is `-EFAULT`; a range outside the region `-EINVAL`.
#[no_mangle]
pub unsafe extern "C" fn mm_write(
    r: *mut mm_region,
    offset: usize,
    src: *const c_void,
    n: usize,
) -> c_int {
    const CALL: &str = "mm_write";
    guard(CALL, || {
        // SAFETY: r is NULL or a live handle (C contract).
        let r = unsafe { region(CALL, r) }?;
        if src.is_null() && n > 0 {
            return Err(null(CALL, "src"));
        }
        // SAFETY: per the C contract src holds n bytes; write_raw checks the
        // range before it reads src (no slice of n bytes is made).
        unsafe { r.write_raw(offset, src.cast::<u8>(), n) }
    })
}

/// Grow or shrink a region to `new_len` bytes; `mm_ptr()` may change, so read
/// it again. Private anonymous and shareable regions keep their bytes up to
/// `min(old, new)` and gain zeros. A file region covers `[offset, offset +
/// new_len)` afterwards, which must lie inside the file (`-EINVAL`) unless it
/// was mapped with `MM_CREATE` (then the file grows, blocks allocated).
/// Shared anonymous memory (`MAP_SHARED|MAP_ANONYMOUS` or `/dev/zero`) cannot
/// grow past its pages: `-ENOTSUP` (its kernel object has a fixed size and
/// touching past it would be `SIGBUS`); use `mm_map_shareable` for growable
/// shared memory. A sealed shareable region refuses with `-EPERM`. A region
/// mapped with `mm_map_fd` keeps no descriptor and cannot grow (`-ENOTSUP`).
/// `new_len == 0` is `-EINVAL`. Must not race with other uses of the region.
/// A grow is in place when the addresses after the region are free (every
/// page keeps its protection, locks and advice), else a move of the region
/// when it is one kernel mapping (without `mremap`, non-Linux: a new mapping
/// and a copy, made only when no part has protection or locks of its own),
/// else `-EBUSY`: `mm_protect`, `mm_lock` or `mm_advise` of a part split it
/// into several kernel mappings; unmap it and map it again, or undo the split
/// (protect, unlock or advise the whole region). New pages get the whole
/// region's protection; with `mremap` they share the last page's lock and
/// advice (`-EAGAIN` when locking them would pass `RLIMIT_MEMLOCK`). A grow
/// over old bytes in a last page made read-only is `-EACCES`.
/// Explicit huge pages (`MM_HUGEPAGES`, `MAP_HUGETLB`) resize in whole huge
/// pages (a new length inside the last one only changes the length) and,
/// since `mremap` cannot grow them, grow as without it: new huge pages after
/// the region, else a new mapping and a copy (`-EBUSY` when a part has its
/// own protection or lock); too few free huge pages is `-ENOMEM`, and the
/// message names the huge page size and how to reserve more.
#[no_mangle]
pub unsafe extern "C" fn mm_resize(r: *mut mm_region, new_len: usize) -> c_int {
    const CALL: &str = "mm_resize";
    guard(CALL, || {
        // SAFETY: r is NULL or a live handle that, per the C contract, no other
        // thread uses during this call.
        let h = unsafe { r.as_mut() }.ok_or_else(|| null(CALL, "region"))?;
        h.region.resize(new_len)
    })
}
