//! Each operation made through the C ABI and applied to the model.

use super::*;

mod copy;
mod map;
mod range;
mod resize;

impl World {
    pub(super) fn step(&mut self, op: &Op) -> Res {
        match op {
            Op::MapAnon {
                len,
                flags,
                null_out,
            } => self.map_anon(len, flags, *null_out),
            Op::MapFile {
                path,
                off,
                len,
                flags,
                null_out,
            } => self.map_file(path, off, len, flags, *null_out),
            Op::MapFd {
                fd,
                off,
                len,
                flags,
                null_out,
            } => self.map_fd(fd, off, len, flags, *null_out),
            Op::MapShareable {
                name,
                len,
                flags,
                null_out,
            } => self.map_shareable(name, len, flags, *null_out),
            Op::Sync { h, off, len, flags } => self.sync(h, off, len, *flags),
            Op::Lock { h, off, len } => self.lock(h, off, len, true),
            Op::Unlock { h, off, len } => self.lock(h, off, len, false),
            Op::Advise {
                h,
                off,
                len,
                advice,
            } => self.advise(h, off, len, *advice),
            Op::Protect { h, off, len, prot } => self.protect(h, off, len, *prot),
            Op::Read {
                h,
                off,
                n,
                null_buf,
            } => self.read(h, off, n, *null_buf),
            Op::Write {
                h,
                off,
                n,
                seed,
                null_buf,
            } => self.write(h, off, n, *seed, *null_buf),
            Op::Resize { h, len } => self.resize(h, len),
            Op::Unmap { h } => self.unmap(h),
            Op::Fd { h } => self.fd(h),
            Op::Seal { h, seals } => self.seal(h, *seals),
            Op::Truncate { file, size } => self.truncate(*file, size),
        }?;
        self.check_accessors()
    }

    fn unmap(&mut self, h: &H) -> Res {
        let ri = self.pick(h);
        // SAFETY: a live handle (removed from the model at once) or NULL.
        let rc = unsafe { mm_unmap(self.handle(ri)) };
        self.log.push(format!("  -> {rc}"));
        self.check("mm_unmap", rc, &ok())?;
        if let Some(i) = ri {
            self.regs.remove(i);
        }
        Ok(())
    }

    fn fd(&mut self, h: &H) -> Res {
        let ri = self.pick(h);
        // SAFETY: a live handle or NULL.
        let rc = unsafe { mm_fd(self.handle(ri)) };
        self.log.push(format!("  -> {rc}"));
        match ri {
            None => {
                self.check("mm_fd", rc, &err(libc::EINVAL))?;
            }
            Some(i) if matches!(self.regs[i].kind, Kind::Shareable) => {
                if rc < 0 {
                    return Err(format!("mm_fd of a shareable region returned {rc}"));
                }
                // SAFETY: F_GETFD only reads the descriptor flags.
                let fl = unsafe { libc::fcntl(rc, libc::F_GETFD) };
                if fl < 0 || fl & libc::FD_CLOEXEC == 0 {
                    return Err(format!(
                        "mm_fd {rc} is not an open close-on-exec descriptor"
                    ));
                }
                self.check("mm_fd", 0, &ok())?;
            }
            Some(_) => {
                self.check("mm_fd", rc, &err(libc::EBADF))?;
            }
        }
        Ok(())
    }

    fn seal(&mut self, h: &H, seals: u32) -> Res {
        let ri = self.pick(h);
        let exp = match ri {
            None => err(libc::EINVAL),
            Some(_) if seals & !ALL_SEALS != 0 => err(libc::EINVAL),
            Some(i) if !matches!(self.regs[i].kind, Kind::Shareable) => err(libc::ENOTSUP),
            Some(_) if !self.build.sealable => err(libc::ENOTSUP),
            Some(_) => ok(),
        };
        // SAFETY: a live handle or NULL.
        let rc = unsafe { mm_seal(self.handle(ri), seals) };
        self.log.push(format!("  -> {rc}"));
        if self.check("mm_seal", rc, &exp)?.is_none() {
            if let Some(i) = ri {
                let obj = self.regs[i].obj;
                self.objs[obj].seals |= seals;
            }
        }
        Ok(())
    }

    fn truncate(&mut self, file: u8, size: &Num) -> Res {
        let path = self.pool[file as usize % self.pool.len()].clone();
        let id = self.files[&path];
        let rf = self.objs[id].size.min(MAX_REGION as u64) as usize;
        let size = size.get(rf, self.page);
        if size > MAX_REGION {
            return Ok(());
        }
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_len(size as u64))
            .map_err(|e| format!("truncate {}: {e}", path.display()))?;
        self.resize_obj(id, size as u64);
        Ok(())
    }

    /// Read every region whole, page by page, and unmap it.
    pub(super) fn finish(&mut self) -> Res {
        let page = self.page;
        while let Some(i) = self.regs.len().checked_sub(1) {
            let (delta, len) = (self.regs[i].delta, self.regs[i].len);
            let mut off = 0;
            while off < len {
                let n = ((delta + off) / page * page + page - delta - off).min(len - off);
                let exp = self.read_exp(&self.regs[i], off, n);
                let mut buf = vec![0u8; n];
                // SAFETY: a live handle; buf holds n bytes.
                let rc = unsafe { mm_read(self.regs[i].h, off, buf.as_mut_ptr().cast(), n) };
                if self.check("mm_read", rc, &exp)?.is_none() {
                    self.compare(i, off, &buf)
                        .map_err(|e| format!("final read: {e}"))?;
                }
                off += n;
            }
            // SAFETY: a live handle, removed from the model.
            let rc = unsafe { mm_unmap(self.regs[i].h) };
            self.check("mm_unmap", rc, &ok())?;
            self.regs.pop();
        }
        Ok(())
    }

    pub(super) fn teardown(&mut self) {
        for r in self.regs.drain(..) {
            // SAFETY: live handles, unmapped once.
            unsafe { mm_unmap(r.h) };
        }
        for fd in self
            .pool_fds
            .drain(..)
            .map(|f| f.fd)
            .chain(self.special.drain(..))
        {
            // SAFETY: descriptors opened in new().
            unsafe { libc::close(fd) };
        }
    }
}
