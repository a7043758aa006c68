"""Region behaviour: indexing, views, numpy, BufferError, use after close, finalizer."""

import copy
import gc
import os
import pickle
import subprocess
import sys
import threading
import weakref

import pytest

import mmkit
from conftest import child_env, has

np = pytest.importorskip("numpy")


def mapped(address):
    """True when /proc/self/maps has a mapping containing `address`."""
    with open("/proc/self/maps") as f:
        for line in f:
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            if lo <= address < hi:
                return True
    return False


def test_indexing_and_slices():
    with mmkit.map_anon(100) as r:
        r[0] = 1
        r[-1] = 255
        assert r[0] == 1 and r[99] == 255 and r[-1] == 255
        r[10:20] = b"0123456789"
        assert r[10:20] == b"0123456789"
        assert r[10:20:2] == b"02468"
        assert r[19:9:-1] == b"9876543210"
        assert r[19:9:-3] == b"9630"
        assert r[50:40] == b""
        assert r[95:1000] == bytes(4) + b"\xff"
        r[10:20:2] = b"abcde"
        assert r[10:20] == b"a1b3c5d7e9"
        r[19:9:-1] = b"ABCDEFGHIJ"
        assert r[10:20] == b"JIHGFEDCBA"
        r[30:34] = bytearray(b"wxyz")
        r[34:36] = memoryview(b"!!")
        assert r[30:36] == b"wxyz!!"
        r[5:5] = b""
        assert isinstance(r[0:1], bytes)
        for bad in (100, -101, 1 << 70):
            with pytest.raises(IndexError):
                r[bad]
            with pytest.raises(IndexError):
                r[bad] = 0
        with pytest.raises(IndexError):        # same length, like mmap
            r[0:4] = b"abc"
        with pytest.raises(IndexError):
            r[0:4:2] = b"abc"
        with pytest.raises(ValueError):
            r[0] = 256
        with pytest.raises(ValueError):
            r[0] = -1
        assert list(r[0:3]) == [r[0], r[1], r[2]]


def test_view_zero_copy_and_format():
    with mmkit.map_anon(4096) as r:
        v = r.view()
        assert v.format == "B" and v.itemsize == 1 and v.ndim == 1
        assert len(v) == 4096 and not v.readonly and v.nbytes == 4096
        v[0:3] = b"abc"
        assert r[0:3] == b"abc"
        r[3] = ord("d")
        assert bytes(v[0:4]) == b"abcd"
        v.release()


def test_read_only_view_raises_type_error(data_file):
    path, data = data_file
    with mmkit.map_file(path) as r:
        v = r.view()
        assert v.readonly
        with pytest.raises(TypeError):
            v[0] = 1
        with pytest.raises(TypeError):
            v[0:2] = b"xy"
        with pytest.raises(TypeError):          # and through the region
            r[0] = 1
        with pytest.raises(TypeError):
            r[0:2] = b"xy"
        with pytest.raises(TypeError):
            r[0:0] = b""
        a = np.frombuffer(v, dtype=np.uint8)
        assert not a.flags.writeable
        with pytest.raises(ValueError):
            a[0] = 1
        del a
        v.release()
        assert r[:] == data


def test_numpy_shares_memory_both_ways():
    with mmkit.map_anon(8192, shared=True) as r:
        a = np.frombuffer(r.view(), dtype=np.uint8)
        assert a.flags.writeable and a.size == 8192
        a[100] = 42
        assert r[100] == 42
        r[200:202] = b"\x07\x08"
        assert a[200] == 7 and a[201] == 8
        b = a.view(np.uint32)
        b[0] = 0x01020304
        assert r[0:4] == (0x01020304).to_bytes(4, "little" if np.little_endian else "big")
        assert a.ctypes.data == r.address
        with pytest.raises(BufferError):
            r.close()
        del b
        with pytest.raises(BufferError):
            r.close()
        del a
        r.close()
        assert r.closed


def test_close_with_live_view_raises_buffer_error():
    r = mmkit.map_anon(4096)
    v = r.view()
    with pytest.raises(BufferError):
        r.close()
    assert not r.closed
    v[0] = 5                       # still usable
    assert r[0] == 5
    c = v.cast("I")                # derived views count too
    s = v[10:20]
    ro = v.toreadonly()
    del v
    with pytest.raises(BufferError):
        r.close()
    del c, ro
    with pytest.raises(BufferError):
        r.close()
    s.release()
    r.close()
    assert r.closed


