//! Tests of the guard's registry and classification.

use super::signal::is_loss_code;
use super::*;

#[test]
fn only_a_page_past_the_end_is_a_loss() {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        assert!(is_loss_code(libc::BUS_ADRERR));
        // Hardware memory errors pass through, action required or optional.
        assert!(!is_loss_code(libc::BUS_MCEERR_AR));
        assert!(!is_loss_code(libc::BUS_MCEERR_AO));
        assert!(!is_loss_code(libc::BUS_OBJERR));
        assert!(!is_loss_code(libc::BUS_ADRALN));
        // Sent by kill, tgkill, sigqueue, the kernel itself.
        for code in [
            libc::SI_USER,
            libc::SI_TKILL,
            libc::SI_QUEUE,
            libc::SI_KERNEL,
        ] {
            assert!(!is_loss_code(code), "{code}");
        }
    }
}

#[test]
fn only_faults_come_back_by_themselves() {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        for code in [
            libc::BUS_ADRALN,
            libc::BUS_ADRERR,
            libc::BUS_OBJERR,
            libc::BUS_MCEERR_AR,
        ] {
            assert!(signal::refaults(code), "{code}");
        }
        for code in [
            libc::BUS_MCEERR_AO,
            libc::SI_USER,
            libc::SI_TKILL,
            libc::SI_QUEUE,
            libc::SI_KERNEL,
        ] {
            assert!(!signal::refaults(code), "{code}");
        }
    }
}

/// A shared mapping of two pages over a file of one, and a page without access.
fn probe_targets() -> (Mapping, *mut u8, *mut u8) {
    let dir = std::env::temp_dir().join(format!("mmkit-probe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("f");
    std::fs::write(&path, vec![9u8; page_size()]).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let spec = MapSpec {
        prot: Prot(libc::PROT_READ),
        share: Share::Shared,
        noreserve: false,
        populate: false,
    };
    let map = map_fd(std::os::fd::AsFd::as_fd(&file), 0, 2 * page_size(), &spec).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    // SAFETY: a fresh private mapping of one page, never touched.
    let none = unsafe {
        libc::mmap(
            ptr::null_mut(),
            page_size(),
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANON,
            -1,
            0,
        )
    };
    assert_ne!(none, libc::MAP_FAILED);
    let at = map.ptr();
    (map, at, none.cast())
}

#[test]
fn each_probe_tells_a_readable_page_from_a_gone_one() {
    let (map, file_page, none) = probe_targets();
    let byte = 7u8;
    let here = &byte as *const u8 as usize;
    let past_end = file_page as usize + page_size();
    type Probe = (&'static str, fn(usize) -> Option<bool>);
    let mut probes: Vec<Probe> = vec![];
    #[cfg(any(target_os = "linux", target_os = "android"))]
    probes.push(("process_vm_readv", signal::probe::vm_readable));
    // The pipe, as the BSDs, macOS and illumos use it (and Linux where
    // process_vm_readv is refused).
    signal::probe::open_pipe().unwrap();
    probes.push(("pipe", signal::probe::pipe_readable));
    for (name, readable) in probes {
        assert_eq!(readable(here), Some(true), "{name}: a local");
        assert_eq!(
            readable(file_page as usize + 5),
            Some(true),
            "{name}: in the file"
        );
        assert_eq!(
            readable(past_end),
            Some(false),
            "{name}: past the end of the file"
        );
        assert_eq!(readable(none as usize), Some(false), "{name}: no access");
    }
    // A program that closes descriptors it does not know and opens files
    // may give the probe's numbers to them: the probe must neither write a
    // byte of the page into such a file nor call the page gone.
    let (rd, wr) = signal::probe::pipe_fds();
    let dir = std::env::temp_dir().join(format!("mmkit-probe-fds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let victim = std::fs::File::create(dir.join("app-file")).unwrap();
    for fd in [rd, wr] {
        // SAFETY: replaces the probe's own descriptor numbers (this test's
        // process) with a file, as such a program would.
        assert_eq!(
            unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&victim), fd) },
            fd
        );
    }
    assert_eq!(
        signal::probe::pipe_readable(here),
        None,
        "a file is no probe pipe"
    );
    assert_eq!(signal::probe::pipe_readable(past_end), None);
    assert_eq!(
        std::fs::metadata(dir.join("app-file")).unwrap().len(),
        0,
        "written to"
    );
    for fd in [rd, wr] {
        // SAFETY: the duplicates made above.
        unsafe { libc::close(fd) };
    }
    signal::probe::open_pipe().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    drop(map);
    // SAFETY: the test's own mapping.
    unsafe { libc::munmap(none.cast(), page_size()) };
}
