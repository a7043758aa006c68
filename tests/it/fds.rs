//! Descriptors: thousands of maps leak none. Run alone in a process of its
//! own (`alone!`), so no other test opens descriptors while it counts them.

use std::os::fd::AsFd;

use crate::support::{alone, open_fds, TempDir};
use mmkit::{Flags, Region};

#[test]
fn thousands_of_maps_leak_no_descriptor() {
    alone!(thousands_of_maps_leak_no_descriptor);
    let d = TempDir::new("fds");
    let p = d.file("f", &[1u8; 10_000]);
    let empty = d.file("empty", b"");
    let f = std::fs::File::open(&p).unwrap();
    let before = open_fds();
    for i in 0..3000u64 {
        let r = Region::file(&p, i % 10_000, 0, Flags::READ | Flags::SHARED).unwrap();
        drop(r);
        drop(Region::file(&empty, 0, 0, Flags::READ | Flags::PRIVATE).unwrap());
        drop(Region::from_fd(f.as_fd(), i, 1, Flags::READ | Flags::PRIVATE).unwrap());
        drop(
            Region::anon(
                4096,
                Flags::READ | Flags::WRITE | Flags::SHARED | Flags::DEVZERO,
            )
            .unwrap(),
        );
        // Failures must not leak either.
        assert!(Region::file(&p, 20_000, 0, Flags::READ | Flags::SHARED).is_err());
        assert!(Region::file(d.path(), 0, 0, Flags::READ | Flags::SHARED).is_err());
        let n = d.join(&format!("c{}", i % 5));
        let _ = std::fs::remove_file(&n);
        drop(
            Region::file(
                &n,
                0,
                100,
                Flags::READ | Flags::WRITE | Flags::SHARED | Flags::CREATE,
            )
            .unwrap(),
        );
    }
    assert_eq!(open_fds(), before);
}
