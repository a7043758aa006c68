//! `mm_resize`: which way a grow or shrink goes, what it does to the tail of
//! the last page, and the kernel's view of the pages afterwards.

use super::*;

impl World {
    pub(super) fn resize(&mut self, h: &H, len: &Num) -> Res {
        let page = self.page;
        let ri = self.pick(h);
        let rf = ri.map_or(0, |i| self.regs[i].len);
        let new_len = len.get(rf, page);
        let Some(i) = ri else {
            // SAFETY: NULL is refused.
            let rc = unsafe { mm_resize(ptr::null_mut(), new_len) };
            self.log.push(format!("  -> {rc}"));
            self.check("mm_resize", rc, &err(libc::EINVAL))?;
            return Ok(());
        };
        let plan = match self.plan_resize(i, new_len) {
            Ok(p) => p,
            Err(g) => return self.skip(g),
        };
        let ResizePlan {
            exp,
            obj_size,
            delta,
            new_pages,
            tail,
            new_attrs,
        } = plan;
        let cur_pages = self.regs[i].attrs.len();
        self.log.push(format!(
            "  region {i}: {} bytes, {cur_pages} pages; expect {exp:?}, {new_pages} pages, tail {tail:?}",
            self.regs[i].len
        ));

        // SAFETY: a live handle, used by nobody else.
        let before = unsafe { mm_ptr(self.regs[i].h) };
        // SAFETY: as above.
        let rc = unsafe { mm_resize(self.regs[i].h, new_len) };
        self.log.push(format!("  -> {rc}"));
        let e = self.check("mm_resize", rc, &exp)?;
        // The tail is zeroed (or checked) before the object or the mapping
        // changes, and stays so when a later step fails.
        if let Some(t) = &tail {
            self.apply_tail(i, t, e);
        }
        let obj = self.regs[i].obj;
        match (e, obj_size) {
            (None, Some(s)) => self.resize_obj(obj, s),
            (Some(_), Some(_)) => {
                // The object may have changed size before the remap failed
                // (and a shareable one is then put back to its size before,
                // if still ours): ask the file system what it is now.
                let real = self.real_size(i)?;
                self.resize_obj(obj, real);
                self.blur_tail(obj);
            }
            _ => {}
        }
        if e.is_some() {
            self.maybe_copied(i);
            return Ok(());
        }
        // Success: the new geometry.
        let r = &mut self.regs[i];
        let was_mapped = r.mapped;
        if !r.mapped {
            if let Kind::File { off, .. } = r.kind {
                r.delta = delta;
                r.base = off - delta as u64;
            }
        }
        r.mapped = true;
        r.len = new_len;
        if new_pages < cur_pages {
            r.attrs.truncate(new_pages);
            r.cow.retain(|&q, _| q < new_pages);
        } else if new_pages > cur_pages {
            // SAFETY: a live handle.
            let moved = unsafe { mm_ptr(self.regs[i].h) } != before;
            self.grow_pages(i, was_mapped, moved, cur_pages, new_pages, new_attrs)?;
        }
        self.maybe_copied(i);
        Ok(())
    }

    /// After a successful grow of region i from `cur` to `new` pages: the
    /// attributes of its pages (the new ones as the kernel shows them, which
    /// must be what the model allows) and, after a copy into a new mapping
    /// (without mremap, when the region moved), the private copies it holds.
    fn grow_pages(
        &mut self,
        i: usize,
        was_mapped: bool,
        moved: bool,
        cur: usize,
        new: usize,
        want: Attr,
    ) -> Res {
        let page = self.page;
        let r = &self.regs[i];
        // SAFETY: a live handle.
        let start = unsafe { mm_ptr(r.h) } as usize - r.delta;
        let seen = vma_attrs(start, new, page)?;
        // A whole new mapping: an empty file region's first, or a copy.
        let copied = !was_mapped || (moved && !self.build.mremap);
        if !copied {
            // The old pages kept their own attributes.
            if let Some(q) = (0..cur).find(|&q| !fits(r.attrs[q], seen[q])) {
                return Err(format!(
                    "mm_resize: old page {q} is {:?} in the kernel, the model says {:?}",
                    seen[q], r.attrs[q]
                ));
            }
        }
        let a = seen[cur];
        if seen[cur..].iter().any(|x| *x != a) {
            return Err(format!(
                "mm_resize: the new pages differ in the kernel: {:?}",
                &seen[cur..]
            ));
        }
        if !fits(want, a) {
            return Err(format!(
                "mm_resize: the new pages are {a:?} in the kernel, the model says {want:?}"
            ));
        }
        let how = match (was_mapped, moved, copied) {
            (false, _, _) => "new mapping",
            (true, false, _) => "grown in place",
            (true, true, false) => "moved",
            (true, true, true) => "moved, copied",
        };
        tally(&format!("mm_resize ({how})"), true);
        if copied {
            // A new mapping: every page has the region's protection, nothing
            // locked or advised. A private one holds copies of the old pages.
            if let Some(q) = (0..cur).find(|&q| seen[q] != a) {
                return Err(format!(
                    "mm_resize: page {q} of the new mapping is {:?} in the kernel, not {a:?}",
                    seen[q]
                ));
            }
            if was_mapped && !r.shared {
                let pages: Vec<(usize, Vec<Byte>)> = (0..cur)
                    .map(|q| (q, (0..page).map(|k| self.view(r, q * page + k)).collect()))
                    .collect();
                let r = &mut self.regs[i];
                for (q, data) in pages {
                    r.cow.insert(q, Cow { data, sure: true });
                }
            }
            let r = &mut self.regs[i];
            r.attrs = vec![a; new];
            r.maybe_split = false;
            return Ok(());
        }
        let r = &mut self.regs[i];
        r.attrs.resize(new, a);
        if !self.build.mremap {
            // New pages of their own (for a file, of another open file
            // description): maybe never merged with the old ones.
            r.maybe_split = true;
        }
        Ok(())
    }

