//! Pseudo-filesystems (procfs, sysfs, ...): named by `fstatfs`, refused before
//! anything is written to their files.

use super::*;

/// Whether the file `st` describes may lie on a pseudo-filesystem, so that
/// [`pseudo_fs`] must be asked. Linux's pseudo-filesystems (procfs, sysfs,
/// debugfs, ...: all of `PSEUDO_MAGIC`) allocate no storage for their
/// files, so a file with blocks is on a real one and the common mapping path
/// is spared the `fstatfs`. Elsewhere: always.
#[inline]
pub(crate) fn may_be_pseudo(st: &Stat) -> bool {
    !cfg!(mmkit_statfs_magic) || st.blocks == 0
}

/// The pseudo-filesystem (procfs, sysfs, ...) that `fd` lies on, by name;
/// `None` for a real filesystem, or where the system cannot tell.
pub(crate) fn pseudo_fs(fd: BorrowedFd<'_>) -> SysResult<Option<&'static str>> {
    match fs_of(fd.as_raw_fd()) {
        // Only a filesystem too big for the structure's fields overflows
        // them: a real one.
        Err(e) if e.raw_os_error() == Some(libc::EOVERFLOW) => Ok(None),
        r => r,
    }
}

/// Pseudo-filesystems by the magic number `fstatfs` reports (Linux's
/// `linux/magic.h`; a test compares them with the libc crate's). Not here:
/// those whose files are made to be mapped (dma-buf, secretmem, hugetlbfs).
#[cfg(any(test, mmkit_statfs_magic))]
const PSEUDO_MAGIC: &[(u32, &str)] = &[
    (0x0000_9fa0, "proc"),
    (0x6265_6572, "sysfs"),
    (0x6462_6720, "debugfs"),
    (0x7472_6163, "tracefs"),
    (0x0027_e0eb, "cgroup"),
    (0x6367_7270, "cgroup2"),
    (0x7363_6673, "securityfs"),
    (0xf97c_ff8c, "selinuxfs"),
    (0x4341_5d53, "smackfs"),
    (0x5a3c_69f0, "apparmorfs"),
    (0xcafe_4a11, "bpf"),
    (0x6165_676c, "pstore"),
    (0x6265_6570, "configfs"),
    (0xde5e_81e4, "efivarfs"),
    (0x6573_5543, "fusectl"),
    (0x4249_4e4d, "binfmt_misc"),
    (0x6e73_6673, "nsfs"),
    (0x0000_1cd1, "devpts"),
    (0x1980_0202, "mqueue"),
    (0x0765_5821, "resctrl"),
    (0x0000_9fa1, "openpromfs"),
    (0x0000_9fa2, "usbdevfs"),
    (0xabba_1974, "xenfs"),
    (0x6c6f_6f70, "binder"),
    (0x6759_6969, "rpc_pipefs"),
    (0x6e66_7364, "nfsd"),
    (0x5049_4446, "pidfs"),
];

/// Pseudo-filesystems by the name `fstatfs`/`fstatvfs` reports: the BSDs and
/// macOS, then illumos and Solaris.
#[cfg(any(
    test,
    mmkit_statfs_typename,
    mmkit_statvfs_typename,
    mmkit_statvfs_basetype
))]
const PSEUDO_NAMES: &[&str] = &[
    "procfs",
    "linprocfs",
    "linsysfs",
    "devfs",
    "fdescfs",
    "fdesc",
    "mqueuefs",
    "kernfs",
    "ptyfs",
    "proc",
    "lxproc",
    "ctfs",
    "objfs",
    "mntfs",
    "sharefs",
    "fd",
    "dev",
];

/// The entry of [`PSEUDO_NAMES`] that the NUL-terminated `raw` names.
#[cfg(any(
    test,
    mmkit_statfs_typename,
    mmkit_statvfs_typename,
    mmkit_statvfs_basetype
))]
fn pseudo_by_name(raw: &[libc::c_char]) -> Option<&'static str> {
    let len = raw.iter().position(|&c| c == 0).unwrap_or(raw.len());
    #[allow(clippy::unnecessary_cast)] // c_char is i8 or u8 by platform
    PSEUDO_NAMES
        .iter()
        .copied()
        .find(|n| n.len() == len && n.bytes().zip(raw).all(|(a, &b)| a == b as u8))
}

#[cfg(mmkit_statfs_magic)]
fn fs_of(fd: libc::c_int) -> SysResult<Option<&'static str>> {
    let mut sf = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: fstatfs writes a whole struct statfs into the buffer on success.
    retry(|| unsafe { libc::fstatfs(fd, sf.as_mut_ptr()) } as isize)?;
    // SAFETY: fstatfs succeeded, so the struct is initialised.
    let sf = unsafe { sf.assume_init() };
    #[allow(clippy::unnecessary_cast)] // f_type is i32, i64, u32 or u64 by platform
    let magic = sf.f_type as u32;
    Ok(PSEUDO_MAGIC
        .iter()
        .find(|&&(m, _)| m == magic)
        .map(|&(_, name)| name))
}

#[cfg(mmkit_statfs_typename)]
fn fs_of(fd: libc::c_int) -> SysResult<Option<&'static str>> {
    let mut sf = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: fstatfs writes a whole struct statfs into the buffer on success.
    retry(|| unsafe { libc::fstatfs(fd, sf.as_mut_ptr()) } as isize)?;
    // SAFETY: fstatfs succeeded, so the struct is initialised.
    let sf = unsafe { sf.assume_init() };
    Ok(pseudo_by_name(&sf.f_fstypename))
}

