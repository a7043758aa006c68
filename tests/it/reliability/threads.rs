//! Threads: many at once on their own regions and on one shared region; each
//! keeps its own last error.

use super::*;

#[test]
fn eight_threads_map_sync_lock_and_unmap() {
    let _s = serial();
    alone!(eight_threads_map_sync_lock_and_unmap);
    let d = Arc::new(TempDir::new("rel-threads"));
    let page = mm_page_size();
    // One region all threads use at once, each in its own pages.
    let shared_file = cstr(&d.file("shared", &vec![0u8; 8 * 4 * page]));
    let mut common = ptr::null_mut();
    // SAFETY: valid pointers; unmapped after the threads are joined.
    assert_eq!(
        unsafe { mm_map_file(shared_file.as_ptr(), 0, 0, RW_SHARED, &mut common) },
        0
    );
    let common_addr = common as usize;
    let handles: Vec<_> = (0..8usize)
        .map(|t| {
            let d = d.clone();
            std::thread::spawn(move || {
                let common = common_addr as *mut mm_region;
                let mine = cstr(&d.file(&format!("t{t}"), &vec![0u8; 3 * page + 1]));
                let mut buf = vec![0u8; 3 * page + 1];
                for i in 0..150usize {
                    let data = pattern(3 * page + 1, (t * 31 + i) as u8);
                    let mut r = ptr::null_mut();
                    let mut a = ptr::null_mut();
                    let mut s = ptr::null_mut();
                    // SAFETY: valid pointers; this thread's regions are its own.
                    unsafe {
                        assert_eq!(mm_map_file(mine.as_ptr(), 0, 0, RW_SHARED, &mut r), 0);
                        assert_eq!(mm_map_anon(data.len(), RW_PRIVATE, &mut a), 0);
                        assert_eq!(
                            mm_map_shareable(c"rel-t".as_ptr(), data.len(), RW_SHARED, &mut s),
                            0
                        );
                        for x in [r, a, s] {
                            assert_eq!(mm_write(x, 0, data.as_ptr().cast(), data.len()), 0);
                            let rc = mm_lock(x, 0, 0);
                            assert!(
                                rc == 0 || last_error().contains("RLIMIT_MEMLOCK"),
                                "{}",
                                last_error()
                            );
                            assert_eq!(mm_sync(x, 0, 0, MM_SYNC), 0, "{}", last_error());
                            assert_eq!(mm_unlock(x, 0, 0), 0);
                            assert_eq!(mm_advise(x, page, 0, MM_ADV_WILLNEED), 0);
                            assert_eq!(mm_read(x, 0, buf.as_mut_ptr().cast(), buf.len()), 0);
                            assert_eq!(buf, data, "thread {t} iteration {i}");
                        }
                        assert_eq!(mm_unmap(r), 0);
                        assert_eq!(mm_unmap(a), 0);
                        assert_eq!(mm_unmap(s), 0);
                        // The shared region: this thread's 4 pages, concurrently
                        // with the others' sync/lock/advise/read of theirs.
                        let off = t * 4 * page;
                        assert_eq!(mm_write(common, off, data.as_ptr().cast(), data.len()), 0);
                        assert_eq!(mm_sync(common, off, 4 * page, MM_ASYNC), 0);
                        let rc = mm_lock(common, off, 4 * page);
                        assert!(rc == 0 || last_error().contains("RLIMIT_MEMLOCK"));
                        assert_eq!(mm_unlock(common, off, 4 * page), 0);
                        assert_eq!(mm_advise(common, off, 4 * page, MM_ADV_RANDOM), 0);
                        assert_eq!(mm_read(common, off, buf.as_mut_ptr().cast(), buf.len()), 0);
                        assert_eq!(buf, data, "thread {t} iteration {i} (shared region)");
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    // SAFETY: the threads are done with it.
    unsafe {
        assert_eq!(mm_sync(common, 0, 0, MM_SYNC), 0);
        assert_eq!(mm_unmap(common), 0);
    }
}

#[test]
fn each_thread_keeps_its_own_last_error() {
    let _s = serial();
    const THREADS: usize = 8;
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut r = ptr::null_mut();
                let mut buf = [0u8; 4];
                // SAFETY: valid pointers; r is unmapped at the end.
                unsafe { assert_eq!(mm_map_anon(4096, RW_PRIVATE, &mut r), 0) };
                for round in 0..50usize {
                    // A value only this thread, this round, uses.
                    let n = 1_000_000 + t * 1000 + round;
                    // SAFETY: n bytes are out of range, refused before any copy.
                    let rc = unsafe { mm_read(r, 0, buf.as_mut_ptr().cast(), n) };
                    assert_eq!(rc, -libc::EINVAL);
                    // Successes in between leave the message alone.
                    // SAFETY: in range.
                    assert_eq!(unsafe { mm_read(r, 0, buf.as_mut_ptr().cast(), 4) }, 0);
                    // Every other thread fails (with its own value) before
                    // anybody passes the barrier.
                    barrier.wait();
                    let m = last_error();
                    assert!(
                        m.starts_with("mm_read: ") && m.contains(&format!("{n} bytes")),
                        "thread {t} round {round} sees {m:?}"
                    );
                    barrier.wait();
                }
                // SAFETY: a live handle.
                unsafe { mm_unmap(r) };
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}
