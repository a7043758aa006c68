"""The lockless reads of a guarded region: ``r[i]``, ``r[a:b]``, ``r.read()``
and ``mmkit.mmap``'s ``m[i]``, ``m[a:b]``, ``read()``, ``readline()``.

They read the memory through the region's memoryview without the region's
lock, then its loss count (``mm_lost_counter``, one load) and whether the
memoryview is still the region's; ``mmkit.mmap`` moves its position with
one atomic commit (see ``mmkit._copies`` and ``mmkit.mmap``).  Shown here:
they read what the locked way reads and report a lost page the same way; a
copy under way (a slice of the memory not yet copied) holds off close,
resize and a protect that takes access away (BufferError, nothing changed);
code run inside a lockless read (a profiler, as a signal handler or a
finalizer may be) that closes, remaps or shrinks the region never makes it
read freed or foreign memory; threads reading while another closes, remaps,
resizes and protects never crash or see foreign bytes; threads sharing one
``mmkit.mmap`` position get every line exactly once.  The hostile cases run
in forked children, so a crash is a failure, not a dead run.
"""

import errno
import os
import platform
import sys
import threading
import time

import pytest

import mmkit
import mmkit.mmap as kmmap
from mmkit import _copies, _lib
from conftest import has, run_in_child
from test_misuse import FOREIGN, OWN, _inside_case

PAGE = mmkit.PAGE_SIZE
SIZE = 4 * PAGE

pytestmark = pytest.mark.skipif(not has("mm_check"), reason="needs the guard (mm_check)")


def _own_file(tmp_path, name="own.bin", size=SIZE):
    path = tmp_path / name
    path.write_bytes(bytes([OWN]) * size)
    return path


def _warm(r):
    """The first read makes the memoryview the lockless reads use."""
    r[0]
    assert r._mv is not None, "a guarded region should have its memory made"


# --- what they read -------------------------------------------------------------------

def test_the_lockless_reads_read_the_memory(data_file):
    path, data = data_file
    with mmkit.map_file(path) as r:
        _warm(r)
        n = len(data)
        for i in (0, 1, PAGE, n - 1, -1, -n):
            assert r[i] == data[i]
        for a, b in ((0, 16), (PAGE - 3, PAGE + 70), (None, 5), (n - 5, None), (-9, -2),
                     (5, 3), (n, n + 10), (None, None)):
            assert r[a:b] == data[a:b]
        assert r.read(PAGE - 1, 300) == data[PAGE - 1:PAGE + 299]
        assert r.read(0, 0) == b""
        for i in (n, -n - 1):
            with pytest.raises(IndexError, match="mmkit.Region index out of range"):
                r[i]
        with pytest.raises(mmkit.InvalidArgument):
            r.read(n - 1, 2)
        assert r._lost is _lib._ALWAYS_ASK or r._lost[0] == 0  # (always asks: not x86)
    with pytest.raises(ValueError, match="closed"):
        r[0]
    with pytest.raises(ValueError, match="closed"):
        r[0:1]
    with pytest.raises(ValueError, match="closed"):
        r.read(0, 1)


