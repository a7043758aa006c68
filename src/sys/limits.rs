//! Limits: `RLIMIT_MEMLOCK`/`RLIMIT_FSIZE`/`RLIMIT_AS`, which limit an `ENOMEM` met
//! (read from `/proc` through stack buffers), and undoing a partial `mlock`.

use super::*;

/// Whether locked memory is bounded by `RLIMIT_MEMLOCK` here (illumos and
/// Solaris have no such limit: locking needs a privilege instead).
pub(crate) const HAS_MEMLOCK_RLIMIT: bool = cfg!(mmkit_rlimit_memlock);

/// What lets a process lock memory past `RLIMIT_MEMLOCK` (or at all, where
/// there is no such limit), for messages.
pub(crate) const LOCK_PRIVILEGE: &str = if cfg!(mmkit_proc_status) {
    "CAP_IPC_LOCK"
} else if cfg!(mmkit_rlimit_memlock) {
    "root privileges"
} else {
    "the PRIV_PROC_LOCK_MEMORY privilege"
};

/// The soft `RLIMIT_MEMLOCK` in bytes; `None` for unlimited or unknown
/// (illumos has no such limit: locking needs a privilege instead).
#[cfg(not(mmkit_rlimit_memlock))]
pub(crate) fn memlock_limit() -> Option<u64> {
    None
}

/// The soft `RLIMIT_MEMLOCK` in bytes; `None` for unlimited or unknown.
#[cfg(mmkit_rlimit_memlock)]
pub(crate) fn memlock_limit() -> Option<u64> {
    soft_limit(|rl| {
        // SAFETY: getrlimit writes only into the struct we pass.
        unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, rl) }
    })
}

/// The soft limit a `getrlimit` call (`get`) reports; `None` for unlimited
/// or when the call fails. (The resource's type differs between systems, so
/// the caller makes the call.)
fn soft_limit(get: impl FnOnce(&mut libc::rlimit) -> libc::c_int) -> Option<u64> {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    if get(&mut rl) != 0 || rl.rlim_cur == libc::RLIM_INFINITY {
        return None;
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is i64 on some BSDs
    Some(rl.rlim_cur as u64)
}

/// The soft `RLIMIT_FSIZE` in bytes; `None` for unlimited or unknown.
pub(crate) fn file_size_limit() -> Option<u64> {
    soft_limit(|rl| {
        // SAFETY: getrlimit writes only into the struct we pass.
        unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, rl) }
    })
}

/// Bytes this process already has locked (`VmLck`), where the system tells.
pub(crate) fn locked_bytes() -> Option<u64> {
    #[cfg(mmkit_proc_status)]
    {
        let [locked] = proc_kb(c"/proc/self/status", [b"VmLck:"]);
        locked
    }
    #[cfg(not(mmkit_proc_status))]
    {
        None
    }
}

// ---------------------------------------------------------------- why ENOMEM

/// What a call that failed with `ENOMEM` was doing, for [`why_no_memory`]:
/// which limits it could have met.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Asked {
    /// A new mapping, or a grow, of this many bytes: one more kernel
    /// mapping, address space (`RLIMIT_AS`) and, for private writable
    /// memory, commit charge (overcommit).
    Map(usize),
    /// A change of protection, which may split a kernel mapping; `commits`
    /// when it makes private memory writable (a commit charge).
    Protect { commits: bool },
    /// A lock of part of a kernel mapping, which splits it.
    Lock,
}

/// The limit an `ENOMEM` likely met, with the values that show it. Its
/// `Display` is a clause for a message ("the process has 65530 mappings and
/// vm.max_map_count is 65530"); it holds numbers only, so it is made and
/// shown without allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NoMemory {
    /// The process's kernel mappings, at or near `vm.max_map_count`.
    MapCount { maps: u64, max: u64 },
    /// `RLIMIT_AS`, which the address space in use (`VmSize`, where known)
    /// plus the bytes asked would pass.
    AddressSpace { limit: u64, used: Option<u64> },
    /// Neither: the overcommit mode (`vm.overcommit_memory`), with RAM +
    /// swap for the heuristic mode (0) and `(CommitLimit, Committed_AS)` for
    /// the strict one (2), where known.
    Overcommit {
        mode: u64,
        ram_swap: Option<u64>,
        commit: Option<(u64, u64)>,
    },
}