    /// What mm_resize will do, mirroring Region::resize, or the guard that
    /// keeps the call from being made.
    fn plan_resize(&self, i: usize, new_len: usize) -> Result<ResizePlan, Guard> {
        let page = self.page;
        let r = &self.regs[i];
        let old_len = r.len;
        let delta = match (&r.kind, r.mapped) {
            (Kind::File { off, .. }, false) => (*off % page as u64) as usize,
            _ => r.delta,
        };
        let cur_pages = r.attrs.len();
        let new_map = delta
            .checked_add(new_len)
            .and_then(|l| round_up(l, page))
            .filter(|&l| l <= isize::MAX as usize);
        let new_pages = new_map.map_or(0, |l| l / page);
        let grows = r.mapped && new_pages > cur_pages;
        // The pages a grow adds, with the region's protection either way:
        // with mremap, those of the kernel mapping holding the last page,
        // extended in place or moved (its lock and advice); without it,
        // pages of their own (unlocked, no advice).
        let fresh = Attr {
            prot: norm_prot(r.flags),
            locked: Some(false),
            adv: 0,
            huge: 0,
        };
        let new_attrs = if !grows || !self.build.mremap {
            fresh
        } else {
            Attr {
                prot: fresh.prot,
                ..r.attrs[cur_pages - 1]
            }
        };
        let mut plan = ResizePlan {
            exp: ok(),
            obj_size: None,
            delta,
            new_pages,
            tail: None,
            new_attrs,
        };
        if new_len == 0 {
            plan.exp = err(libc::EINVAL);
            return Ok(plan);
        }
        if new_map.is_none() {
            plan.exp = err(libc::ENOMEM);
            return Ok(plan);
        }
        let remap = |size| self.remap_exp(r, new_len, new_pages, size);
        let size = self.objs[r.obj].size;
        match &r.kind {
            Kind::Anon => {
                if r.shared && new_pages > cur_pages {
                    plan.exp = err(libc::ENOTSUP);
                } else {
                    if new_len > old_len {
                        plan.tail = self.plan_tail(r, old_len, new_len);
                    }
                    let t = plan.tail.as_ref().map_or(ok(), Tail::exp);
                    plan.exp = then(t, remap(size));
                }
            }
            Kind::Shareable => {
                let o = &self.objs[r.obj];
                let (before, n) = (o.size, new_len as u64);
                // Only bytes past the object's end are zeroed.
                if new_len > old_len && before >= old_len as u64 {
                    let from = usize::try_from(before).unwrap_or(usize::MAX).max(old_len);
                    if from < new_len {
                        plan.tail = self.plan_tail(r, from, new_len);
                    }
                }
                let mut exp = plan.tail.as_ref().map_or(ok(), Tail::exp);
                // A grow never shrinks the object.
                if !(new_len > old_len && before >= n) {
                    if n < before && o.seals & MM_SEAL_SHRINK != 0
                        || n > before && o.seals & MM_SEAL_GROW != 0
                    {
                        exp = then(exp, err(libc::EPERM));
                    } else {
                        plan.obj_size = Some(n);
                    }
                }
                plan.exp = then(exp, remap(size));
            }
            Kind::File { path, off, create } => {
                match off
                    .checked_add(new_len as u64)
                    .filter(|&e| e <= i64::MAX as u64)
                {
                    None => plan.exp = err(libc::EINVAL),
                    Some(_) if new_len <= old_len => plan.exp = ok(),
                    Some(_) if path.is_none() => plan.exp = err(libc::ENOTSUP),
                    Some(end) => {
                        let size = self.objs[r.obj].size;
                        if end > size && !create {
                            plan.exp = err(libc::EINVAL);
                        } else {
                            let mut e = ok();
                            if end > size {
                                e = self
                                    .alloc_outcome(end, new_len)
                                    .ok_or(Guard::TooLargeForModel)?;
                                if e.ok {
                                    plan.obj_size = Some(end);
                                }
                            }
                            // (The copy without mremap reads the old pages
                            // of the file as grown.)
                            plan.exp = then(e, remap(end.max(size)));
                        }
                    }
                }
            }
        }
        if plan.exp.ok && new_len > MAX_REGION {
            return Err(Guard::TooLargeForModel);
        }
        Ok(plan)
    }

