//! Resizing a mapping. Windows cannot extend a view or an allocation in
//! place, nor unmap part of one, so: a shrink keeps the view and lowers the
//! length (private memory past it is decommitted); a grow is a new mapping
//! (step 2 of the one rule: the whole region moves), of the same section for
//! shared memory and files, with the bytes copied for private memory; a
//! region whose pages have state of their own is `EBUSY` (step 3).

use super::*;

/// A grow that moves makes a new mapping, which has only the whole region's
/// protection.
const MOVE_KEEPS_PAGE_STATE: bool = false;

impl Mapping {
    /// Whether a grow that moves this mapping keeps each page's own state:
    /// never here.
    pub(crate) fn move_keeps_page_state(&self) -> bool {
        MOVE_KEEPS_PAGE_STATE
    }

    /// Grow or shrink to `new_len` bytes (a page multiple). `fd`/`offset`
    /// back file and shareable mappings (the file offset of the first byte).
    pub(crate) fn resize(
        &mut self,
        new_len: usize,
        spec: &MapSpec,
        fd: Option<BorrowedDescriptor<'_>>,
        offset: u64,
        page_state: bool,
    ) -> SysResult<()> {
        if new_len == self.len {
            return Ok(());
        }
        if new_len < self.len {
            if let How::Virtual = self.how {
                // SAFETY: decommits whole pages of the tail of the allocation
                // this value owns; the range stays reserved until drop.
                let ok = unsafe {
                    mem::VirtualFree(
                        self.ptr.add(new_len).cast(),
                        self.len - new_len,
                        mem::MEM_DECOMMIT,
                    )
                };
                if ok == 0 {
                    return Err(last_error());
                }
            }
            self.len = new_len;
            return Ok(());
        }
        if page_state {
            return Err(errno_error(errno::EBUSY));
        }
        let mut new = match (&self.how, fd) {
            (How::Virtual, _) => virtual_alloc(new_len, Prot(Prot::READ | Prot::WRITE))?,
            (How::View { .. }, Some(fd)) => {
                // A private view's bytes are copied in, so it starts writable.
                let rw = MapSpec {
                    prot: Prot::read_write(spec.prot.exec()),
                    ..*spec
                };
                map_fd(
                    fd,
                    offset,
                    new_len,
                    if self.copy_on_write() { &rw } else { spec },
                )?
            }
            // Shared anonymous memory: its section has the size it has.
            (How::View { .. }, None) => return Err(errno_error(errno::ENOTSUP)),
        };
        if matches!(self.how, How::Virtual) || self.copy_on_write() {
            // Private bytes live only here: copy them (fault-safe: a page
            // made inaccessible is EFAULT, and the new mapping is dropped).
            copy_checked(Direction::Read, self.ptr, new.ptr, self.len)?;
            if spec.prot != Prot(Prot::READ | Prot::WRITE) {
                new.protect(0, new_len, spec.prot)?;
            }
        }
        std::mem::swap(self, &mut new);
        Ok(())
    }
}
