//! The map calls: `mm_map_anon`, `mm_map_shareable`, `mm_map_file`, `mm_map_fd`.

use super::*;

impl World {
    fn map_flags(&self, fg: &FlagGen, file: bool) -> u32 {
        let mut bits = fg.bits(file);
        if self.host.hugetlb {
            bits &= !MM_HUGEPAGES;
        }
        bits
    }

    /// Call a map function with a sentinel (or NULL) out-pointer; check it is
    /// written only on success.
    fn call_map(
        &mut self,
        call: &str,
        null_out: bool,
        exp: &Exp,
        f: impl FnOnce(*mut *mut mm_region) -> c_int,
    ) -> Result<Option<*mut mm_region>, String> {
        let sentinel = 0x5a5a_usize as *mut mm_region;
        let mut out = sentinel;
        let rc = f(if null_out { ptr::null_mut() } else { &mut out });
        self.log.push(format!("  -> {rc}"));
        let e = self.check(call, rc, exp)?;
        if e.is_some() {
            if out != sentinel {
                return Err(format!("{call} failed but wrote *out"));
            }
            return Ok(None);
        }
        if out == sentinel || out.is_null() {
            return Err(format!("{call} returned 0 without a region"));
        }
        Ok(Some(out))
    }

    pub(super) fn map_anon(&mut self, len: &Num, fg: &FlagGen, null_out: bool) -> Res {
        let page = self.page;
        let bits = self.map_flags(fg, false);
        let len = len.get(16 * page, page);
        let exp = if null_out || !flags_ok(bits, false) || len == 0 {
            err(libc::EINVAL)
        } else if len > MAX_REGION {
            err(libc::ENOMEM)
        } else {
            ok()
        };
        // SAFETY: out is NULL or a valid pointer (call_map).
        let Some(h) = self.call_map("mm_map_anon", null_out, &exp, |out| unsafe {
            mm_map_anon(len, bits, out)
        })?
        else {
            return Ok(());
        };
        let map_len = round_up(len, page).unwrap();
        let obj = if bits & MM_SHARED != 0 {
            self.objs.push(Obj::new(ObjKind::ShmAnon, map_len as u64));
            self.objs.len() - 1
        } else {
            0
        };
        self.new_region(h, Kind::Anon, obj, (0, 0, len), bits, true);
        Ok(())
    }

    pub(super) fn map_shareable(
        &mut self,
        name: &NameSel,
        len: &Num,
        fg: &FlagGen,
        null_out: bool,
    ) -> Res {
        let page = self.page;
        let bits = self.map_flags(fg, false);
        let len = len.get(16 * page, page);
        let cname: Option<CString> = match name {
            NameSel::Plain => Some(c"mmkit-prop".into()),
            NameSel::Empty => Some(c"".into()),
            NameSel::TooLong => Some(CString::new("n".repeat(300)).unwrap()),
            NameSel::NotUtf8 => Some(CString::new(vec![0xff, 0xfe, b'x']).unwrap()),
            NameSel::Null => None,
        };
        let lossy_len = cname.as_ref().map_or(0, |c| c.to_string_lossy().len());
        let exp = if cname.is_none()
            || null_out
            || !flags_ok(bits, false)
            || bits & (MM_PRIVATE | MM_DEVZERO) != 0
            || len == 0
        {
            err(libc::EINVAL)
        } else if !round_up(len, page).is_some_and(|l| l <= isize::MAX as usize) {
            err(libc::ENOMEM)
        } else if self.build.memfd && lossy_len > 249 {
            err(libc::EINVAL) // memfd_create's name limit
        } else if len > MAX_REGION {
            errs(&[libc::ENOMEM, libc::EFBIG, libc::EINVAL])
        } else if bits & X != 0 {
            ok_or(&[libc::EPERM, libc::EACCES]) // noexec /dev/shm or memfd_noexec
        } else {
            ok()
        };
        let name_ptr = cname.as_ref().map_or(ptr::null(), |c| c.as_ptr());
        // SAFETY: name is NULL or NUL-terminated; out is NULL or valid.
        let Some(h) = self.call_map("mm_map_shareable", null_out, &exp, |out| unsafe {
            mm_map_shareable(name_ptr, len, bits, out)
        })?
        else {
            return Ok(());
        };
        self.objs.push(Obj::new(ObjKind::Memfd, len as u64));
        let obj = self.objs.len() - 1;
        self.new_region(h, Kind::Shareable, obj, (0, 0, len), bits, true);
        Ok(())
    }

