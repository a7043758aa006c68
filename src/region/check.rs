//! Checking a mapping call's flag word: the quick path for the usual words, the
//! full one that decides and names every problem.

use super::*;

/// What a mapping call asked for, after validation.
pub(super) struct Checked {
    pub(super) flags: Flags,
    pub(super) spec: MapSpec,
}

/// Validate a mapping call's flag word. The usual word passes
/// [`quick_check`], inlined into the caller; any other goes to
/// [`check_flags_fully`], which decides and names the problem.
#[inline(always)]
pub(super) fn check_flags(call: &'static str, bits: u32, file: bool) -> Result<Checked> {
    #[cfg(mmkit_quick_paths)]
    if let Some(checked) = quick_check(bits, file) {
        return Ok(checked);
    }
    check_flags_fully(call, bits, file)
}

/// The flag word as [`check_flags_fully`] would accept it, in a few tests;
/// `None` when any of them fails (the word may still be valid).
#[inline(always)]
#[cfg_attr(not(mmkit_quick_paths), allow(dead_code))] // then only its test uses it
pub(super) fn quick_check(bits: u32, file: bool) -> Option<Checked> {
    let flags = Flags::from_bits(bits).ok()?;
    let shared = flags.contains(Flags::SHARED);
    let misplaced = if file {
        Flags::DEVZERO
    } else {
        Flags::CREATE | Flags::EXCL
    };
    if !flags.intersects(Flags::READ | Flags::WRITE)
        || shared == flags.contains(Flags::PRIVATE)
        || flags.intersects(misplaced)
        || flags.contains(Flags::EXCL) && !flags.contains(Flags::CREATE)
    {
        return None;
    }
    Some(Checked {
        flags,
        spec: MapSpec {
            prot: Prot::of(flags),
            share: if shared {
                Share::Shared
            } else {
                Share::Private
            },
            noreserve: flags.contains(Flags::NORESERVE),
            populate: flags.contains(Flags::POPULATE),
        },
    })
}

/// [`check_flags`] for the words its quick test did not pass: every check,
/// each refusal with its own message.
#[cold]
#[inline(never)]
pub(super) fn check_flags_fully(call: &'static str, bits: u32, file: bool) -> Result<Checked> {
    let flags = Flags::from_bits(bits).map_err(|unknown| {
        Error::invalid(
            call,
            format_args!("unknown flag bits {unknown:#x} in flags {bits:#x}"),
        )
    })?;
    if !flags.intersects(Flags::READ | Flags::WRITE) {
        return Err(Error::invalid(
            call,
            format_args!("flags {flags} ({bits:#x}) ask for neither MM_READ nor MM_WRITE"),
        ));
    }
    let share = match (
        flags.contains(Flags::SHARED),
        flags.contains(Flags::PRIVATE),
    ) {
        (true, false) => Share::Shared,
        (false, true) => Share::Private,
        (true, true) => {
            return Err(Error::invalid(
                call,
                format_args!("flags {flags} ask for both MM_SHARED and MM_PRIVATE"),
            ))
        }
        (false, false) => {
            return Err(Error::invalid(
                call,
                format_args!("flags {flags} ask for neither MM_SHARED nor MM_PRIVATE"),
            ))
        }
    };
    if file && flags.contains(Flags::DEVZERO) {
        return Err(Error::invalid(
            call,
            "MM_DEVZERO applies to anonymous regions only",
        ));
    }
    if !file && flags.intersects(Flags::CREATE | Flags::EXCL) {
        return Err(Error::invalid(
            call,
            "MM_CREATE and MM_EXCL apply to file regions only",
        ));
    }
    if flags.contains(Flags::EXCL) && !flags.contains(Flags::CREATE) {
        return Err(Error::invalid(
            call,
            "MM_EXCL is meaningful only with MM_CREATE",
        ));
    }
    Ok(Checked {
        flags,
        spec: MapSpec {
            prot: Prot::of(flags),
            share,
            noreserve: flags.contains(Flags::NORESERVE),
            populate: flags.contains(Flags::POPULATE),
        },
    })
}

/// The mapping an anonymous request needs when it is plain memory: valid
/// flags with no option that acts beyond `mmap` (`MM_HUGEPAGES`,
/// `MM_POPULATE`, `MM_DEVZERO`) on a platform with `MAP_ANONYMOUS`. `None`
/// sends the request through the full path (which also reports bad flags).
#[inline(always)]
pub(super) fn plain_anon_spec(flags: Flags) -> Option<MapSpec> {
    if !cfg!(mmkit_quick_paths)
        || !sys::HAS_MAP_ANONYMOUS
        || flags.intersects(Flags::HUGEPAGES | Flags::POPULATE | Flags::DEVZERO)
    {
        return None;
    }
    quick_check(flags.bits(), false).map(|checked| checked.spec)
}

