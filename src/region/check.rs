//! Checking a mapping call's flag word: one check that decides and names
//! every problem.

use super::*;

/// What a mapping call asked for, after validation.
pub(super) struct Checked {
    pub(super) flags: Flags,
    pub(super) spec: MapSpec,
}

/// Validate a mapping call's flag word (`file`: for a file or descriptor, else
/// anonymous memory); each refusal with its own message.
pub(super) fn check_flags(call: &'static str, bits: u32, file: bool) -> Result<Checked> {
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
    if let (true, Some(why)) = (flags.contains(Flags::NORESERVE), sys::NORESERVE_REFUSED) {
        return Err(Error::unsupported(
            call,
            format_args!("MM_NORESERVE: {why}"),
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