    /// The outcome of MM_CREATE allocating up to `end` (posix_fallocate).
    pub(super) fn alloc_outcome(&self, end: u64, alloc_len: usize) -> Option<Exp> {
        let big = [libc::EFBIG, libc::ENOSPC, libc::EINVAL, libc::EOVERFLOW];
        if self.host.ext4 {
            // ext4 with 4 KiB blocks: files end below 2^44 - 4096.
            Some(if end > 1 << 44 {
                errs(&big)
            } else if end > 1 << 43 {
                ok_or(&big)
            } else {
                ok()
            })
        } else if alloc_len > MAX_REGION || end > 1 << 40 {
            None // not safe to try on an unknown file system
        } else {
            Some(ok())
        }
    }

    pub(super) fn map_file(
        &mut self,
        sel: &PathSel,
        off: &FOff,
        len: &Num,
        fg: &FlagGen,
        null_out: bool,
    ) -> Res {
        let bits = self.map_flags(fg, true);
        let excl = bits & MM_EXCL != 0;
        let create = bits & MM_CREATE != 0;
        let read_write = create || (bits & W != 0 && bits & MM_SHARED != 0);
        // What the path is: a regular file (that may not exist yet) or an odd one.
        let (path, odd): (Option<PathBuf>, Option<Vec<i32>>) = match sel {
            PathSel::Pool(k) => (Some(self.pool[*k as usize % self.pool.len()].clone()), None),
            PathSel::Fresh(k) => (Some(self.dir.join(format!("fresh{k}"))), None),
            PathSel::Dir => (
                Some(self.dir.join("d")),
                Some(vec![if excl { libc::EEXIST } else { libc::ENODEV }]),
            ),
            PathSel::DevNull | PathSel::Fifo => (
                Some(if matches!(sel, PathSel::Fifo) {
                    self.dir.join("fifo")
                } else {
                    PathBuf::from("/dev/null")
                }),
                Some(vec![if excl { libc::EEXIST } else { libc::ENODEV }]),
            ),
            PathSel::Empty => (Some(PathBuf::new()), Some(vec![libc::ENOENT])),
            PathSel::MissingDir => (
                Some(self.dir.join("missing").join("x")),
                Some(vec![libc::ENOENT]),
            ),
            PathSel::TooLong => (
                Some(self.dir.join("x".repeat(300))),
                Some(vec![libc::ENAMETOOLONG]),
            ),
            PathSel::TrailingSlash(k) => {
                let mut p = self.pool[*k as usize % self.pool.len()]
                    .as_os_str()
                    .to_owned();
                p.push("/");
                (
                    Some(PathBuf::from(p)),
                    Some(vec![libc::ENOTDIR, libc::ENODEV, libc::EEXIST]),
                )
            }
            PathSel::Null => (None, None),
        };
        let cpath = path
            .as_ref()
            .map(|p| CString::new(p.as_os_str().as_bytes()).unwrap());
        let existing = path.as_ref().and_then(|p| self.files.get(p).copied());
        let size = existing.map_or(0, |id| self.objs[id].size);
        let file_off = off.get(size, self.page);
        let rf = size.saturating_sub(file_off).min(MAX_REGION as u64) as usize;
        let len_arg = len.get(rf, self.page);

        // (PathBuf equality ignores a trailing slash: "pool0/" finds pool0.)
        let regular = odd.is_none();
        let mut created = false;
        let plan = if path.is_none() || null_out || !flags_ok(bits, true) {
            Plan::Fail(err(libc::EINVAL))
        } else if let Some(e) = odd {
            Plan::Fail(errs(&e))
        } else if excl && existing.is_some() {
            Plan::Fail(err(libc::EEXIST))
        } else if existing.is_none() && !create {
            Plan::Fail(err(libc::ENOENT))
        } else {
            created = existing.is_none();
            self.plan_file_map(size, file_off, len_arg, bits, None)
        };
        let (exp, rlen, end) = match plan {
            Plan::Skip(g) => return self.skip(g),
            Plan::Fail(e) => (e, 0, 0),
            Plan::Map { exp, rlen, end } => (exp, rlen, end),
        };
        let path_ptr = cpath.as_ref().map_or(ptr::null(), |c| c.as_ptr());
        // SAFETY: path is NULL or NUL-terminated; out is NULL or valid.
        let h = self.call_map("mm_map_file", null_out, &exp, |out| unsafe {
            mm_map_file(path_ptr, file_off, len_arg, bits, out)
        })?;
        let Some(h) = h else {
            if let (Some(id), Some(p), true) = (existing, &path, regular) {
                // MM_CREATE may have grown the file and cut it back.
                let real = std::fs::metadata(p)
                    .map_err(|e| format!("stat: {e}"))?
                    .len();
                self.resize_obj(id, real);
                self.blur_tail(id);
            }
            return Ok(());
        };
        let path = path.unwrap();
        let id = match existing {
            Some(id) => {
                if create && end > self.objs[id].size {
                    self.resize_obj(id, end);
                }
                id
            }
            None => {
                debug_assert!(created);
                self.objs.push(Obj::new(ObjKind::File, end));
                let id = self.objs.len() - 1;
                self.files.insert(path.clone(), id);
                self.pool.push(path.clone());
                id
            }
        };
        let delta = (file_off % self.page as u64) as usize;
        let kind = Kind::File {
            path: Some(path),
            off: file_off,
            create,
        };
        let may_write = bits & MM_SHARED == 0 || read_write;
        let (base, delta) = if rlen == 0 {
            (0, 0)
        } else {
            (file_off - delta as u64, delta)
        };
        self.new_region(h, kind, id, (base, delta, rlen), bits, may_write);
        Ok(())
    }

