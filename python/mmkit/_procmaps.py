"""What ``/proc/self/maps`` tells about a mapping (internal; Linux and the like).

* :func:`kernel_prot` -- the protection every page of a range has (the
  package keeps no copy of it after a ``protect()`` of part of a region);
* :func:`mapped_file_size` -- the size of the file a region maps, for
  ``Region.size()`` when the region keeps no descriptor (``map_file`` and
  ``map_fd`` close or never keep one): the mapping's line names the file's
  device, inode and path; the path is asked for its size only when it still
  names that file.
"""

from __future__ import annotations

import errno as _errno
import os
from typing import List, Optional

from ._constants import EXEC, PAGE_SIZE, READ, WRITE


def _lines() -> Optional[List[bytes]]:
    try:
        with open("/proc/self/maps", "rb") as maps:
            return maps.read().splitlines()
    except OSError:
        return None


def kernel_prot(address: int, length: int) -> Optional[int]:
    """The protection every page of ``[address, address+length)`` has, as
    ``/proc/self/maps`` tells; None where it cannot (no such file, a hole)."""
    lines = _lines()
    if lines is None:
        return None
    at, end = address - address % PAGE_SIZE, address + length
    prot = READ | WRITE | EXEC
    for line in lines:  # in address order
        span, perms = line.split(None, 2)[:2]
        lo, hi = (int(x, 16) for x in span.split(b"-"))
        if hi <= at:
            continue
        if lo > at:
            return None
        prot &= ((READ if perms[0:1] == b"r" else 0) | (WRITE if perms[1:2] == b"w" else 0)
                 | (EXEC if perms[2:3] == b"x" else 0))
        at = hi
        if at >= end:
            return prot
    return None


def mapped_file_size(address: int) -> int:
    """The size now of the file mapped at ``address``.

    OSError: ENOTSUP without ``/proc/self/maps``; EBADF when nothing, or no
    file, is mapped there; ENOENT when the file was deleted; ESTALE when its
    path now names another file (it was replaced).
    """
    lines = _lines()
    if lines is None:
        raise OSError(_errno.ENOTSUP, "cannot tell the size of the mapped file: "
                                      "/proc/self/maps cannot be read")
    at = address - address % PAGE_SIZE
    for line in lines:
        fields = line.split(None, 5)
        lo, hi = (int(x, 16) for x in fields[0].split(b"-"))
        if not lo <= at < hi:
            continue
        inode = int(fields[4]) if len(fields) > 4 else 0
        path = fields[5].strip() if len(fields) > 5 else b""
        if inode == 0 or not path.startswith(b"/"):
            raise OSError(_errno.EBADF, "the region maps no file")
        if path.endswith(b" (deleted)"):
            raise FileNotFoundError(_errno.ENOENT, "the mapped file was deleted; its size "
                                    "cannot be asked without a descriptor",
                                    os.fsdecode(path[:-len(b" (deleted)")]))
        major, minor = (int(x, 16) for x in fields[3].split(b":"))
        st = os.stat(path)
        if st.st_ino != inode or (os.major(st.st_dev), os.minor(st.st_dev)) != (major, minor):
            raise OSError(_errno.ESTALE, "the mapped file's path now names another file",
                          os.fsdecode(path))
        return st.st_size
    raise OSError(_errno.EBADF, "nothing is mapped at 0x%x" % address)
