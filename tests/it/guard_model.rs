//! The guard against a model: random sequences of truncations and regrowths
//! of a file (by this process, with its own descriptor, as another process
//! would), plain loads and stores through a guarded mapping of it, the
//! guarded copies, `mm_sync`, `mm_check` and `mm_resize`. The model knows the
//! file's bytes and the region's lost pages (with their private bytes); every
//! load, every copied byte, every return value and `mm_check`'s exact count
//! and first offset must match it, and no signal may escape.
//!
//! `make test` runs the same cases every time (a fixed seed, as the ABI
//! property test); `PROPTEST_CASES` or `PROPTEST_RNG_SEED` draw new ones.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::support::{alone, TempDir};
use mmkit::{Flags, Region, SyncFlags};

const PAGES: usize = 10;

#[derive(Clone, Debug)]
enum Op {
    /// Set the file's length to this fraction (of 255) of its full length.
    Cut(u8),
    /// Grow it back to full length, rewriting it with this byte.
    Regrow(u8),
    /// A plain load, at this fraction (of 65536) of the region.
    Load(u16),
    /// A plain store of the byte there.
    Store(u16, u8),
    /// `mm_read` / `mm_write` of (fraction, length) with a byte.
    Read(u16, u16),
    Write(u16, u16, u8),
    /// `mm_sync` of (fraction, length).
    Sync(u16, u16),
    Check,
    /// `mm_resize` to this many pages (of PAGES), plus a few bytes.
    Resize(u8, u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => any::<u8>().prop_map(Op::Cut),
        2 => any::<u8>().prop_map(Op::Regrow),
        6 => any::<u16>().prop_map(Op::Load),
        3 => (any::<u16>(), any::<u8>()).prop_map(|(o, b)| Op::Store(o, b)),
        4 => (any::<u16>(), 0u16..3 * 4096).prop_map(|(o, n)| Op::Read(o, n)),
        2 => (any::<u16>(), 0u16..3 * 4096, any::<u8>()).prop_map(|(o, n, b)| Op::Write(o, n, b)),
        2 => (any::<u16>(), 0u16..3 * 4096).prop_map(|(o, n)| Op::Sync(o, n)),
        2 => Just(Op::Check),
        1 => (1u8..=PAGES as u8, 0u8..=200).prop_map(|(p, b)| Op::Resize(p, b)),
    ]
}

/// The world: the file, the guarded region, and what the model says of them.
struct World {
    file: File,
    page: usize,
    /// The region's first byte is this far into the file (and its first page).
    off: usize,
    r: Region,
    /// The file's bytes.
    bytes: Vec<u8>,
    /// Lost pages of the mapping, with what they hold now.
    lost: BTreeMap<usize, Vec<u8>>,
}

impl World {
    /// Mapping page of region offset `o`.
    fn page_of(&self, o: usize) -> usize {
        (self.off + o) / self.page
    }

    /// Whether mapping page `p` is gone from the file (past its end).
    fn gone(&self, p: usize) -> bool {
        p * self.page >= self.bytes.len()
    }

    /// The byte a load at region offset `o` sees; `None`: past the end of the
    /// file in its last page, which this test does not look at.
    fn view(&self, o: usize) -> Option<u8> {
        let (p, m) = (self.page_of(o), self.off + o);
        if let Some(data) = self.lost.get(&p) {
            return Some(data[m % self.page]);
        }
        self.bytes.get(m).copied()
    }

    /// Pages `[a, b)` of the mapping are touched: the gone ones are lost now.
    fn touch(&mut self, a: usize, b: usize) {
        for p in a..b {
            if !self.lost.contains_key(&p) && self.gone(p) {
                self.lost.insert(p, vec![0; self.page]);
            }
        }
    }

    fn store(&mut self, o: usize, v: u8) {
        let (p, m) = (self.page_of(o), self.off + o);
        match self.lost.get_mut(&p) {
            Some(data) => data[m % self.page] = v,
            None => self.bytes[m] = v,
        }
    }

    /// A region range `[o, o + n)` as mapping pages `[a, b)`.
    fn pages(&self, o: usize, n: usize) -> (usize, usize) {
        (self.page_of(o), (self.off + o + n).div_ceil(self.page))
    }

    fn at(&self, frac: u16) -> usize {
        (self.r.len() - 1) * usize::from(frac) / 65535
    }

