//! The boundary: panics, errors and messages.

use super::*;

fn message() -> String {
    // SAFETY: mm_last_error never returns NULL.
    unsafe { CStr::from_ptr(mm_last_error()) }
        .to_string_lossy()
        .into_owned()
}

#[test]
fn a_panic_in_a_body_becomes_an_error_return() {
    let rc = guard("mm_test", || panic!("boom {}", 42));
    assert_eq!(rc, -libc::EIO);
    assert_eq!(
        message(),
        "mm_test: internal error (please report): boom 42"
    );
    let rc = guard("mm_test", || std::panic::panic_any(7u8));
    assert_eq!(rc, -libc::EIO);
    assert!(message().contains("non-string payload"));
    // The boundary still works afterwards.
    assert_eq!(guard("mm_test", || Ok(())), 0);
}

#[test]
fn errors_become_negative_errno_and_a_message() {
    let rc = guard("mm_test", || {
        Err(Error::os("mm_test", libc::EMFILE, "open(\"x\")"))
    });
    assert_eq!(rc, -libc::EMFILE);
    assert!(
        message().starts_with("mm_test: open(\"x\"): "),
        "{}",
        message()
    );
}

#[test]
fn a_nul_in_a_message_does_not_lose_it() {
    let rc = guard("mm_test", || Err(Error::invalid("mm_test", "a\0b")));
    assert_eq!(rc, -libc::EINVAL);
    assert_eq!(message(), "mm_test: a\\0b");
}

#[test]
fn a_message_too_long_for_the_buffer_is_cut_and_terminated() {
    let long = "x".repeat(3 * LAST_ERROR_ROOM);
    let rc = guard("mm_test", || Err(Error::invalid("mm_test", &long)));
    assert_eq!(rc, -libc::EINVAL);
    let m = message();
    assert_eq!(
        m.len(),
        LAST_ERROR_ROOM - 1,
        "the buffer is used to its end"
    );
    assert!(m.starts_with("mm_test: xxx") && m.ends_with("x..."), "{m}");
    // A multi-byte character is never split at the cut.
    let wide = "\u{e9}".repeat(LAST_ERROR_ROOM);
    guard("mm_test", || Err(Error::invalid("mm_test", &wide)));
    assert!(message().ends_with("\u{e9}..."));
    // The next, shorter message replaces it whole.
    guard("mm_test", || Err(Error::invalid("mm_test", "short")));
    assert_eq!(message(), "mm_test: short");
}

#[test]
fn system_error_texts_come_from_strerror() {
    let e = Error::os("mm_test", libc::ENOENT, "open(\"x\")");
    assert_eq!(
        e.to_string(),
        "mm_test: open(\"x\"): No such file or directory"
    );
    let e = Error::os("mm_test", 99999, "y");
    assert!(e.to_string().starts_with("mm_test: y: "), "{e}");
}
