"""Misuse from Python code that runs inside a call; protection asked, not copied.

An argument's ``__index__``, ``__bool__``, ``__iter__``/``__len__`` or
``__buffer__`` (3.12+), a profiler, a signal handler or a finalizer can run
Python code while a Region method is under way.  If that code closes the
region (or closes it and maps another region of the same size, which may get
the freed handle's memory), resizes or protects it, the method must raise
ValueError (closed) or a clean error -- never use a stale handle or pointer,
never return or overwrite the other region's bytes, never crash.  Each case
runs in a forked child, so a crash is reported as a failure, not a dead run.

The package keeps no copy of the protection: the copies go by what
mm_read / mm_write return, view() and ``writable`` by mm_flags (and, after a
protect() of part of the region, by the kernel).  Growing after a protect of
the last page gives pages the kernel has writable; reads, writes and views of
protected ranges are clean errors.
"""

import errno
import signal
import sys

import pytest

import mmkit
from conftest import Index, attempts_inside, has, run_in_child

PAGE = mmkit.PAGE_SIZE
SIZE = 2 * PAGE
OWN = 0x11       # every byte of the region under test
FOREIGN = 0xEE   # every byte of the region mapped after it was closed



class Truth(int):
    """An int option whose truth test (``__bool__``) runs ``action`` first."""

    def __new__(cls, value, action):
        obj = int.__new__(cls, value)
        obj.action = action
        return obj

    def __bool__(self):
        self.action()
        return int(self) != 0


class Items:
    """An iterable of byte values with a length, both running ``action`` first."""

    def __init__(self, data, action):
        self.data, self.action = data, action

    def __len__(self):
        self.action()
        return len(self.data)

    def __iter__(self):
        self.action()
        return iter(self.data)


class Exporter:
    """Bytes whose buffer export (``__buffer__``, Python 3.12+) runs ``action`` first."""

    def __init__(self, data, action):
        self.data, self.action = data, action

    def __buffer__(self, flags):
        self.action()
        return memoryview(self.data)


# name -> call(region, action): every argument of every method, each made to
# run `action` while it is converted.
HOSTILE = {
    "read offset": lambda r, a: r.read(Index(0, a), 64),
    "read n": lambda r, a: r.read(0, Index(64, a)),
    "read n near the end": lambda r, a: r.read(PAGE, Index(PAGE, a)),
    "write offset": lambda r, a: r.write(Index(0, a), b"w" * 64),
    "write items": lambda r, a: r.write(0, Items(b"w" * 64, a)),
    "getitem index": lambda r, a: r[Index(PAGE + 1, a)],
    "getitem negative index": lambda r, a: r[Index(-1, a)],
    "getitem start": lambda r, a: r[Index(0, a):64],
    "getitem stop": lambda r, a: r[PAGE:Index(SIZE, a)],
    "getitem step": lambda r, a: r[0:SIZE:Index(3, a)],
    "getitem backwards": lambda r, a: r[Index(SIZE - 1, a)::-5],
    "setitem index": lambda r, a: r.__setitem__(Index(PAGE, a), 0x77),
    "setitem value": lambda r, a: r.__setitem__(PAGE, Index(0x77, a)),
    "setitem start": lambda r, a: r.__setitem__(slice(Index(PAGE, a), SIZE), b"w" * PAGE),
    "setitem stop": lambda r, a: r.__setitem__(slice(PAGE, Index(SIZE, a)), b"w" * PAGE),
    "setitem step": lambda r, a: r.__setitem__(slice(0, SIZE, Index(2, a)), b"w" * PAGE),
    "setitem items": lambda r, a: r.__setitem__(slice(0, 4), Items(b"wwww", a)),
    "sync offset": lambda r, a: r.sync(Index(0, a), PAGE),
    "sync length": lambda r, a: r.sync(0, Index(PAGE, a)),
    "sync wait": lambda r, a: r.sync(wait=Truth(1, a)),
    "sync invalidate": lambda r, a: r.sync(invalidate=Truth(0, a)),
    "lock offset": lambda r, a: r.lock(Index(0, a), PAGE),
    "lock length": lambda r, a: r.lock(0, Index(PAGE, a)),
    "unlock offset": lambda r, a: r.unlock(Index(0, a), PAGE),
    "unlock length": lambda r, a: r.unlock(0, Index(PAGE, a)),
    "advise advice": lambda r, a: r.advise(Index(mmkit.ADV_DONTNEED, a)),
    "advise offset": lambda r, a: r.advise(mmkit.ADV_DONTNEED, Index(0, a), PAGE),
    "advise length": lambda r, a: r.advise(mmkit.ADV_DONTNEED, 0, Index(PAGE, a)),
    "protect prot": lambda r, a: r.protect(Index(mmkit.PROT_READ, a)),
    "protect offset": lambda r, a: r.protect(mmkit.PROT_NONE, Index(PAGE, a), PAGE),
    "protect length": lambda r, a: r.protect(mmkit.PROT_NONE, PAGE, Index(PAGE, a)),
    "resize length": lambda r, a: r.resize(Index(4 * PAGE, a)),
    "seal seals": lambda r, a: r.seal(Index(mmkit.SEAL_GROW, a)),
    "seal shrink": lambda r, a: r.seal(shrink=Truth(1, a)),
    "find start": lambda r, a: r.find(bytes([OWN]), Index(0, a)),
    "find end": lambda r, a: r.find(b"\0", 0, Index(SIZE, a)),
    "rfind start": lambda r, a: r.rfind(bytes([OWN]), Index(PAGE, a)),
    "rfind end": lambda r, a: r.rfind(b"\0", 0, Index(SIZE, a)),
}
if sys.version_info >= (3, 12):
    HOSTILE.update({
        "write buffer": lambda r, a: r.write(0, Exporter(b"w" * 64, a)),
        "setitem buffer": lambda r, a: r.__setitem__(slice(PAGE, SIZE), Exporter(b"w" * PAGE, a)),
        "find buffer": lambda r, a: r.find(Exporter(bytes([OWN]) * 2, a), PAGE),
    })