    /// What Region::remap may answer once the steps before it succeeded,
    /// the object then having `size` bytes.
    fn remap_exp(&self, r: &Reg, new_len: usize, new_pages: usize, size: u64) -> Exp {
        let cur_pages = r.attrs.len();
        let obj = &self.objs[r.obj];
        // A new mapping of a file or object with PROT_EXEC: a noexec mount
        // (or memfd_noexec) may refuse it.
        let exec: Vec<i32> = if r.flags & X != 0 && obj.kind != ObjKind::Zero {
            vec![libc::EPERM, libc::EACCES]
        } else {
            vec![]
        };
        if !r.mapped {
            // An empty file region's first mapping.
            return Exp {
                ok: true,
                errs: exec,
            };
        }
        if new_pages <= cur_pages {
            return ok();
        }
        if new_len > MAX_REGION {
            return errs(&[
                libc::ENOMEM,
                libc::EINVAL,
                libc::EFAULT,
                libc::EFBIG,
                libc::ENOSPC,
            ]);
        }
        if !self.build.mremap {
            // In place: the new pages mapped after the end, when free.
            let in_place = Exp {
                ok: true,
                errs: exec.clone(),
            };
            // Else moved: refused when pages have state of their own (what
            // mm_protect of a part / mm_lock set), else a new mapping, then
            // a fault-safe copy of a private region's pages (an unreadable
            // one is -EFAULT).
            let moved = if r.parts != 0 {
                err(libc::EBUSY)
            } else if r.shared {
                Exp {
                    ok: true,
                    errs: exec,
                }
            } else {
                let f: Vec<_> = (0..cur_pages)
                    .map(|q| self.read_faults_at(r, q, size))
                    .collect();
                let copy = if f.contains(&Some(true)) {
                    err(libc::EFAULT)
                } else if f.contains(&None) {
                    ok_or(&[libc::EFAULT])
                } else {
                    ok()
                };
                then(
                    Exp {
                        ok: true,
                        errs: exec,
                    },
                    copy,
                )
            };
            return either(in_place, moved);
        }
        // mremap of a locked mapping counts against RLIMIT_MEMLOCK.
        let maybe_locked = r.attrs.iter().any(|x| x.locked != Some(false));
        let limit: &[i32] = if maybe_locked && !self.host.cap_ipc_lock {
            &[libc::EAGAIN, libc::ENOMEM]
        } else {
            &[]
        };
        let grown = Exp {
            ok: true,
            errs: limit.to_vec(),
        };
        // In place, or moved when it is one kernel mapping: a region that
        // may be in parts may find no room after it, and cannot move.
        match World::uniform(r) {
            Some(true) => grown,
            _ => either(grown, err(libc::EBUSY)),
        }
    }

    /// Region::zero_tail(from, new_len) for region r, before a grow.
    fn plan_tail(&self, r: &Reg, from: usize, new_len: usize) -> Option<Tail> {
        let page = self.page;
        if !r.mapped {
            return None;
        }
        let s = r.delta + from;
        let e = round_up(s, page)
            .unwrap_or(s)
            .min(r.delta + new_len)
            .min(r.attrs.len() * page);
        if e <= s {
            return None;
        }
        let q = s / page;
        let bytes: Vec<Byte> = (s..e).map(|m| self.view(r, m)).collect();
        let nonzero = bytes.iter().any(|b| b.is_some_and(|v| v != 0));
        let unknown = bytes.contains(&None);
        let rf = self.read_faults(r, q);
        let act = if rf == Some(false) && !nonzero && !unknown {
            TailAct::Nothing
        } else if !self.write_faults(r, q) {
            TailAct::Zero { sure: nonzero }
        } else if nonzero || rf == Some(true) {
            TailAct::Refuse
        } else {
            TailAct::Check
        };
        Some(Tail { s, e, act })
    }