    /// Region::map_open_file's checks for a regular file (or memfd) of `size`
    /// bytes; `memfd` is the object when mapping a shareable region's descriptor.
    fn plan_file_map(
        &self,
        size: u64,
        file_off: u64,
        len_arg: usize,
        bits: u32,
        memfd: Option<usize>,
    ) -> Plan {
        let page = self.page;
        let create = bits & MM_CREATE != 0;
        if file_off > size && !(create && len_arg > 0) {
            return Plan::Fail(err(libc::EINVAL));
        }
        let rlen = if len_arg == 0 {
            match usize::try_from(size - file_off) {
                Ok(l) => l,
                Err(_) => return Plan::Fail(err(libc::ENOMEM)),
            }
        } else {
            len_arg
        };
        let Some(end) = file_off
            .checked_add(rlen as u64)
            .filter(|&e| e <= i64::MAX as u64)
        else {
            return Plan::Fail(err(libc::EINVAL));
        };
        if end > size && !create {
            return Plan::Fail(err(libc::EINVAL));
        }
        let delta = (file_off % page as u64) as usize;
        if !delta
            .checked_add(rlen)
            .and_then(|l| round_up(l, page))
            .is_some_and(|l| l <= isize::MAX as usize)
        {
            return Plan::Fail(err(libc::ENOMEM));
        }
        let seals = memfd.map_or(0, |id| self.objs[id].seals);
        let mut exp = ok();
        if create && rlen > 0 {
            if memfd.is_some() {
                if end > size && seals & MM_SEAL_GROW != 0 {
                    return Plan::Fail(err(libc::EPERM));
                }
                if end > 1 << 40 {
                    exp = ok_or(&[
                        libc::EFBIG,
                        libc::ENOSPC,
                        libc::EINVAL,
                        libc::ENOMEM,
                        libc::EOVERFLOW,
                    ]);
                }
            } else {
                match self.alloc_outcome(end, rlen) {
                    None => return Plan::Skip(Guard::TooLargeForModel),
                    Some(e) if !e.ok => return Plan::Fail(e),
                    Some(e) => exp = e,
                }
            }
        }
        if rlen == 0 {
            return Plan::Map { exp, rlen, end };
        }
        if rlen > MAX_REGION {
            return Plan::Skip(Guard::TooLargeForModel);
        }
        if seals & MM_SEAL_WRITE != 0 && bits & MM_SHARED != 0 && bits & W != 0 {
            return Plan::Fail(err(libc::EPERM));
        }
        if bits & X != 0 {
            exp.ok = true;
            exp.errs.extend([libc::EPERM, libc::EACCES]);
        }
        Plan::Map { exp, rlen, end }
    }