impl std::fmt::Display for NoMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            NoMemory::MapCount { maps, max } => write!(
                f,
                "the process has {maps} mappings and vm.max_map_count is {max}"
            ),
            NoMemory::AddressSpace {
                limit,
                used: Some(used),
            } => write!(
                f,
                "RLIMIT_AS is {limit} bytes and the process already uses {used} bytes of address space"
            ),
            NoMemory::AddressSpace { limit, used: None } => write!(f, "RLIMIT_AS is {limit} bytes"),
            NoMemory::Overcommit { mode: 0, ram_swap, .. } => {
                write!(f, "vm.overcommit_memory is 0, heuristic overcommit")?;
                match ram_swap {
                    Some(total) => write!(f, ": no single request may pass RAM + swap, {total} bytes"),
                    None => Ok(()),
                }
            }
            NoMemory::Overcommit { mode: 1, .. } => write!(
                f,
                "vm.overcommit_memory is 1, always overcommit: no commit limit applies"
            ),
            NoMemory::Overcommit { mode: 2, commit, .. } => {
                write!(f, "vm.overcommit_memory is 2, strict overcommit")?;
                match commit {
                    Some((limit, committed)) => write!(
                        f,
                        ": Committed_AS is {committed} bytes of a CommitLimit of {limit} bytes"
                    ),
                    None => Ok(()),
                }
            }
            NoMemory::Overcommit { mode, .. } => write!(f, "vm.overcommit_memory is {mode}"),
        }
    }
}

/// What the failure path could learn about the limits; `None` where
/// unknown (and `as_limit` also when unlimited).
#[derive(Clone, Copy, Debug, Default)]
struct Facts {
    maps: Option<u64>,
    max_maps: Option<u64>,
    as_limit: Option<u64>,
    as_used: Option<u64>,
    overcommit: Option<u64>,
    ram_swap: Option<u64>,
    commit_limit: Option<u64>,
    committed: Option<u64>,
}

/// How close to `vm.max_map_count` counts as "at" it: `mmap` refuses past
/// it, a split at it, `mremap` within 3 of it.
const MAP_COUNT_SLACK: u64 = 3;

/// The limit a call that failed with `ENOMEM` likely met, with its values;
/// `None` when none can be named (nothing known, or the call could not have
/// met those known). In the order the kernel checks them: the map count,
/// `RLIMIT_AS`, then the overcommit mode (named when nothing else is, with
/// what it allows). Only for failure paths: it reads `/proc` (with stack
/// buffers, never the heap, which may be what ran out).
#[cold]
#[inline(never)]
pub(crate) fn why_no_memory(asked: Asked) -> Option<NoMemory> {
    classify(asked, &facts(asked))
}

/// [`why_no_memory`] from given facts.
fn classify(asked: Asked, f: &Facts) -> Option<NoMemory> {
    if let (Some(maps), Some(max)) = (f.maps, f.max_maps) {
        if maps.saturating_add(MAP_COUNT_SLACK) >= max {
            return Some(NoMemory::MapCount { maps, max });
        }
    }
    let bytes = match asked {
        Asked::Map(bytes) => bytes as u64,
        Asked::Protect { commits: true } => return overcommit(f),
        Asked::Protect { commits: false } | Asked::Lock => return None,
    };
    if let Some(limit) = f.as_limit {
        match f.as_used {
            Some(used) if used.saturating_add(bytes) <= limit => {}
            used => return Some(NoMemory::AddressSpace { limit, used }),
        }
    }
    overcommit(f)
}

fn overcommit(f: &Facts) -> Option<NoMemory> {
    let mode = f.overcommit?;
    Some(NoMemory::Overcommit {
        mode,
        ram_swap: if mode == 0 { f.ram_swap } else { None },
        commit: if mode == 2 {
            f.commit_limit.zip(f.committed)
        } else {
            None
        },
    })
}

/// Read what [`classify`] needs for `asked` (the overcommit facts only
/// where the map count does not explain it already).
fn facts(asked: Asked) -> Facts {
    let mut f = Facts::default();
    #[cfg(mmkit_proc_status)]
    {
        f.maps = map_count();
        f.max_maps = proc_number(c"/proc/sys/vm/max_map_count");
        if f.maps
            .zip(f.max_maps)
            .is_some_and(|(n, max)| n.saturating_add(MAP_COUNT_SLACK) >= max)
        {
            return f;
        }
        if matches!(asked, Asked::Lock | Asked::Protect { commits: false }) {
            return f;
        }
        let [used] = proc_kb(c"/proc/self/status", [b"VmSize:"]);
        f.as_used = used;
        f.overcommit = proc_number(c"/proc/sys/vm/overcommit_memory");
        let [total, swap, limit, committed] = proc_kb(
            c"/proc/meminfo",
            [
                b"MemTotal:",
                b"SwapTotal:",
                b"CommitLimit:",
                b"Committed_AS:",
            ],
        );
        f.ram_swap = total.zip(swap).and_then(|(t, s)| t.checked_add(s));
        f.commit_limit = limit;
        f.committed = committed;
    }
    if matches!(asked, Asked::Map(_)) {
        f.as_limit = address_space_limit();
    }
    f
}

