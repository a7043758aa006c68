"""mmkit.mmap against the standard mmap module, side by side (standard library only).

``compare(seed, steps)`` builds pairs of objects the same way -- anonymous
shared and private, a file with each access mode, with and without an
offset, read-only by prot -- and applies the same random operations, with
arguments chosen to hit every edge (negative, past the end, huge, wrong type,
closed), to both.  After each step it compares what came back: the value, or
the exception's class and message (for an ``OSError`` its errno; mmkit's
``InvalidArgument`` stands for the kernel's ``OSError(EINVAL)``), then the
position, the length and every byte.  It returns the differences found.

Left out on purpose (they differ by design, see mmkit/mmap.py): growing a
shared anonymous mapping (the standard module then dies of SIGBUS), resizing
anonymous memory to a length inside a page (after shrinking and growing
again the standard module shows the old bytes past the old length, mmkit
zeros),
``resize(0)`` (it truncates the file before failing), PROT_NONE mappings
(touching one is SIGSEGV), and ``MADV_DONTNEED``/``MADV_FREE``/``MADV_REMOVE``
(which pages they discard).

Used by test_pymmap_compat.py (pytest) and by run_cpython_test_mmap.py, which
runs it under every Python it finds.
"""

import os
import random
import sys
import tempfile

import mmkit.mmap as kmmap

smmap = kmmap._std  # the standard module, whatever sys.modules["mmap"] is now

PAGE = smmap.PAGESIZE
HUGE = 2 ** 70


def _outcome(call):
    try:
        value = call()
    except Exception as e:  # noqa: BLE001 -- every exception is an outcome to compare
        if isinstance(e, OSError) and not isinstance(e, (BufferError,)):
            return ("OSError", e.errno)
        return (type(e).__name__, str(e))
    if isinstance(value, (bytes, bytearray)):
        return ("value", bytes(value))
    return ("value", value)


def _same(a, b):
    if a[0] == b[0] == "TypeError" and sys.version_info < (3, 10):
        return True  # 3.9's argument parsing words its TypeErrors its own way
    return a == b


class _Pair:
    """One standard and one mmkit object, made alike."""

    def __init__(self, kind, tmpdir, rnd):
        self.kind = kind
        self.files = []
        size = rnd.choice([1, 7, 100, PAGE - 1, PAGE, 2 * PAGE + 13, 3 * PAGE])
        self.shared_anon = False
        if kind in ("anon-shared", "anon-private"):
            flags = smmap.MAP_SHARED if kind == "anon-shared" else smmap.MAP_PRIVATE
            self.shared_anon = kind == "anon-shared"
            self.std = smmap.mmap(-1, size, flags=flags)
            self.kit = kmmap.mmap(-1, size, flags=kmmap.MAP_SHARED if self.shared_anon
                                  else kmmap.MAP_PRIVATE)
            seed = bytes(rnd.randrange(256) if rnd.random() < 0.3 else rnd.choice(b"ab\n ")
                         for _ in range(size))
            self.std[:] = seed
            self.kit[:] = seed
            return
        access, offset = kind.split("@")
        offset = int(offset)
        content = bytes(rnd.choice(b"abc\n\0xyz") for _ in range(offset + size))
        fds = []
        for who in ("std", "kit"):
            path = os.path.join(tmpdir, "%s-%d-%s" % (who, id(self), kind))
            with open(path, "wb") as f:
                f.write(content)
            self.files.append(path)
            mode = os.O_RDONLY if access in ("ACCESS_READ", "PROT_READ") else os.O_RDWR
            fds.append(os.open(path, mode))
        try:
            args = {"offset": offset}
            if access == "PROT_READ":
                args["prot"] = smmap.PROT_READ
            else:
                args["access"] = getattr(smmap, access)
            length = rnd.choice([0, size])
            self.std = smmap.mmap(fds[0], length, **args)
            self.kit = kmmap.mmap(fds[1], length, **args)
        finally:
            for fd in fds:
                os.close(fd)


def _args(rnd, size):
    ints = [0, 1, 2, -1, -2, 5, size - 1, size, size + 1, -size, -size - 1, PAGE, HUGE, -HUGE]
    return rnd.choice(ints), rnd.choice(ints + ["x", 1.5, None, True])


