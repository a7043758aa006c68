//! Helpers the backend's unit tests share.

use super::*;

/// Whether this is the child that runs test `name` alone; in the parent,
/// run that child (under `wrapper`, a command prefix such as `setpriv
/// ...`), check it passed, and return false.
pub(crate) fn in_child(name: &str, wrapper: &[&str]) -> bool {
    if std::env::var_os("MMKIT_SYS_TEST_CHILD").is_some() {
        return true;
    }
    let exe = std::env::current_exe().unwrap();
    let exe = exe.to_str().unwrap();
    let mut argv: Vec<&str> = wrapper.to_vec();
    argv.extend([exe, "--exact", name, "--test-threads=1", "--nocapture"]);
    let out = std::process::Command::new(argv[0])
        .args(&argv[1..])
        .env("MMKIT_SYS_TEST_CHILD", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    false
}

/// Private read-write memory, as the tests map it.
pub(crate) const PRIVATE_RW: MapSpec = MapSpec {
    prot: Prot(libc::PROT_READ | libc::PROT_WRITE),
    share: Share::Private,
    noreserve: false,
    populate: false,
};