/// The soft `RLIMIT_AS` in bytes; `None` for unlimited or unknown.
#[cfg(mmkit_rlimit_as)]
fn address_space_limit() -> Option<u64> {
    soft_limit(|rl| {
        // SAFETY: getrlimit writes only into the struct we pass.
        unsafe { libc::getrlimit(libc::RLIMIT_AS, rl) }
    })
}

#[cfg(not(mmkit_rlimit_as))]
fn address_space_limit() -> Option<u64> {
    None
}

/// The process's kernel mappings: the lines of `/proc/self/maps`, less the
/// `[vsyscall]` page, which the kernel does not count.
#[cfg(mmkit_proc_status)]
fn map_count() -> Option<u64> {
    let mut n = 0u64;
    each_line(c"/proc/self/maps", |line| {
        if !line.is_empty() && !line.ends_with(b" [vsyscall]") {
            n += 1;
        }
        true
    })?;
    Some(n)
}

/// The number a `/proc` file holds (a sysctl).
#[cfg(mmkit_proc_status)]
fn proc_number(path: &CStr) -> Option<u64> {
    let mut value = None;
    each_line(path, |line| {
        value = leading_number(line);
        false
    })?;
    value
}

/// The `KEY: N kB` fields named by `keys` in a `/proc` file, in bytes.
#[cfg(any(mmkit_proc_status, mmkit_map_hugetlb))]
pub(super) fn proc_kb<const N: usize>(path: &CStr, keys: [&[u8]; N]) -> [Option<u64>; N] {
    let mut found = [None; N];
    let _ = each_line(path, |line| {
        for (key, value) in keys.iter().zip(found.iter_mut()) {
            if let Some(rest) = line.strip_prefix(*key) {
                *value = leading_number(rest).and_then(|kb| kb.checked_mul(1024));
            }
        }
        found.iter().any(Option::is_none)
    });
    found
}

/// Bytes of a line [`each_line`] hands over; the rest of a longer line is
/// skipped (every line read here is shorter, but for long file names).
#[cfg(any(mmkit_proc_status, mmkit_map_hugetlb))]
const LINE: usize = 128;

/// Call `each` with every line of the file at `path` (its first [`LINE`]
/// bytes, without the newline) until it returns `false`; `None` when the
/// file cannot be opened or read. Stack buffers only.
#[cfg(any(mmkit_proc_status, mmkit_map_hugetlb))]
pub(super) fn each_line(path: &CStr, mut each: impl FnMut(&[u8]) -> bool) -> Option<()> {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: path is NUL-terminated; open only reads it.
    let fd =
        retry(|| unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) } as isize)
            .ok()?;
    // SAFETY: a fresh descriptor (it fits a c_int: open returned it) that
    // nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) };
    let mut buf = [0u8; 4096];
    let mut line = [0u8; LINE];
    let mut kept = 0;
    loop {
        // SAFETY: read writes at most buf.len() bytes into buf.
        let n = retry(|| unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })
            .ok()?;
        if n == 0 {
            if kept > 0 {
                each(&line[..kept]);
            }
            return Some(());
        }
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            let end = rest.iter().position(|&b| b == b'\n');
            let part = &rest[..end.unwrap_or(rest.len())];
            let take = part.len().min(LINE - kept);
            line[kept..kept + take].copy_from_slice(&part[..take]);
            kept += take;
            let Some(end) = end else {
                break;
            };
            if !each(&line[..kept]) {
                return Some(());
            }
            kept = 0;
            rest = &rest[end + 1..];
        }
    }
}