ACTIONS = ["close", "remap", "shrink", "grow"]


def _region():
    r = mmkit.map_anon(SIZE)
    r[:] = bytes([OWN]) * SIZE
    return r


def _with_room(r, pages):
    """`r` shrunk to `pages` pages, the addresses after it left free: a region
    split by protect() grows only in place (else mm_resize is EBUSY)."""
    r.resize(pages * PAGE)
    return r


def _action(r, kind, others, once=True):
    """What hostile code does to `r`: close it, close it and map another region
    of the same size (kept in `others`), shrink or grow it, or take every
    access away (protect)."""
    state = {"ran": False}

    def act():
        if once and state["ran"]:
            return
        state["ran"] = True
        if kind == "close":
            r.close()
        elif kind == "remap":
            r.close()
            other = mmkit.map_anon(SIZE)
            other[:] = bytes([FOREIGN]) * SIZE
            others.append(other)
        elif kind == "shrink":
            r.resize(PAGE)
        elif kind == "protect":
            r.protect(mmkit.PROT_NONE)
        else:
            r.resize(64 * PAGE)
    return act, state


def _problem(result, r, others):
    """What went wrong after a call (None when nothing did)."""
    if isinstance(result, (bytes, memoryview)):
        got = bytes(result)
        if bytes([FOREIGN]) in got:
            return "returned the other region's bytes"
        if got.strip(bytes([OWN, 0, 0x77]) + b"w"):
            return "returned bytes the region never held: %r" % got[:32]
    if isinstance(result, int) and not isinstance(result, bool) and result == FOREIGN:
        return "returned the other region's byte"
    for other in others:
        if len(other) != SIZE or other.flags & mmkit.WRITE == 0:
            return "changed the other region (length %d, flags %#x)" % (len(other), other.flags)
        if other.read() != bytes([FOREIGN]) * SIZE:
            return "wrote into the other region"
        other[0] = FOREIGN  # still writable
    if not r.closed:
        try:
            r[0:min(len(r), PAGE)]  # still there (a Region or an mmkit.mmap)
        except OSError as e:
            if e.errno != errno.EFAULT:  # protected: still there
                raise
        r.close()
    return None


CLEAN = (ValueError, OSError, IndexError, TypeError, BufferError)


def _hostile_case(name, kind):
    r = _region()
    others = []
    act, state = _action(r, kind, others)
    try:
        result = HOSTILE[name](r, act)
    except CLEAN as e:
        result = e
    if not state["ran"] and name.endswith("items"):
        pass  # never iterated: refused as not bytes-like, which is right
    elif not state["ran"]:
        print("the hostile argument was never converted", file=sys.stderr)
        return 2
    if kind in ("close", "remap") and not isinstance(result, ValueError) and not (
            name.endswith("items") and isinstance(result, TypeError)):
        print("%s after the region was closed: %.100r" % (name, result), file=sys.stderr)
        return 3
    problem = _problem(result, r, others)
    if problem:
        print("%s: %s" % (name, problem), file=sys.stderr)
        return 4
    return 0


