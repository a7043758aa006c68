"""Making an :class:`mmkit.mmap.mmap` object, and what a forked child does with
the live ones (internal; split from mmkit.mmap to keep that module one page of
methods)."""

from __future__ import annotations

import _thread
import os as _os
import weakref as _weakref
from typing import Any, Dict

from . import _stdmmap
from ._constants import SHARED

# Every live mmap object, by id: a forked child gives each a fresh lock.
_MMAPS: Dict[int, "_weakref.ReferenceType[Any]"] = {}


def new(cls: type, fileno: Any, length: Any, flags: Any, prot: Any, access: Any,
        offset: Any, trackfd: Any) -> Any:
    """The constructor: arguments, checks and order as the standard module's."""
    spec = _stdmmap.parse(fileno, length, flags, prot, access, offset, trackfd)
    self: Any = object.__new__(cls)
    self._region = None
    self._fd = -1
    self._lock = _thread.RLock()
    self._pos = 0
    self._seq = 0
    self._size = spec.size
    self._offset = spec.offset
    self._access = spec.access
    self._anon = spec.anon
    self._shared = bool(spec.mm & SHARED)
    self._mm = spec.mm
    self._trackfd = spec.trackfd
    if spec.fd != -1 and spec.trackfd:
        self._fd = _os.dup(spec.fd)
    try:
        self._region = _stdmmap.map_region(spec)
    except BaseException:
        kept, self._fd = self._fd, -1
        if kept >= 0:
            _os.close(kept)
        raise
    _MMAPS[id(self)] = _weakref.ref(self)
    return self


def _after_fork_in_child() -> None:
    # A lock another thread held at fork() time would never be released here,
    # nor the position it held (see mmap._hold).
    for ref in list(_MMAPS.values()):
        m = ref()
        if m is not None:
            m._lock = _thread.RLock()
            if m._seq is None:
                m._seq = 1  # odd: no value a position had before (they are even)


if hasattr(_os, "register_at_fork"):
    _os.register_at_fork(after_in_child=_after_fork_in_child)