def test_close_with_live_numpy_array_raises_buffer_error():
    r = mmkit.map_anon(4096)
    a = np.frombuffer(r.view(), dtype=np.uint8)[100:200].reshape(10, 10)
    with pytest.raises(BufferError):
        r.close()
    with pytest.raises(BufferError):
        with r:
            pass
    assert not r.closed
    a[0, 0] = 9
    assert r[100] == 9
    del a
    r.close()


def test_context_manager_and_double_close():
    with mmkit.map_anon(4096) as r:
        assert not r.closed
    assert r.closed
    r.close()                      # a no-op
    assert "closed" in repr(r)
    with pytest.raises(ValueError):
        with r:
            pass


def test_use_after_close_is_value_error():
    r = mmkit.map_anon(4096, shared=True)
    r.close()
    calls = {
        "len": lambda: len(r),
        "address": lambda: r.address,
        "flags": lambda: r.flags,
        "writable": lambda: r.writable,
        "view": lambda: r.view(),
        "getitem": lambda: r[0],
        "getslice": lambda: r[0:4],
        "setitem": lambda: r.__setitem__(0, 1),
        "setslice": lambda: r.__setitem__(slice(0, 2), b"ab"),
        "read": lambda: r.read(0, 1),
        "write": lambda: r.write(0, b"a"),
        "sync": lambda: r.sync(),
        "lock": lambda: r.lock(),
        "unlock": lambda: r.unlock(),
        "advise": lambda: r.advise(mmkit.ADV_NORMAL),
        "protect": lambda: r.protect(mmkit.PROT_READ),
        "resize": lambda: r.resize(8192),
        "fd": lambda: r.fd,
        "fileno": lambda: r.fileno(),
        "seal": lambda: r.seal(mmkit.SEAL_GROW),
        "enter": lambda: r.__enter__(),
        "iter": lambda: list(r),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError):
            call()
        assert name
    assert r.closed


def test_views_keep_region_alive():
    v = mmkit.map_anon(4096).view()        # the region object itself is dropped
    gc.collect()
    v[0:5] = b"alive"                      # no crash: the mapping is still there
    assert bytes(v[0:5]) == b"alive"
    a = np.frombuffer(mmkit.map_anon(4096, shared=True).view(), dtype=np.uint8)
    gc.collect()
    a[:] = 3
    assert int(a.sum()) == 3 * 4096


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="needs /proc/self/maps")
def test_finalizer_unmaps_unclosed_region():
    r = mmkit.map_anon(7 * mmkit.PAGE_SIZE)
    address = r.address
    assert mapped(address)
    del r
    gc.collect()
    assert not mapped(address)
    # ... but not while a view is alive
    r = mmkit.map_anon(7 * mmkit.PAGE_SIZE)
    address = r.address
    v = r.view()
    del r
    gc.collect()
    assert mapped(address)
    del v
    gc.collect()
    assert not mapped(address)


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="needs /proc/self/maps")
def test_close_unmaps():
    r = mmkit.map_anon(5 * mmkit.PAGE_SIZE)
    address = r.address
    r.close()
    assert not mapped(address)


def test_not_copyable_or_picklable():
    with mmkit.map_anon(4096) as r:
        with pytest.raises(TypeError):
            copy.copy(r)
        with pytest.raises(TypeError):
            copy.deepcopy(r)
        with pytest.raises(TypeError):
            pickle.dumps(r)


def test_repr_and_iteration():
    with mmkit.map_anon(3) as r:
        r[:] = b"\x01\x02\x03"
        assert list(r) == [1, 2, 3]
        assert "length=3" in repr(r)


def test_getitem_uses_library_copy_or_view():
    # Whatever the library offers, r[i] and the view agree.
    with mmkit.map_anon(4096) as r:
        with r.view() as v:
            v[7] = 77
        assert r[7] == 77
        r[8] = 88
        with r.view() as v:
            assert v[8] == 88
    assert isinstance(has("mm_read"), bool)


class _Holder:
    """Holds a region and its view in a reference cycle."""


class _Resurrector(_Holder):
    saved = []

    def __del__(self):
        _Resurrector.saved.append(self.v)  # legal Python: keeps the view


