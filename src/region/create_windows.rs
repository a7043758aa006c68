//! `MM_CREATE` by path on Windows: one `CreateFileW` finds or creates the
//! file (no check-then-open window), links are not followed (`ELOOP`), and
//! a file this call created is removed again when the call fails. Windows
//! has no sticky directories, so the Unix rules of `create.rs` have nothing
//! to apply to.

use super::*;

impl Region {
    /// [`Region::file`] with `MM_CREATE`.
    #[inline(never)]
    pub(super) fn file_create(
        call: &'static str,
        path: &Path,
        offset: u64,
        len: usize,
        checked: Checked,
    ) -> Result<Region> {
        let excl = checked.flags.contains(Flags::EXCL);
        let opened = sys::open_create(path, excl).map_err(|e| {
            // A directory where the file was named: refused by CreateFileW
            // (access denied), ENODEV as on Unix and without MM_CREATE.
            let code = sys::errno_of(&e);
            if !excl
                && code != Some(errno::ELOOP)
                && std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
            {
                return a_directory(call, describe(path));
            }
            let how = if excl { "CREATE_NEW" } else { "OPEN_ALWAYS" };
            let why = if code == Some(errno::ELOOP) {
                ": it is a symbolic link or junction, which MM_CREATE does not follow"
            } else {
                ""
            };
            Error::Os {
                call,
                msg: msg!("CreateFileW({}, {how}){why}", describe(path)),
                source: e,
            }
        })?;
        let created = opened.creator.is_some();
        let result = Self::map_open_file(
            call,
            Some(path),
            opened.file.as_fd(),
            offset,
            len,
            checked,
            created,
        );
        if let (Err(_), Some(creator)) = (&result, &opened.creator) {
            // We made this file and could not finish: leave nothing behind.
            let _ = sys::remove_created(creator);
        }
        result
    }
}
