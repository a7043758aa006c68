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
