#!/usr/bin/env python3
"""map_cat.py - cat(1) that maps each file into memory and writes the mapping.

Python port of c-examples/map_cat.c (M. K. Johnson & E. W. Troan, "Linux
Application Development", ch. 13.2).  Each FILE is mapped whole with
mmkit.map_file (which opens the file, maps it and closes the descriptor: the
mapping outlives the descriptor) and the mapping itself is written to
standard output, without a copy.

Usage: map_cat.py [FILE]...
  With no FILE, or where FILE is "-", standard input is copied with read().
  Files that exist but cannot be mapped (FIFOs, devices: ENODEV) are copied
  the same way.  An empty file writes nothing.

A file that cannot be mapped is reported as ``map_cat: FILE: reason`` on
standard error and the remaining files are still written; the exit status is
then 1.  A write error on standard output stops at once (exit 1).
"""

import errno
import os
import signal
import sys
from typing import Any, BinaryIO

import mmkit


def write_out(out: BinaryIO, data: Any) -> None:
    try:
        out.write(data)
    except OSError as e:
        sys.stderr.write("map_cat: write error: %s\n" % os.strerror(e.errno or errno.EIO))
        sys.exit(1)


def copy_fd(out: BinaryIO, fd: int, name: str) -> bool:
    """Copy an unmappable descriptor with read(); False after reporting an error."""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError as e:
            out.flush()
            sys.stderr.write("map_cat: %s: %s\n" % (name, os.strerror(e.errno or errno.EIO)))
            return False
        if not chunk:
            return True
        write_out(out, chunk)


def copy_path(out: BinaryIO, path: str) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        out.flush()
        sys.stderr.write("map_cat: %s: %s\n" % (path, os.strerror(e.errno or errno.EIO)))
        return False
    try:
        return copy_fd(out, fd, path)
    finally:
        os.close(fd)


def cat_file(out: BinaryIO, path: str) -> bool:
    """Map one file and write it; False after reporting an error."""
    try:
        region = mmkit.map_file(path, shared=False)   # read-only, MM_PRIVATE, whole file
    except OSError as e:
        if e.errno == errno.ENODEV:                    # FIFO, device: not mappable
            return copy_path(out, path)
        out.flush()
        sys.stderr.write("map_cat: %s: %s\n" % (path, e.strerror or e))
        return False
    with region:
        if len(region) > 0:
            region.advise(mmkit.ADV_SEQUENTIAL)        # a hint: read once, front to back
            with region.view() as view:                # released before the region closes
                write_out(out, view)
    return True


def main(argv: "list[str]") -> int:
    # Die on SIGPIPE like cat instead of raising BrokenPipeError.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    out = sys.stdout.buffer
    ok = True
    if len(argv) < 2:
        ok = copy_fd(out, sys.stdin.fileno(), "-")
    for path in argv[1:]:
        if path == "-":
            ok = copy_fd(out, sys.stdin.fileno(), "-") and ok
        else:
            ok = cat_file(out, path) and ok
    try:
        out.flush()
    except OSError as e:
        sys.stderr.write("map_cat: write error: %s\n" % os.strerror(e.errno or errno.EIO))
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
