//! The fault-safe copies, `mm_read` and `mm_write`, and the comparison of
//! what was read with the model.

use super::*;

impl World {
    /// Expected result of reading region bytes [off, off+n) (n > 0, in range).
    pub(super) fn read_exp(&self, r: &Reg, off: usize, n: usize) -> Exp {
        let page = self.page;
        let (a, b) = ((r.delta + off) / page, (r.delta + off + n).div_ceil(page));
        let f: Vec<_> = (a..b).map(|p| self.read_faults(r, p)).collect();
        if f.contains(&Some(true)) {
            err(libc::EFAULT)
        } else if f.contains(&None) {
            ok_or(&[libc::EFAULT])
        } else {
            ok()
        }
    }

    /// Compare bytes read at region offset `off` with the model; learn unknowns.
    pub(super) fn compare(&mut self, ri: usize, off: usize, got: &[u8]) -> Res {
        COMPARED.fetch_add(got.len(), Relaxed);
        for (k, &v) in got.iter().enumerate() {
            let m = self.regs[ri].delta + off + k;
            match self.view(&self.regs[ri], m) {
                Some(want) if want != v => {
                    return Err(format!(
                        "region {ri}: byte {} is {v:#04x}, model says {want:#04x}",
                        off + k
                    ))
                }
                Some(_) => {}
                None => self.learn(ri, m, v),
            }
        }
        Ok(())
    }

    /// Byte m of region ri's mapping (unknown in the model) is v.
    pub(super) fn learn(&mut self, ri: usize, m: usize, v: u8) {
        let page = self.page;
        let r = &mut self.regs[ri];
        if let Some(c) = r.cow.get_mut(&(m / page)) {
            c.data[m % page] = Some(v);
        } else {
            let (obj, o) = (r.obj, r.base + m as u64);
            let ob = &mut self.objs[obj];
            if !(ob.kind == ObjKind::File && o >= ob.size) {
                *ob.slot(o, page) = Some(v);
            }
        }
    }

    pub(super) fn read(&mut self, h: &H, off: &Num, n: &Num, null_buf: bool) -> Res {
        let ri = self.pick(h);
        let rf = ri.map_or(0, |i| self.regs[i].len);
        let (off, n) = (off.get(rf, self.page), n.get(rf, self.page));
        let in_range =
            ri.is_some_and(|i| off.checked_add(n).is_some_and(|e| e <= self.regs[i].len));
        let exp = match ri {
            None => err(libc::EINVAL),
            Some(_) if null_buf && n > 0 => err(libc::EINVAL),
            Some(_) if !in_range => err(libc::EINVAL),
            Some(_) if n == 0 => ok(),
            Some(i) => self.read_exp(&self.regs[i], off, n),
        };
        // The buffer holds n bytes whenever the call may copy; a shorter one
        // is passed with an out-of-range n, which must be refused unread.
        let mut buf = vec![0xa5u8; if in_range { n } else { 16 }];
        let dst = if null_buf {
            ptr::null_mut()
        } else {
            buf.as_mut_ptr().cast()
        };
        // SAFETY: a live handle or NULL; dst is NULL or holds n bytes when in range.
        let rc = unsafe { mm_read(self.handle(ri), off, dst, n) };
        self.log.push(format!("  -> {rc}"));
        let e = self.check("mm_read", rc, &exp)?;
        if let (Some(i), None, true) = (ri, e, in_range && !null_buf) {
            self.compare(i, off, &buf)?;
        }
        Ok(())
    }

    pub(super) fn write(&mut self, h: &H, off: &Num, n: &Num, seed: u8, null_buf: bool) -> Res {
        let page = self.page;
        let ri = self.pick(h);
        let rf = ri.map_or(0, |i| self.regs[i].len);
        let (off, n) = (off.get(rf, page), n.get(rf, page));
        let in_range =
            ri.is_some_and(|i| off.checked_add(n).is_some_and(|e| e <= self.regs[i].len));
        let mut first_fault = None;
        let exp = match ri {
            None => err(libc::EINVAL),
            Some(_) if null_buf && n > 0 => err(libc::EINVAL),
            Some(i) if self.regs[i].flags & W == 0 && !self.regs[i].mapped_write => {
                err(libc::EACCES)
            }
            Some(_) if !in_range => err(libc::EINVAL),
            Some(_) if n == 0 => ok(),
            Some(i) => {
                let r = &self.regs[i];
                let (a, b) = ((r.delta + off) / page, (r.delta + off + n).div_ceil(page));
                first_fault = (a..b).find(|&p| self.write_faults(r, p));
                if first_fault.is_some() {
                    err(libc::EFAULT)
                } else {
                    ok()
                }
            }
        };
        let data = pattern(if in_range { n } else { 16 }, seed);
        let src = if null_buf {
            ptr::null()
        } else {
            data.as_ptr().cast()
        };
        // SAFETY: a live handle or NULL; src is NULL or holds n bytes when in range.
        let rc = unsafe { mm_write(self.handle(ri), off, src, n) };
        self.log.push(format!("  -> {rc}"));
        let e = self.check("mm_write", rc, &exp)?;
        let Some(i) = ri else { return Ok(()) };
        if !in_range || null_buf || n == 0 || self.regs[i].flags & W == 0 {
            return Ok(());
        }
        let delta = self.regs[i].delta;
        let (obj, shared, base) = (self.regs[i].obj, self.regs[i].shared, self.regs[i].base);
        match (e, first_fault) {
            (None, _) => {
                for (k, &v) in data.iter().enumerate() {
                    self.put(i, delta + off + k, Some(v), true);
                }
            }
            (Some(_), Some(fp)) => {
                // Pages before the faulting one may have been written.
                let stop = (fp * page).saturating_sub(delta).min(off + n);
                for k in off..stop.max(off) {
                    let m = delta + k;
                    let old = self.view(&self.regs[i], m);
                    let v = data[k - off];
                    let b = if old == Some(v) { old } else { None };
                    self.put(i, m, b, false);
                }
            }
            _ => {}
        }
        if shared {
            let lo = base + (delta + off) as u64;
            self.propagate(obj, lo, lo + n as u64);
        }
        Ok(())
    }
}