def test_cycle_of_region_and_view_is_unmapped_when_collected():
    h = _Holder()
    h.r = mmkit.map_anon(7 * mmkit.PAGE_SIZE)
    h.v = h.r.view()
    h.me = h
    address = h.r.address
    del h
    gc.collect()
    assert not mapped(address)


def _kept_view():
    """A view a finalizer kept after the collector took its cycle (with the
    view's region); the region is still mapped and readable."""
    h = _Resurrector()
    h.r = mmkit.map_anon(mmkit.PAGE_SIZE)
    h.v = h.r.view()
    h.v[0] = 7
    h.me = h
    address = h.r.address
    del h
    gc.collect()
    v = _Resurrector.saved.pop()
    assert mapped(address) and v[0] == 7
    return v, address


def test_view_kept_by_a_finalizer_in_the_cycle_stays_mapped():
    # The collector runs every __del__ of a cycle before it knows whether one
    # kept an object alive: the region's must not unmap under such a view
    # (_kept_view read it: a SIGSEGV before the fix).
    v, address = _kept_view()
    del v
    gc.collect()
    assert not mapped(address)


def test_a_kept_view_outlives_later_collections_and_their_finalizers():
    # In a later collection the collector again runs weakref callbacks before
    # the finalizers: the region must not be unmapped before a finalizer that
    # reads the view.
    v, address = _kept_view()
    seen = []

    class Reader:
        def __del__(self):
            seen.append(mapped(address) and self.v[0])

    w = Reader()
    w.v = v
    w.me = w
    del v, w
    gc.collect()
    assert seen == [7]


@pytest.mark.parametrize("prelude", ["", "gc.callbacks.clear()"])
def test_a_kept_view_read_in_a_later_collection_is_no_sigsegv(prelude):
    # (Whatever user code does to gc.callbacks.)
    code = """if 1:
        import gc, mmkit
        saved = []
        class R:
            def __del__(self): saved.append(self.v)
        %s
        h = R(); h.r = mmkit.map_anon(mmkit.PAGE_SIZE); h.v = h.r.view(); h.me = h
        h.v[0] = 7
        del h; gc.collect()
        v = saved.pop()
        class Reader:
            def __del__(self): print("read", self.v[0], flush=True)
        w = Reader(); w.v = v; w.me = w
        del v, w; gc.collect()
        print("ok")
    """ % prelude
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=child_env(), timeout=60)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr[-500:])
    assert p.stdout.split() == ["read", "7", "ok"]


class _UnmapSpy:
    """Stands in for the library handle (``_lib_c``) of the package's modules:
    the real library, with every handle passed to mm_unmap recorded in
    ``unmapped``.  Put it in place with _use_lib_c."""

    def __init__(self):
        self.real = mmkit._lib.lib
        self.unmapped = []

    def __getattr__(self, name):
        return getattr(self.real, name)

    def mm_unmap(self, h):
        self.unmapped.append(h)
        return self.real.mm_unmap(h)


def _use_lib_c(monkeypatch, spy):
    """Every module of the package that calls the library (``_lib_c``, and the
    functions of it bound at import, ``_mm_<name>``) calls ``spy``."""
    modules = [m for name, m in sorted(sys.modules.items())
               if name.startswith("mmkit.") and hasattr(m, "_lib_c")]
    assert modules
    bound = 0
    for module in modules:
        monkeypatch.setattr(module, "_lib_c", spy)
        for name, value in list(vars(module).items()):
            if name.startswith("_mm_") and value is getattr(spy.real, name[1:], None):
                monkeypatch.setattr(module, name, getattr(spy, name[1:]))
                bound += 1
    assert bound >= 2  # (_region._mm_unmap, _map._mm_map_anon)


def test_a_region_kept_again_in_a_later_collection_is_not_unmapped(monkeypatch):
    v, address = _kept_view()
    spy = _UnmapSpy()
    _use_lib_c(monkeypatch, spy)
    r = v.obj._region

    class Keeper:
        kept = []

        def __del__(self):
            Keeper.kept.append(self.r)

    k = Keeper()
    k.r = r
    k.v = v
    k.me = k
    del r, v, k
    gc.collect()
    r = Keeper.kept.pop()
    assert not r.closed and spy.unmapped == [] and mapped(address)
    assert r[0] == 7