/// The flags a mapping really has: what was asked, less what the platform
/// ignores and what the backend decides (`DEVZERO`, `HUGEPAGES`).
pub(super) fn effective(flags: Flags) -> Flags {
    let mut f = flags.without(Flags::DEVZERO | Flags::HUGEPAGES);
    if !sys::HAS_NORESERVE {
        f = f.without(Flags::NORESERVE);
    }
    if flags.contains(Flags::WRITE) {
        f |= Flags::READ;
    }
    f
}

/// [`effective`] for an anonymous region: `MM_GUARD` is accepted there and
/// means nothing (no file or object can shrink under it), so it is not reported.
#[inline(always)]
pub(super) fn effective_anon(flags: Flags) -> Flags {
    effective(flags).without(Flags::GUARD)
}

/// The quick paths against the full ones; these run in every build (the
/// portable one has no `MAP_ANONYMOUS`, so its quick anonymous path is never taken).
#[cfg(test)]
mod quick_path_tests {
    use super::*;

    const RW_SHARED: Flags = Flags::READ.union(Flags::WRITE).union(Flags::SHARED);

    /// Every flag word made of known bits, and a few with unknown ones.
    pub(super) fn every_flag_word() -> impl Iterator<Item = u32> {
        let known = Flags::from_bits(u32::MAX).unwrap_err() ^ u32::MAX;
        (0..=known)
            .filter(move |b| b & !known == 0)
            .chain([1 << 31, (1 << 20) | 3, u32::MAX])
    }

    #[test]
    pub(super) fn the_quick_flag_check_decides_as_the_full_one() {
        let mut accepted = 0;
        for bits in every_flag_word() {
            for file in [false, true] {
                let quick = check_flags("t", bits, file);
                let full = check_flags_fully("t", bits, file);
                match (quick, full) {
                    (Ok(q), Ok(f)) => {
                        accepted += 1;
                        assert_eq!(q.flags, f.flags, "{bits:#x} file={file}");
                        assert_eq!(q.spec, f.spec, "{bits:#x} file={file}");
                    }
                    (Err(q), Err(f)) => {
                        assert_eq!(q.to_string(), f.to_string(), "{bits:#x} file={file}");
                        assert_eq!(q.errno(), errno::EINVAL);
                    }
                    (q, f) => panic!(
                        "{bits:#x} file={file}: quick {:?}, full {:?}",
                        q.is_ok(),
                        f.is_ok()
                    ),
                }
            }
        }
        // Both kinds of outcome were seen (the loop did not pass vacuously).
        assert!(accepted > 100, "{accepted}");
    }

    #[test]
    pub(super) fn the_plain_anonymous_path_maps_what_the_full_one_maps() {
        let mut plain = 0;
        for bits in every_flag_word() {
            let Ok(flags) = Flags::from_bits(bits) else {
                continue;
            };
            let Some(spec) = plain_anon_spec(flags) else {
                continue;
            };
            plain += 1;
            let checked = check_flags("t", bits, false).expect("plain flags are valid");
            assert_eq!(spec, checked.spec, "{flags}");
            assert!(!flags.intersects(Flags::HUGEPAGES | Flags::POPULATE | Flags::DEVZERO));
            for len in [1, 4096, 3 * 4096 + 5] {
                let quick = Region::anon(len, flags).unwrap();
                let full = Region::anon_with(len, flags, sys::map_anonymous).unwrap();
                assert_eq!(quick.flags(), full.flags(), "{flags} len {len}");
                assert_eq!(quick.len(), len);
                // SAFETY: our own fresh readable region.
                assert!(unsafe { quick.as_slice() }.iter().all(|&b| b == 0));
            }
        }
        if sys::HAS_MAP_ANONYMOUS {
            assert!(plain >= 12, "{plain}");
        } else {
            // Without MAP_ANONYMOUS every request goes the /dev/zero way.
            assert_eq!(plain, 0);
        }
        assert!(plain_anon_spec(RW_SHARED | Flags::POPULATE).is_none());
        assert!(plain_anon_spec(RW_SHARED | Flags::HUGEPAGES).is_none());
        assert!(plain_anon_spec(RW_SHARED | Flags::DEVZERO).is_none());
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    pub(super) fn a_failed_mmap_on_the_plain_path_is_reported_by_the_full_one() {
        // Larger than any address space: mmap itself refuses it (ENOMEM),
        // after the length checks have passed.
        let len = 1usize << 62;
        let e = Region::anon(len, RW_SHARED).unwrap_err();
        assert_eq!(e.errno(), errno::ENOMEM, "{e}");
        let text = e.to_string();
        let how = if sys::HAS_MAP_ANONYMOUS {
            "MAP_ANONYMOUS"
        } else {
            "/dev/zero"
        };
        assert!(
            text.contains(&format!("mmap({how}) of {len} bytes")),
            "{text}"
        );
    }
}
