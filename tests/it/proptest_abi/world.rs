//! The world of one case: the model's objects and regions beside the live
//! library handles, descriptors and files; checking a call's result, and
//! keeping the contents the model predicts.

use super::*;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum FdMode {
    Ro,
    Rw,
    Wo,
}

pub(super) struct PoolFd {
    pub(super) fd: c_int,
    pub(super) mode: FdMode,
    pub(super) obj: usize,
}

pub(super) struct World {
    pub(super) page: usize,
    pub(super) build: Build,
    pub(super) host: Host,
    pub(super) dir: PathBuf,
    pub(super) objs: Vec<Obj>,
    pub(super) regs: Vec<Reg>,
    /// Regular files that exist, by path.
    pub(super) files: HashMap<PathBuf, usize>,
    /// The order PathSel::Pool picks from.
    pub(super) pool: Vec<PathBuf>,
    pub(super) pool_fds: Vec<PoolFd>,
    pub(super) special: Vec<c_int>,
    pub(super) dir_fd: c_int,
    pub(super) pipe_fd: c_int,
    pub(super) null_fd: c_int,
    pub(super) last_msg: String,
    pub(super) log: Vec<String>,
}

pub(super) type Res = Result<(), String>;

impl World {
    pub(super) fn new(dir: PathBuf, build: Build, host: Host, seed: u8) -> World {
        let page = host.page;
        let mut w = World {
            page,
            build,
            host,
            dir,
            objs: vec![Obj::new(ObjKind::Zero, 0)],
            regs: vec![],
            files: HashMap::new(),
            pool: vec![],
            pool_fds: vec![],
            special: vec![],
            dir_fd: -1,
            pipe_fd: -1,
            null_fd: -1,
            last_msg: last_error(),
            log: vec![],
        };
        let sizes = [0, 1, page - 1, page, page + 1, 3 * page + 5, 20_000];
        for (i, &size) in sizes.iter().enumerate() {
            let p = w.dir.join(format!("pool{i}"));
            let data = pattern(size, seed.wrapping_add(i as u8));
            std::fs::write(&p, &data).unwrap();
            let mut o = Obj::new(ObjKind::File, size as u64);
            for (j, &b) in data.iter().enumerate() {
                *o.slot(j as u64, page) = Some(b);
            }
            w.objs.push(o);
            let id = w.objs.len() - 1;
            w.files.insert(p.clone(), id);
            w.pool.push(p.clone());
            if i % 2 == 1 || i == 6 {
                for (mode, flags) in [
                    (FdMode::Ro, libc::O_RDONLY),
                    (FdMode::Rw, libc::O_RDWR),
                    (FdMode::Wo, libc::O_WRONLY),
                ] {
                    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
                    // SAFETY: open of a path we made; the descriptor is closed in teardown.
                    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC) };
                    assert!(fd >= 0);
                    w.pool_fds.push(PoolFd { fd, mode, obj: id });
                }
            }
        }
        std::fs::create_dir(w.dir.join("d")).unwrap();
        let fifo = CString::new(w.dir.join("fifo").as_os_str().as_bytes()).unwrap();
        // SAFETY: mkfifo of a fresh path in our directory.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let d = CString::new(w.dir.join("d").as_os_str().as_bytes()).unwrap();
        let mut p = [0; 2];
        // SAFETY: plain opens and a pipe; all closed in teardown.
        unsafe {
            w.dir_fd = libc::open(d.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
            w.null_fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
            assert_eq!(libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC), 0);
        }
        w.pipe_fd = p[0];
        w.special = vec![w.dir_fd, w.null_fd, p[0], p[1]];
        w
    }

    // ------------------------------------------------------------ checking

    /// Check a return code against what the model allows; record the message.
    pub(super) fn check(
        &mut self,
        call: &str,
        rc: c_int,
        exp: &Exp,
    ) -> Result<Option<i32>, String> {
        CALLS.fetch_add(1, Relaxed);
        tally(call, rc >= 0);
        if std::env::var_os("PROPTEST_ABI_ERRNOS").is_some() && rc < 0 {
            tally(
                &format!("{call} {}", std::io::Error::from_raw_os_error(-rc)),
                false,
            );
        }
        let msg = last_error();
        if rc == 0 {
            if !exp.ok {
                return Err(format!("{call} returned 0, expected {exp:?}"));
            }
            if msg != self.last_msg {
                return Err(format!(
                    "{call} succeeded but mm_last_error() changed from {:?} to {msg:?}",
                    self.last_msg
                ));
            }
            return Ok(None);
        }
        if rc > 0 {
            return Err(format!("{call} returned {rc}, neither 0 nor -errno"));
        }
        let e = -rc;
        if !exp.errs.contains(&e) {
            return Err(format!(
                "{call} returned -{e} ({}), expected {exp:?}; message {msg:?}",
                std::io::Error::from_raw_os_error(e)
            ));
        }
        if !msg.starts_with(&format!("{call}: ")) || msg.len() <= call.len() + 2 {
            return Err(format!(
                "{call} failed with -{e} but mm_last_error() is {msg:?}"
            ));
        }
        // EAGAIN (no memory to lock the pages in) is not a limit refusal.
        let limit_errs = [libc::ENOMEM, libc::EPERM];
        if call == "mm_lock" && limit_errs.contains(&e) && !msg.contains("RLIMIT_MEMLOCK") {
            return Err(format!(
                "mm_lock refusal does not name RLIMIT_MEMLOCK: {msg:?}"
            ));
        }
        self.last_msg = msg;
        Ok(Some(e))
    }

    pub(super) fn skip(&mut self, g: Guard) -> Res {
        SKIPS[g as usize].fetch_add(1, Relaxed);
        self.log.push(format!("  skipped: {g:?}"));
        Ok(())
    }

    pub(super) fn pick(&self, h: &H) -> Option<usize> {
        match h {
            H::Live(i) if !self.regs.is_empty() => Some(*i as usize % self.regs.len()),
            _ => None,
        }
    }

    pub(super) fn handle(&self, ri: Option<usize>) -> *mut mm_region {
        ri.map_or(ptr::null_mut(), |i| self.regs[i].h)
    }

    /// mm_len, mm_ptr and mm_flags of every live region agree with the model.
    pub(super) fn check_accessors(&self) -> Res {
        for (i, r) in self.regs.iter().enumerate() {
            // SAFETY: live handles.
            let (len, p, flags) = unsafe { (mm_len(r.h), mm_ptr(r.h), mm_flags(r.h)) };
            if len != r.len {
                return Err(format!("region {i}: mm_len {len}, model {}", r.len));
            }
            if p.is_null() == r.mapped {
                return Err(format!("region {i}: mm_ptr {p:p}, mapped {}", r.mapped));
            }
            if flags & !MM_HUGEPAGES != r.flags {
                return Err(format!(
                    "region {i}: mm_flags {flags:#x}, model {:#x}",
                    r.flags
                ));
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------ model helpers

    pub(super) fn view(&self, r: &Reg, m: usize) -> Byte {
        let page = self.page;
        if let Some(c) = r.cow.get(&(m / page)) {
            return c.data[m % page];
        }
        self.objs[r.obj].byte(r.base + m as u64, page)
    }

    pub(super) fn accessible(&self, r: &Reg, p: usize) -> bool {
        self.objs[r.obj].page_ok(r.base / self.page as u64 + p as u64, self.page)
    }

    /// Mapping pages covering mapping offsets [s, e); None when empty.
    pub(super) fn page_range(&self, r: &Reg, s: usize, e: usize) -> Option<(usize, usize)> {
        if !r.mapped || s == e {
            return None;
        }
        Some((s / self.page, e.div_ceil(self.page).min(r.attrs.len())))
    }

    /// Region::span: [offset, offset+len) (len 0: to the end) as mapping offsets.
    pub(super) fn span(r: &Reg, off: usize, len: usize) -> Option<(usize, usize)> {
        if off > r.len {
            return None;
        }
        let l = if len == 0 { r.len - off } else { len };
        match off.checked_add(l) {
            Some(end) if end <= r.len => Some((r.delta + off, r.delta + end)),
            _ => None,
        }
    }

    /// After object bytes [lo, hi) changed: "maybe copied" pages of private
    /// regions can no longer tell which value they show.
    pub(super) fn propagate(&mut self, obj: usize, lo: u64, hi: u64) {
        let page = self.page as u64;
        for ri in 0..self.regs.len() {
            let r = &self.regs[ri];
            if r.obj != obj || r.shared || r.cow.values().all(|c| c.sure) {
                continue;
            }
            let mut updates = vec![];
            for (&p, c) in &r.cow {
                if c.sure {
                    continue;
                }
                let start = r.base + p as u64 * page;
                let (a, b) = (start.max(lo), (start + page).min(hi));
                for o in a..b.max(a) {
                    let i = (o - start) as usize;
                    if c.data[i].is_some() && c.data[i] != self.objs[obj].byte(o, self.page) {
                        updates.push((p, i));
                    }
                }
            }
            let r = &mut self.regs[ri];
            for (p, i) in updates {
                r.cow.get_mut(&p).unwrap().data[i] = None;
            }
        }
    }

    /// A file or memfd changes size (ftruncate, fallocate).
    pub(super) fn resize_obj(&mut self, id: usize, new: u64) {
        let page = self.page as u64;
        let old = self.objs[id].size;
        if new < old {
            let keep = new.div_ceil(page);
            let o = &mut self.objs[id];
            let _ = o.pages.split_off(&keep);
            if new % page != 0 {
                if let Some(v) = o.pages.get_mut(&(new / page)) {
                    for b in &mut v[(new % page) as usize..] {
                        *b = Some(0);
                    }
                }
            }
            o.size = new;
            // Truncation unmaps private copies beyond the new last page too.
            for r in self.regs.iter_mut().filter(|r| r.obj == id && !r.shared) {
                let first = r.base / page;
                r.cow.retain(|&p, _| first + (p as u64) < keep);
            }
            self.propagate(id, new, keep * page);
        } else if new > old {
            self.fuzz_tail(id);
            self.objs[id].size = new;
        }
    }

    /// Bytes past the end of a file in its last page, written through a
    /// mapping, may survive the file growing again or be zeroed: unknown.
    fn fuzz_tail(&mut self, id: usize) {
        let page = self.page as u64;
        let o = &mut self.objs[id];
        let (old, end) = (o.size, o.size.div_ceil(page) * page);
        if let Some(v) = o.pages.get_mut(&(old / page)) {
            for b in &mut v[(old % page) as usize..(end - old / page * page) as usize] {
                if *b != Some(0) {
                    *b = None;
                }
            }
        }
        self.propagate(id, old, end);
    }

    /// The size of the file or memfd behind region ri, from the kernel.
    pub(super) fn real_size(&mut self, ri: usize) -> Result<u64, String> {
        match &self.regs[ri].kind {
            Kind::File { path: Some(p), .. } => std::fs::metadata(p)
                .map(|m| m.len())
                .map_err(|e| format!("stat {}: {e}", p.display())),
            Kind::Shareable => {
                // SAFETY: a live handle; fstat writes one struct.
                let fd = unsafe { mm_fd(self.regs[ri].h) };
                self.check("mm_fd", fd.min(0), &ok())?;
                let mut st: libc::stat = unsafe { std::mem::zeroed() };
                if unsafe { libc::fstat(fd, &mut st) } != 0 {
                    return Err(format!("fstat({fd}): {}", std::io::Error::last_os_error()));
                }
                Ok(st.st_size as u64)
            }
            _ => Ok(self.objs[self.regs[ri].obj].size),
        }
    }

    /// Bytes past the end of the object in its last page: unknown.
    pub(super) fn blur_tail(&mut self, id: usize) {
        let page = self.page as u64;
        let o = &mut self.objs[id];
        let (old, end) = (o.size, o.size.div_ceil(page) * page);
        if old % page != 0 {
            let v = o
                .pages
                .entry(old / page)
                .or_insert_with(|| vec![Some(0); page as usize]);
            for b in &mut v[(old % page) as usize..(end - old / page * page) as usize] {
                *b = None;
            }
        }
        self.propagate(id, old, end);
    }

    /// Store `v` at mapping offset m through region ri (a write that happened,
    /// or may have happened when `sure` is false).
    pub(super) fn put(&mut self, ri: usize, m: usize, v: Byte, sure: bool) {
        let page = self.page;
        let r = &self.regs[ri];
        if r.shared {
            let (obj, o) = (r.obj, r.base + m as u64);
            let ob = &mut self.objs[obj];
            // Past the end of a file, in its last page: writeback zeroes
            // these bytes whenever it writes the page.
            let volatile = ob.kind == ObjKind::File && o >= ob.size;
            *ob.slot(o, page) = if volatile { None } else { v };
            return;
        }
        let p = m / page;
        if !r.cow.contains_key(&p) {
            let data = (0..page).map(|i| self.view(r, p * page + i)).collect();
            self.regs[ri].cow.insert(p, Cow { data, sure });
        }
        let c = self.regs[ri].cow.get_mut(&p).unwrap();
        c.sure |= sure;
        c.data[m % page] = v;
    }

    /// Something may have copied every page of a private region (mlock and
    /// populate write-fault private writable pages; mprotect of locked ones).
    pub(super) fn maybe_copied(&mut self, ri: usize) {
        let page = self.page;
        let r = &self.regs[ri];
        if r.shared || self.objs[r.obj].kind == ObjKind::Zero {
            return;
        }
        let mut add = vec![];
        for p in 0..r.attrs.len() {
            if !r.cow.contains_key(&p) && self.accessible(r, p) {
                let data = (0..page).map(|i| self.view(r, p * page + i)).collect();
                add.push((p, data));
            }
        }
        for (p, data) in add {
            self.regs[ri].cow.insert(p, Cow { data, sure: false });
        }
    }

    /// Private copies of pages [a, b) may have been dropped (a failed
    /// MADV_DONTNEED): each byte is the copy's or the object's.
    pub(super) fn maybe_dropped(&mut self, ri: usize, a: usize, b: usize) {
        let page = self.page;
        if self.regs[ri].shared {
            return;
        }
        for p in a..b {
            let Some(c) = self.regs[ri].cow.get(&p) else {
                continue;
            };
            let r = &self.regs[ri];
            let data: Vec<Byte> = (0..page)
                .map(|k| {
                    let under = self.objs[r.obj].byte(r.base + (p * page + k) as u64, page);
                    if c.data[k] == under {
                        under
                    } else {
                        None
                    }
                })
                .collect();
            self.regs[ri].cow.insert(p, Cow { data, sure: false });
        }
    }

    /// Whether reading page p faults: Some(true) yes, Some(false) no, None maybe.
    pub(super) fn read_faults(&self, r: &Reg, p: usize) -> Option<bool> {
        self.read_faults_at(r, p, self.objs[r.obj].size)
    }

    /// As `read_faults`, once the object has `size` bytes.
    pub(super) fn read_faults_at(&self, r: &Reg, p: usize, size: u64) -> Option<bool> {
        let o = &self.objs[r.obj];
        if !o.page_ok_sized(r.base / self.page as u64 + p as u64, self.page, size) {
            return Some(true);
        }
        let prot = r.attrs[p].prot;
        if prot & R != 0 {
            Some(false)
        } else if prot & X != 0 {
            None // exec-only: readable by the CPU on x86, not by process_vm_readv
        } else {
            Some(true)
        }
    }

    pub(super) fn write_faults(&self, r: &Reg, p: usize) -> bool {
        !self.accessible(r, p) || r.attrs[p].prot & W == 0
    }

    /// After attributes changed on part of region ri.
    pub(super) fn note_split(&mut self, ri: usize) {
        let r = &mut self.regs[ri];
        if r.attrs.windows(2).any(|w| w[0] != w[1]) {
            r.maybe_split = true;
        }
    }

    /// Whether the mapping is one VMA: Some(false) when attributes differ.
    pub(super) fn uniform(r: &Reg) -> Option<bool> {
        let a = r.attrs[0];
        if r.attrs
            .iter()
            .any(|x| (x.prot, x.adv, x.huge) != (a.prot, a.adv, a.huge))
        {
            return Some(false);
        }
        let locks: Vec<_> = r.attrs.iter().map(|x| x.locked).collect();
        if locks.contains(&Some(true)) && locks.contains(&Some(false)) {
            Some(false)
        } else if locks.contains(&None) || r.maybe_split {
            None
        } else {
            Some(true)
        }
    }

    /// Add a region the library just returned; `at` is (base, delta, len).
    pub(super) fn new_region(
        &mut self,
        h: *mut mm_region,
        kind: Kind,
        obj: usize,
        (base, delta, len): (u64, usize, usize),
        bits: u32,
        may_write: bool,
    ) -> usize {
        let page = self.page;
        let pages = if len == 0 {
            0
        } else {
            round_up(delta + len, page).unwrap() / page
        };
        // SAFETY: a live handle just returned.
        let huge = u8::from(unsafe { mm_flags(h) } & MM_HUGEPAGES != 0);
        let mut flags = effective(bits);
        if matches!(kind, Kind::Anon) && (bits & MM_DEVZERO != 0 || !self.build.map_anonymous) {
            flags |= MM_DEVZERO;
        }
        if matches!(kind, Kind::Anon) {
            // Accepted, and meaningless: nothing can shrink under it.
            flags &= !MM_GUARD;
        }
        let attr = Attr {
            prot: norm_prot(bits),
            locked: Some(false),
            adv: 0,
            huge,
        };
        self.regs.push(Reg {
            h,
            kind,
            obj,
            base,
            delta,
            len,
            mapped: len > 0,
            shared: bits & MM_SHARED != 0,
            may_write,
            flags,
            mapped_write: bits & W != 0,
            attrs: vec![attr; pages],
            maybe_split: false,
            cow: BTreeMap::new(),
            parts: 0,
        });
        let ri = self.regs.len() - 1;
        if bits & MM_POPULATE != 0 && bits & W != 0 {
            self.maybe_copied(ri);
        }
        ri
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // Also when a case panics: unmap, close, remove the directory.
        self.teardown();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