def _status(code):
    if code < 0:
        return "killed by %s" % signal.Signals(-code).name
    return {2: "argument not converted", 3: "no ValueError after close",
            4: "stale handle used (see stderr)"}.get(code, "exit %d" % code)


@pytest.mark.parametrize("kind", ACTIONS)
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_an_argument_that_closes_resizes_or_remaps_gets_a_clean_error(name, kind):
    _need_copies()
    code = run_in_child(lambda: _hostile_case(name, kind))
    assert code == 0, _status(code)


# --- Python code that runs *inside* a method ---------------------------------------
#
# A profiler sees every call a method makes (as a signal handler or a finalizer
# may run at any of them).  At each one in turn it closes, shrinks or remaps
# the region; close(), resize() and protect() refuse to run inside another
# method of the same region (BufferError), so the method goes on with its own
# handle, or raises ValueError if the region was closed before it took it.

INSIDE = {
    "read": lambda r: r.read(PAGE - 8, 64),
    "write": lambda r: r.write(PAGE - 8, b"w" * 64),
    "getitem index": lambda r: r[PAGE + 1],
    "getitem slice": lambda r: r[PAGE - 8:PAGE + 56],
    "getitem step": lambda r: r[0:SIZE:7],
    "setitem index": lambda r: r.__setitem__(PAGE, 0x77),
    "setitem slice": lambda r: r.__setitem__(slice(PAGE - 8, PAGE + 8), b"w" * 16),
    "setitem step": lambda r: r.__setitem__(slice(0, 64, 2), b"w" * 32),
    "view": lambda r: r.view(),
    "sync": lambda r: r.sync(),
    "lock": lambda r: r.lock(),
    "advise": lambda r: r.advise(mmkit.ADV_NORMAL),
    "protect": lambda r: r.protect(mmkit.PROT_READ | mmkit.PROT_WRITE, PAGE, PAGE),
    "resize": lambda r: r.resize(4 * PAGE),
    "writable": lambda r: r.writable,
    "len": lambda r: len(r),
    "find": lambda r: r.find(b"\0"),
    "rfind": lambda r: r.rfind(bytes([OWN]), 0, PAGE),
    "size": lambda r: r.size(),
}


def _inside_case(name, kind, make=_region, calls=INSIDE):
    """A profiler that, at its k-th event inside ``calls[name](r)`` (``r`` made
    by ``make``), closes, remaps, shrinks (...) ``r``, for every k in turn."""
    k = 1
    while True:
        r = make()
        others = []
        act, state = _action(r, kind, others)
        seen = [0]

        def profiler(frame, event, arg):
            seen[0] += 1
            if seen[0] == k:
                try:
                    act()
                except BufferError:
                    pass  # refused inside a method of the region: right
        sys.setprofile(profiler)
        try:
            result = calls[name](r)
        except CLEAN as e:
            result = e
        finally:
            sys.setprofile(None)
        if isinstance(result, memoryview):
            view, result = result, bytes(result)  # touches every byte
            view.release()
        problem = _problem(result, r, others)
        if problem:
            print("%s, %s at profiler event %d: %s" % (name, kind, k, problem), file=sys.stderr)
            return 4
        if k > seen[0]:
            return 0
        k += 1


@pytest.mark.parametrize("kind", ["close", "remap", "shrink"])
@pytest.mark.parametrize("name", sorted(INSIDE))
def test_code_run_inside_a_method_cannot_pull_the_region_from_under_it(name, kind):
    _need_copies()
    code = run_in_child(lambda: _inside_case(name, kind))
    assert code == 0, _status(code)


def test_close_inside_a_method_is_buffer_error_and_the_region_stays_usable():
    with _region() as r:
        data, outcome = attempts_inside(
            "c_call", "read",
            (r.close, lambda: r.resize(PAGE), lambda: r.protect(mmkit.PROT_NONE)),
            lambda: r.read(0, 16))
        assert outcome == ["refused"] * 3
        assert data == bytes([OWN]) * 16 and not r.closed and len(r) == SIZE
        r[0] = 1

# --- protection: asked of the library, not copied ----------------------------------

def _need_copies():
    for needed in ("mm_read", "mm_write", "mm_resize"):
        if not has(needed):
            pytest.skip("needs %s" % needed)


