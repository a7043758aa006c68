/*
 * mmkit.h - the memory-mapping toolbox for Unix and Windows behind one small, stable C ABI.
 *
 * Generated from the Rust sources by cbindgen; do not edit by hand.
 * Every function that can fail returns 0 or a negative errno; after a
 * failure mm_last_error() describes it (the message is per thread).
 *
 * Build: cc prog.c $(pkg-config --cflags --libs mmkit)
 * CMake: find_package(mmkit REQUIRED), target_link_libraries(prog mmkit::mmkit)
 */

#ifndef MMKIT_H
#define MMKIT_H

#include <stddef.h>
#include <stdint.h>

/**
 * The major part of the version this header declares, known at compile
 * time (each part is 0 to 255). mm_version() says which library runs,
 * which may be newer: the ABI of one major version only grows.
 */
#define MMKIT_VERSION_MAJOR 0

/**
 * The minor part of the header's version (0 to 255).
 */
#define MMKIT_VERSION_MINOR 1

/**
 * The patch part of the header's version (0 to 255).
 */
#define MMKIT_VERSION_PATCH 0

/**
 * The header's version as one number that compares in the preprocessor:
 * (MMKIT_VERSION_MAJOR << 16) | (MMKIT_VERSION_MINOR << 8) | MMKIT_VERSION_PATCH,
 * so 0x000100 is 0.1.0 and 0x010203 is 1.2.3 (as zlib's ZLIB_VERNUM and
 * curl's LIBCURL_VERSION_NUM). For example: #if MMKIT_VERSION_NUM >= 0x000100
 */
#define MMKIT_VERSION_NUM 0x000100

/**
 * Protection: the region can be read.
 */
#define MM_READ 1

/**
 * Protection: the region can be written (implies `MM_READ`).
 */
#define MM_WRITE 2

/**
 * Protection: the region can be executed.
 */
#define MM_EXEC 4

/**
 * Writes are shared: with the file, and with forked children.
 */
#define MM_SHARED 16

/**
 * Copy-on-write: writes are never carried to the file or to other processes.
 */
#define MM_PRIVATE 32

/**
 * Prefault the whole range before the call returns.
 */
#define MM_POPULATE 256

/**
 * Use huge pages where possible: explicit ones if reserved, else transparent
 * huge page advice. Never fails because none are available.
 */
#define MM_HUGEPAGES 512

/**
 * Do not reserve swap space for the mapping (where the platform can).
 */
#define MM_NORESERVE 1024

/**
 * Anonymous only: map `/dev/zero` instead of using `MAP_ANONYMOUS`. Reported by
 * `mm_flags()` whenever `/dev/zero` served an anonymous region.
 */
#define MM_DEVZERO 4096

/**
 * File only: create the file if missing (mode 0600) and grow it to
 * `offset + len` with its blocks allocated.
 */
#define MM_CREATE 8192

/**
 * With `MM_CREATE`: fail with `-EEXIST` if the file exists.
 */
#define MM_EXCL 16384

/**
 * File, descriptor and shareable regions: a page the file (or memory object)
 * no longer covers never raises `SIGBUS`, whoever touches it; the access
 * sees a private zero page instead and the loss is recorded (`mm_check`).
 * Accepted, and a no-op, for anonymous regions (`mm_flags` does not report
 * it there).
 */
#define MM_GUARD 32768

/**
 * `mm_sync`: write the pages and wait for the writes to finish (the default).
 */
#define MM_SYNC 1

/**
 * `mm_sync`: schedule the writes and return.
 */
#define MM_ASYNC 2

/**
 * `mm_sync`: also invalidate other mappings of the same file.
 */
#define MM_INVALIDATE 4

/**
 * `mm_advise`: no special treatment.
 */
#define MM_ADV_NORMAL 0

/**
 * `mm_advise`: expect random access (read ahead less).
 */
#define MM_ADV_RANDOM 1

/**
 * `mm_advise`: expect sequential access (read ahead more, free behind).
 */
#define MM_ADV_SEQUENTIAL 2

/**
 * `mm_advise`: the range will be needed soon (start reading it in).
 */
#define MM_ADV_WILLNEED 3

/**
 * `mm_advise`: the range is not needed now. Private anonymous pages read back
 * as zeros afterwards; file-backed pages are read again from the file.
 */
#define MM_ADV_DONTNEED 4

/**
 * `mm_advise`: back the range with transparent huge pages (Linux).
 */