    pub(super) fn map_fd(
        &mut self,
        sel: &FdSel,
        off: &FOff,
        len: &Num,
        fg: &FlagGen,
        null_out: bool,
    ) -> Res {
        let bits = self.map_flags(fg, true);
        // (fd, its access mode, its object or the error fstat leads to)
        let (fd, mode, target): (c_int, FdMode, Result<usize, i32>) = match sel {
            FdSel::Pool(k, m) => {
                let want = [FdMode::Ro, FdMode::Rw, FdMode::Wo][*m as usize % 3];
                let all: Vec<_> = self.pool_fds.iter().filter(|f| f.mode == want).collect();
                let f = all[*k as usize % all.len()];
                (f.fd, f.mode, Ok(f.obj))
            }
            FdSel::Shareable(k) => {
                let shareable: Vec<usize> = (0..self.regs.len())
                    .filter(|&i| matches!(self.regs[i].kind, Kind::Shareable))
                    .collect();
                if shareable.is_empty() {
                    (-1, FdMode::Rw, Err(libc::EBADF))
                } else {
                    let ri = shareable[*k as usize % shareable.len()];
                    // SAFETY: a live handle.
                    let fd = unsafe { mm_fd(self.regs[ri].h) };
                    self.check("mm_fd", fd.min(0), &ok())?;
                    (fd, FdMode::Rw, Ok(self.regs[ri].obj))
                }
            }
            FdSel::Dir => (self.dir_fd, FdMode::Ro, Err(libc::ENODEV)),
            FdSel::Pipe => (self.pipe_fd, FdMode::Ro, Err(libc::ENODEV)),
            FdSel::DevNull => (self.null_fd, FdMode::Rw, Err(libc::ENODEV)),
            FdSel::Negative(min) => (if *min { c_int::MIN } else { -1 }, FdMode::Ro, Err(0)),
            FdSel::NotOpen => (1 << 20, FdMode::Ro, Err(libc::EBADF)),
        };
        let size = target.map_or(0, |id| self.objs[id].size);
        let file_off = off.get(size, self.page);
        let rf = size.saturating_sub(file_off).min(MAX_REGION as u64) as usize;
        let len_arg = len.get(rf, self.page);
        let create = bits & MM_CREATE != 0;
        let shared_w = bits & W != 0 && bits & MM_SHARED != 0;
        let plan = if null_out {
            Plan::Fail(err(libc::EINVAL))
        } else if fd < 0 {
            Plan::Fail(err(libc::EBADF))
        } else if !flags_ok(bits, true) || bits & MM_EXCL != 0 {
            Plan::Fail(err(libc::EINVAL))
        } else if target == Err(libc::EBADF) {
            Plan::Fail(err(libc::EBADF))
        } else if mode == FdMode::Wo || (mode == FdMode::Ro && (shared_w || create)) {
            Plan::Fail(err(libc::EACCES))
        } else {
            match target {
                Err(e) => Plan::Fail(err(e)),
                Ok(id) => {
                    let memfd = (self.objs[id].kind == ObjKind::Memfd).then_some(id);
                    self.plan_file_map(size, file_off, len_arg, bits, memfd)
                }
            }
        };
        let exp = match plan {
            Plan::Skip(g) => return self.skip(g),
            Plan::Fail(ref e) => e.clone(),
            Plan::Map { ref exp, .. } => exp.clone(),
        };
        // SAFETY: out is NULL or valid; fd is any number (checked by the library).
        let h = self.call_map("mm_map_fd", null_out, &exp, |out| unsafe {
            mm_map_fd(fd, file_off, len_arg, bits, out)
        })?;
        let (Some(h), Plan::Map { rlen, end, .. }, Ok(id)) = (h, plan, target) else {
            if let Ok(id) = target {
                // MM_CREATE may have grown the object and cut it back — or
                // not, when a seal forbids shrinking: ask the kernel.
                // SAFETY: fstat of a descriptor we hold; one struct written.
                let mut st: libc::stat = unsafe { std::mem::zeroed() };
                if unsafe { libc::fstat(fd, &mut st) } != 0 {
                    return Err(format!("fstat({fd}): {}", std::io::Error::last_os_error()));
                }
                self.resize_obj(id, st.st_size as u64);
                self.blur_tail(id);
            }
            return Ok(());
        };
        if create && end > self.objs[id].size {
            self.resize_obj(id, end);
        }
        let sealed_w = self.objs[id].seals & MM_SEAL_WRITE != 0;
        let may_write = bits & MM_SHARED == 0 || (mode == FdMode::Rw && !sealed_w);
        let delta = (file_off % self.page as u64) as usize;
        let kind = Kind::File {
            path: None,
            off: file_off,
            create,
        };
        let (base, delta) = if rlen == 0 {
            (0, 0)
        } else {
            (file_off - delta as u64, delta)
        };
        self.new_region(h, kind, id, (base, delta, rlen), bits, may_write);
        Ok(())
    }
}

/// Which way a file map goes, before the call.
pub(super) enum Plan {
    Skip(Guard),
    Fail(Exp),
    Map { exp: Exp, rlen: usize, end: u64 },
}