@pytest.mark.parametrize("source", ["anon", "file"])
def test_growing_after_protecting_the_last_page_gives_writable_pages(source, tmp_path):
    # The kernel gives the new pages the region's protection (read-write);
    # a shadow copy extended the last page's (read-only) and refused them.
    _need_copies()
    if source == "anon":
        r = mmkit.map_anon(4 * PAGE)
    else:
        r = mmkit.map_file(tmp_path / "grow", 0, 4 * PAGE, write=True, create=True)
    with _with_room(r, 2):
        r.protect(mmkit.PROT_READ, PAGE, PAGE)
        r.resize(4 * PAGE)
        r[2 * PAGE:3 * PAGE] = b"n" * PAGE
        r[4 * PAGE - 1] = 9
        r.write(3 * PAGE, b"new")
        assert r[2 * PAGE:2 * PAGE + 3] == b"nnn" and r.read(3 * PAGE, 3) == b"new"
        assert r[-1] == 9
        with pytest.raises(TypeError):
            r[PAGE] = 1                          # the protected page still is
        with pytest.raises(PermissionError):
            r.write(PAGE, b"x")
        assert not r.writable
        with r.view() as v:
            assert v.readonly and v[-1] == 9
        r.protect(mmkit.PROT_READ | mmkit.PROT_WRITE, PAGE, PAGE)
        assert r.writable
        r[PAGE] = 1
        with r.view() as v:
            assert not v.readonly and v[PAGE] == 1


def test_growing_after_protecting_the_whole_region_keeps_it_read_only():
    _need_copies()
    with mmkit.map_anon(2 * PAGE) as r:
        r.protect(mmkit.PROT_READ)
        r.resize(4 * PAGE)
        assert not r.writable
        with pytest.raises(TypeError):
            r[3 * PAGE] = 1
        with pytest.raises(PermissionError) as info:
            r.write(3 * PAGE, b"x")
        assert info.value.errno == errno.EACCES
        assert r[3 * PAGE] == 0
        with r.view() as v:
            assert v.readonly


