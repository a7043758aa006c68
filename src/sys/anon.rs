//! Anonymous memory: `MAP_ANONYMOUS`, `/dev/zero`, explicit and transparent huge pages.

use super::*;

/// Whether this build can use `MAP_ANONYMOUS` at all.
pub(crate) const HAS_MAP_ANONYMOUS: bool = cfg!(mmkit_map_anonymous);

/// `MAP_ANONYMOUS` memory of `len` bytes (a page multiple).
#[cfg(mmkit_map_anonymous)]
#[inline(always)]
pub(crate) fn map_anonymous(len: usize, spec: &MapSpec) -> SysResult<Mapping> {
    Mapping::map(len, spec, libc::MAP_ANON, None, 0)
}

/// Without `MAP_ANONYMOUS` at build time, every anonymous request is refused
/// here and served by `/dev/zero`.
#[cfg(not(mmkit_map_anonymous))]
pub(crate) fn map_anonymous(_len: usize, _spec: &MapSpec) -> SysResult<Mapping> {
    Err(io::Error::from_raw_os_error(libc::ENOTSUP))
}

/// Whether an error of `MAP_ANONYMOUS` means "not available here, use
/// `/dev/zero`" rather than a real failure such as `ENOMEM`.
pub(crate) fn anonymous_refused(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL | libc::ENODEV | libc::ENOTSUP)
    ) || e.raw_os_error() == Some(libc::EOPNOTSUPP)
}

/// Anonymous memory served by mapping `/dev/zero` (the BSD idiom). The
/// descriptor is `O_CLOEXEC` and closed before returning.
pub(crate) fn map_devzero(len: usize, spec: &MapSpec) -> SysResult<Mapping> {
    let zero = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/zero")?;
    Mapping::map(len, spec, 0, Some(fd_of(&zero)), 0)
}

/// Explicit huge pages (`MAP_HUGETLB`) when the system has enough free ones
/// reserved; `None` when not worth trying or refused (the caller falls back).
/// The mapping's [`Mapping::page_size`] is the huge page size.
#[cfg(mmkit_map_hugetlb)]
pub(crate) fn map_hugetlb(len: usize, spec: &MapSpec) -> Option<Mapping> {
    let (free, size) = hugetlb_free()?;
    let len = round_up(len, size)?;
    if free.checked_mul(size)? < len {
        return None;
    }
    Mapping::map_huge(len, spec, size).ok()
}

#[cfg(mmkit_map_hugetlb)]
impl Mapping {
    /// `MAP_HUGETLB` memory of `len` bytes (a multiple of `size`, the
    /// system's default huge page size, which `MAP_HUGETLB` alone maps).
    pub(super) fn map_huge(len: usize, spec: &MapSpec, size: usize) -> SysResult<Mapping> {
        // MAP_NORESERVE with hugetlb defers the reservation to fault time,
        // where a shortage is SIGBUS: never combine them.
        let spec = MapSpec {
            noreserve: false,
            ..*spec
        };
        let mut m = Mapping::map(len, &spec, libc::MAP_ANON | libc::MAP_HUGETLB, None, 0)?;
        m.shift = page_shift(size);
        Ok(m)
    }

    /// Whether this mapping is in explicit huge pages.
    pub(super) fn is_huge(&self) -> bool {
        self.page_size() != page_size()
    }
}

/// The explicit huge pages a new mapping can have: free and not reserved
/// by a mapping already (`HugePages_Free` less `HugePages_Rsvd`: pages
/// mapped but never touched count as free).
#[cfg(mmkit_map_hugetlb)]
pub(crate) fn huge_pages_free() -> Option<u64> {
    let (mut free, mut reserved) = (None, None);
    each_line(c"/proc/meminfo", |line| {
        if let Some(rest) = line.strip_prefix(b"HugePages_Free:") {
            free = leading_number(rest);
        } else if let Some(rest) = line.strip_prefix(b"HugePages_Rsvd:") {
            reserved = leading_number(rest);
        }
        free.is_none() || reserved.is_none()
    })?;
    Some(free?.saturating_sub(reserved.unwrap_or(0)))
}

#[cfg(not(mmkit_map_hugetlb))]
pub(crate) fn huge_pages_free() -> Option<u64> {
    None
}

#[cfg(not(mmkit_map_hugetlb))]
pub(crate) fn map_hugetlb(_len: usize, _spec: &MapSpec) -> Option<Mapping> {
    None
}

/// Free explicit huge pages and their size, from `/proc/meminfo`.
#[cfg(mmkit_map_hugetlb)]
fn hugetlb_free() -> Option<(usize, usize)> {
    let free = huge_pages_free()?;
    let [size] = proc_kb(c"/proc/meminfo", [b"Hugepagesize:"]);
    let free = usize::try_from(free).ok()?;
    let size = usize::try_from(size?).ok()?;
    (free > 0 && size.is_power_of_two() && size > page_size()).then_some((free, size))
}

/// Transparent huge page advice; `true` when the kernel accepted it.
pub(crate) fn advise_hugepage(m: &Mapping) -> bool {
    #[cfg(mmkit_madv_hugepage)]
    {
        m.advise(0, m.len(), libc::MADV_HUGEPAGE).is_ok()
    }
    #[cfg(not(mmkit_madv_hugepage))]
    {
        let _ = m;
        false
    }
}