#define MM_ADV_HUGEPAGE 5

/**
 * `mm_advise`: do not use transparent huge pages for the range (Linux).
 */
#define MM_ADV_NOHUGEPAGE 6

/**
 * `mm_seal`: nobody can shrink the object (its readers can never `SIGBUS`).
 */
#define MM_SEAL_SHRINK 1

/**
 * `mm_seal`: nobody can grow the object.
 */
#define MM_SEAL_GROW 2

/**
 * `mm_seal`: nobody can write the object through `write(2)` or a new
 * mapping (the sealing region's own writable mapping keeps working).
 */
#define MM_SEAL_WRITE 4

/**
 * An opaque handle to one mapping, created by `mm_map_anon`, `mm_map_file`
 * or `mm_map_fd` and released by `mm_unmap`.
 */
typedef struct mm_region mm_region;

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * Map `len` bytes of zero-filled anonymous memory.
 *
 * `flags`: `MM_READ` and/or `MM_WRITE` (optionally `MM_EXEC`), exactly one of
 * `MM_SHARED` / `MM_PRIVATE`, and any of `MM_POPULATE`, `MM_HUGEPAGES`,
 * `MM_NORESERVE`, `MM_DEVZERO` (and `MM_GUARD`, accepted and meaningless
 * here: nothing can shrink under anonymous memory). Uses `MAP_ANONYMOUS`;
 * maps `/dev/zero` instead when `MM_DEVZERO` is given, when the platform has no
 * `MAP_ANONYMOUS`, or when the kernel refuses it. `mm_flags()` of the result
 * tells which way was taken. `mm_len()` reports `len` exactly.
 *
 * `MM_HUGEPAGES` maps explicit huge pages (`MAP_HUGETLB`) when enough are
 * reserved and free, else advises transparent huge pages. A region of
 * explicit huge pages works in them: `mm_protect` ranges start and end on
 * huge page boundaries (or the region's ends), `mm_lock`, `mm_unlock` and
 * `mm_advise` act on the huge pages covering a range, and `mm_resize` rounds
 * to huge pages.
 *
 * Returns 0 and stores the new region in `*out`, or a negative errno:
 * `-EINVAL` for `len == 0`, a NULL `out`, unknown or inconsistent flags;
 * `-ENOMEM` when the memory cannot be had (or `len` is absurdly large).
 */
int mm_map_anon(size_t len, uint32_t flags, mm_region **out);

/**
 * Map `len` bytes of the file at `path`, starting at byte `offset`.
 *
 * `len == 0` maps to the end of the file. `offset` need not be page-aligned:
 * `mm_ptr()` points at byte `offset`. An empty file (or `offset == size` with
 * `len == 0`) gives a valid region of length 0 whose `mm_ptr()` is NULL.
 * The file is opened with the access the flags need (`MM_WRITE|MM_SHARED`
 * opens read-write) and closed before returning; the mapping outlives it.
 * `MM_CREATE` creates a missing file with mode 0600 and grows it to
 * `offset + len` with blocks allocated (file and directory synced), so later
 * stores cannot fail on a full disk; `MM_EXCL` with it fails if the file exists.
 * `MM_CREATE` never creates a file through a symbolic link: a dangling one
 * is `-ELOOP` (with `MM_EXCL`, any link is `-EEXIST`). In a sticky directory
 * that others may write (`/tmp`), it follows a link, or accepts an existing
 * file, only when the caller or the directory's owner owns it: `-EPERM`
 * otherwise (use `MM_EXCL` or a private directory). With `MM_GUARD` a page
 * the file no longer covers (someone truncated it) never raises `SIGBUS`,
 * whoever touches it: it becomes a private zero page and the loss is
 * recorded (`mm_check`).
 *
 * Errors: `-EINVAL` for NULL arguments, bad flags, `offset` past the end or
 * `offset + len` past the end without `MM_CREATE`; `-ENOENT`, `-EACCES`,
 * `-EEXIST` and the like from `open`; `-ENODEV` for what is not a regular
 * file (directories, pipes, sockets, devices) and files on pseudo-filesystems
 * (procfs, sysfs, ...); `-ENOSPC` when `MM_CREATE` cannot allocate.
 */
int mm_map_file(const char *path, uint64_t offset, size_t len, uint32_t flags, mm_region **out);

/**
 * Map `len` bytes of the open descriptor `fd`, starting at byte `offset`.
 *
 * As `mm_map_file`, but `fd` is neither closed nor kept. A write-shared
 * mapping (`MM_WRITE|MM_SHARED`) of a descriptor opened read-only is
 * `-EACCES`; `-EBADF` for a descriptor that is not open. `MM_CREATE` grows the
 * file (it needs a read-write descriptor); `MM_EXCL` is `-EINVAL` here.
 */
int mm_map_fd(int fd, uint64_t offset, size_t len, uint32_t flags, mm_region **out);

/**
 * Unmap a region and free its handle. NULL is a no-op returning 0.
 *
 * The handle must not be used afterwards, nor concurrently with this call.
 */
int mm_unmap(mm_region *r);

/**
 * The region's first byte; NULL for a NULL or empty region.
 */
void *mm_ptr(const mm_region *r);

/**
 * Bytes usable from `mm_ptr()`: the length asked for, not the page-rounded
 * size. 0 for NULL.
 */
size_t mm_len(const mm_region *r);

/**
 * The flags in effect. `MM_DEVZERO` is set when `/dev/zero` served an
 * anonymous region (asked for or fallen back to); `MM_HUGEPAGES` only when
 * huge pages were really requested from the kernel (explicit, or advised).
 * The protection bits follow `mm_protect()` calls that cover the whole
 * region. 0 for NULL.
 */
uint32_t mm_flags(const mm_region *r);

/**
 * The system page size in bytes.
 */
size_t mm_page_size(void);

/**
 * This thread's message for the last failed mmkit call, naming the call, the
 * cause and the values involved. Never NULL: "" when nothing has failed. The
 * pointer stays valid until the next mmkit call on the same thread. The
 * message lives in a fixed 4096-byte buffer per thread (no heap): a longer
 * one is cut and ends in "...".
 */
const char *mm_last_error(void);

/**
 * The library's version, "MAJOR.MINOR.PATCH".
 */
const char *mm_version(void);

/**
 * Write the pages covering `[offset, offset + len)` back to the file (`msync`).
 *
 * `len == 0` means to the end of the region. `flags`: `MM_SYNC` (write and
 * wait; also what 0 means) or `MM_ASYNC` (schedule), optionally OR-ed with
 * `MM_INVALIDATE`. After `MM_SYNC` returns 0 the bytes are in the file for
 * any reader and survive the process being killed. On an anonymous region it
 * succeeds and does nothing. `-EINVAL` for `MM_SYNC|MM_ASYNC`, unknown bits, a
 * range outside the region or a NULL region; `-EFAULT` when the range holds a
 * page a guarded region lost (its writes never reached the file).
 */
int mm_sync(mm_region *r, size_t offset, size_t len, uint32_t flags);

/**
 * Lock the pages covering `[offset, offset + len)` in RAM (`mlock`).
 *
 * `len == 0` means to the end. When the system refuses because of
 * `RLIMIT_MEMLOCK` or privilege the errno (`-ENOMEM`, `-EPERM`, `-EAGAIN`) is
 * passed through and `mm_last_error()` names `RLIMIT_MEMLOCK`, its value, the
 * bytes asked and the bytes already locked. The pages are the region's own:
 * huge pages for explicit huge pages (`MM_HUGEPAGES`, `MAP_HUGETLB`).
 */
int mm_lock(mm_region *r, size_t offset, size_t len);

/**
 * Unlock the pages covering `[offset, offset + len)` (`munlock`); `len == 0`
 * means to the end.
 */
int mm_unlock(mm_region *r, size_t offset, size_t len);

/**
 * Advise the kernel about `[offset, offset + len)` (`madvise`).
 *
 * `advice` is one of `MM_ADV_NORMAL`, `MM_ADV_RANDOM`, `MM_ADV_SEQUENTIAL`,
 * `MM_ADV_WILLNEED`, `MM_ADV_DONTNEED`, `MM_ADV_HUGEPAGE`,
 * `MM_ADV_NOHUGEPAGE`; advice the platform lacks is `-ENOTSUP`, an unknown
 * value `-EINVAL`. The advice covers the region's pages the range touches
 * (huge pages for explicit huge pages); `MM_ADV_DONTNEED` acts only on whole
 * pages inside the range.
 */
int mm_advise(mm_region *r, size_t offset, size_t len, int advice);

/**
 * Change the protection of `[offset, offset + len)` (`mprotect`).
 *
 * `prot` is `MM_READ|MM_WRITE|MM_EXEC` or 0 for no access. The range must
 * start and end on page boundaries of the mapping, or at the ends of the
 * region (`-EINVAL` otherwise, with a message naming the page size), so no
 * byte outside it changes. For a region of explicit huge pages
 * (`MM_HUGEPAGES`, `MAP_HUGETLB`) the page is the huge page. Asking for
 * write access to a read-only file mapping is `-EACCES`.
 */
int mm_protect(mm_region *r, size_t offset, size_t len, uint32_t prot);

/**
 * Copy `n` bytes from byte `offset` of the region into `dst`, bounds-checked
 * and fault-safe: where a plain load would raise `SIGBUS` (the file under the
 * mapping was truncated) or `SIGSEGV` (no access), it returns `-EFAULT` and
 * the process goes on.
 *
 * `-EINVAL` for a NULL region, a NULL `dst` with `n > 0`, or a range outside
 * the region. On a guarded region (`MM_GUARD`) it is a plain memory copy,
 * followed by a check of the region's loss record: `-EFAULT` when a page of
 * the range was lost before or during the copy (those bytes read as zeros).
 * Otherwise Linux copies through `process_vm_readv` on the own process;
 * other systems through a pipe (`write(2)` from a faulting address is `EFAULT`).
 */
int mm_read(const mm_region *r, size_t offset, void *dst, size_t n);

/**
 * Copy `n` bytes from `src` into the region at byte `offset`, bounds-checked
 * and fault-safe like `mm_read` (`-EFAULT` instead of `SIGBUS`; on a guarded
 * region a plain copy, `-EFAULT` when a page of the range was lost, whose
 * bytes never reach the file). Writing a region mapped without `MM_WRITE` is
 * `-EACCES`; one mapped with it whose pages `mm_protect` made read-only or
 * inaccessible is `-EFAULT`; a range outside the region `-EINVAL`.
 */
int mm_write(mm_region *r, size_t offset, const void *src, size_t n);

/**
 * Grow or shrink a region to `new_len` bytes; `mm_ptr()` may change, so read
 * it again. Private anonymous and shareable regions keep their bytes up to
 * `min(old, new)` and gain zeros. A file region covers `[offset, offset +
 * new_len)` afterwards, which must lie inside the file (`-EINVAL`) unless it
 * was mapped with `MM_CREATE` (then the file grows, blocks allocated).
 * Shared anonymous memory (`MAP_SHARED|MAP_ANONYMOUS` or `/dev/zero`) cannot
 * grow past its pages: `-ENOTSUP` (its kernel object has a fixed size and
 * touching past it would be `SIGBUS`); use `mm_map_shareable` for growable
 * shared memory. A sealed shareable region refuses with `-EPERM`. A region
 * mapped with `mm_map_fd` keeps no descriptor and cannot grow (`-ENOTSUP`).
 * `new_len == 0` is `-EINVAL`. Must not race with other uses of the region.
 * A grow is in place when the addresses after the region are free (every
 * page keeps its protection, locks and advice), else a move of the region
 * when it is one kernel mapping (without `mremap`, non-Linux: a new mapping
 * and a copy, made only when no part has protection or locks of its own),
 * else `-EBUSY`: `mm_protect`, `mm_lock` or `mm_advise` of a part split it
 * into several kernel mappings; unmap it and map it again, or undo the split
 * (protect, unlock or advise the whole region). New pages get the whole
 * region's protection; with `mremap` they share the last page's lock and
 * advice (`-EAGAIN` when locking them would pass `RLIMIT_MEMLOCK`). A grow
 * over old bytes in a last page made read-only is `-EACCES`.
 * Explicit huge pages (`MM_HUGEPAGES`, `MAP_HUGETLB`) resize in whole huge
 * pages (a new length inside the last one only changes the length) and,
 * since `mremap` cannot grow them, grow as without it: new huge pages after
 * the region, else a new mapping and a copy (`-EBUSY` when a part has its
 * own protection or lock); too few free huge pages is `-ENOMEM`, and the
 * message names the huge page size and how to reserve more.
 */
int mm_resize(mm_region *r, size_t new_len);

/**
 * Shared anonymous memory that *unrelated* processes can map: `memfd_create`
 * (close-on-exec, sealable) on Linux; elsewhere `shm_open` under a random
 * name and `shm_unlink` at once, so nothing is left in any namespace. The
 * region keeps its descriptor (`mm_fd`); another process receives it by
 * inheritance or over a Unix socket (`SCM_RIGHTS`) and maps it with
 * `mm_map_fd(fd, 0, 0, MM_READ|MM_WRITE|MM_SHARED, &r)`.
 *
 * `name` labels the object (shown in `/proc/PID/fd`). `flags`: `MM_READ`
 * and/or `MM_WRITE`, `MM_SHARED` (required; `MM_PRIVATE` is `-EINVAL`),
 * optionally `MM_POPULATE`, `MM_HUGEPAGES`, `MM_GUARD` (a peer that shrinks
 * the object cannot make this region raise `SIGBUS`). `len == 0` is `-EINVAL`.
 */
int mm_map_shareable(const char *name, size_t len, uint32_t flags, mm_region **out);

/**
 * The descriptor a shareable region keeps (close-on-exec; owned by the
 * region, do not close it), or `-EBADF` for a region that keeps none.
 * `-EINVAL` for NULL.
 */
int mm_fd(const mm_region *r);

/**
 * Seal a shareable region's memory object (Linux memfd seals):
 * `MM_SEAL_SHRINK` (nobody can shrink it, so its readers can never
 * `SIGBUS`), `MM_SEAL_GROW`, `MM_SEAL_WRITE` (nobody can write it through
 * `write(2)` or a new writable mapping; this region's own writable mapping,
 * if any, keeps writing). Seals cannot be removed. `-ENOTSUP` for regions not
 * from `mm_map_shareable` and platforms without seals; `-EINVAL` for unknown bits.
 */
int mm_seal(mm_region *r, uint32_t seals);

/**
 * Whether a guarded region (`MM_GUARD`) lost pages: 0, or `-EFAULT` when an
 * access found pages its file (or memory object) no longer covers;
 * `mm_last_error()` then says how many and the offset of the first. Such a
 * page was replaced by a private zero page in the fault handler: reads see
 * zeros, writes never reach the file, and it stays so (map the file again
 * to see its contents). A page counts once something touched it; truncation
 * alone is not seen. An unguarded region records nothing: 0. `-EINVAL` for NULL.
 */
int mm_check(const mm_region *r);

/**
 * The address of the count of pages the region `r` lost (see `mm_check`),
 * for a check without a call: 0 while nothing was lost. Never NULL: for NULL,
 * and for a region that is not guarded, the address of a count that stays 0.
 * The address is static storage, readable for the life of the process, but
 * it counts this region's pages only until `mm_unmap(r)` (the library may
 * use it for another region afterwards); ask again after `mm_resize` (an
 * empty guarded region gets its count when it grows). The fault handler
 * counts a lost page before it replaces it with zeros, so a thread that
 * copied zeros out of a lost page and then reads the count sees it nonzero,
 * if the read is ordered after the copy: by the program alone when this
 * thread's own fault found the loss; for a loss another thread's fault found,
 * with `__atomic_thread_fence(__ATOMIC_SEQ_CST)` between the copy and an
 * atomic (or volatile) load of the count (x86 keeps loads in order: a
 * compiler barrier is enough there). It can
 * go down when `mm_resize` drops lost pages. Nonzero says that some page of
 * the region was lost, not which: `mm_read` and `mm_check` tell.
 */
const volatile size_t *mm_lost_counter(const mm_region *r);

#if defined(_WIN32)
/**
 * Windows only: map `len` bytes of the file or section `handle` (a
 * `HANDLE`) from `offset`, as `mm_map_fd` maps a descriptor: the handle is
 * neither closed nor kept; a write-shared mapping of a handle without
 * write access is `-EACCES`; `-EBADF` for NULL or `INVALID_HANDLE_VALUE`.
 * Another process maps a shareable region this way, from the section
 * handle `mm_handle` gives, duplicated into it (`DuplicateHandle`) or
 * inherited. A program whose C runtime is not mmkit.dll's (MSVC, UCRT)
 * maps a descriptor with `mm_map_handle((void *)_get_osfhandle(fd), ...)`.
 */
int mm_map_handle(void *handle, uint64_t offset, size_t len, uint32_t flags, mm_region **out);
#endif

#if defined(_WIN32)
/**
 * Windows only: the `HANDLE` of the section a shareable region keeps,
 * written to `*out` (owned by the region: do not close it; duplicate it
 * with `DuplicateHandle` to give it to another process, which maps it with
 * `mm_map_handle`). `-EBADF` for a region that keeps none, `-EINVAL` for
 * NULL.
 */
int mm_handle(const mm_region *r, void **out);
#endif

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* MMKIT_H */