/// The decimal number at the start of `s`, after blanks; `None` without
/// digits or when it does not fit.
#[cfg(any(mmkit_proc_status, mmkit_map_hugetlb))]
pub(super) fn leading_number(s: &[u8]) -> Option<u64> {
    let s = &s[s.iter().position(|&b| b != b' ' && b != b'\t')?..];
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    s[..digits].iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

// ---------------------------------------------------------------- lock undo

/// Whether a failed `mlock` may leave part of its range locked. Linux
/// marks the range's kernel mappings locked one by one (splitting the first
/// and last), then faults the pages in, and undoes neither when a step fails
/// (the map count, a page past the end of a file).
pub(crate) const MLOCK_MAY_LEAVE_LOCKS: bool = cfg!(mmkit_partial_mlock);

/// The locked parts of a range, in order, at most [`LockedRuns::MAX`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LockedRuns {
    runs: [(usize, usize); LockedRuns::MAX],
    n: usize,
}

impl LockedRuns {
    const MAX: usize = 16;

    /// `(start, len)` of each locked part, in order.
    pub(crate) fn runs(&self) -> &[(usize, usize)] {
        &self.runs[..self.n]
    }

    /// Add a part after the others (joined to the last when they touch);
    /// `None` when there are too many.
    #[cfg_attr(not(mmkit_partial_mlock), allow(dead_code))]
    fn push(&mut self, start: usize, len: usize) -> Option<()> {
        if let Some(last) = self.runs[..self.n].last_mut() {
            if last.0 + last.1 == start {
                last.1 += len;
                return Some(());
            }
        }
        *self.runs.get_mut(self.n)? = (start, len);
        self.n += 1;
        Some(())
    }
}

/// `MS_ASYNC|MS_INVALIDATE`: the kernel's answer to "is any of this locked".
#[cfg(mmkit_partial_mlock)]
const ASYNC_INVALIDATE: crate::SyncFlags = crate::SyncFlags {
    mode: crate::SyncMode::Async,
    invalidate: true,
};

