"""Checking and converting the arguments of the public API (internal).

Every function here runs before a method takes its region's lock: a wrong
type is TypeError, a negative size or offset InvalidArgument (a ValueError and
an OSError(EINVAL)), too large a value OverflowError, before any call into the
library.
"""

from __future__ import annotations

import ctypes
import operator
import os
from typing import Any, Tuple, Union

from ._errors import invalid

_SIZE_MAX = (1 << (8 * ctypes.sizeof(ctypes.c_size_t))) - 1
_U64_MAX = (1 << 64) - 1
_U32_MAX = (1 << 32) - 1

PathType = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
Buffer = Any  # any object supporting the buffer protocol (bytes, bytearray, memoryview, ...)


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not hasattr(type(value), "__index__"):
        raise TypeError("%s must be an integer, not %r" % (name, type(value).__name__))
    return operator.index(value)


def _size(value: Any, name: str, maximum: int = _SIZE_MAX) -> int:
    n = _int(value, name)
    if n < 0:
        raise invalid("%s must not be negative (got %d)" % (name, n))
    if n > maximum:
        raise OverflowError("%s is too large (got %d, at most %d)" % (name, n, maximum))
    return n


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return bool(value)
    raise TypeError("%s must be a bool, not %r" % (name, type(value).__name__))


def _options(*options: Tuple[Any, str, int, int]) -> int:
    """Flag bits from keyword options: (value, name, bit if true, bit if false)."""
    bits = 0
    for value, name, if_true, if_false in options:
        bits |= if_true if _bool(value, name) else if_false
    return bits


def _path(path: Any) -> bytes:
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError("path must be str, bytes or os.PathLike, not %r" % type(path).__name__)
    encoded = os.fsencode(path)
    if b"\0" in encoded:
        raise invalid("path contains an embedded null byte")
    return encoded


def _name(name: Any) -> bytes:
    if isinstance(name, str):
        encoded = name.encode("utf-8")
    elif isinstance(name, bytes):
        encoded = name
    else:
        raise TypeError("name must be str or bytes, not %r" % type(name).__name__)
    if b"\0" in encoded:
        raise invalid("name contains an embedded null byte")
    return encoded


def _fd(fd: Any) -> int:
    if isinstance(fd, bool):
        raise TypeError("fd must be an integer or have a fileno() method, not 'bool'")
    if hasattr(type(fd), "__index__"):
        value = operator.index(fd)
    elif hasattr(fd, "fileno"):
        value = fd.fileno()
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("fileno() returned a non-integer")
    else:
        raise TypeError("fd must be an integer or have a fileno() method, not %r"
                        % type(fd).__name__)
    if not -(1 << 31) <= value < (1 << 31):
        raise OverflowError("fd out of range: %d" % value)
    return value


def _bytes_of(data: Any) -> bytes:
    if isinstance(data, bytes):
        return data
    try:
        view = memoryview(data)
    except TypeError:
        raise TypeError("a bytes-like object is required, not %r" % type(data).__name__) from None
    with view:
        return view.tobytes()


def _plain_slice(key: slice) -> slice:
    """``key`` with int (or None) bounds: any ``__index__`` runs now, before the lock."""
    start, stop, step = key.start, key.stop, key.step
    if (start is None or type(start) is int) and (stop is None or type(stop) is int) \
            and (step is None or type(step) is int):
        plain = key
    else:
        plain = slice(*(None if p is None else operator.index(p) for p in (start, stop, step)))
    if plain.step == 0:
        raise invalid("slice step cannot be zero")
    return plain



# --- C-style conversions, as the standard mmap module's argument parsing does ---------
#
# mmkit.mmap takes its arguments the way CPython's C code parses them: bool is an
# int, a float is TypeError, a value the C type cannot hold is OverflowError, with
# CPython's messages.

_SSIZE_MAX = (1 << (8 * ctypes.sizeof(ctypes.c_ssize_t) - 1)) - 1
_INT_MAX = (1 << (8 * ctypes.sizeof(ctypes.c_int) - 1)) - 1
_LLONG_MAX = (1 << 63) - 1


def _c_ssize(value: Any) -> int:
    """A ``Py_ssize_t`` argument (the ``n`` format)."""
    v = operator.index(value)
    if not -_SSIZE_MAX - 1 <= v <= _SSIZE_MAX:
        raise OverflowError("Python int too large to convert to C ssize_t")
    return v


def _c_long(value: Any) -> int:
    v = operator.index(value)
    if not -_LLONG_MAX - 1 <= v <= _LLONG_MAX:
        raise OverflowError("Python int too large to convert to C long")
    return v


def _c_int(value: Any) -> int:
    """A C ``int`` argument (the ``i`` format)."""
    v = _c_long(value)
    if v > _INT_MAX:
        raise OverflowError("signed integer is greater than maximum")
    if v < -_INT_MAX - 1:
        raise OverflowError("signed integer is less than minimum")
    return v


def _c_longlong(value: Any) -> int:
    """A C ``long long`` argument (the ``L`` format: an ``off_t``)."""
    return _c_long(value)


def _c_ubyte(value: Any) -> int:
    """An ``unsigned char`` argument (the ``b`` format)."""
    v = _c_long(value)
    if v < 0:
        raise OverflowError("unsigned byte integer is less than minimum")
    if v > 255:
        raise OverflowError("unsigned byte integer is greater than maximum")
    return v


def _as_ssize(value: Any, error: type) -> int:
    """``PyNumber_AsSsize_t(value, error)``: an ``__index__`` value, ``error`` if it does not fit."""
    v = operator.index(value)
    if not -_SSIZE_MAX - 1 <= v <= _SSIZE_MAX:
        raise error("cannot fit 'int' into an index-sized integer")
    return v


def _has_index(value: Any) -> bool:
    return hasattr(type(value), "__index__")