def _protected_ranges():
    """Outcomes of touching a region with an inaccessible page, each one a
    clean exception (run in a child: a crash must fail the test, not the run)."""
    r = _region()
    r.resize(3 * PAGE)
    r = _with_room(r, SIZE // PAGE)
    r.protect(mmkit.PROT_NONE, PAGE, PAGE)
    r.resize(3 * PAGE)                       # the new page is readable and writable
    assert r[0] == OWN and r[2 * PAGE] == 0 and r.read(0, PAGE) == bytes([OWN]) * PAGE
    r[2 * PAGE] = 5
    for read in (lambda: r[PAGE], lambda: r[:], lambda: r[PAGE - 1:PAGE + 1],
                 lambda: r[::PAGE], lambda: r.read(), lambda: r.read(PAGE, 1)):
        try:
            read()
            return 10
        except OSError as e:
            if e.errno != errno.EFAULT:
                return 11
    for write in (lambda: r.__setitem__(PAGE, 1), lambda: r.__setitem__(slice(PAGE, PAGE + 2), b"ab"),
                  lambda: r.write(PAGE, b"x")):
        try:
            write()
            return 12
        except OSError as e:
            if e.errno != errno.EFAULT:
                return 13
    for make_view in (r.view, ):
        try:
            make_view()
            return 14
        except PermissionError:
            pass
    if r.writable:
        return 15
    try:
        r.protect(mmkit.PROT_READ)           # the whole region: readable again
    except OSError:
        return 16
    with r.view() as v:
        if not v.readonly or v[2 * PAGE] != 5 or v[PAGE] != OWN:
            return 17
    r.close()
    return 0


def test_reads_writes_and_views_of_protected_ranges_are_clean_errors():
    _need_copies()
    assert run_in_child(_protected_ranges) == 0


def test_views_may_outlive_a_protect_that_takes_nothing_they_use():
    with mmkit.map_anon(2 * PAGE) as r:
        r.protect(mmkit.PROT_READ, PAGE, PAGE)
        with r.view() as v:                     # read-only: one page is
            assert v.readonly
            r.protect(mmkit.PROT_READ, 0, PAGE)  # takes writing, which it never had
            with pytest.raises(BufferError):
                r.protect(mmkit.PROT_NONE, 0, PAGE)
            assert v[0] == 0
        r.protect(mmkit.PROT_READ | mmkit.PROT_WRITE)
        with r.view() as v:
            assert not v.readonly
            with pytest.raises(BufferError):
                r.protect(mmkit.PROT_READ, PAGE, PAGE)
            v[PAGE] = 1


def test_where_the_system_cannot_tell_the_pages_protection_views_are_refused(monkeypatch):
    # Without /proc/self/maps, a region protected in part cannot be viewed
    # (a page could be inaccessible) until it is protected whole again.
    monkeypatch.setattr(mmkit._copies, "_kernel_prot", lambda address, length: None)
    with mmkit.map_anon(2 * PAGE) as r:
        with r.view() as v:
            r.protect(mmkit.PROT_READ | mmkit.PROT_WRITE)  # whole: mm_flags tells
            v[0] = 1
        r.protect(mmkit.PROT_READ | mmkit.PROT_WRITE, PAGE, PAGE)
        assert not r.writable
        with pytest.raises(PermissionError):
            r.view()
        assert r[PAGE] == 0
        r[PAGE] = 2                             # the copies need no answer
        r.protect(mmkit.PROT_READ | mmkit.PROT_WRITE)
        assert r.writable
        with r.view() as v:
            assert v[PAGE] == 2


def _copies_without_the_library():
    """Without mm_read / mm_write the package copies itself: a protected page
    must still give a clean error, never a signal."""
    has = mmkit._lib.has
    mmkit._lib.has = lambda name: name not in ("mm_read", "mm_write") and has(name)
    r = _with_room(mmkit.map_anon(4 * PAGE), 3)
    r[0] = 1
    r.protect(mmkit.PROT_NONE, PAGE, PAGE)
    r.protect(mmkit.PROT_READ, 2 * PAGE, PAGE)
    if r[0] != 1 or r[2 * PAGE] != 0:
        return 10
    for call, error in ((lambda: r[PAGE], OSError), (lambda: r[PAGE - 1:PAGE + 1], OSError),
                        (lambda: r.__setitem__(PAGE, 1), OSError),
                        (lambda: r.__setitem__(2 * PAGE, 1), TypeError)):
        try:
            call()
            return 11
        except error:
            pass
    r.resize(4 * PAGE)
    r[3 * PAGE] = 4                          # a new page: the region's protection
    if r[3 * PAGE] != 4:
        return 12
    r.close()
    return 0


def test_the_package_s_own_copies_refuse_protected_pages_without_a_signal():
    if not has("mm_resize"):
        pytest.skip("needs mm_resize")
    assert run_in_child(_copies_without_the_library) == 0


# --- found by review ------------------------------------------------------------------

def _view_during_resize():
    """A trace hook asks for view() at every line of resize(): refused, never
    a view over the old address (which touching would turn into SIGSEGV)."""
    a = mmkit.map_anon(PAGE)
    b = mmkit.map_anon(PAGE)
    outcome = []

    def tracer(frame, event, arg):
        if frame.f_code.co_name == "resize":
            def local(frame, event, arg):
                if event == "line" and b._lock._is_owned():   # inside: the window
                    try:
                        outcome.append(b.view())
                    except BufferError:
                        outcome.append("refused")
                return local
            return local
        return None
    sys.settrace(tracer)
    try:
        b.resize(256 * PAGE)
    finally:
        sys.settrace(None)
    if not outcome or any(o != "refused" for o in outcome):
        return 10
    with b.view() as v:
        v[-1] = 1                            # the new, real view works
    a.close()
    b.close()
    return 0


def test_view_from_code_run_inside_resize_is_refused():
    if not has("mm_resize"):
        pytest.skip("needs mm_resize")
    code = run_in_child(_view_during_resize)
    assert code == 0, _status(code)


def test_a_huge_read_is_einval_before_any_buffer_is_made():
    with mmkit.map_anon(PAGE) as r:
        for off, n in ((0, 2 ** 40), (0, PAGE + 1), (PAGE + 1, 0), (5, PAGE)):
            with pytest.raises(OSError) as info:
                r.read(off, n)
            assert info.value.errno == errno.EINVAL


def test_a_path_is_asked_for_its_name_once(tmp_path):
    calls = []

    class Once:
        def __fspath__(self):
            calls.append(1)
            if len(calls) > 1:
                raise RuntimeError("asked twice")
            return str(tmp_path / "missing")

    with pytest.raises(FileNotFoundError) as info:
        mmkit.map_file(Once())
    assert info.value.filename == str(tmp_path / "missing") and calls == [1]