def test_a_region_with_a_kept_view_refuses_resize_and_less_protection():
    v, address = _kept_view()
    r = v.obj._region
    with pytest.raises(BufferError):
        r.resize(64 * mmkit.PAGE_SIZE)
    with pytest.raises(BufferError):
        r.protect(mmkit.PROT_NONE)
    assert v[0] == 7


def test_a_view_kept_while_its_region_is_reachable_still_counts():
    # Only the view was in the collected cycle: its region stays reachable,
    # and must still see it (close/protect refuse while it is alive).
    r = mmkit.map_anon(mmkit.PAGE_SIZE)
    h = _Resurrector()
    h.v = r.view()
    h.v[0] = 7
    h.me = h
    del h
    gc.collect()
    v = _Resurrector.saved.pop()
    with pytest.raises(BufferError):
        r.close()
    with pytest.raises(BufferError):
        r.protect(mmkit.PROT_NONE)
    assert v[0] == 7
    del v
    gc.collect()
    r.close()


def _temp_view(addresses):
    r = mmkit.map_anon(3 * mmkit.PAGE_SIZE)
    addresses.append(r.address)
    return r.view()  # the only holder of the region and its keeper


def test_last_view_freed_while_an_exception_propagates():
    # The call fails and frees its arguments with the exception pending: the
    # exception is the caller's, and the mapping is unmapped all the same.
    addresses = []
    with pytest.raises(ValueError):
        int(_temp_view(addresses))
    for _ in range(3):
        with pytest.raises(ValueError):
            np.frombuffer(_temp_view(addresses)[:-1], dtype=np.uint32)
    gc.collect()
    assert not any(mapped(a) for a in addresses)


TRACED = """if 1:
    import sys, mmkit
    r = mmkit.map_anon(mmkit.PAGE_SIZE)
    def tracer(frame, event, arg):
        frame.f_locals  # what pdb does at a stop
        return tracer
    sys.settrace(tracer)
    v = r.view()  # the first view, made under the tracer
    sys.settrace(None)
    v[0] = 1
    try:
        r.close()
    except BufferError:
        print("refused")
    v[0] = 2  # a SIGSEGV if close() unmapped
    del v
    sys.settrace(tracer)
    r.close()  # no view left: closes, also under the tracer
    sys.settrace(None)
    print("closed", r.closed)
"""


def test_views_are_counted_under_a_tracer():
    p = subprocess.run([sys.executable, "-c", TRACED], capture_output=True, text=True,
                       env=child_env(), timeout=60)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr[-500:])
    assert p.stdout.split() == ["refused", "closed", "True"]


def test_a_copy_of_a_views_array_is_bytes_not_a_view():
    r = mmkit.map_anon(mmkit.PAGE_SIZE)
    v = r.view()
    v[0] = 5
    c, d = copy.copy(v.obj), copy.deepcopy(v.obj)
    v.release()
    del v
    r.close()  # the copies are not views
    assert c[:1] == d[:1] == b"\x05"


def test_the_keeper_is_weakref_able_and_not_tracked_by_the_collector():
    # What the keeper design relies on (see mmkit._keeper).
    r = mmkit.map_anon(mmkit.PAGE_SIZE)
    v = r.view()
    keeper = v.obj._keep
    assert keeper is r._keep and not gc.is_tracked(keeper)
    assert weakref.ref(keeper)() is keeper
    del keeper
    v.release()
    del v
    r.close()


def _run(body):
    code = "if 1:\n    import gc, io, pdb, sys, mmkit\n" + body
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=child_env(), timeout=60)


def test_views_are_counted_when_pdb_stops_in_the_keeper_code():
    # pdb keeps the locals of the frame it stopped in: nothing it keeps may
    # make close() believe fewer views are alive than there are.
    # (The breakpoint's name is looked up in view()'s module, mmkit._region.)
    p = _run("""
    r = mmkit.map_anon(mmkit.PAGE_SIZE)
    out = io.StringIO()
    dbg = pdb.Pdb(stdin=io.StringIO("b _arm_keeper\\nc\\nr\\nc\\nc\\n"),
                  stdout=out, nosigint=True)
    dbg.use_rawinput = False
    v = dbg.runcall(r.view)
    print("stopped" if "_arm_keeper()" in out.getvalue() else out.getvalue())
    dbg.runcall(lambda: None)
    w = r.view()
    try:
        r.close()
    except BufferError:
        print("refused")
    v[0] = 1
    w[0] = 2
    print("ok")
    """)
    assert p.returncode == 0 and p.stdout.split() == ["stopped", "refused", "ok"], (
        p.returncode, p.stdout, p.stderr[-500:])


