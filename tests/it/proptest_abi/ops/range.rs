//! The calls on a range of a region's pages: `mm_sync`, `mm_lock` and
//! `mm_unlock`, `mm_advise`, `mm_protect`.

use super::*;

impl World {
    pub(super) fn sync(&mut self, h: &H, off: &Num, len: &Num, flags: u32) -> Res {
        let ri = self.pick(h);
        let rf = ri.map_or(0, |i| self.regs[i].len);
        let (off, len) = (off.get(rf, self.page), len.get(rf, self.page));
        let bad_flags = flags & !(MM_SYNC | MM_ASYNC | MM_INVALIDATE) != 0
            || flags & (MM_SYNC | MM_ASYNC) == MM_SYNC | MM_ASYNC;
        let exp = match ri {
            None => err(libc::EINVAL),
            Some(_) if bad_flags => err(libc::EINVAL),
            Some(i) => {
                let r = &self.regs[i];
                match Self::span(r, off, len) {
                    None => err(libc::EINVAL),
                    Some(_) if matches!(r.kind, Kind::Anon) => ok(),
                    Some((s, e)) => match self.page_range(r, s, e) {
                        None => ok(),
                        Some((a, b)) if flags & MM_INVALIDATE != 0 => {
                            let locks: Vec<_> = r.attrs[a..b].iter().map(|x| x.locked).collect();
                            if locks.contains(&Some(true)) {
                                err(libc::EBUSY)
                            } else if locks.contains(&None) {
                                ok_or(&[libc::EBUSY])
                            } else {
                                ok()
                            }
                        }
                        Some(_) => ok(),
                    },
                }
            }
        };
        // SAFETY: a live handle or NULL.
        let rc = unsafe { mm_sync(self.handle(ri), off, len, flags) };
        self.log.push(format!("  -> {rc}"));
        self.check("mm_sync", rc, &exp)?;
        Ok(())
    }

    pub(super) fn lock(&mut self, h: &H, off: &Num, len: &Num, lock: bool) -> Res {
        let call = if lock { "mm_lock" } else { "mm_unlock" };
        let ri = self.pick(h);
        let rf = ri.map_or(0, |i| self.regs[i].len);
        let (off, len) = (off.get(rf, self.page), len.get(rf, self.page));
        let mut range = None;
        let mut whole = false;
        let exp = match ri {
            None => err(libc::EINVAL),
            Some(i) => {
                let r = &self.regs[i];
                match Self::span(r, off, len) {
                    None => err(libc::EINVAL),
                    Some((s, e)) => match self.page_range(r, s, e) {
                        None => ok(),
                        Some((a, b)) => {
                            range = Some((a, b));
                            whole = s == r.delta && e == r.delta + r.len;
                            let bad =
                                (a..b).any(|p| !self.accessible(r, p) || r.attrs[p].prot == 0);
                            if !lock {
                                ok()
                            } else if bad {
                                // populating PROT_NONE or truncated pages fails
                                ok_or(&LOCK_ERRS)
                            } else if self.host.cap_ipc_lock {
                                ok()
                            } else {
                                ok_or(&LOCK_ERRS)
                            }
                        }
                    },
                }
            }
        };
        let hp = self.handle(ri);
        // SAFETY: a live handle or NULL.
        let rc = unsafe {
            if lock {
                mm_lock(hp, off, len)
            } else {
                mm_unlock(hp, off, len)
            }
        };
        self.log.push(format!("  -> {rc}"));
        let e = self.check(call, rc, &exp)?;
        if let (Some(i), Some((a, b))) = (ri, range) {
            let state = if e.is_none() { Some(lock) } else { None };
            for x in &mut self.regs[i].attrs[a..b] {
                x.locked = state;
            }
            // The library marks the region before mlock (a failed one may
            // still have locked some pages) and unmarks it only after a
            // whole-region munlock.
            if lock {
                self.regs[i].parts |= PART_LOCKED;
            } else if e.is_none() && whole {
                self.regs[i].parts &= !PART_LOCKED;
            }
            self.note_split(i);
            if lock {
                self.maybe_copied(i);
            }
        }
        Ok(())
    }

