"""mmkit.mmap: the standard module's names and behaviour, and what it adds.

Side-by-side comparisons with the standard module are in
test_pymmap_compat.py; CPython's own test_mmap runs through
run_cpython_test_mmap.py.  Here: the names, the fault-safety (a truncated
file or a PROT_NONE page is OSError, where the standard module dies), misuse
from arguments and from code run inside a method, descriptors, resize, the
buffer protocol (3.12+), threads and fork.
"""

import copy
import errno
import gc
import os
import pickle
import re
import signal
import sys
import threading

import pytest

import mmkit
import mmkit.mmap as kmmap
from conftest import Index, attempts_inside, run_in_child

std = kmmap._std
PAGE = kmmap.PAGESIZE
BUFFERS = sys.version_info >= (3, 12)
needs_buffers = pytest.mark.skipif(not BUFFERS, reason="PEP 688 buffers need Python 3.12+")


def _file(tmp_path, data, name="f.bin"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _open_map(path, length=0, mode=os.O_RDWR, **kwargs):
    fd = os.open(path, mode)
    try:
        return kmmap.mmap(fd, length, **kwargs)
    finally:
        os.close(fd)


def _fds():
    return set(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None


# --- names ----------------------------------------------------------------------------

def test_the_standard_module_s_names_and_values():
    names = {n for n in dir(std) if not n.startswith("_")}
    assert names <= set(dir(kmmap))
    for name in names:
        if name.isupper():
            assert getattr(kmmap, name) == getattr(std, name), name
    assert kmmap.error is OSError
    assert set(kmmap.__all__) == names
    assert kmmap.mmap.__module__ == "mmkit.mmap" and kmmap.mmap.__qualname__ == "mmap"
    assert kmmap.PAGESIZE == mmkit.PAGE_SIZE
    for method in dir(std.mmap):
        if not method.startswith("__") or method in ("__buffer__", "__release_buffer__",
                                                     "__enter__", "__exit__"):
            assert hasattr(kmmap.mmap, method), method
    assert hasattr(kmmap.mmap, "seekable") == hasattr(std.mmap, "seekable")
    assert hasattr(kmmap.mmap, "__buffer__") == hasattr(std.mmap, "__buffer__")
    assert mmkit.mmap is kmmap


def test_the_one_line_change(tmp_path):
    path = _file(tmp_path, b"hello world\n")
    with open(path, "r+b") as f, kmmap.mmap(f.fileno(), 0) as m:
        assert m.find(b"world") == 6 and m.readline() == b"hello world\n"
        m[0:5] = b"HELLO"
    assert path.read_bytes() == b"HELLO world\n"


def test_constructor_signature_follows_the_running_python():
    with kmmap.mmap(fileno=-1, length=10, flags=kmmap.MAP_PRIVATE, prot=kmmap.PROT_READ,
                    access=kmmap.ACCESS_DEFAULT, offset=0) as m:
        assert repr(m).startswith("<mmap.mmap closed=False, access=ACCESS_READ")
    if sys.version_info >= (3, 13):
        with kmmap.mmap(-1, 10, trackfd=False) as m:
            assert len(m) == 10
    else:
        with pytest.raises(TypeError):
            kmmap.mmap(-1, 10, trackfd=False)
    with pytest.raises(TypeError):
        kmmap.mmap(-1, 10, 1, 3, 0, 0, True)       # trackfd is keyword-only


def test_subclass_repr_pickle_copy_weakref_and_audit():
    class Sub(kmmap.mmap):
        pass
    s = Sub(-1, 10)
    s.extra = 1                                     # a subclass has a __dict__
    assert repr(s).startswith("<Sub closed=False")
    for action in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(TypeError, match="cannot pickle 'mmap.mmap' object"):
            action(s)
    m = kmmap.mmap(-1, 10)
    with pytest.raises(AttributeError):
        m.extra = 1                                  # the class itself has none
    events = []

    def hook(event, args):
        if event == "mmap.__new__":
            events.append(args)
    sys.addaudithook(hook)
    kmmap.mmap(-1, 123, access=kmmap.ACCESS_WRITE).close()
    assert (-1, 123, kmmap.ACCESS_WRITE, 0) in events


# --- fault-safety: OSError where the standard module dies -----------------------------

def _truncated(path, module):
    """Map a 3-page file, truncate it to one page behind the mapping, touch the lost pages."""
    if module is std:
        # A SIGBUS here is expected of `std`.  (Not for mmkit.mmap: disabling
        # faulthandler puts back the SIGBUS action from before it was enabled,
        # the default, which would remove the guard's handler.)
        import faulthandler
        faulthandler.disable()
    fd = os.open(path, os.O_RDWR)
    m = module.mmap(fd, 3 * PAGE)
    os.ftruncate(fd, PAGE)
    os.close(fd)
    m[0] = 1                                         # the page still backed is fine
    m.seek(2 * PAGE)
    calls = [lambda: m[2 * PAGE], lambda: m[PAGE:PAGE + 4], lambda: m[::PAGE],
             lambda: m.read(4), lambda: m.read_byte(), lambda: m.readline(),
             lambda: m.find(b"absent"), lambda: m.rfind(b"absent"),
             lambda: m.write(b"x"), lambda: m.write_byte(1),
             lambda: m.__setitem__(2 * PAGE, 1), lambda: m.__setitem__(slice(PAGE, PAGE + 2), b"xy"),
             lambda: m.move(0, 2 * PAGE, 4), lambda: list(m)]
    for i, call in enumerate(calls):
        m.seek(2 * PAGE)
        try:
            call()
        except OSError as e:
            if e.errno != errno.EFAULT:
                return 20 + i
        else:
            return 40 + i
    m.close()
    return 0


def test_a_truncated_file_is_efault_not_sigbus(tmp_path):
    path = _file(tmp_path, bytes(3 * PAGE))
    assert run_in_child(lambda: _truncated(path, kmmap)) == 0


def test_the_standard_module_dies_there(tmp_path):
    # What mmkit.mmap spares the program: the same steps kill it.
    path = _file(tmp_path, bytes(3 * PAGE))
    assert run_in_child(lambda: _truncated(path, std)) == -signal.SIGBUS


def _prot_none():
    m = kmmap.mmap(-1, 2 * PAGE, flags=kmmap.MAP_PRIVATE, prot=0)
    for call in (lambda: m[0], lambda: m[:4], lambda: m.read(), lambda: m.readline(),
                 lambda: m.find(b"x"), lambda: m.rfind(b"x"), lambda: m.read_byte()):
        try:
            call()
            return 10
        except OSError as e:
            if e.errno != errno.EFAULT:
                return 11
    try:
        m.write(b"x")
        return 12
    except TypeError:                                # PROT_NONE is ACCESS_READ
        pass
    if repr(m).find("ACCESS_READ") < 0:
        return 13
    m.close()
    return 0


def test_prot_none_is_efault_not_sigsegv():
    assert run_in_child(_prot_none) == 0


# --- misuse -----------------------------------------------------------------------------

def _hostile_calls(m, a):
    return {
        "getitem": lambda: m[Index(1, a)], "slice": lambda: m[Index(0, a):8],
        "setitem": lambda: m.__setitem__(Index(1, a), 1),
        "setitem value": lambda: m.__setitem__(1, Index(1, a)),
        "setslice": lambda: m.__setitem__(slice(Index(0, a), 2), b"ab"),
        "read": lambda: m.read(Index(4, a)), "find": lambda: m.find(b"a", Index(0, a)),
        "rfind": lambda: m.rfind(b"a", 0, Index(8, a)), "seek": lambda: m.seek(Index(1, a)),
        "write_byte": lambda: m.write_byte(Index(1, a)), "move": lambda: m.move(0, 1, Index(2, a)),
        "flush": lambda: m.flush(Index(0, a)), "madvise": lambda: m.madvise(Index(0, a)),
        "resize": lambda: m.resize(Index(PAGE, a)),
    }


@pytest.mark.parametrize("name", sorted(_hostile_calls(None, None)))
def test_an_argument_that_closes_the_map_gives_value_error(name):
    m = kmmap.mmap(-1, 2 * PAGE)
    with pytest.raises(ValueError, match="mmap closed or invalid"):
        _hostile_calls(m, m.close)[name]()
    assert m.closed


@pytest.mark.parametrize("name", sorted(_hostile_calls(None, None)))
def test_an_argument_that_resizes_the_map_gets_a_clean_answer(name, tmp_path):
    path = _file(tmp_path, b"a" * 4 * PAGE)
    with _open_map(path) as m:
        try:
            _hostile_calls(m, lambda: m.resize(PAGE))[name]()
        except (ValueError, IndexError, BufferError):
            pass
        assert len(m) in (PAGE, 4 * PAGE) and m[0] in (ord("a"), 1)


def test_close_and_resize_inside_a_method_are_refused():
    m = kmmap.mmap(-1, PAGE)
    data, outcome = attempts_inside(
        "call", "_get", (m.close, lambda: m.resize(PAGE // 2)), lambda: m.read(16))
    assert outcome == ["refused", "refused"] and data == bytes(16) and not m.closed
    m.close()


def test_threads_reading_writing_and_closing():
    m = kmmap.mmap(-1, 4 * PAGE)
    errors = []

    def work():
        for i in range(300):
            try:
                m[i % len(m)] = i % 256
                m.find(b"\xff")
                m.seek(0)
                m.readline()
            except ValueError:
                return                                # closed by another thread
            except Exception as e:                    # pragma: no cover
                errors.append(e)
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    m.close()
    for t in threads:
        t.join()
    assert not errors


def _fork_uses_its_copy():
    m = kmmap.mmap(-1, PAGE)
    m[0] = 7
    pid = os.fork()
    if pid == 0:
        code = 0 if m[0] == 7 else 1
        m[1] = 9
        m.close()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return 0 if os.waitstatus_to_exitcode(status) == 0 and m[1] == 9 else 1


def test_a_forked_child_uses_its_shared_copy():
    assert run_in_child(_fork_uses_its_copy) == 0


# --- descriptors, resize ---------------------------------------------------------------

def test_the_descriptor_is_duplicated_and_closed(tmp_path):
    path = _file(tmp_path, b"x" * 100)
    before = _fds()
    m = _open_map(path)
    assert m.size() == 100                            # through the kept duplicate
    if before is not None:
        assert len(_fds()) == len(before) + 1
    m.close()
    m = _open_map(path)
    del m
    gc.collect()
    with pytest.raises(ValueError):                    # offset past the end: refused early
        _open_map(path, 10, offset=PAGE)
    with pytest.raises(OSError) as info:               # refused after the dup: closed again
        _open_map(path, 10, offset=1)
    assert info.value.errno == errno.EINVAL
    if before is not None:
        assert _fds() == before


@pytest.mark.skipif(sys.version_info < (3, 13), reason="trackfd is 3.13+")
def test_trackfd_false_keeps_no_descriptor(tmp_path):
    path = _file(tmp_path, b"x" * 100)
    before = _fds()
    fd = os.open(path, os.O_RDWR)
    m = kmmap.mmap(fd, 0, trackfd=False)
    os.close(fd)
    assert before is None or _fds() == before
    with pytest.raises(OSError) as info:
        m.size()
    assert info.value.errno == errno.EBADF
    with pytest.raises(ValueError):
        m.resize(50)
    m[0] = ord("y")
    m.close()
    assert path.read_bytes()[:1] == b"y"


def test_resize_changes_the_file_both_ways(tmp_path):
    path = _file(tmp_path, b"0123456789" * 10)
    m = _open_map(path)
    m.seek(50)
    m.resize(3 * PAGE)
    assert os.path.getsize(path) == 3 * PAGE and m.size() == 3 * PAGE and len(m) == 3 * PAGE
    assert m[:100] == b"0123456789" * 10 and m[100:3 * PAGE] == bytes(3 * PAGE - 100)
    m[-1] = 1
    assert m.tell() == 50
    m.resize(20)
    assert os.path.getsize(path) == 20 and m[:] == b"01234567890123456789"
    with pytest.raises(ValueError):
        m.seek(21)
    m.close()


def test_resize_with_an_offset_keeps_the_head_of_the_file(tmp_path):
    path = _file(tmp_path, b"h" * PAGE + b"t" * PAGE)
    m = _open_map(path, PAGE, offset=PAGE)
    m.resize(2 * PAGE)
    assert os.path.getsize(path) == 3 * PAGE and m[:PAGE] == b"t" * PAGE
    m.close()
    assert path.read_bytes()[:PAGE] == b"h" * PAGE


def test_resize_refusals(tmp_path):
    path = _file(tmp_path, b"z" * PAGE)
    m = _open_map(path)
    with pytest.raises(OSError) as info:
        m.resize(0)
    assert info.value.errno == errno.EINVAL
    assert path.read_bytes() == b"z" * PAGE            # refused before the file was touched
    m.close()
    for access in (kmmap.ACCESS_READ, kmmap.ACCESS_COPY):
        with _open_map(path, access=access) as m, pytest.raises(TypeError):
            m.resize(10)
    shared = kmmap.mmap(-1, PAGE)
    with pytest.raises(ValueError, match="can't expand a shared anonymous mapping"):
        shared.resize(2 * PAGE)
    shared.resize(PAGE // 2)                           # shrinking is fine
    assert len(shared) == PAGE // 2
    private = kmmap.mmap(-1, PAGE, flags=kmmap.MAP_PRIVATE)
    private[:4] = b"keep"
    private.resize(4 * PAGE)
    assert private[:4] == b"keep" and private[-1] == 0


# --- mapping options ---------------------------------------------------------------------

def test_flags_and_prot():
    for flags in (0, kmmap.MAP_SHARED | kmmap.MAP_PRIVATE):
        with pytest.raises(OSError) as info:
            kmmap.mmap(-1, 10, flags=flags)
        assert info.value.errno == errno.EINVAL
    if hasattr(kmmap, "MAP_POPULATE"):
        with kmmap.mmap(-1, PAGE, flags=kmmap.MAP_PRIVATE | kmmap.MAP_POPULATE) as m:
            assert m[0] == 0
    with pytest.raises(OSError) as info:
        kmmap.mmap(-1, 10, flags=kmmap.MAP_SHARED | 0x40)  # MAP_32BIT on x86-64
    assert info.value.errno in (errno.ENOTSUP, errno.EOPNOTSUPP)
    with pytest.raises(OSError) as info:
        kmmap.mmap(-1, 10, prot=0x10000)
    assert info.value.errno == errno.EINVAL
    with kmmap.mmap(-1, 10, prot=kmmap.PROT_WRITE) as m:
        assert "ACCESS_WRITE" in repr(m)
        m[0] = 1
        assert m[0] == 1


def test_only_regular_files_are_mapped():
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    fd = os.open("/dev/zero", os.O_RDWR)
    try:
        with pytest.raises(OSError) as info:
            kmmap.mmap(fd, PAGE)
        assert info.value.errno == errno.ENODEV
    finally:
        os.close(fd)


def test_madvise_discards_only_whole_pages_inside_the_range():
    m = kmmap.mmap(-1, 3 * PAGE, flags=kmmap.MAP_PRIVATE)
    m[:] = b"d" * len(m)
    m.madvise(kmmap.MADV_DONTNEED, 0, PAGE + 10)      # the second page is only named in part
    assert m[0] == 0 and m[PAGE] == ord("d")
    if hasattr(kmmap, "MADV_FREE"):
        m.madvise(kmmap.MADV_FREE, PAGE, 10)           # less than a page: nothing to discard
    assert m[PAGE] == ord("d")
    m.madvise(kmmap.MADV_DONTNEED, 2 * PAGE)           # to the end: the whole last page
    assert m[2 * PAGE] == 0
    with pytest.raises(OSError) as info:
        m.madvise(kmmap.MADV_NORMAL, 1)
    assert info.value.errno == errno.EINVAL


# --- find at C speed -------------------------------------------------------------------

@pytest.mark.parametrize("backing", ["anon", "file"])
def test_find_and_rfind_across_windows(backing, tmp_path, monkeypatch):
    # Small windows: every needle position meets a window boundary somewhere.
    monkeypatch.setattr(mmkit._search, "_WINDOW", 64)
    data = bytearray(b"." * (5 * PAGE))
    marks = [0, 60, 63, 64, 127, 128, 1000, PAGE - 3, 3 * PAGE + 5, 5 * PAGE - 7]
    for at in marks:
        data[at:at + 7] = b"needle!"
    if backing == "anon":
        m = kmmap.mmap(-1, len(data), flags=kmmap.MAP_PRIVATE)
        m[:] = bytes(data)
    else:
        m = _open_map(_file(tmp_path, bytes(data)))
    for start in range(0, len(data), 97):
        for needle in (b"needle!", b"dle!", b"n", b"!.", b"absent", b""):
            assert m.find(needle, start) == data.find(needle, start), (needle, start)
            assert m.rfind(needle, 0, start) == data.rfind(needle, 0, start), (needle, start)
    m.close()


# --- the buffer protocol (3.12+) ---------------------------------------------------------

@pytest.mark.skipif(BUFFERS, reason="Python 3.12+ has the buffer protocol")
def test_no_buffer_before_3_12():
    with kmmap.mmap(-1, 10) as m, pytest.raises(TypeError):
        memoryview(m)


@needs_buffers
def test_memoryview_re_and_bytes(tmp_path):
    m = kmmap.mmap(-1, PAGE)
    m[100:103] = b"abc"
    with memoryview(m) as v:
        assert v.format == "B" and len(v) == PAGE and not v.readonly
        v[0] = 42
        assert m[0] == 42
        with pytest.raises(BufferError, match="exported pointers exist"):
            m.close()
        with pytest.raises(BufferError, match="extant buffers exported"):
            m.resize(10)
    assert re.search(b"[a-z]+", m).span() == (100, 103)
    assert bytes(m)[100:103] == b"abc" and bytearray(m)[0] == 42
    m.close()
    with pytest.raises(ValueError):
        memoryview(m)
    path = _file(tmp_path, b"ro" * 10)
    with _open_map(path, access=kmmap.ACCESS_READ) as r, memoryview(r) as v:
        assert v.readonly and v.tobytes() == b"ro" * 10
        with pytest.raises(TypeError):
            v[0] = 1


@needs_buffers
def test_numpy_frombuffer_shares_the_memory():
    numpy = pytest.importorskip("numpy")
    m = kmmap.mmap(-1, PAGE)
    a = numpy.frombuffer(m, dtype=numpy.uint8)
    a[5] = 9                                          # writable: ACCESS_DEFAULT
    assert m[5] == 9
    with pytest.raises(BufferError):
        m.close()
    del a
    gc.collect()
    m.close()


@needs_buffers
def test_a_view_outlives_the_object_that_made_it():
    m = kmmap.mmap(-1, PAGE)
    m[0] = 3
    v = memoryview(m)
    del m
    gc.collect()
    assert v[0] == 3                                   # the mapping is still there
    v.release()


@needs_buffers
def test_release_buffer_checks_what_it_is_given():
    m = kmmap.mmap(-1, PAGE)
    with pytest.raises(TypeError):
        m.__release_buffer__(b"x")
    with pytest.raises(ValueError):
        m.__release_buffer__(memoryview(b"foreign"))
    view = m.__buffer__(0)
    m.__release_buffer__(view)
    m.__release_buffer__(view)                         # released already: nothing to do
    m.close()