    fn step(&mut self, op: &Op) -> Result<(), String> {
        let page = self.page;
        match *op {
            Op::Cut(f) => {
                let len = PAGES * page * usize::from(f) / 255;
                // Longer than it is: grown with zeros, as set_len does.
                self.file.set_len(len as u64).unwrap();
                self.bytes.resize(len, 0);
            }
            Op::Regrow(b) => {
                self.bytes = vec![b; PAGES * page];
                self.file.write_all_at(&self.bytes, 0).unwrap();
            }
            Op::Load(f) => {
                let o = self.at(f);
                let (a, b) = self.pages(o, 1);
                self.touch(a, b);
                // SAFETY: inside the region; a lost page is repaired.
                let got = unsafe { self.r.as_ptr().add(o).read_volatile() };
                if let Some(want) = self.view(o).filter(|&w| w != got) {
                    return Err(format!("load at {o}: {got:#x}, model {want:#x}"));
                }
            }
            Op::Store(f, v) => {
                let o = self.at(f);
                let (a, b) = self.pages(o, 1);
                self.touch(a, b);
                if self.view(o).is_none() {
                    return Ok(()); // past the end of the file in its last page
                }
                // SAFETY: inside the writable region.
                unsafe { self.r.as_ptr().add(o).write_volatile(v) };
                self.store(o, v);
            }
            Op::Read(f, n) | Op::Write(f, n, _) | Op::Sync(f, n) => {
                let o = self.at(f);
                let n = usize::from(n).min(self.r.len() - o);
                let (a, b) = self.pages(o, n.max(1));
                let any_lost = |w: &World| (a..b).any(|p| w.lost.contains_key(&p));
                let res = match *op {
                    Op::Read(..) => {
                        let mut buf = vec![0u8; n];
                        let res = self.r.read(o, &mut buf);
                        if n > 0 {
                            self.touch(a, b);
                        }
                        if res.is_ok() {
                            for (k, &v) in buf.iter().enumerate() {
                                if let Some(want) = self.view(o + k).filter(|&w| w != v) {
                                    return Err(format!(
                                        "mm_read at {}: {v:#x}, model {want:#x}",
                                        o + k
                                    ));
                                }
                            }
                        }
                        res
                    }
                    Op::Write(_, _, v) => {
                        if n > 0
                            && (o..o + n)
                                .any(|k| self.view(k).is_none() && !self.gone(self.page_of(k)))
                        {
                            return Ok(()); // would store past the end of the file in its last page
                        }
                        let res = self.r.write(o, &vec![v; n]);
                        if n > 0 {
                            self.touch(a, b);
                            for k in o..o + n {
                                self.store(k, v);
                            }
                        }
                        res
                    }
                    _ => self.r.sync(o, n, SyncFlags::ASYNC),
                };
                let want = n > 0 && any_lost(self)
                    || (n == 0 && matches!(op, Op::Sync(..)) && {
                        // len 0 syncs to the end of the region
                        let (a, b) = self.pages(o, self.r.len() - o);
                        (a..b.max(a + 1)).any(|p| self.lost.contains_key(&p))
                    });
                match (res, want) {
                    (Ok(()), false) => {}
                    (Err(e), true) if e.errno() == libc::EFAULT => {}
                    (res, want) => {
                        return Err(format!(
                            "{op:?} at {o}+{n}: {res:?}, model wants EFAULT: {want}"
                        ))
                    }
                }
            }
            Op::Check => self.check()?,
            Op::Resize(p, b) => {
                let new_len = (usize::from(p) * page + usize::from(b))
                    .saturating_sub(self.off)
                    .max(1);
                let cur_pages = (self.off + self.r.len()).div_ceil(page);
                let new_pages = (self.off + new_len).div_ceil(page);
                let res = self.r.resize(new_len);
                let want = if new_pages > cur_pages && !self.lost.is_empty() {
                    Some(libc::EFAULT)
                } else if self.off + new_len > self.bytes.len() && new_len > self.r.len() {
                    Some(libc::EINVAL)
                } else {
                    None
                };
                match (&res, want) {
                    (Ok(()), None) => {
                        self.lost.retain(|&q, _| q < new_pages);
                    }
                    (Err(e), Some(w)) if e.errno() == w => {}
                    _ => return Err(format!("{op:?} to {new_len}: {res:?}, model {want:?}")),
                }
            }
        }
        self.check()
    }

    fn check(&self) -> Result<(), String> {
        let res = self.r.check();
        match (self.lost.first_key_value(), res) {
            (None, Ok(())) => Ok(()),
            (Some((&first, _)), Err(e)) if e.errno() == libc::EFAULT => {
                let n = self.lost.len();
                let want = format!(
                    "mm_check: {n} page{} lost, the first at offset {} ",
                    if n == 1 { "" } else { "s" },
                    (first * self.page).saturating_sub(self.off)
                );
                if e.to_string().starts_with(&want) {
                    Ok(())
                } else {
                    Err(format!("mm_check: \"{e}\", model \"{want}...\""))
                }
            }
            (lost, res) => Err(format!("mm_check: {res:?}, model lost {lost:?}")),
        }
    }
}

fn run(ops: &[Op], off: usize) -> Result<(), String> {
    let d = TempDir::new("guard-model");
    let page = mmkit::page_size();
    let path = d.join("f");
    let bytes = vec![0x5a; PAGES * page];
    std::fs::write(&path, &bytes).unwrap();
    let file = File::options().read(true).write(true).open(&path).unwrap();
    let flags = Flags::READ | Flags::WRITE | Flags::SHARED | Flags::GUARD;
    let r = Region::file(&path, off as u64, 0, flags).map_err(|e| e.to_string())?;
    let mut w = World {
        file,
        page,
        off,
        r,
        bytes,
        lost: BTreeMap::new(),
    };
    for (i, op) in ops.iter().enumerate() {
        w.step(op).map_err(|e| format!("op {i} {op:?}: {e}"))?;
    }
    Ok(())
}

#[test]
fn random_truncations_loads_and_calls_match_the_model() {
    alone!(random_truncations_loads_and_calls_match_the_model);
    let mut config = Config {
        failure_persistence: None,
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 128;
        if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
            config.rng_seed = proptest::test_runner::RngSeed::Fixed(0x0067_7561_7264_3137);
        }
    }
    let mut runner = TestRunner::new(config);
    let cases = (
        prop_oneof![Just(0usize), Just(100)],
        prop::collection::vec(op(), 1..60),
    );
    let result = runner.run(&cases, |(off, ops)| {
        run(&ops, off).map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
