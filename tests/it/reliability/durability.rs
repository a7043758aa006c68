//! Durability: a file made with `MM_CREATE` keeps its size when the writer is
//! killed.

use super::*;

/// Helper: MM_CREATE a file and say "ready" as soon as the map returns; wait
/// to be killed.
#[test]
#[ignore = "helper process for create_keeps_its_size_when_the_writer_is_killed"]
fn helper_create_then_wait() {
    let Some(p) = std::env::var_os("MMKIT_TEST_FILE") else {
        return;
    };
    let p = cstr(Path::new(&p));
    let mut r = ptr::null_mut();
    // SAFETY: valid pointers; the region is never unmapped (the process is killed).
    let rc = unsafe {
        mm_map_file(
            p.as_ptr(),
            4096 + 5,
            3 << 20,
            RW_SHARED | MM_CREATE | MM_EXCL,
            &mut r,
        )
    };
    assert_eq!(rc, 0, "{}", last_error());
    println!("ready");
    std::io::stdout().flush().unwrap();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
}

#[test]
fn create_keeps_its_size_when_the_writer_is_killed() {
    let _s = serial();
    // (tests/it/process.rs: bytes written then mm_sync'd survive SIGKILL.)
    let d = TempDir::new("rel-create-kill");
    let p = d.join("created");
    let (child, _out) = start_helper(
        test_name!(helper_create_then_wait),
        &[("MMKIT_TEST_FILE", &p)],
    );
    kill_9(child);
    let m = std::fs::metadata(&p).expect("the created file is gone");
    assert_eq!(m.len(), 4096 + 5 + (3 << 20), "size after SIGKILL");
    assert_eq!(m.permissions().mode() & 0o777, 0o600);
    assert!(
        m.blocks() * 512 >= 3 << 20,
        "blocks not allocated: {}",
        m.blocks()
    );
    assert!(std::fs::read(&p).unwrap().iter().all(|&b| b == 0));
}
