//! Exhaustion: a full address space (`RLIMIT_AS`) and a full map count
//! (`vm.max_map_count`) are `ENOMEM`, and every call recovers.

use super::*;

/// Helper (under prlimit --as): map 16 MiB at a time until the address space
/// is full, check every mapping call fails cleanly, free two, map again.
#[test]
#[ignore = "helper process for address_space_exhaustion_is_enomem_and_recovers"]
fn helper_address_space() {
    let Some(dir) = std::env::var_os("MMKIT_TEST_DIR") else {
        return;
    };
    const MIB16: usize = 16 << 20;
    let dir = PathBuf::from(dir);
    let file = cstr(&dir.join("big"));
    let mut regions = Vec::with_capacity(1024);
    let mut small = ptr::null_mut();
    // SAFETY: valid pointers; every region is unmapped before returning.
    unsafe {
        assert_eq!(mm_map_anon(4096, RW_PRIVATE, &mut small), 0);
        let fds = std::fs::read_dir("/proc/self/fd").unwrap().count();
        let first_failure = loop {
            let mut r = ptr::null_mut();
            let rc = mm_map_anon(MIB16, RW_PRIVATE, &mut r);
            if rc != 0 {
                break rc;
            }
            regions.push(r);
            assert!(regions.len() < 1000, "RLIMIT_AS is not enforced");
        };
        println!("mapped {} x 16 MiB", regions.len());
        say("full:map_anon", first_failure);
        let mut r = ptr::null_mut();
        say(
            "full:map_anon_devzero",
            mm_map_anon(2 * MIB16, RW_SHARED | MM_DEVZERO, &mut r),
        );
        say(
            "full:map_file",
            mm_map_file(file.as_ptr(), 0, 0, RO_SHARED, &mut r),
        );
        say(
            "full:map_shareable",
            mm_map_shareable(c"rel-as".as_ptr(), 2 * MIB16, RW_SHARED, &mut r),
        );
        say("full:resize_grow", mm_resize(small, 2 * MIB16));
        let now = std::fs::read_dir("/proc/self/fd").unwrap().count();
        println!("fds before {fds} after {now}");
        for r in regions.drain(..3) {
            mm_unmap(r);
        }
        let calls: [MapCall; 3] = [
            ("freed:map_anon", &|r| mm_map_anon(MIB16, RW_PRIVATE, r)),
            ("freed:map_file", &|r| {
                mm_map_file(file.as_ptr(), 0, 0, RO_SHARED, r)
            }),
            ("freed:map_shareable", &|r| {
                mm_map_shareable(c"rel-as".as_ptr(), MIB16, RW_SHARED, r)
            }),
        ];
        for (key, call) in calls {
            let rc = call(&mut r);
            say(key, rc);
            if rc == 0 {
                mm_unmap(r);
            }
        }
        say("freed:resize_grow", mm_resize(small, MIB16));
        mm_unmap(small);
        for r in regions {
            mm_unmap(r);
        }
    }
}

#[test]
fn address_space_exhaustion_is_enomem_and_recovers() {
    let _s = serial();
    let d = TempDir::new("rel-as");
    std::fs::File::create(d.join("big"))
        .unwrap()
        .set_len(32 << 20)
        .unwrap();
    let out = run_limited(
        test_name!(helper_address_space),
        // 512 MiB: room for the test harness itself (its threads' malloc
        // arenas reserve address space too), then 16 MiB maps fill the rest.
        &["--as=536870912"],
        &[("MMKIT_TEST_DIR", d.path())],
    );
    let get = support::results_by_key(&out);
    for (key, call) in [
        ("map_anon", "mm_map_anon"),
        ("map_anon_devzero", "mm_map_anon"),
        ("map_file", "mm_map_file"),
        ("map_shareable", "mm_map_shareable"),
        ("resize_grow", "mm_resize"),
    ] {
        let (rc, msg) = get(&format!("full:{key}"));
        assert_eq!(rc, -libc::ENOMEM, "{key}: {msg}");
        assert!(msg.starts_with(&format!("{call}: ")), "{key}: {msg}");
        assert!(msg.contains("Cannot allocate memory"), "{key}: {msg}");
        if key != "map_anon_devzero" {
            let (rc, msg) = get(&format!("freed:{key}"));
            assert_eq!(rc, 0, "after freeing, {key}: {msg}");
        }
    }
    assert!(get("full:map_anon").1.contains("16777216"), "{out}");
    let fds = out
        .lines()
        .find_map(|l| Some(&l[l.find("fds before")?..]))
        .unwrap();
    let v: Vec<&str> = fds.split_whitespace().collect();
    assert_eq!(v[2], v[4], "failed maps leaked descriptors: {fds}");
}

