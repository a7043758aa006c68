"""The package's two exception classes (internal; exported by :mod:`mmkit`).

Each is two standard exceptions at once, so that code written for either
keeps working:

* :class:`InvalidArgument` -- an out-of-range or invalid argument: a negative
  size, an offset past the end, a range outside the region, a flag word the
  library refuses (``-EINVAL``).  It is a :class:`ValueError` (what Python
  code, and the standard :mod:`mmap`, raise for a bad value) and an
  :class:`OSError` with ``errno == EINVAL`` (what the C library returns).
* :class:`ReadOnlyError` -- a write to a region, or a page, that may not be
  written.  It is a :class:`TypeError` (what ``r[i] = ...`` and the standard
  :mod:`mmap` raise) and a :class:`PermissionError` with ``errno == EACCES``
  (what ``Region.write()`` raised before).

The :class:`OSError` base comes first: the bases' order decides whose
``__new__``/``__init__`` build the exception, and only OSError's fill in
``errno``, ``strerror`` and ``filename``.
"""

import errno as _errno
import os
from typing import Optional, Union

from . import _lib


class InvalidArgument(OSError, ValueError):
    """An out-of-range or invalid argument: both ``ValueError`` and ``OSError(EINVAL)``.

    ``except ValueError`` and ``except OSError`` (``e.errno == errno.EINVAL``)
    both catch it.  Raised as ``InvalidArgument(errno.EINVAL, message)``.
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*args)


class ReadOnlyError(PermissionError, TypeError):
    """A write to a read-only region or page: both ``TypeError`` and ``PermissionError(EACCES)``."""


def error(rc: int, filename: Optional[Union[str, bytes]] = None) -> OSError:
    """The exception for the library's negative return ``rc`` (call right after
    the failure): ``OSError(-rc, mm_last_error())`` -- so ``FileNotFoundError``,
    ``PermissionError`` ... come for free --, :class:`InvalidArgument` for ``-EINVAL``."""
    message = _lib.last_error() or os.strerror(-rc)
    cls = InvalidArgument if rc == -_errno.EINVAL else OSError
    if filename is not None:
        return cls(-rc, message, filename)
    return cls(-rc, message)


def invalid(message: str) -> InvalidArgument:
    """``InvalidArgument(EINVAL, message)``."""
    return InvalidArgument(_errno.EINVAL, message)


def read_only(message: str) -> ReadOnlyError:
    """``ReadOnlyError(EACCES, message)``."""
    return ReadOnlyError(_errno.EACCES, message)


InvalidArgument.__module__ = ReadOnlyError.__module__ = "mmkit"
