//! `MM_CREATE` in a shared directory (the contract, ../shared/API.md, "Flags"): in a sticky directory
//! that others may write, a final-component symlink is followed only when the
//! caller or the directory's owner owns it, and an existing file is accepted
//! only when one of them owns it -- whatever `fs.protected_symlinks` and
//! `fs.protected_regular` say (both are 0 on the machine these were written
//! on). The attacker is a real unprivileged user (`setpriv` to uid 65534) in
//! a real sticky directory; the victim is this process (root).

use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{cstr, test_name, TempDir};
use mmkit::{Flags, Region};

const RW: Flags = Flags::READ.union(Flags::WRITE).union(Flags::SHARED);
const CREATE: Flags = RW.union(Flags::CREATE);
const NOBODY: u32 = 65534;
const SECRET: &[u8] = b"the victim's secret, which must not change";

/// Why these tests cannot run here, if they cannot.
fn cannot_run() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not running as root: cannot act as a second user".into());
    }
    match Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "id",
            "-u",
        ])
        .output()
    {
        Ok(o) if o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "65534" => None,
        Ok(o) => Some(format!(
            "setpriv cannot switch to uid 65534: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Some(format!("setpriv is missing: {e}")),
    }
}

macro_rules! need_two_users {
    () => {
        if let Some(why) = cannot_run() {
            println!("skipped: {why}");
            return;
        }
    };
}

/// Run `script` with `sh -c` as the unprivileged attacker; it must succeed.
fn as_attacker(script: &str) {
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "sh",
            "-c",
            script,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "attacker's {script:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The attacker plants a file of theirs at `at`: "planted", mode 0666.
fn plant_file(at: &Path) {
    as_attacker(&format!(
        "umask 0; printf planted > {0}; chmod 666 {0}",
        quote(at)
    ));
}

/// The attacker plants a symbolic link to `target` at `at`.
fn plant_link(target: &Path, at: &Path) {
    as_attacker(&format!("ln -s {} {}", quote(target), quote(at)));
}

fn quote(p: &Path) -> String {
    format!("'{}'", p.display())
}

/// A directory with `mode` (sticky bits included), owned by `owner`:`group`.
fn shared_dir(tag: &str, mode: u32, owner: u32, group: u32) -> TempDir {
    let d = TempDir::new(tag);
    std::os::unix::fs::chown(d.path(), Some(owner), Some(group)).unwrap();
    fs::set_permissions(d.path(), fs::Permissions::from_mode(mode)).unwrap();
    d
}

/// The victim's file, in a private directory: (its directory, its path).
fn victim() -> (TempDir, PathBuf) {
    let d = TempDir::new("victim");
    let p = d.file("secret", SECRET);
    fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
    (d, p)
}

#[track_caller]
fn assert_refused(r: mmkit::Result<Region>, path: &Path, errnos: &[i32]) {
    let e = r.expect_err("MM_CREATE accepted what it must refuse");
    let m = e.to_string();
    assert!(errnos.contains(&e.errno()), "errno {}: {m}", e.errno());
    assert!(m.starts_with("mm_map_file: "), "{m}");
    assert!(m.contains(&*path.to_string_lossy()), "{m}");
    assert!(m.contains("MM_EXCL"), "{m}");
    assert!(m.contains("private directory"), "{m}");
}

#[track_caller]
fn assert_unchanged(p: &Path, contents: &[u8]) {
    assert_eq!(
        fs::read(p).unwrap(),
        contents,
        "{} was changed",
        p.display()
    );
}

#[test]
fn an_attackers_symlink_in_a_sticky_directory_is_not_followed() {
    need_two_users!();
    let (_v, secret) = victim();
    let d = shared_dir("sticky-link", 0o1777, 0, 0);
    let out = d.join("out.dat");
    plant_link(&secret, &out);
    assert_refused(
        Region::file(&out, 0, 4096, CREATE),
        &out,
        &[libc::EPERM, libc::ELOOP],
    );
    assert_unchanged(&secret, SECRET);
    // Also when the file would not need to grow.
    assert_refused(
        Region::file(&out, 0, 4, CREATE),
        &out,
        &[libc::EPERM, libc::ELOOP],
    );
    assert_unchanged(&secret, SECRET);
}

#[test]
fn an_attackers_dangling_symlink_in_a_sticky_directory_creates_nothing() {
    need_two_users!();
    let (v, _) = victim();
    let d = shared_dir("sticky-dangling", 0o1777, 0, 0);
    let out = d.join("out.dat");
    let target = v.join("made-by-the-victim");
    plant_link(&target, &out);
    assert_refused(
        Region::file(&out, 0, 4096, CREATE),
        &out,
        &[libc::EPERM, libc::ELOOP],
    );
    assert!(!target.exists(), "created through the attacker's link");
}

#[test]
fn an_attackers_file_in_a_sticky_directory_is_refused() {
    need_two_users!();
    let d = shared_dir("sticky-file", 0o1777, 0, 0);
    let out = d.join("out.dat");
    plant_file(&out);
    assert_refused(Region::file(&out, 0, 4096, CREATE), &out, &[libc::EPERM]);
    assert_unchanged(&out, b"planted");
    assert_eq!(fs::metadata(&out).unwrap().len(), 7, "the file was grown");
}

#[test]
fn an_attackers_file_in_a_sticky_group_writable_directory_is_refused() {
    // protected_regular=2: sticky and writable by the group (not by all).
    need_two_users!();
    let d = shared_dir("sticky-group", 0o1770, 0, NOBODY);
    let out = d.join("out.dat");
    plant_file(&out);
    assert_refused(Region::file(&out, 0, 4096, CREATE), &out, &[libc::EPERM]);
    assert_unchanged(&out, b"planted");
}

#[test]
fn an_attackers_link_behind_the_callers_own_link_is_not_followed() {
    // The caller's link points at a name in the sticky directory where the
    // attacker planted a link to the victim: each link on the way counts.
    need_two_users!();
    let (_v, secret) = victim();
    let d = shared_dir("sticky-chain", 0o1777, 0, 0);
    let planted = d.join("planted");
    plant_link(&secret, &planted);
    let mine = d.join("mine");
    symlink("planted", &mine).unwrap();
    assert_refused(
        Region::file(&mine, 0, 4096, CREATE),
        &mine,
        &[libc::EPERM, libc::ELOOP],
    );
    assert_unchanged(&secret, SECRET);
}

#[test]
fn an_attackers_file_behind_the_callers_own_link_is_refused() {
    // The file a link leads to is judged in its own directory, as the
    // kernel's protected_regular judges the file an O_CREAT open ends on.
    need_two_users!();
    let d = shared_dir("sticky-behind", 0o1777, 0, 0);
    let planted = d.join("planted");
    plant_file(&planted);
    let private = TempDir::new("private-link");
    let mine = private.join("mine");
    symlink(&planted, &mine).unwrap();
    assert_refused(Region::file(&mine, 0, 4096, CREATE), &mine, &[libc::EPERM]);
    assert_unchanged(&planted, b"planted");
}

#[test]
fn the_c_abi_refuses_an_attackers_symlink() {
    need_two_users!();
    let (_v, secret) = victim();
    let d = shared_dir("sticky-ffi", 0o1777, 0, 0);
    let out = d.join("out.dat");
    plant_link(&secret, &out);
    let c = cstr(&out);
    let mut r = std::ptr::null_mut();
    // SAFETY: a valid C string and out pointer.
    let rc = unsafe {
        mmkit::ffi::mm_map_file(
            c.as_ptr(),
            0,
            4096,
            mmkit::MM_READ | mmkit::MM_WRITE | mmkit::MM_SHARED | mmkit::MM_CREATE,
            &mut r,
        )
    };
    // SAFETY: mm_last_error never returns NULL.
    let msg = unsafe { std::ffi::CStr::from_ptr(mmkit::ffi::mm_last_error()) }
        .to_string_lossy()
        .into_owned();
    assert!(rc == -libc::EPERM || rc == -libc::ELOOP, "rc {rc}: {msg}");
    assert!(r.is_null());
    assert!(msg.contains("MM_EXCL") && msg.contains("out.dat"), "{msg}");
    assert_unchanged(&secret, SECRET);
}

#[test]
fn a_hard_link_to_the_victims_file_in_a_sticky_directory_is_refused() {
    // Where the kernel lets anyone hard-link another user's file (Linux with
    // fs.protected_hardlinks=0, FreeBSD, macOS, NetBSD), a link in /tmp owned
    // by the victim passes an owner check: the second name gives it away.
    need_two_users!();
    let (_v, secret) = victim();
    let d = shared_dir("sticky-hardlink", 0o1777, 0, 0);
    let out = d.join("app.db");
    // Made as root here: this kernel's protected_hardlinks stops the attacker.
    fs::hard_link(&secret, &out).unwrap();
    assert_refused(Region::file(&out, 0, 8192, CREATE), &out, &[libc::EPERM]);
    assert_unchanged(&secret, SECRET);
    assert_eq!(fs::metadata(&secret).unwrap().len(), SECRET.len() as u64);
    // With one name the caller's own file is accepted (see below).
    fs::remove_file(&out).unwrap();
    fs::write(&out, b"mine").unwrap();
    Region::file(&out, 0, 4, CREATE).unwrap();
}

#[test]
fn an_attackers_directory_link_on_the_way_is_not_followed() {
    // The attacker plants /tmp/x -> the victim's directory; the victim maps
    // /tmp/x/notes with MM_CREATE. Each directory on the way counts, not
    // only the last name.
    need_two_users!();
    let (v, secret) = victim();
    let d = shared_dir("sticky-dirlink", 0o1777, 0, 0);
    let cache = d.join("cache");
    plant_link(v.path(), &cache);
    let through = cache.join("secret");
    for flags in [CREATE, CREATE.union(Flags::EXCL)] {
        let e = Region::file(&through, 0, 4096, flags).expect_err("followed the attacker's link");
        let m = e.to_string();
        assert_eq!(e.errno(), libc::EPERM, "{m}");
        assert!(
            m.contains("on the way is a symbolic link owned by uid 65534"),
            "{m}"
        );
        assert!(m.contains("private directory"), "{m}");
    }
    let new = cache.join("new");
    Region::file(&new, 0, 4096, CREATE).expect_err("created through the attacker's link");
    assert!(!v.path().join("new").exists());
    assert_unchanged(&secret, SECRET);
}

#[test]
fn the_callers_own_directory_link_on_the_way_is_followed() {
    need_two_users!();
    let private = TempDir::new("private-target");
    let d = shared_dir("sticky-own-dirlink", 0o1777, NOBODY, NOBODY);
    let mine = d.join("mine");
    symlink(private.path(), &mine).unwrap();
    let r = Region::file(mine.join("data"), 0, 4096, CREATE).unwrap();
    assert_eq!(r.len(), 4096);
    assert_eq!(
        fs::metadata(private.path().join("data")).unwrap().len(),
        4096
    );
}

#[test]
fn the_callers_own_file_in_a_sticky_directory_of_another_user_is_accepted() {
    // The caller (root) is not the directory's owner (nobody): the caller's
    // own file and link pass on the caller's ownership alone.
    need_two_users!();
    let d = shared_dir("sticky-others", 0o1777, NOBODY, NOBODY);
    let out = d.join("own.dat");
    fs::write(&out, b"own").unwrap();
    let r = Region::file(&out, 0, 4096, CREATE).unwrap();
    assert_eq!(r.len(), 4096);
    let private = TempDir::new("private-own-target");
    let target = private.file("t", b"t");
    let link = d.join("own-link");
    symlink(&target, &link).unwrap();
    Region::file(&link, 0, 4096, CREATE).unwrap();
    assert_eq!(fs::metadata(&target).unwrap().len(), 4096);
}

#[test]
fn the_callers_own_link_and_file_in_a_sticky_directory_are_accepted() {
    need_two_users!();
    let d = shared_dir("sticky-own", 0o1777, 0, 0);
    let own = d.file("own", b"mine");
    let r = Region::file(&own, 0, 4096, CREATE).unwrap();
    assert_eq!(r.len(), 4096);
    assert_eq!(fs::metadata(&own).unwrap().len(), 4096);
    drop(r);
    let private = TempDir::new("own-target");
    let target = private.file("target", b"target");
    let link = d.join("link");
    symlink(&target, &link).unwrap();
    let r = Region::file(&link, 0, 8192, CREATE).unwrap();
    assert_eq!(r.len(), 8192);
    assert_eq!(fs::metadata(&target).unwrap().len(), 8192);
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn files_and_links_of_the_directorys_owner_are_accepted() {
    // The sticky bit lets only the owner of an entry or of the directory
    // replace it: the directory's owner is trusted like the caller.
    need_two_users!();
    let d = shared_dir("sticky-owner", 0o1777, NOBODY, NOBODY);
    let theirs = d.join("theirs");
    as_attacker(&format!("umask 0; printf data > {}", quote(&theirs)));
    let r = Region::file(&theirs, 0, 4096, CREATE).unwrap();
    assert_eq!(r.len(), 4096);
    drop(r);
    let private = TempDir::new("owner-target");
    let target = private.file("target", b"target");
    let link = d.join("link");
    plant_link(&target, &link);
    Region::file(&link, 0, 4096, CREATE).unwrap();
    assert_eq!(fs::metadata(&target).unwrap().len(), 4096);
}

#[test]
fn directories_that_are_not_sticky_follow_links_as_before() {
    // The rules are those of sticky directories only; elsewhere whoever can
    // write the directory could replace the entry anyway.
    need_two_users!();
    for (tag, mode) in [("private", 0o755), ("open", 0o777)] {
        let d = shared_dir(tag, mode, 0, 0);
        let private = TempDir::new("plain-target");
        let target = private.file("target", b"target");
        let link = d.join("link");
        symlink(&target, &link).unwrap();
        std::os::unix::fs::lchown(&link, Some(NOBODY), Some(NOBODY)).unwrap();
        Region::file(&link, 0, 4096, CREATE).unwrap();
        assert_eq!(fs::metadata(&target).unwrap().len(), 4096, "{tag}");
        let theirs = d.file("theirs", b"x");
        std::os::unix::fs::chown(&theirs, Some(NOBODY), Some(NOBODY)).unwrap();
        Region::file(&theirs, 0, 4096, CREATE).unwrap();
        assert_eq!(fs::metadata(&theirs).unwrap().len(), 4096, "{tag}");
    }
}

#[test]
fn excl_creates_in_a_sticky_directory_and_never_follows() {
    need_two_users!();
    let (_v, secret) = victim();
    let d = shared_dir("sticky-excl", 0o1777, 0, 0);
    let fresh = d.join("fresh");
    let r = Region::file(&fresh, 0, 4096, CREATE | Flags::EXCL).unwrap();
    assert_eq!(r.len(), 4096);
    let m = fs::metadata(&fresh).unwrap();
    assert_eq!((m.uid(), m.mode() & 0o7777, m.len()), (0, 0o600, 4096));
    let out = d.join("out.dat");
    plant_link(&secret, &out);
    let e = Region::file(&out, 0, 4096, CREATE | Flags::EXCL).unwrap_err();
    assert_eq!(e.errno(), libc::EEXIST, "{e}");
    assert_unchanged(&secret, SECRET);
}

#[test]
fn create_in_a_sticky_directory_makes_a_private_file() {
    need_two_users!();
    let d = shared_dir("sticky-new", 0o1777, 0, 0);
    let p = d.join("new");
    let r = Region::file(&p, 0, 4096, CREATE).unwrap();
    assert_eq!(r.len(), 4096);
    let m = fs::metadata(&p).unwrap();
    assert_eq!((m.uid(), m.mode() & 0o7777, m.len()), (0, 0o600, 4096));
}

#[test]
fn a_dangling_link_is_eloop_and_creates_nothing() {
    // Also the caller's own: MM_CREATE never creates through a link.
    need_two_users!();
    for (tag, mode) in [("sticky-own-dangling", 0o1777), ("private-dangling", 0o755)] {
        let d = shared_dir(tag, mode, 0, 0);
        let target = d.join("target");
        let link = d.join("link");
        symlink(&target, &link).unwrap();
        let e = Region::file(&link, 0, 4096, CREATE).unwrap_err();
        assert_eq!(e.errno(), libc::ELOOP, "{tag}: {e}");
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(!target.exists(), "{tag}: created through a link");
    }
}

#[test]
fn without_create_an_attackers_file_maps_as_before() {
    // The rules guard what MM_CREATE writes; reading a file is the caller's
    // choice, as it always was.
    need_two_users!();
    let d = shared_dir("sticky-read", 0o1777, 0, 0);
    let out = d.join("out.dat");
    as_attacker(&format!("umask 0; printf planted > {}", quote(&out)));
    let r = Region::file(&out, 0, 0, Flags::READ | Flags::SHARED).unwrap();
    assert_eq!(r.len(), 7);
}

#[test]
fn a_directory_one_may_search_but_not_read_still_works() {
    // Like /var/lib/php/sessions (mode 1733): the directory is opened
    // search-only (O_PATH, O_SEARCH) when it cannot be read, so an existing
    // file there still maps with MM_CREATE, as it always did.
    need_two_users!();
    let d = shared_dir("sticky-search", 0o1733, 0, 0);
    let own = d.join("own");
    as_attacker(&format!("umask 077; printf mine > {}", quote(&own)));
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(std::env::current_exe().unwrap())
        .args(crate::support::helper_args(test_name!(
            helper_map_with_create
        )))
        .env("MMKIT_TEST_PATH", &own)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("RESULT ok 4096"), "{text}");
    assert_eq!(fs::metadata(&own).unwrap().len(), 4096);
}

#[test]
#[ignore = "helper: run as another user by a_directory_one_may_search_but_not_read_still_works"]
fn helper_map_with_create() {
    let p = std::env::var_os("MMKIT_TEST_PATH").unwrap();
    match Region::file(&p, 0, 4096, CREATE) {
        Ok(r) => println!("RESULT ok {}", r.len()),
        Err(e) => println!("RESULT err {}: {e}", e.errno()),
    }
}