def test_the_loss_count_sends_a_read_of_a_lost_page_to_the_library(tmp_path):
    data = bytes(range(256)) * (SIZE // 256)
    path = tmp_path / "cut.bin"
    path.write_bytes(data)
    with mmkit.map_file(path) as r, open(path, "rb") as f, \
            kmmap.mmap(f.fileno(), 0, access=kmmap.ACCESS_READ) as m:
        _warm(r)
        m[0]
        os.truncate(path, PAGE)
        for read in (lambda: r[2 * PAGE + 1], lambda: r[PAGE:PAGE + 8],
                     lambda: r.read(3 * PAGE, 4), lambda: m[2 * PAGE + 1],
                     lambda: m[PAGE:PAGE + 8]):
            with pytest.raises(OSError) as e:
                read()
            assert e.value.errno == errno.EFAULT
        assert r._lost[0] >= 1
        # A range of the pages still in the file: its bytes (the library tells).
        assert r[0:16] == data[:16] and r[5] == data[5] and r.read(0, 4) == data[:4]
        assert m[0:16] == data[:16] and m.read(4) == data[:4]
        m.seek(3 * PAGE)
        with pytest.raises(OSError) as e:
            m.readline()
        assert e.value.errno == errno.EFAULT and m.tell() == 3 * PAGE


def test_without_mm_lost_counter_every_read_asks_the_library(data_file, monkeypatch):
    monkeypatch.setattr(_lib, "lost_count", lambda handle: _lib._ALWAYS_ASK)
    path, data = data_file
    with mmkit.map_file(path) as r:
        _warm(r)
        assert r._lost[0] != 0
        assert r[7] == data[7] and r[3:900] == data[3:900] and r.read(1, 2) == data[1:3]


def test_a_processor_that_reorders_loads_asks_the_library(tmp_path, monkeypatch):
    # arm64, POWER, RISC-V: the count could be loaded before the copy, so no
    # region reads it; each check asks mm_check (which fences), and a loss
    # found there is still an EFAULT.
    monkeypatch.setattr(_lib, "_LOADS_IN_ORDER", False)
    data = bytes(range(256)) * (SIZE // 256)
    path = tmp_path / "cut.bin"
    path.write_bytes(data)
    with mmkit.map_file(path) as r:
        _warm(r)
        assert r._lost is _lib._ALWAYS_ASK
        assert r[7] == data[7] and r[3:900] == data[3:900]
        os.truncate(path, PAGE)
        with pytest.raises(OSError) as e:
            r[2 * PAGE + 1]
        assert e.value.errno == errno.EFAULT
        assert r[0:16] == data[:16]


def test_this_x86_host_reads_the_count_without_a_call(data_file):
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("the count is read directly only where loads stay in order (x86)")
    path, _ = data_file
    with mmkit.map_file(path) as r:
        _warm(r)
        assert _lib._LOADS_IN_ORDER and r._lost is not _lib._ALWAYS_ASK


def test_the_loss_count_is_the_library_s(data_file):
    path, _ = data_file
    r = mmkit.map_file(path)
    _warm(r)
    address = _lib.lib.mm_lost_counter(r._handle) if has("mm_lost_counter") else None
    if address is not None:
        unguarded = mmkit.map_file(path, guard=False)
        assert _lib.lib.mm_lost_counter(unguarded._handle) == _lib.lib.mm_lost_counter(None)
        assert address != _lib.lib.mm_lost_counter(None)
        unguarded.close()
    r.close()


LOST_READS = {
    "Region getitem index": lambda r, m: r[2 * PAGE + 1],
    "Region getitem slice": lambda r, m: r[2 * PAGE:2 * PAGE + 16],
    "Region read": lambda r, m: r.read(2 * PAGE, 16),
    "mmap getitem slice": lambda r, m: m[2 * PAGE:2 * PAGE + 16],
    "mmap read": lambda r, m: m.read(16),
    "mmap readline": lambda r, m: m.readline(),
}


def _close_at_every_opcode(tmp, name):
    """A read of a lost page (zeros, counted) while the region (or the mmap)
    is closed -- which frees the count, another region may get it at 0 -- at
    each bytecode (and line) of the read in turn (a tracer, as a thread
    switch could): the read must raise, never return the zeros."""
    path = os.path.join(tmp, "lost.bin")
    k = 1
    while True:
        with open(path, "wb") as f:
            f.write(bytes([OWN]) * SIZE)
        r = mmkit.map_file(path)
        _warm(r)
        with open(path, "rb") as f:
            m = kmmap.mmap(f.fileno(), 0, access=kmmap.ACCESS_READ)
        m[0]
        os.truncate(path, PAGE)
        m.seek(2 * PAGE)
        seen = [0]

        def tracer(frame, event, arg):
            frame.f_trace_opcodes = True  # (3.12.1 gives line events only)
            if event in ("opcode", "line"):
                seen[0] += 1
                if seen[0] == k:
                    try:
                        (m if name.startswith("mmap") else r).close()
                    except BufferError:
                        pass  # a copy under way: refused
            return tracer
        sys.settrace(tracer)
        try:
            got = LOST_READS[name](r, m)
        except (ValueError, OSError):
            got = None
        finally:
            sys.settrace(None)
        if got is not None:
            print("%s, closed at opcode %d: returned %r" % (name, k, got), file=sys.stderr)
            return 4
        r.close()
        m.close()
        if k > seen[0]:
            return 0 if k > 8 else 5  # (5: the tracer saw next to nothing)
        k += 1


@pytest.mark.parametrize("name", sorted(LOST_READS))
def test_a_close_anywhere_in_a_read_of_a_lost_page_is_never_zeros(name, tmp_path):
    # The count is read through a view the close releases first: a count read
    # without error is this region's, taken before the close freed it.
    code = run_in_child(lambda: _close_at_every_opcode(str(tmp_path), name))
    assert code == 0, "killed by signal %d" % -code if code < 0 else "exit %d" % code


# --- a copy under way holds off what would pull the memory from under it -------------

def test_a_copy_under_way_holds_off_close_resize_and_protect(data_file):
    path, data = data_file
    r = mmkit.map_file(path, write=True)
    _warm(r)
    # A reader between mv[a:b] and .tobytes() -- preempted there, or running
    # the code of a profiler, a signal handler or a finalizer.
    under_way = r._mv[PAGE:PAGE + 16]
    for act in (r.close, lambda: r.resize(PAGE), lambda: r.protect(mmkit.PROT_NONE)):
        with pytest.raises(BufferError, match="a copy of its memory is under way"):
            act()
        assert not r.closed and len(r) == len(data) and r.writable
    assert under_way.tobytes() == data[PAGE:PAGE + 16]     # still mapped
    r.protect(mmkit.PROT_READ | mmkit.PROT_WRITE)           # takes nothing away
    assert r[0:4] == data[:4] and r[9] == data[9]
    del under_way
    r.resize(PAGE)
    assert len(r) == PAGE and r[PAGE - 1] == data[PAGE - 1]
    r.close()
    assert r.closed


def test_a_copy_under_way_holds_off_mmap_close_and_resize(tmp_path):
    path = _own_file(tmp_path)
    with open(path, "r+b") as f:
        m = kmmap.mmap(f.fileno(), 0)
    m[0]
    r = m._region
    assert r._mv is not None
    under_way = r._mv[0:16]
    for act in (m.close, lambda: m.resize(PAGE)):
        with pytest.raises(BufferError, match="a copy of its memory is under way"):
            act()
        assert not m.closed and len(m) == SIZE and os.path.getsize(path) == SIZE
    del under_way
    m.resize(PAGE)
    assert len(m) == PAGE and m[:] == bytes([OWN]) * PAGE
    m.close()
    assert m.closed


# --- code run inside a lockless read -----------------------------------------------------

INSIDE = {
    "Region getitem index": lambda r: r[PAGE + 1],
    "Region getitem slice": lambda r: r[PAGE - 8:PAGE + 56],
    "Region read": lambda r: r.read(PAGE - 8, 64),
    "mmap getitem index": lambda m: m[PAGE + 1],
    "mmap getitem slice": lambda m: m[PAGE - 8:PAGE + 56],
    "mmap read": lambda m: m.read(64),
    "mmap readline": lambda m: m.readline(),
}


def _guarded(tmp, name):
    """A guarded file region (or mmkit.mmap, positioned) of OWN bytes, its
    memory made, for test_misuse's profiler cases."""
    count = [0]

    def make():
        count[0] += 1
        path = os.path.join(tmp, "f%d" % count[0])
        with open(path, "wb") as f:
            f.write(bytes([OWN]) * SIZE)
        if name.startswith("mmap"):
            with open(path, "r+b") as f:
                m = kmmap.mmap(f.fileno(), 0)
            m[0]
            m.seek(PAGE - 8)
            return m
        r = mmkit.map_file(path, write=True)
        _warm(r)
        return r
    return make


@pytest.mark.parametrize("kind", ["close", "remap", "shrink", "protect"])
@pytest.mark.parametrize("name", sorted(INSIDE))
def test_code_run_inside_a_lockless_read_cannot_pull_the_memory_from_under_it(
        name, kind, tmp_path):
    if kind == "protect" and name.startswith("mmap"):
        pytest.skip("mmkit.mmap has no protect()")
    # As test_misuse's cases (a profiler closes, remaps, shrinks or protects
    # the region at each event in turn), on a guarded file and its lockless reads.
    code = run_in_child(lambda: _inside_case(name, kind, _guarded(str(tmp_path), name), INSIDE))
    assert code == 0, "killed by signal %d" % -code if code < 0 else "exit %d" % code


def _read_inside_resize(tmp, grow):
    path = os.path.join(tmp, "resize.bin")
    with open(path, "wb") as f:
        f.write(bytes([OWN]) * SIZE)
    r = mmkit.map_file(path, write=True)
    if grow:
        r.resize(PAGE)
    _warm(r)
    got = []

    def profiler(frame, event, arg):
        for read in (lambda: r[SIZE - 1], lambda: r[0:SIZE], lambda: r.read(PAGE, PAGE)):
            try:
                got.append(read())
            except (ValueError, IndexError, OSError):
                pass
    sys.setprofile(profiler)
    try:
        r.resize(SIZE if grow else PAGE)
    finally:
        sys.setprofile(None)
    for g in got:
        b = bytes([g]) if isinstance(g, int) else g
        if b.strip(bytes([OWN])):
            print("read %r inside resize" % b[:16], file=sys.stderr)
            return 4
    return 0 if got else 5


@pytest.mark.parametrize("grow", [False, True], ids=["shrink", "grow"])
def test_reads_inside_a_resize_never_use_the_old_memory(grow, tmp_path):
    code = run_in_child(lambda: _read_inside_resize(str(tmp_path), grow))
    assert code == 0, "killed by signal %d" % -code if code < 0 else "exit %d" % code


# --- threads --------------------------------------------------------------------------------

def _hammer(tmp, use_mmap, seconds):
    """Readers on one guarded region (or mmkit.mmap) while a thread closes and
    maps it again (a foreign region in between, to catch a stale read),
    shrinks and grows it and protects it, in a loop.  Exit 0: no reader saw
    a byte not the file's (or, after mmkit.mmap's resize, the zeros it grew
    the file with) or an unexpected error, nothing crashed."""
    sys.setswitchinterval(1e-5)
    path = os.path.join(tmp, "hammer.bin")
    with open(path, "wb") as f:
        f.write(bytes([OWN]) * SIZE)

    def new():
        if not use_mmap:
            r = mmkit.map_file(path, write=True)
            _warm(r)
            return r
        with open(path, "r+b") as f:
            m = kmmap.mmap(f.fileno(), 0)
        m[0]
        return m

    state = {"obj": new(), "stop": False}
    # mmkit.mmap's resize() truncates the file and grows it again: zeros.
    valid = bytes([OWN, 0]) if use_mmap else bytes([OWN])
    bad = []
    counts = {"data": 0, "clean": 0, "refused": 0}

    def reader(i):
        while not state["stop"]:
            obj = state["obj"]
            try:
                if use_mmap:
                    got = [obj[(i * 97) % SIZE], obj[i:i + 64], obj[PAGE - 3:PAGE + 61]]
                    if i % 2:
                        obj.seek(0)
                        got += [obj.read(100), obj.readline()[:100]]
                else:
                    got = [obj[(i * 97) % SIZE], obj[i:i + 64], obj.read(PAGE - 3, 64),
                           obj[-1]]
            except (ValueError, IndexError):  # closed, shrunk
                counts["clean"] += 1
                continue
            except OSError as e:
                if e.errno != errno.EFAULT:  # protected: the library's EFAULT
                    bad.append(repr(e))
                counts["clean"] += 1
                continue
            except BaseException as e:
                bad.append(repr(e))
                return
            for g in got:
                b = bytes([g]) if isinstance(g, int) else g
                if b.strip(valid):
                    bad.append("read %r" % b[:16])
            counts["data"] += 1

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + seconds
    step = 0
    foreign = []
    try:
        while time.monotonic() < deadline and not bad:
            step += 1
            obj = state["obj"]
            try:
                if step % 4 == 0:
                    obj.close()
                    other = mmkit.map_anon(SIZE)
                    other[:] = bytes([FOREIGN]) * SIZE
                    foreign.append(other)
                    state["obj"] = new()
                    if len(foreign) > 4:
                        foreign.pop(0).close()
                elif step % 4 == 1:
                    obj.resize(PAGE)
                    obj.resize(SIZE)
                elif step % 4 == 2 and not use_mmap:
                    obj.protect(mmkit.PROT_NONE, PAGE, PAGE)
                    obj.protect(mmkit.PROT_READ | mmkit.PROT_WRITE)
                else:
                    time.sleep(0)
            except BufferError:
                counts["refused"] += 1  # a copy under way
    finally:
        state["stop"] = True
        for t in threads:
            t.join(30)
    if bad:
        print("bad reads: %s" % bad[:5], file=sys.stderr)
        return 4
    if any(t.is_alive() for t in threads):
        return 5
    if not counts["data"]:
        print("no reader ever read: %r" % counts, file=sys.stderr)
        return 6
    return 0


@pytest.mark.parametrize("use_mmap", [False, True], ids=["Region", "mmkit.mmap"])
def test_threads_read_while_another_closes_remaps_resizes_and_protects(use_mmap, tmp_path):
    code = run_in_child(lambda: _hammer(str(tmp_path), use_mmap, 1.5))
    assert code == 0, "killed by signal %d" % -code if code < 0 else "exit %d" % code


def _share_one_position(m, readers):
    """Run ``readers`` (functions of the mmap returning the pieces they read)
    in threads at once, switching often; return every piece read."""
    got = []
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=lambda f=f: got.extend(f(m))) for f in readers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        sys.setswitchinterval(old)
    return got


def _lines(m):
    out = []
    while True:
        line = m.readline()
        if not line:
            return out
        out.append(line)


def _chunks(m):
    out = []
    while True:
        chunk = m.read(37)
        if not chunk:
            return out
        out.append(chunk)


@pytest.mark.parametrize("mixed", [False, True], ids=["readline", "readline and read"])
def test_threads_sharing_one_position_read_every_byte_exactly_once(mixed, tmp_path):
    lines = [b"%d %s\n" % (i, b"x" * (i % 300)) for i in range(6000)]
    path = tmp_path / "lines.txt"
    path.write_bytes(b"".join(lines))
    with open(path, "rb") as f:
        m = kmmap.mmap(f.fileno(), 0, access=kmmap.ACCESS_READ)
    m[0]
    got = _share_one_position(m, [_lines] * 3 + [_chunks if mixed else _lines])
    # Nothing read twice, nothing skipped: the pieces add up to the file ...
    assert sum(map(len, got)) == len(m) == m.tell()
    if not mixed:  # ... and each line came whole, once.
        assert sorted(got) == sorted(lines)
    m.close()


def test_the_lockless_ways_follow_the_interpreter():
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    assert _copies._LOCKLESS == gil
    assert kmmap._POSITION_LOCKLESS == (gil and sys.version_info >= (3, 11))
    if not kmmap._POSITION_LOCKLESS:
        assert kmmap.mmap.readline is kmmap.mmap._readline


# ---- found by review: each ran wrong before its fix, as a subprocess so a
# ---- hang is a timeout and a crash an exit status.

def _script(tmp_path, body, timeout=120):
    import subprocess
    import textwrap
    from conftest import child_env
    path = tmp_path / "case.py"
    path.write_text(textwrap.dedent(body))
    return subprocess.run([sys.executable, str(path), str(tmp_path)], env=child_env(),
                          capture_output=True, text=True, timeout=timeout)


def test_mmap_item_fallback_takes_the_locks_in_order_no_deadlock(tmp_path):
    # m[a:b] on a mapping that lost a page falls back to the locked way; a
    # profiler there touches the mmap while another thread holds the mmap's
    # lock and waits for the region's. Before the fix the region's lock was
    # taken without the mmap's: a lock-order deadlock (a timeout here).
    done = _script(tmp_path, """
        import os, sys, threading, time
        import mmkit, mmkit.mmap as kmmap
        PAGE = mmkit.PAGE_SIZE
        path = os.path.join(sys.argv[1], "f")
        with open(path, "wb") as f:
            f.write(b"A" * (4 * PAGE))
        with open(path, "rb") as f:
            m = kmmap.mmap(f.fileno(), 0, access=kmmap.ACCESS_READ)
        m[0]
        r = m._region
        os.truncate(path, 3 * PAGE)
        try:
            m[3 * PAGE]
        except OSError:
            pass
        fired = []
        def other():
            m.read_byte()
        def prof(frame, event, arg):
            if fired or event != "c_call" or not r._lock._is_owned():
                return
            fired.append(1)
            sys.setprofile(None)
            threading.Thread(target=other, daemon=True).start()
            time.sleep(0.3)
            len(m)
        sys.setprofile(prof)
        print(m[0:16])
        print("no deadlock", fired)
    """)
    assert done.returncode == 0 and "no deadlock [1]" in done.stdout, done.stdout + done.stderr


def test_a_subclass_with_attribute_hooks_reads_every_line_once(tmp_path):
    # A subclass's __setattr__ runs Python code inside the position's commit;
    # before the fix two threads got ~45% of the lines twice.
    done = _script(tmp_path, """
        import os, sys, threading
        import mmkit.mmap as kmmap
        N = 100000
        p = os.path.join(sys.argv[1], "f")
        open(p, "wb").write(b"".join(b"%d\\n" % i for i in range(N)))
        class Logged(kmmap.mmap):
            def __setattr__(self, name, value):
                object.__setattr__(self, name, value)
        sys.setswitchinterval(1e-6)
        with open(p, "rb") as f:
            m = Logged(f.fileno(), 0, access=kmmap.ACCESS_READ)
        m[0]
        out = [[], []]
        def work(k):
            while True:
                line = m.readline()
                if not line:
                    return
                out[k].append(line)
        ts = [threading.Thread(target=work, args=(k,)) for k in (0, 1)]
        [t.start() for t in ts]; [t.join() for t in ts]
        got = out[0] + out[1]
        print(len(got), len(set(got)))
    """)
    assert done.returncode == 0 and done.stdout.split() == ["100000", "100000"], \
        done.stdout + done.stderr


@pytest.mark.parametrize("method", ["readline", "read"])
@pytest.mark.parametrize("at", ["_pos", "_seq"])
def test_a_read_between_the_commit_s_stores_never_reads_a_line_twice(tmp_path, method, at):
    # The race of the test above, made certain: the subclass reads a line
    # itself right after the commit stores the position (or its version), as
    # another thread could at a switch there. Before the fix (the version
    # stored first) a read after the version's store paired the new version
    # with the old position, and the line came twice.
    done = _script(tmp_path, """
        import os, sys
        import mmkit.mmap as kmmap
        method, at = sys.argv[2:4] if len(sys.argv) > 3 else ("%s", "%s")
        N = 200
        p = os.path.join(sys.argv[1], "f")
        open(p, "wb").write(b"".join(b"%%05d\\n" %% i for i in range(N)))
        got = []
        class Nosy(kmmap.mmap):
            def __setattr__(self, name, value):
                object.__setattr__(self, name, value)
                if name == at and not nested:
                    nested.append(1)
                    try:
                        line = self.readline() if method == "readline" else self.read(6)
                        if line:
                            got.append(line)
                    finally:
                        nested.pop()
        nested = [1]
        with open(p, "rb") as f:
            m = Nosy(f.fileno(), 0, access=kmmap.ACCESS_READ)
        m[0]
        del nested[:]
        while True:
            line = m.readline() if method == "readline" else m.read(6)
            if not line:
                break
            got.append(line)
        print(len(got), len(set(got)), m.tell())
    """ % (method, at))
    assert done.returncode == 0 and done.stdout.split() == ["200", "200", "1200"], \
        done.stdout + done.stderr


@pytest.mark.parametrize("which", ["region", "mmap"])
def test_a_slice_a_profiler_keeps_outlives_the_dropped_region_safely(tmp_path, which):
    # A profiler keeps the slice of a lockless read (the tobytes call's
    # __self__); dropping the region must not unmap under it (before the fix:
    # SIGSEGV, or another region's bytes once the address was reused).
    done = _script(tmp_path, """
        import gc, os, sys
        import mmkit, mmkit.mmap as kmmap
        PAGE = mmkit.PAGE_SIZE
        which = sys.argv[2] if len(sys.argv) > 2 else "%s"
        p = os.path.join(sys.argv[1], "f")
        open(p, "wb").write(b"A" * 4 * PAGE)
        kept = []
        def prof(frame, event, arg):
            if event == "c_call" and getattr(arg, "__name__", "") == "tobytes" and not kept:
                kept.append(arg.__self__)
        if which == "region":
            obj = mmkit.map_file(p); obj[0]
            sys.setprofile(prof); obj[0:16]; sys.setprofile(None)
        else:
            with open(p, "rb") as f:
                obj = kmmap.mmap(f.fileno(), 0, access=kmmap.ACCESS_READ)
            obj[0]
            sys.setprofile(prof); obj.read(16); sys.setprofile(None)
        assert kept, "the profiler saw no slice"
        del obj; gc.collect()
        filler = [mmkit.map_anon(4 * PAGE) for _ in range(8)]
        for f_ in filler:
            f_[0:4 * PAGE] = b"Z" * (4 * PAGE)
        print(kept[0].tobytes()[:8])
    """ % which)
    assert done.returncode == 0 and "b'AAAAAAAA'" in done.stdout, done.stdout + done.stderr