/// Which parts of `[start, start + len)` of `m` (page-aligned) are locked
/// now, asked of the kernel: `msync(MS_ASYNC|MS_INVALIDATE)` answers
/// `EBUSY` when any kernel mapping in its range is locked and does nothing
/// else (Linux), so halving the range finds each locked part with a few
/// calls per edge. `None` when the kernel cannot tell, or the parts are
/// more than [`LockedRuns`] holds.
#[cfg(mmkit_partial_mlock)]
pub(crate) fn locked_runs(m: &Mapping, start: usize, len: usize) -> Option<LockedRuns> {
    fn find(m: &Mapping, start: usize, len: usize, runs: &mut LockedRuns) -> Option<()> {
        match m.sync(start, len, ASYNC_INVALIDATE) {
            Ok(()) => return Some(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {}
            Err(_) => return None,
        }
        let page = page_size();
        if len <= page {
            return runs.push(start, len);
        }
        let half = round_down(len / 2, page).max(page);
        find(m, start, half, runs)?;
        find(m, start + half, len - half, runs)
    }
    let mut runs = LockedRuns::default();
    find(m, start, len, &mut runs)?;
    Some(runs)
}

/// Where a failed `mlock` cannot have left a lock, nothing is locked for it
/// to keep track of.
#[cfg(not(mmkit_partial_mlock))]
pub(crate) fn locked_runs(_m: &Mapping, _start: usize, _len: usize) -> Option<LockedRuns> {
    None
}

/// `munlock` the pages of `[start, start + len)` of `m` outside `keep`
/// (the parts locked before a failed `mlock`); every gap is tried, the
/// first error returned.
pub(crate) fn unlock_except(
    m: &Mapping,
    start: usize,
    len: usize,
    keep: &LockedRuns,
) -> SysResult<()> {
    let end = start + len;
    let mut at = start;
    let mut result = Ok(());
    let mut gap = |from: usize, to: usize| {
        if to > from {
            if let Err(e) = m.unlock(from, to - from) {
                if result.is_ok() {
                    result = Err(e);
                }
            }
        }
    };
    for &(s, l) in keep.runs() {
        gap(at, s.min(end));
        at = at.max(s + l);
    }
    gap(at, end);
    result
}

/// The `ENOMEM` explanation from given numbers, the stack-buffer `/proc`
/// reading, and the lock bookkeeping of a failed `mm_lock`.
#[cfg(test)]
mod no_memory_tests {
    use super::*;

    const MAX: u64 = 65530;

    fn facts() -> Facts {
        Facts {
            maps: Some(100),
            max_maps: Some(MAX),
            as_limit: None,
            as_used: Some(1 << 30),
            overcommit: Some(0),
            ram_swap: Some(24 << 30),
            commit_limit: Some(12 << 30),
            committed: Some(3 << 30),
        }
    }

    #[test]
    fn the_map_count_is_named_at_or_near_its_limit_whatever_the_call() {
        for maps in [MAX - 3, MAX, MAX + 1] {
            let f = Facts {
                maps: Some(maps),
                ..facts()
            };
            for asked in [
                Asked::Map(4096),
                Asked::Protect { commits: false },
                Asked::Protect { commits: true },
                Asked::Lock,
            ] {
                assert_eq!(
                    classify(asked, &f),
                    Some(NoMemory::MapCount { maps, max: MAX }),
                    "{asked:?}"
                );
            }
        }
        let far = Facts {
            maps: Some(MAX - 4),
            ..facts()
        };
        assert_eq!(classify(Asked::Lock, &far), None);
        assert_eq!(classify(Asked::Protect { commits: false }, &far), None);
        assert_eq!(
            NoMemory::MapCount {
                maps: 65530,
                max: MAX
            }
            .to_string(),
            "the process has 65530 mappings and vm.max_map_count is 65530"
        );
    }

    #[test]
    fn rlimit_as_is_named_when_the_bytes_asked_do_not_fit() {
        let f = Facts {
            as_limit: Some(1000 << 20),
            as_used: Some(900 << 20),
            ..facts()
        };
        let met = NoMemory::AddressSpace {
            limit: 1000 << 20,
            used: Some(900 << 20),
        };
        assert_eq!(classify(Asked::Map(101 << 20), &f), Some(met));
        assert_eq!(
            met.to_string(),
            "RLIMIT_AS is 1048576000 bytes and the process already uses 943718400 bytes of address space"
        );
        // They fit: not the limit; a change of protection never meets it.
        assert!(matches!(
            classify(Asked::Map(100 << 20), &f),
            Some(NoMemory::Overcommit { .. })
        ));
        assert!(matches!(
            classify(Asked::Protect { commits: true }, &f),
            Some(NoMemory::Overcommit { .. })
        ));
        // Where the address space in use cannot be read, the limit is all
        // there is to say.
        let unknown = Facts {
            as_used: None,
            maps: None,
            overcommit: None,
            ..f
        };
        let met = NoMemory::AddressSpace {
            limit: 1000 << 20,
            used: None,
        };
        assert_eq!(classify(Asked::Map(4096), &unknown), Some(met));
        assert_eq!(met.to_string(), "RLIMIT_AS is 1048576000 bytes");
    }

    #[test]
    fn otherwise_the_overcommit_mode_is_named_with_its_numbers() {
        let text = |mode| {
            let f = Facts {
                overcommit: Some(mode),
                ..facts()
            };
            classify(Asked::Map(1 << 40), &f).unwrap().to_string()
        };
        assert_eq!(
            text(0),
            "vm.overcommit_memory is 0, heuristic overcommit: no single request may pass RAM + swap, 25769803776 bytes"
        );
        assert_eq!(
            text(1),
            "vm.overcommit_memory is 1, always overcommit: no commit limit applies"
        );
        assert_eq!(
            text(2),
            "vm.overcommit_memory is 2, strict overcommit: Committed_AS is 3221225472 bytes of a CommitLimit of 12884901888 bytes"
        );
        let bare = Facts {
            ram_swap: None,
            commit_limit: None,
            overcommit: Some(2),
            ..facts()
        };
        assert_eq!(
            classify(Asked::Protect { commits: true }, &bare)
                .unwrap()
                .to_string(),
            "vm.overcommit_memory is 2, strict overcommit"
        );
        // Nothing known: nothing said.
        assert_eq!(classify(Asked::Map(4096), &Facts::default()), None);
    }

    #[cfg(mmkit_proc_status)]
    #[test]
    fn leading_numbers_are_parsed_by_hand() {
        assert_eq!(leading_number(b"65530"), Some(65530));
        assert_eq!(leading_number(b" \t 24683772 kB"), Some(24683772));
        assert_eq!(leading_number(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(leading_number(b"18446744073709551616"), None);
        assert_eq!(leading_number(b""), None);
        assert_eq!(leading_number(b"  kB"), None);
    }

    #[cfg(mmkit_proc_status)]
    #[test]
    fn lines_are_read_in_chunks_with_stack_buffers() {
        // Lines across the 4096-byte reads, one longer than LINE, no final
        // newline.
        let mut text = Vec::new();
        let mut want = Vec::new();
        for i in 0..700 {
            let line = format!("line {i} {}", "x".repeat(i % 150));
            text.extend_from_slice(line.as_bytes());
            want.push(line.as_bytes()[..line.len().min(LINE)].to_vec());
            if i != 699 {
                text.push(b'\n');
            }
        }
        let path = std::env::temp_dir().join(format!("mmkit-lines-{}", std::process::id()));
        std::fs::write(&path, &text).unwrap();
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        let mut seen = Vec::new();
        each_line(&c, |l| {
            seen.push(l.to_vec());
            true
        })
        .unwrap();
        let mut first = 0;
        each_line(&c, |_| {
            first += 1;
            false
        })
        .unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!(seen, want);
        assert_eq!(first, 1);
        assert_eq!(each_line(c"/nonexistent/mmkit", |_| true), None);
    }

    #[cfg(mmkit_proc_status)]
    #[test]
    fn the_failure_path_reads_the_real_numbers() {
        let maps = map_count().unwrap();
        let lines = std::fs::read_to_string("/proc/self/maps")
            .unwrap()
            .lines()
            .filter(|l| !l.ends_with(" [vsyscall]"))
            .count() as u64;
        // Other tests map and unmap meanwhile.
        assert!(maps.abs_diff(lines) < 500, "{maps} against {lines}");
        let max: u64 = std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(proc_number(c"/proc/sys/vm/max_map_count"), Some(max));
        let [size, none] = proc_kb(c"/proc/self/status", [b"VmSize:", b"NoSuchField:"]);
        assert!(size.is_some_and(|s| s > 0 && s % 1024 == 0), "{size:?}");
        assert_eq!(none, None);
    }

    /// An anonymous mapping of `pages` pages, pages `locked` of it locked;
    /// `None` when RLIMIT_MEMLOCK refuses.
    #[cfg(mmkit_partial_mlock)]
    fn with_locked(pages: usize, locked: &[usize]) -> Option<Mapping> {
        let page = page_size();
        let m = Mapping::map(pages * page, &tests_spec(), libc::MAP_ANON, None, 0).unwrap();
        for &p in locked {
            if m.lock(p * page, page).is_err() {
                eprintln!("skipped: RLIMIT_MEMLOCK too low");
                return None;
            }
        }
        Some(m)
    }

    #[cfg(mmkit_partial_mlock)]
    fn tests_spec() -> MapSpec {
        MapSpec {
            prot: Prot(libc::PROT_READ | libc::PROT_WRITE),
            share: Share::Private,
            noreserve: false,
            populate: false,
        }
    }

    #[cfg(mmkit_partial_mlock)]
    #[test]
    fn the_kernel_tells_which_parts_are_locked() {
        let page = page_size();
        let Some(m) = with_locked(8, &[1, 2, 5, 7]) else {
            return;
        };
        let runs = locked_runs(&m, 0, 8 * page).unwrap();
        assert_eq!(
            runs.runs(),
            [(page, 2 * page), (5 * page, page), (7 * page, page)]
        );
        let runs = locked_runs(&m, 2 * page, 3 * page).unwrap();
        assert_eq!(runs.runs(), [(2 * page, page)]);
        assert_eq!(locked_runs(&m, 3 * page, 2 * page).unwrap().runs(), []);
        // More parts than are kept: not known.
        let every_other: Vec<usize> = (0..2 * LockedRuns::MAX + 2).step_by(2).collect();
        let Some(m) = with_locked(2 * LockedRuns::MAX + 2, &every_other) else {
            return;
        };
        assert_eq!(locked_runs(&m, 0, m.len()), None);
    }

    #[cfg(mmkit_partial_mlock)]
    #[test]
    fn unlocking_all_but_the_earlier_parts_keeps_exactly_them() {
        let page = page_size();
        let Some(m) = with_locked(8, &[0, 2, 3, 7]) else {
            return;
        };
        let keep = locked_runs(&m, page, 6 * page).unwrap();
        assert_eq!(keep.runs(), [(2 * page, 2 * page)]);
        if m.lock(page, 6 * page).is_err() {
            eprintln!("skipped: RLIMIT_MEMLOCK too low");
            return;
        }
        unlock_except(&m, page, 6 * page, &keep).unwrap();
        let now = locked_runs(&m, 0, 8 * page).unwrap();
        assert_eq!(
            now.runs(),
            [(0, page), (2 * page, 2 * page), (7 * page, page)]
        );
        unlock_except(&m, 0, 8 * page, &LockedRuns::default()).unwrap();
        assert_eq!(locked_runs(&m, 0, 8 * page).unwrap().runs(), []);
    }
}