/// Helper: map one-page regions with alternating protections (so their VMAs
/// cannot merge) until vm.max_map_count is reached; then as above.
#[test]
#[ignore = "helper process for map_count_exhaustion_is_enomem_and_recovers"]
fn helper_map_count() {
    let Some(dir) = std::env::var_os("MMKIT_TEST_DIR") else {
        return;
    };
    let dir = PathBuf::from(dir);
    let file = cstr(&dir.join("f"));
    let limit: usize = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(65530);
    // Room for every handle before the map count is exhausted: a Vec that
    // grows then would need a new mapping itself.
    let mut regions = Vec::with_capacity(limit + 16);
    let start = Instant::now();
    // SAFETY: valid pointers; every region is unmapped before returning.
    unsafe {
        let fds = std::fs::read_dir("/proc/self/fd").unwrap().count();
        let first_failure = loop {
            let mut r = ptr::null_mut();
            let prot = if regions.len() % 2 == 0 {
                MM_READ
            } else {
                MM_READ | MM_WRITE
            };
            let rc = mm_map_anon(4096, prot | MM_PRIVATE, &mut r);
            if rc != 0 {
                break rc;
            }
            regions.push(r);
            assert!(
                regions.len() <= limit + 8,
                "vm.max_map_count is not enforced"
            );
        };
        println!("mapped {} regions in {:?}", regions.len(), start.elapsed());
        say("full:map_anon", first_failure);
        let mut r = ptr::null_mut();
        say(
            "full:map_file",
            mm_map_file(file.as_ptr(), 0, 0, RO_SHARED, &mut r),
        );
        say(
            "full:map_shareable",
            mm_map_shareable(c"rel-mc".as_ptr(), 4096, RW_SHARED, &mut r),
        );
        // Splitting a region needs one more VMA too: free one, map two
        // pages in its place, and protect half of them.
        mm_unmap(regions.pop().unwrap());
        let mut two = ptr::null_mut();
        assert_eq!(
            mm_map_anon(2 * 4096, RW_PRIVATE, &mut two),
            0,
            "{}",
            last_error()
        );
        say("full:protect_split", mm_protect(two, 0, 4096, MM_READ));
        // A region in three parts whose end is taken cannot grow in place
        // nor move: -EBUSY, with the map count full or not, and the region
        // as it was, bytes and protection intact.
        for r in regions.drain(regions.len() - 8..) {
            mm_unmap(r);
        }
        let mut split = ptr::null_mut();
        assert_eq!(
            mm_map_anon(4 * 4096, RW_PRIVATE, &mut split),
            0,
            "{}",
            last_error()
        );
        for i in 0..4u8 {
            assert_eq!(
                mm_write(
                    split,
                    i as usize * 4096,
                    [b'q', b'0' + i].as_ptr().cast(),
                    2
                ),
                0
            );
        }
        assert_eq!(
            mm_protect(split, 4096, 4096, MM_READ),
            0,
            "{}",
            last_error()
        );
        let after = mm_ptr(split).cast::<u8>().add(4 * 4096);
        libc::mmap(
            after.cast(),
            4096,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | 0x10_0000, // MAP_FIXED_NOREPLACE
            -1,
            0,
        );
        // Fill the map count again, then leave room for two more mappings
        // (the refused grow needs none).
        loop {
            let mut r = ptr::null_mut();
            let prot = if regions.len() % 2 == 0 {
                MM_READ
            } else {
                MM_READ | MM_WRITE
            };
            if mm_map_anon(4096, prot | MM_PRIVATE, &mut r) != 0 {
                break;
            }
            regions.push(r);
        }
        for r in regions.drain(regions.len() - 2..) {
            mm_unmap(r);
        }
        let before = mm_ptr(split);
        say("full:resize_split", mm_resize(split, 64 * 4096));
        let mut tags = String::new();
        for i in 0..4 {
            let mut tag = [0u8; 2];
            let rc = mm_read(split, i * 4096, tag.as_mut_ptr().cast(), 2);
            tags += &format!("{rc}:{} ", String::from_utf8_lossy(&tag));
        }
        println!(
            "split after failed grow: same address {} len {} tags {tags}",
            mm_ptr(split) == before,
            mm_len(split)
        );
        say(
            "full:split_ro",
            mm_write(split, 4096, b"x".as_ptr().cast(), 1),
        );
        for r in regions.drain(..16) {
            mm_unmap(r);
        }
        say("freed:resize_split", mm_resize(split, 64 * 4096));
        say(
            "freed:split_ro",
            mm_write(split, 4096, b"x".as_ptr().cast(), 1),
        );
        mm_unmap(split);
        let now = std::fs::read_dir("/proc/self/fd").unwrap().count();
        println!("fds before {fds} after {now}");
        for r in regions.drain(..20) {
            mm_unmap(r);
        }
        let calls: [MapCall; 3] = [
            ("freed:map_anon", &|r| mm_map_anon(4096, RW_PRIVATE, r)),
            ("freed:map_file", &|r| {
                mm_map_file(file.as_ptr(), 0, 0, RO_SHARED, r)
            }),
            ("freed:map_shareable", &|r| {
                mm_map_shareable(c"rel-mc".as_ptr(), 4096, RW_SHARED, r)
            }),
        ];
        for (key, call) in calls {
            let rc = call(&mut r);
            say(key, rc);
            if rc == 0 {
                mm_unmap(r);
            }
        }
        say("freed:protect_split", mm_protect(two, 0, 4096, MM_READ));
        mm_unmap(two);
        for r in regions {
            mm_unmap(r);
        }
    }
}

