//! The anonymous-memory suite, run through both backends: once with the
//! default (`MAP_ANONYMOUS`, unless this build lacks it) and once with
//! `MM_DEVZERO` (a real `/dev/zero` mapping).

use crate::support::{in_child, resident_pages, vm_flags, Exit};
use mmkit::{Advice, Error, Flags, Region, SyncFlags};

/// Whether this build was made without `MAP_ANONYMOUS` (`MMKIT_DISABLE`, see build.rs).
fn built_without_map_anonymous() -> bool {
    option_env!("MMKIT_DISABLE").is_some_and(|v| v.split(',').any(|c| c.trim() == "map_anonymous"))
}

fn errno(e: Error) -> i32 {
    e.errno()
}

macro_rules! anon_suite {
    ($name:ident, $extra:expr, $expect_devzero:expr) => {
        mod $name {
            use super::*;

            const RW_SHARED: Flags = Flags::READ.union(Flags::WRITE).union(Flags::SHARED);
            const RW_PRIVATE: Flags = Flags::READ.union(Flags::WRITE).union(Flags::PRIVATE);

            fn map(len: usize, flags: Flags) -> Region {
                Region::anon(len, flags | $extra).unwrap_or_else(|e| panic!("{e}"))
            }

            fn expect_devzero() -> bool {
                $expect_devzero || built_without_map_anonymous()
            }

            #[test]
            fn backend_is_reported() {
                for f in [RW_SHARED, RW_PRIVATE] {
                    let r = map(100, f);
                    assert_eq!(
                        r.flags().contains(Flags::DEVZERO),
                        expect_devzero(),
                        "{}",
                        r.flags()
                    );
                    assert!(r.flags().contains(f));
                }
            }

            #[test]
            fn exact_length_zero_filled_page_aligned() {
                let page = mmkit::page_size();
                for len in [1, 100, page - 1, page, page + 1, 3 * page + 7] {
                    let mut r = map(len, RW_PRIVATE);
                    assert_eq!(r.len(), len);
                    assert_eq!(r.as_ptr() as usize % page, 0);
                    // SAFETY: private anonymous memory, ours alone.
                    let s = unsafe { r.as_mut_slice() };
                    assert!(s.iter().all(|&b| b == 0));
                    s.fill(0xA5);
                    assert!(s.iter().all(|&b| b == 0xA5));
                }
            }

            #[test]
            fn zero_and_huge_lengths_are_refused() {
                assert_eq!(
                    errno(Region::anon(0, RW_PRIVATE | $extra).unwrap_err()),
                    libc::EINVAL
                );
                let page = mmkit::page_size();
                for len in [usize::MAX, usize::MAX - page, usize::MAX / 2 + 1] {
                    let e = Region::anon(len, RW_PRIVATE | $extra).unwrap_err();
                    assert_eq!(e.errno(), libc::ENOMEM, "{e}");
                    assert!(e.to_string().contains(&len.to_string()), "{e}");
                }
            }

            #[test]
            fn shared_memory_is_shared_with_a_forked_child() {
                // The seed's anon_mmap.c: the child increments, the parent sees 2.
                let r = map(std::mem::size_of::<i32>(), RW_SHARED);
                let p = r.as_ptr().cast::<i32>();
                // SAFETY: p points at 4 writable bytes of the live region.
                unsafe { p.write_volatile(1) };
                let status = in_child(|| {
                    // SAFETY: the child inherited the shared mapping.
                    unsafe { p.write_volatile(p.read_volatile() + 1) };
                    0
                });
                assert_eq!(status, Exit::Code(0));
                // SAFETY: as above.
                assert_eq!(unsafe { p.read_volatile() }, 2);
            }

            #[test]
            fn private_memory_is_copy_on_write_across_fork() {
                let r = map(4096, RW_PRIVATE);
                let p = r.as_ptr().cast::<i32>();
                // SAFETY: p points at writable bytes of the live region.
                unsafe { p.write_volatile(1) };
                let status = in_child(|| {
                    // SAFETY: the child's private copy of the mapping.
                    unsafe {
                        p.write_volatile(p.read_volatile() + 41);
                        if p.read_volatile() == 42 {
                            0
                        } else {
                            1
                        }
                    }
                });
                assert_eq!(status, Exit::Code(0));
                // SAFETY: as above.
                assert_eq!(
                    unsafe { p.read_volatile() },
                    1,
                    "the child's write leaked into the parent"
                );
            }

            #[test]
            fn read_only_memory_cannot_be_written() {
                let r = map(4096, Flags::READ | Flags::SHARED);
                let p = r.as_ptr();
                // SAFETY: reading the live, readable region.
                assert_eq!(unsafe { p.read_volatile() }, 0);
                // SAFETY: the child's store faults; that is the point of the test.
                let status = in_child(|| unsafe {
                    p.write_volatile(1);
                    0
                });
                assert_eq!(status, Exit::Signal(libc::SIGSEGV));
            }

            #[test]
            fn populate_prefaults_every_page() {
                let page = mmkit::page_size();
                let len = 64 * page;
                let lazy = map(len, RW_PRIVATE);
                assert_eq!(
                    resident_pages(lazy.as_ptr(), len),
                    0,
                    "fresh memory should not be resident"
                );
                let eager = map(len, RW_PRIVATE | Flags::POPULATE);
                assert_eq!(resident_pages(eager.as_ptr(), len), 64);
                let shared = map(len, RW_SHARED | Flags::POPULATE);
                assert_eq!(resident_pages(shared.as_ptr(), len), 64);
            }

            #[test]
            fn hugepages_never_fail_and_report_what_was_done() {
                let len = 4 << 20;
                let r = map(len, RW_PRIVATE | Flags::HUGEPAGES);
                assert_eq!(r.len(), len);
                let thp =
                    std::path::Path::new("/sys/kernel/mm/transparent_hugepage/enabled").exists();
                if r.flags().contains(Flags::HUGEPAGES) {
                    // Explicit pages ("ht") or THP advice ("hg") really reached the kernel.
                    let vmf = vm_flags(r.as_ptr());
                    assert!(vmf.contains("hg") || vmf.contains("ht"), "{vmf}");
                    // Explicit huge pages are the region's pages; THP advice
                    // leaves it in system pages.
                    let explicit = vmf.split(' ').any(|f| f == "ht");
                    assert_eq!(r.page_size() > mmkit::page_size(), explicit, "{vmf}");
                } else {
                    assert!(!thp, "THP exists but the advice was not given");
                    assert_eq!(r.page_size(), mmkit::page_size());
                }
                let plain = map(len, RW_PRIVATE);
                assert!(!plain.flags().contains(Flags::HUGEPAGES));
                assert_eq!(plain.page_size(), mmkit::page_size());
            }

            #[test]
            fn noreserve_reaches_the_kernel() {
                let r = map(1 << 20, RW_PRIVATE | Flags::NORESERVE);
                if cfg!(target_os = "linux") {
                    assert!(r.flags().contains(Flags::NORESERVE));
                    assert!(vm_flags(r.as_ptr()).split(' ').any(|f| f == "nr"));
                }
            }

            #[test]
            fn exec_protection_reaches_the_kernel() {
                let r = map(4096, Flags::READ | Flags::EXEC | Flags::PRIVATE);
                assert!(vm_flags(r.as_ptr()).split(' ').any(|f| f == "ex"));
            }

            #[test]
            fn sync_succeeds_and_checks_its_range() {
                let r = map(10_000, RW_SHARED);
                r.sync(0, 0, SyncFlags::SYNC).unwrap();
                r.sync(5000, 5000, SyncFlags::ASYNC).unwrap();
                r.sync(10_000, 0, SyncFlags::SYNC).unwrap();
                assert_eq!(
                    errno(r.sync(10_001, 0, SyncFlags::SYNC).unwrap_err()),
                    libc::EINVAL
                );
                assert_eq!(
                    errno(r.sync(1, usize::MAX, SyncFlags::SYNC).unwrap_err()),
                    libc::EINVAL
                );
                assert_eq!(
                    errno(r.sync(5000, 5001, SyncFlags::SYNC).unwrap_err()),
                    libc::EINVAL
                );
            }

            #[test]
            fn lock_and_unlock_make_pages_resident() {
                let page = mmkit::page_size();
                let r = map(4 * page, RW_PRIVATE);
                r.lock(0, 0).unwrap();
                assert_eq!(resident_pages(r.as_ptr(), 4 * page), 4);
                assert!(vm_flags(r.as_ptr()).split(' ').any(|f| f == "lo"));
                r.unlock(0, 0).unwrap();
                assert!(!vm_flags(r.as_ptr()).split(' ').any(|f| f == "lo"));
                assert_eq!(errno(r.lock(4 * page + 1, 0).unwrap_err()), libc::EINVAL);
            }

            #[test]
            fn advice_is_applied_and_dontneed_spares_bytes_outside_the_range() {
                let page = mmkit::page_size();
                let mut r = map(3 * page, RW_PRIVATE);
                for a in [
                    Advice::Normal,
                    Advice::Random,
                    Advice::Sequential,
                    Advice::WillNeed,
                ] {
                    r.advise(0, 0, a).unwrap();
                }
                r.advise(0, 0, Advice::Random).unwrap();
                assert!(vm_flags(r.as_ptr()).split(' ').any(|f| f == "rr"));
                // SAFETY: private memory, ours alone.
                unsafe { r.as_mut_slice() }.fill(0xAA);
                r.advise(100, 2 * page, Advice::DontNeed).unwrap();
                // SAFETY: as above.
                let s = unsafe { r.as_slice() };
                assert!(
                    s[100..page].iter().all(|&b| b == 0xAA),
                    "bytes before the range were dropped"
                );
                assert!(
                    s[page..2 * page].iter().all(|&b| b == 0),
                    "the whole page inside the range was kept"
                );
                assert!(
                    s[2 * page..].iter().all(|&b| b == 0xAA),
                    "bytes after the range were dropped"
                );
                if cfg!(target_os = "linux") {
                    r.advise(0, 0, Advice::HugePage).unwrap();
                    r.advise(0, 0, Advice::NoHugePage).unwrap();
                }
            }

            #[test]
            fn protect_changes_access_on_page_boundaries_only() {
                let page = mmkit::page_size();
                let r = map(2 * page + 10, RW_SHARED);
                r.protect(0, 0, Flags::READ).unwrap();
                assert!(!r.flags().contains(Flags::WRITE));
                let p = r.as_ptr();
                // SAFETY: the store faults in the child; that is the test.
                let status = in_child(|| unsafe {
                    p.write_volatile(1);
                    0
                });
                assert_eq!(status, Exit::Signal(libc::SIGSEGV));
                r.protect(0, 0, Flags::READ | Flags::WRITE).unwrap();
                assert!(r.flags().contains(Flags::WRITE));
                // SAFETY: writable again.
                unsafe { p.write_volatile(7) };
                // Middle page only: allowed (boundaries), the others stay writable.
                r.protect(page, page, Flags::NONE).unwrap();
                // SAFETY: page 0 is still writable.
                unsafe { p.write_volatile(8) };
                let status = in_child(|| unsafe {
                    // SAFETY: page 1 has no access: this faults in the child.
                    p.add(page).read_volatile();
                    0
                });
                assert_eq!(status, Exit::Signal(libc::SIGSEGV));
                // A range that would change bytes it does not name.
                let e = r.protect(10, 100, Flags::READ).unwrap_err();
                assert_eq!(e.errno(), libc::EINVAL);
                assert!(e.to_string().contains("page boundaries"), "{e}");
                // The tail of the region (not page-aligned at its end) is fine.
                r.protect(2 * page, 10, Flags::READ).unwrap();
            }

            #[test]
            fn many_threads_map_at_once() {
                let handles: Vec<_> = (0..8)
                    .map(|t| {
                        std::thread::spawn(move || {
                            for i in 0..200 {
                                let len = 1 + (i * 977 + t * 31) % 70_000;
                                let mut r =
                                    map(len, if i % 2 == 0 { RW_PRIVATE } else { RW_SHARED });
                                // SAFETY: our own fresh region.
                                let s = unsafe { r.as_mut_slice() };
                                assert!(s.iter().all(|&b| b == 0));
                                s.fill(t as u8);
                                assert!(s.iter().all(|&b| b == t as u8));
                            }
                        })
                    })
                    .collect();
                for h in handles {
                    h.join().unwrap();
                }
            }
        }
    };
}

anon_suite!(map_anonymous, Flags::NONE, false);
anon_suite!(dev_zero, Flags::DEVZERO, true);

#[test]
fn create_and_excl_are_refused_for_anonymous_memory() {
    for f in [Flags::CREATE, Flags::EXCL, Flags::CREATE | Flags::EXCL] {
        let e = Region::anon(4096, Flags::READ | Flags::PRIVATE | f).unwrap_err();
        assert_eq!(e.errno(), libc::EINVAL, "{e}");
    }
}