#[cfg(mmkit_statvfs_typename)]
fn fs_of(fd: libc::c_int) -> SysResult<Option<&'static str>> {
    let mut sf = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: fstatvfs writes a whole struct statvfs into the buffer on success.
    retry(|| unsafe { libc::fstatvfs(fd, sf.as_mut_ptr()) } as isize)?;
    // SAFETY: fstatvfs succeeded, so the struct is initialised.
    let sf = unsafe { sf.assume_init() };
    Ok(pseudo_by_name(&sf.f_fstypename))
}

#[cfg(mmkit_statvfs_basetype)]
fn fs_of(fd: libc::c_int) -> SysResult<Option<&'static str>> {
    let mut sf = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: fstatvfs writes a whole struct statvfs into the buffer on success.
    retry(|| unsafe { libc::fstatvfs(fd, sf.as_mut_ptr()) } as isize)?;
    // SAFETY: fstatvfs succeeded, so the struct is initialised.
    let sf = unsafe { sf.assume_init() };
    Ok(pseudo_by_name(&sf.f_basetype))
}

#[cfg(not(any(
    mmkit_statfs_magic,
    mmkit_statfs_typename,
    mmkit_statvfs_typename,
    mmkit_statvfs_basetype
)))]
fn fs_of(_fd: libc::c_int) -> SysResult<Option<&'static str>> {
    Ok(None)
}

#[cfg(test)]
mod create_and_pseudo_fs_tests {
    use super::*;

    #[test]
    fn the_magic_numbers_are_the_libc_crates() {
        // The ones the libc crate has; the others are from linux/magic.h.
        #[allow(clippy::unnecessary_cast)]
        let known = [
            (libc::PROC_SUPER_MAGIC as u32, "proc"),
            (libc::SYSFS_MAGIC as u32, "sysfs"),
            (libc::DEBUGFS_MAGIC as u32, "debugfs"),
            (libc::TRACEFS_MAGIC as u32, "tracefs"),
            (libc::CGROUP_SUPER_MAGIC as u32, "cgroup"),
            (libc::CGROUP2_SUPER_MAGIC as u32, "cgroup2"),
            (libc::SECURITYFS_MAGIC as u32, "securityfs"),
            (libc::SELINUX_MAGIC as u32, "selinuxfs"),
            (libc::SMACK_MAGIC as u32, "smackfs"),
            (libc::BPF_FS_MAGIC as u32, "bpf"),
            (libc::NSFS_MAGIC as u32, "nsfs"),
            (libc::DEVPTS_SUPER_MAGIC as u32, "devpts"),
            (libc::RDTGROUP_SUPER_MAGIC as u32, "resctrl"),
            (libc::OPENPROM_SUPER_MAGIC as u32, "openpromfs"),
            (libc::USBDEVICE_SUPER_MAGIC as u32, "usbdevfs"),
            (libc::XENFS_SUPER_MAGIC as u32, "xenfs"),
        ];
        for (magic, name) in known {
            assert!(PSEUDO_MAGIC.contains(&(magic, name)), "{name} {magic:#x}");
        }
        #[allow(clippy::unnecessary_cast)]
        for real in [
            libc::TMPFS_MAGIC,
            libc::EXT4_SUPER_MAGIC,
            libc::HUGETLBFS_MAGIC,
        ] {
            assert!(PSEUDO_MAGIC.iter().all(|&(m, _)| m != real as u32));
        }
    }

    #[test]
    fn names_match_whole_and_up_to_the_nul() {
        fn raw(s: &str) -> [libc::c_char; 16] {
            let mut r = [0; 16];
            for (d, b) in r.iter_mut().zip(s.bytes()) {
                *d = b as libc::c_char;
            }
            r
        }
        assert_eq!(pseudo_by_name(&raw("procfs")), Some("procfs"));
        assert_eq!(pseudo_by_name(&raw("fd")), Some("fd"));
        assert_eq!(pseudo_by_name(&raw("ufs")), None);
        assert_eq!(pseudo_by_name(&raw("procfsx")), None);
        assert_eq!(pseudo_by_name(&raw("proc")), Some("proc"));
        assert_eq!(pseudo_by_name(&raw("")), None);
        // No NUL at all: the whole array is the name.
        assert_eq!(pseudo_by_name(&raw("0123456789abcdef")), None);
    }

    #[cfg(mmkit_statfs_magic)]
    #[test]
    fn proc_and_sys_are_pseudo_and_temp_is_not() {
        let proc = File::open("/proc/self/status").unwrap();
        assert_eq!(pseudo_fs(fd_of(&proc)).unwrap(), Some("proc"));
        assert!(may_be_pseudo(&fstat(fd_of(&proc)).unwrap()));
        if let Ok(sys) = File::open("/sys/devices/system/cpu/online") {
            assert_eq!(pseudo_fs(fd_of(&sys)).unwrap(), Some("sysfs"));
        }
        let tmp = File::open(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(pseudo_fs(fd_of(&tmp)).unwrap(), None);
        // A file with data has blocks: the filesystem need not be asked.
        assert!(!may_be_pseudo(&fstat(fd_of(&tmp)).unwrap()));
    }
}