def _op(rnd, size, shared_anon, has_file):
    """A random operation: (name, callable taking the object)."""
    i, weird = _args(rnd, size)
    j, _ = _args(rnd, size)
    k = rnd.choice([0, 1, 3, 10, size, size + 1, -1])
    blob = rnd.choice([b"", b"a", b"ab\n", b"\n", b"zz", b"x" * 40, bytearray(b"ab"),
                       memoryview(b"b\n"), b"\0", "text", 5])
    menu = [
        ("read()", lambda m: m.read()),
        ("read(%r)" % (weird,), lambda m: m.read(weird)),
        ("read_byte()", lambda m: m.read_byte()),
        ("readline()", lambda m: m.readline()),
        ("write(%r)" % (blob,), lambda m: m.write(blob)),
        ("write_byte(%r)" % (weird,), lambda m: m.write_byte(weird)),
        ("seek(%r)" % (weird,), lambda m: m.seek(weird)),
        ("seek(%r, %r)" % (i, k % 5), lambda m: m.seek(i, k % 5)),
        ("tell()", lambda m: m.tell()),
        ("find(%r)" % (blob,), lambda m: m.find(blob)),
        ("find(%r, %r)" % (blob, weird), lambda m: m.find(blob, weird)),
        ("find(%r, %r, %r)" % (blob, i, j), lambda m: m.find(blob, i, j)),
        ("rfind(%r)" % (blob,), lambda m: m.rfind(blob)),
        ("rfind(%r, %r, %r)" % (blob, i, j), lambda m: m.rfind(blob, i, j)),
        ("[%r]" % (weird,), lambda m: m[weird]),
        ("[%r:%r]" % (i, j), lambda m: m[i:j]),
        ("[%r:%r:%r]" % (i, j, k), lambda m: m[i:j:k]),
        ("[%r] = %r" % (i, weird), lambda m: m.__setitem__(i, weird)),
        ("[%r:%r] = %r" % (i, j, blob), lambda m: m.__setitem__(slice(i, j), blob)),
        ("[%r:%r:%r] = fit" % (i, j, k), lambda m: m.__setitem__(
            slice(i, j, k), b"q" * len(range(*slice(i, j, k or 1).indices(len(m)))))),
        ("del [%r]" % (weird,), lambda m: m.__delitem__(weird)),
        ("del [%r:%r]" % (i, j), lambda m: m.__delitem__(slice(i, j))),
        ("move(%r, %r, %r)" % (i, j, k), lambda m: m.move(i, j, k)),
        ("flush()", lambda m: m.flush()),
        ("flush(%r)" % (weird,), lambda m: m.flush(weird)),
        ("flush(%r, %r)" % (i, k), lambda m: m.flush(i, k)),
        ("madvise(MADV_NORMAL, %r, %r)" % (i, k), lambda m: m.madvise(smmap.MADV_NORMAL, i, k)),
        ("madvise(MADV_WILLNEED, %r)" % (weird,), lambda m: m.madvise(smmap.MADV_WILLNEED,
                                                                      weird)),
        ("madvise(99)", lambda m: m.madvise(99)),
        ("size()", lambda m: m.size()),
        ("len()", lambda m: len(m)),
        ("repr()", lambda m: repr(m)),
        ("closed", lambda m: m.closed),
        ("iter", lambda m: list(m) if len(m) < 300 else None),
        ("reversed", lambda m: list(reversed(m)) if len(m) < 300 else None),
        ("contains %r" % (blob,), lambda m: blob in m if len(m) < 300 else None),
    ]
    grow = [1, 100, size // 2 or 1, size + PAGE + 3, -1, HUGE, "x"]
    if not has_file:
        # Anonymous: whole pages only (shrinking into a page and growing again
        # shows the standard module's stale bytes past the old length; mmkit's
        # are zeros), and a shared mapping never grows.
        grow = [PAGE, 2 * PAGE, 4 * PAGE, -1, HUGE, "x"]
        if shared_anon:
            grow = [n for n in grow if not isinstance(n, int) or n <= size]
    n = rnd.choice(grow)
    if rnd.random() < 0.05 and (has_file or not isinstance(n, int) or n != 0):
        menu.append(("resize(%r)" % (n,), lambda m: m.resize(n)))
    if rnd.random() < 0.002:
        menu.append(("close()", lambda m: m.close()))
    return rnd.choice(menu)


KINDS = ["anon-shared", "anon-private",
         "ACCESS_DEFAULT@0", "ACCESS_READ@0", "ACCESS_WRITE@0", "ACCESS_COPY@0",
         "ACCESS_DEFAULT@%d" % PAGE, "ACCESS_COPY@%d" % PAGE, "PROT_READ@0"]


def compare(seed=0, steps=2000, kinds=KINDS, stats=None):
    """Run ``steps`` random operations on each kind of pair; return the
    differences (``stats["steps"]`` counts the operations compared)."""
    rnd = random.Random(seed)
    problems = []
    stats = {} if stats is None else stats
    stats.setdefault("steps", 0)
    with tempfile.TemporaryDirectory(prefix="mmkit-compat-") as tmpdir:
        for kind in kinds:
            pair = _Pair(kind, tmpdir, rnd)
            history = []
            for _ in range(steps):
                size = len(pair.std) if not pair.std.closed else 0
                name, op = _op(rnd, size, pair.shared_anon, not kind.startswith("anon"))
                history.append(name)
                stats["steps"] += 1
                a, b = _outcome(lambda: op(pair.std)), _outcome(lambda: op(pair.kit))
                if not _same(a, b):
                    problems.append("%s: after %s: standard %r, mmkit %r"
                                    % (kind, " ; ".join(history[-6:]), a, b))
                    break
                if pair.std.closed != pair.kit.closed:
                    problems.append("%s: after %s: closed differs" % (kind, name))
                    break
                if pair.std.closed:
                    break
                state = (pair.std.tell(), len(pair.std), pair.std[:])
                if (pair.kit.tell(), len(pair.kit), pair.kit[:]) != state:
                    problems.append("%s: after %s: position, length or bytes differ"
                                    % (kind, " ; ".join(history[-6:])))
                    break
            for m in (pair.std, pair.kit):
                m.close()
            if pair.files:
                with open(pair.files[0], "rb") as f1, open(pair.files[1], "rb") as f2:
                    if f1.read() != f2.read():
                        problems.append("%s: the files differ at the end" % kind)
    return problems


if __name__ == "__main__":
    counts = {}
    found = compare(int(sys.argv[1]) if len(sys.argv) > 1 else 0,
                    int(sys.argv[2]) if len(sys.argv) > 2 else 2000, stats=counts)
    print("\n".join(found) or "no differences in %d operations" % counts["steps"])
    sys.exit(1 if found else 0)