    /// The effect of the tail step of mm_resize on region i, which ended
    /// with errno `e` (None: success).
    fn apply_tail(&mut self, i: usize, t: &Tail, e: Option<i32>) {
        let act = match t.act {
            TailAct::Zero { sure: false } => "Zero (maybe)".to_string(),
            a => format!("{a:?}"),
        };
        tally(&format!("mm_resize (tail {act})"), e.is_none());
        match t.act {
            TailAct::Nothing | TailAct::Refuse => {}
            TailAct::Zero { sure } => {
                for m in t.s..t.e {
                    self.put(i, m, Some(0), sure);
                }
                let r = &self.regs[i];
                if r.shared {
                    let lo = r.base + t.s as u64;
                    self.propagate(r.obj, lo, lo + (t.e - t.s) as u64);
                }
            }
            // It passed (the call went on): the bytes were zeros.
            TailAct::Check if e != Some(libc::EACCES) => {
                for m in t.s..t.e {
                    if self.view(&self.regs[i], m).is_none() {
                        self.learn(i, m, 0);
                    }
                }
            }
            TailAct::Check => {}
        }
    }
}

pub(super) struct ResizePlan {
    exp: Exp,
    /// The object's size after the call (ftruncate / fallocate before the remap).
    obj_size: Option<u64>,
    delta: usize,
    new_pages: usize,
    /// The tail zeroing the call reaches (anonymous and shareable grows).
    tail: Option<Tail>,
    /// What the pages a successful grow adds look like.
    new_attrs: Attr,
}

/// Region::zero_tail: mapping offsets [s, e), in the page of the old end.
#[derive(Debug)]
pub(super) struct Tail {
    s: usize,
    e: usize,
    act: TailAct,
}

#[derive(Clone, Copy, Debug)]
pub(super) enum TailAct {
    /// Readable and all zeros: nothing is written.
    Nothing,
    /// Written with zeros; `sure`: certainly (else only if they were not).
    Zero { sure: bool },
    /// Not writable, maybe zeros: -EACCES unless they are.
    Check,
    /// Not writable and not readably zeros: -EACCES, nothing changes.
    Refuse,
}

impl Tail {
    fn exp(&self) -> Exp {
        match self.act {
            TailAct::Nothing | TailAct::Zero { .. } => ok(),
            TailAct::Check => ok_or(&[libc::EACCES]),
            TailAct::Refuse => err(libc::EACCES),
        }
    }
}

/// The kernel's attributes (`/proc/self/smaps` VmFlags) of the `n` pages
/// from address `addr`.
pub(super) fn vma_attrs(addr: usize, n: usize, page: usize) -> Result<Vec<Attr>, String> {
    // Lossy: a memfd's name (in its mapping's line) need not be UTF-8.
    let smaps = std::fs::read("/proc/self/smaps")
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|e| format!("reading /proc/self/smaps: {e}"))?;
    let mut vmas: Vec<(usize, usize, Vec<&str>)> = vec![];
    let mut cur = None;
    for line in smaps.lines() {
        if let Some(flags) = line.strip_prefix("VmFlags:") {
            if let Some((s, e)) = cur.take() {
                vmas.push((s, e, flags.split_whitespace().collect()));
            }
        } else if let Some((s, e)) = line
            .split(' ')
            .next()
            .and_then(|range| range.split_once('-'))
        {
            if let (Ok(s), Ok(e)) = (usize::from_str_radix(s, 16), usize::from_str_radix(e, 16)) {
                cur = Some((s, e));
            }
        }
    }
    (0..n)
        .map(|k| {
            let at = addr + k * page;
            let (_, _, f) = vmas
                .iter()
                .find(|(s, e, _)| (*s..*e).contains(&at))
                .ok_or_else(|| format!("no mapping at {at:#x} in /proc/self/smaps"))?;
            let has = |x: &str| f.contains(&x);
            let prot = [("rd", R), ("wr", W), ("ex", X)]
                .iter()
                .filter(|(name, _)| has(name))
                .fold(0, |p, (_, bit)| p | bit);
            Ok(Attr {
                prot,
                locked: Some(has("lo")),
                adv: if has("rr") {
                    1
                } else if has("sr") {
                    2
                } else {
                    0
                },
                huge: if has("hg") {
                    1
                } else if has("nh") {
                    2
                } else {
                    0
                },
            })
        })
        .collect()
}