#[test]
fn map_count_exhaustion_is_enomem_and_recovers() {
    let _s = serial();
    let limit: usize = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(65530);
    if limit > 1 << 20 {
        // Some distributions set it to ~2^31: exhausting that is not a test.
        eprintln!("map_count_exhaustion: vm.max_map_count is {limit}; not exhausting it");
        return;
    }
    let d = TempDir::new("rel-mapcount");
    d.file("f", &pattern(5000, 4));
    let start = Instant::now();
    let out = run_limited(
        test_name!(helper_map_count),
        &[],
        &[("MMKIT_TEST_DIR", d.path())],
    );
    eprintln!("map count exhaustion took {:?}", start.elapsed());
    let get = support::results_by_key(&out);
    for (key, call) in [
        ("map_anon", "mm_map_anon"),
        ("map_file", "mm_map_file"),
        ("map_shareable", "mm_map_shareable"),
        ("protect_split", "mm_protect"),
    ] {
        let (rc, msg) = get(&format!("full:{key}"));
        assert_eq!(rc, -libc::ENOMEM, "{key}: {msg}");
        assert!(msg.starts_with(&format!("{call}: ")), "{key}: {msg}");
        let (rc, msg) = get(&format!("freed:{key}"));
        assert_eq!(rc, 0, "after freeing, {key}: {msg}");
    }
    let (rc, msg) = get("full:resize_split");
    // A region in parts with no room after it does not grow at all (EBUSY).
    assert_eq!(rc, -libc::EBUSY, "resize_split: {msg}");
    assert!(msg.starts_with("mm_resize: "), "{msg}");
    assert!(
        out.contains(&format!(
            "split after failed grow: same address true len {} tags 0:q0 0:q1 0:q2 0:q3 ",
            4 * 4096
        )),
        "{out}"
    );
    assert_eq!(get("full:split_ro").0, -libc::EFAULT, "{out}");
    assert_eq!(get("freed:resize_split").0, -libc::EBUSY, "{out}");
    assert_eq!(get("freed:split_ro").0, -libc::EFAULT, "{out}");
    let fds = out
        .lines()
        .find_map(|l| Some(&l[l.find("fds before")?..]))
        .unwrap();
    let v: Vec<&str> = fds.split_whitespace().collect();
    assert_eq!(v[2], v[4], "failed maps leaked descriptors: {fds}");
}
