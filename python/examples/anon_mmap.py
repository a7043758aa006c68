#!/usr/bin/env python3
"""anon_mmap.py - a shared anonymous mapping inherited across fork().

Python port of c-examples/anon_mmap.c (M. Kerrisk, "The Linux Programming
Interface", ch. 49).  The parent maps one int of zero-filled shared memory,
stores 1 in it and forks; the child prints the value and increments it; the
parent, after waiting, sees 2:

    $ python3 anon_mmap.py
    backend: MAP_ANONYMOUS
    Child started, value = 1
    In parent, value = 2

``--devzero`` maps /dev/zero instead of using MAP_ANONYMOUS; the region's
flags tell which one actually served it.

Exit status: 0 when the parent saw 2, 1 on any failure, 2 on bad usage.
"""

import os
import sys

import mmkit


def usage() -> "None":
    sys.stderr.write("usage: anon_mmap [--devzero]\n")
    sys.exit(2)


def main(argv: "list[str]") -> int:
    if len(argv) > 2 or (len(argv) == 2 and argv[1] != "--devzero"):
        usage()
    devzero = len(argv) == 2

    try:
        region = mmkit.map_anon(4, shared=True, devzero=devzero)   # one C int
    except OSError as e:
        sys.stderr.write("anon_mmap: mm_map_anon: %s\n" % (e.strerror or e))
        return 1

    backend = "/dev/zero" if region.flags & mmkit.DEVZERO else "MAP_ANONYMOUS"
    print("backend: %s" % backend)

    value = region.view().cast("i")   # the shared int, zero-copy
    value[0] = 1

    # Flush before fork(), or a buffered "backend:" line is printed twice.
    sys.stdout.flush()

    pid = os.fork()
    if pid == 0:                       # child: increment the shared integer
        status = 0
        try:
            print("Child started, value = %d" % value[0])
            value[0] += 1
            value.release()
            region.close()             # the child's own copy of the mapping
            sys.stdout.flush()
        except BaseException as e:     # never return into the parent's code
            sys.stderr.write("anon_mmap: child: %s\n" % e)
            status = 1
        os._exit(status)

    _, status = os.waitpid(pid, 0)
    if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
        sys.stderr.write("anon_mmap: child failed\n")
        return 1
    seen = value[0]
    print("In parent, value = %d" % seen)
    value.release()
    region.close()
    return 0 if seen == 2 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