    pub(super) fn advise(&mut self, h: &H, off: &Num, len: &Num, advice: i32) -> Res {
        let page = self.page;
        let ri = self.pick(h);
        let rf = ri.map_or(0, |i| self.regs[i].len);
        let (off, len) = (off.get(rf, page), len.get(rf, page));
        let mut range = None;
        let exp = match ri {
            None => err(libc::EINVAL),
            Some(_) if !(0..=6).contains(&advice) => err(libc::EINVAL),
            Some(i) => {
                let r = &self.regs[i];
                match Self::span(r, off, len) {
                    None => err(libc::EINVAL),
                    Some((s, e)) => {
                        let (s, e) = if advice == MM_ADV_DONTNEED {
                            // Region::inner_pages
                            let s2 = if s == r.delta {
                                s
                            } else {
                                round_up(s, page).unwrap_or(e)
                            };
                            let e2 = if e == r.delta + r.len {
                                e
                            } else {
                                e / page * page
                            };
                            if s2 >= e2 {
                                (s, s)
                            } else {
                                (s2, e2)
                            }
                        } else {
                            (s, e)
                        };
                        match self.page_range(r, s, e) {
                            None => ok(),
                            Some((a, b)) => {
                                range = Some((a, b));
                                let locks: Vec<_> =
                                    r.attrs[a..b].iter().map(|x| x.locked).collect();
                                if advice != MM_ADV_DONTNEED {
                                    ok()
                                } else if locks.contains(&Some(true)) {
                                    err(libc::EINVAL) // MADV_DONTNEED refuses locked pages
                                } else if locks.contains(&None) {
                                    ok_or(&[libc::EINVAL])
                                } else {
                                    ok()
                                }
                            }
                        }
                    }
                }
            }
        };
        // SAFETY: a live handle or NULL.
        let rc = unsafe { mm_advise(self.handle(ri), off, len, advice) };
        self.log.push(format!("  -> {rc}"));
        let e = self.check("mm_advise", rc, &exp)?;
        if let (Some(i), Some((a, b)), Some(_)) = (ri, range, e) {
            // madvise works VMA by VMA: pages before the first locked one
            // may have been dropped already.
            let r = &self.regs[i];
            let stop = (a..b)
                .find(|&p| r.attrs[p].locked != Some(false))
                .unwrap_or(b);
            self.maybe_dropped(i, a, stop);
        }
        if let (Some(i), Some((a, b)), None) = (ri, range, e) {
            let r = &mut self.regs[i];
            for x in &mut r.attrs[a..b] {
                match advice {
                    MM_ADV_NORMAL => x.adv = 0,
                    MM_ADV_RANDOM => x.adv = 1,
                    MM_ADV_SEQUENTIAL => x.adv = 2,
                    MM_ADV_HUGEPAGE => x.huge = 1,
                    MM_ADV_NOHUGEPAGE => x.huge = 2,
                    MM_ADV_DONTNEED => x.locked = Some(false),
                    _ => {}
                }
            }
            if advice == MM_ADV_DONTNEED && !r.shared {
                // Private copies are dropped: anonymous pages read zeros,
                // file pages the file again.
                r.cow.retain(|&p, _| p < a || p >= b);
            }
            self.note_split(i);
        }
        Ok(())
    }

    pub(super) fn protect(&mut self, h: &H, off: &Num, len: &Num, prot: u32) -> Res {
        let page = self.page;
        let ri = self.pick(h);
        let rf = ri.map_or(0, |i| self.regs[i].len);
        let (off, len) = (off.get(rf, page), len.get(rf, page));
        let mut range = None;
        let mut whole = false;
        let exp = match ri {
            None => err(libc::EINVAL),
            Some(_) if prot & !PROT != 0 => err(libc::EINVAL),
            Some(i) => {
                let r = &self.regs[i];
                match Self::span(r, off, len) {
                    None => err(libc::EINVAL),
                    Some((s, e)) => {
                        let s_ok = s == r.delta || s % page == 0;
                        let e_ok = e == r.delta + r.len || e % page == 0;
                        whole = s == r.delta && e == r.delta + r.len;
                        if !s_ok || !e_ok {
                            err(libc::EINVAL)
                        } else {
                            match self.page_range(r, s, e) {
                                None => ok(),
                                Some((a, b)) => {
                                    range = Some((a, b));
                                    let obj = &self.objs[r.obj];
                                    let mut exp = ok();
                                    if prot & W != 0 && r.shared && !r.may_write {
                                        exp = err(libc::EACCES);
                                    } else {
                                        if prot & W != 0
                                            && r.shared
                                            && obj.seals & MM_SEAL_WRITE != 0
                                        {
                                            exp.errs.extend([libc::EPERM, libc::EACCES]);
                                        }
                                        if prot & X != 0 && obj.kind != ObjKind::Zero {
                                            exp.errs.extend([libc::EPERM, libc::EACCES]);
                                        }
                                    }
                                    exp
                                }
                            }
                        }
                    }
                }
            }
        };
        // SAFETY: a live handle or NULL.
        let rc = unsafe { mm_protect(self.handle(ri), off, len, prot) };
        self.log.push(format!("  -> {rc}"));
        let e = self.check("mm_protect", rc, &exp)?;
        if let (Some(i), Some(_), Some(_)) = (ri, range, e) {
            // Marked before mprotect (a failed one may still have changed
            // some pages), as the library does.
            self.regs[i].parts |= PART_PROTECTED;
        }
        if let (Some(i), Some((a, b)), None) = (ri, range, e) {
            let r = &mut self.regs[i];
            for x in &mut r.attrs[a..b] {
                x.prot = norm_prot(prot);
            }
            if whole {
                r.flags = r.flags & !PROT | norm_prot(prot);
                r.parts &= !PART_PROTECTED;
            } else {
                r.parts |= PART_PROTECTED;
            }
            self.note_split(i);
            self.maybe_copied(i);
        }
        Ok(())
    }
}
