"""The keeper: how a mapping outlives its region while views of it are alive (internal).

The mapping of a region that has views is unmapped by a *keeper*, an object
held by the region and by every view's array, when the keeper is freed: by a
callback of a weakref to it.  The keeper is a fresh code object -- an object
that supports weak references and that the garbage collector does not track.
That matters: the collector clears weakrefs to the objects of a garbage
cycle, running their callbacks, *before* the __del__ methods that may keep
some of those objects (a view) alive.  An untracked keeper is never part of
a cycle: it is freed only when the last region or view holding it is freed
for good, after the collector knows none is kept.  CPython also saves and
restores a pending exception around such callbacks.  The keeper's reference
count is the number of views alive (see Region._live_exports).
(Were code objects ever tracked, a keeper could be collected with a cycle
and unmap before a finalizer in it keeps a view: the limitation this design
removes, no worse.  test_region.py checks they are not.)
"""

from __future__ import annotations

import _thread
import functools
import sys
import weakref
from typing import TYPE_CHECKING, Any

from . import _lib

if TYPE_CHECKING:
    from ._region import Region

_lib_c = _lib.lib

_KEEPER_TEMPLATE = compile("None", "<mmkit mapping keeper>", "eval")
# handle -> the weakref whose callback unmaps it
_UNMAP_WHEN_FREED: "dict[int, weakref.ReferenceType[Any]]" = {}


def _keeper_refs(holder: Any) -> int:
    # The same code measures a region and the probe below: any references the
    # interpreter itself adds (argument, stack) are the same for both.
    return sys.getrefcount(holder._keep)


class _Probe:
    __slots__ = ("_keep",)


_probe = _Probe()
_probe._keep = _KEEPER_TEMPLATE.replace()
_KEEPER_BASE = _keeper_refs(_probe)  # held by its owner only
del _probe


def _arm_keeper(region: "Region") -> None:
    """Unmap ``region``'s handle when its keeper is freed."""
    h = region._handle
    _UNMAP_WHEN_FREED[h] = weakref.ref(region._keep, functools.partial(_keeper_freed, h))


def _keeper_freed(h: int, ref: Any) -> None:
    # The keeper is freed: no region or view holds it, so unmapping is safe
    # even at interpreter exit.  The unmap comes first (a Ctrl-C between two
    # steps must not lose it); a weakref callback cannot raise, so a Ctrl-C
    # caught here is delivered again.
    try:
        if _UNMAP_WHEN_FREED.get(h) is ref:
            try:
                _lib_c.mm_unmap(h)
            finally:
                del _UNMAP_WHEN_FREED[h]
    except KeyboardInterrupt:
        _thread.interrupt_main()
    except BaseException:  # pragma: no cover -- interpreter shutdown
        pass


def _array_copy(arr: Any, memo: Any = None) -> bytes:
    return bytes(arr)