@pytest.mark.parametrize("where", ["_arm_keeper", "_UNMAP_WHEN_FREED:"])
def test_an_interrupted_first_view_leaves_the_region_usable(where):
    # Ctrl-C (or pdb's quit) inside view() while the keeper is being set up:
    # the region stays open and mapped, closes once, and unmaps.
    p = _run("""
    r = mmkit.map_anon(mmkit.PAGE_SIZE)
    address = r.address
    import linecache
    def tracer(frame, event, arg):
        # a call of that function, or a line of view() that holds that text
        where = %r
        if event == "call" and frame.f_code.co_name == where or (
                event == "line" and frame.f_code.co_name == "view"
                and where in linecache.getline(frame.f_code.co_filename, frame.f_lineno)):
            raise KeyboardInterrupt
        return tracer
    sys.settrace(tracer)
    try:
        r.view()
    except KeyboardInterrupt:
        pass
    sys.settrace(None)
    gc.collect()
    print(r.closed, r[0] == 0)
    v = r.view()
    v[0] = 3
    del v
    r.close()
    print(r.closed, any(int(l.split("-")[0], 16) <= address < int(l.split()[0].split("-")[1], 16)
                        for l in open("/proc/self/maps")))
    """ % where)
    assert p.returncode == 0 and p.stdout.split() == ["False", "True", "True", "False"], (
        p.returncode, p.stdout, p.stderr[-500:])


def test_view_count_survives_threads():
    # Views made and freed in many threads at once: none is counted twice
    # or lost.
    r = mmkit.map_anon(mmkit.PAGE_SIZE)
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    stop = threading.Event()

    def churn():
        while not stop.is_set():
            vs = [r.view() for _ in range(5)]
            for v in vs:
                v.release()
            del vs

    ts = [threading.Thread(target=churn) for _ in range(4)]
    try:
        for t in ts:
            t.start()
        stop.wait(1)
    finally:
        stop.set()
        for t in ts:
            t.join()
        sys.setswitchinterval(old)
    gc.collect()
    r.close()  # BufferError if a freed view were still counted
    assert r.closed


def test_region_kept_by_a_finalizer_closes_once_its_view_is_gone():
    h = _Resurrector()
    h.r = mmkit.map_anon(mmkit.PAGE_SIZE)
    h.v = h.r.view()
    h.me = h
    del h
    gc.collect()
    v = _Resurrector.saved.pop()
    r = v.obj._region
    with pytest.raises(BufferError):
        r.close()  # the kept view is alive, and counted
    v.release()
    del v
    gc.collect()
    assert not r.closed
    address = r.address
    r.close()
    assert not mapped(address)
    r.close()  # twice: a no-op


def test_flags_follow_a_whole_region_protect_whenever_first_read():
    a = mmkit.map_anon(4096)
    a.flags  # read before protect()
    a.protect(mmkit.PROT_READ)
    b = mmkit.map_anon(4096)  # first read after protect()
    b.protect(mmkit.PROT_READ)
    try:
        assert a.flags == b.flags
        assert not a.flags & mmkit.WRITE
    finally:
        a.close()
        b.close()


def test_repr_never_passes_a_closed_handle_to_the_library(monkeypatch):
    # ctypes lets other threads run during each foreign call: a close() there
    # must wait for repr() to finish, not free the handle under it.
    bad = []
    in_ptr, closed = threading.Event(), threading.Event()

    class Pausing(_UnmapSpy):
        def mm_ptr(self, h):
            in_ptr.set()
            closed.wait(2)  # the other thread's close() runs here if it can
            if h in self.unmapped:
                bad.append(h)
                return None
            return self.real.mm_ptr(h)

    r = mmkit.map_anon(4096)
    spy = Pausing()
    _use_lib_c(monkeypatch, spy)

    def closer():
        in_ptr.wait(2)
        r.close()
        closed.set()

    t = threading.Thread(target=closer)
    t.start()
    repr(r)
    closed.set()
    t.join()
    assert r.closed and len(spy.unmapped) == 1  # (the close went through the spy)
    assert not bad, "mm_ptr got a handle already passed to mm_unmap"
