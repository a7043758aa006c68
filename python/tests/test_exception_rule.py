"""Issue 18's one exception rule for Region (the native API).

An out-of-range or invalid argument raises ``mmkit.InvalidArgument``, both a
ValueError and an OSError(EINVAL), whether the package refuses it before any
call or the library returns -EINVAL; a write to a read-only region (or page)
raises ``mmkit.ReadOnlyError``, both a TypeError and a PermissionError(EACCES),
whichever way it is written.
"""

import errno
import os
import pickle

import pytest

import mmkit
from conftest import has

PAGE = mmkit.PAGE_SIZE


def _is_invalid_argument(e):
    assert type(e) is mmkit.InvalidArgument, type(e)
    assert isinstance(e, ValueError) and isinstance(e, OSError)
    assert e.errno == errno.EINVAL and e.strerror


def _is_read_only(e):
    assert type(e) is mmkit.ReadOnlyError, type(e)
    assert isinstance(e, TypeError) and isinstance(e, PermissionError)
    assert e.errno == errno.EACCES and e.strerror


def test_the_classes_are_both_of_their_bases():
    e = mmkit.InvalidArgument(errno.EINVAL, "bad", "file.bin")
    assert (e.errno, e.strerror, e.filename) == (errno.EINVAL, "bad", "file.bin")
    assert isinstance(e, ValueError) and isinstance(e, OSError)
    assert str(e) == "[Errno 22] bad: 'file.bin'"
    ro = mmkit.ReadOnlyError(errno.EACCES, "read-only")
    assert isinstance(ro, TypeError) and isinstance(ro, PermissionError)
    for exc in (e, ro):
        back = pickle.loads(pickle.dumps(exc))
        assert type(back) is type(exc) and back.args == exc.args
    for cls in (mmkit.InvalidArgument, mmkit.ReadOnlyError):
        assert cls.__module__ == "mmkit" and pickle.loads(pickle.dumps(cls)) is cls


def test_old_and_new_except_clauses_both_catch():
    with mmkit.map_anon(PAGE) as r:
        for clause in (ValueError, OSError, mmkit.InvalidArgument):
            with pytest.raises(clause):
                r.read(0, PAGE + 1)
        r.protect(mmkit.PROT_READ)
        for clause in (TypeError, PermissionError, mmkit.ReadOnlyError):
            with pytest.raises(clause):
                r[0] = 1
            with pytest.raises(clause):
                r.write(0, b"x")


def test_arguments_refused_before_any_call(data_file):
    path, _ = data_file
    with mmkit.map_anon(PAGE) as r:
        calls = [
            lambda: mmkit.map_file(path, -1), lambda: mmkit.map_file(path, 0, -1),
            lambda: mmkit.map_fd(0, -1), lambda: mmkit.map_anon(-1),
            lambda: mmkit.map_file(str(path) + "\0"), lambda: mmkit.map_shareable("a\0b", PAGE),
            lambda: r.read(-1), lambda: r.read(0, -1), lambda: r.write(-1, b"x"),
            lambda: r.sync(-1), lambda: r.lock(0, -1), lambda: r.unlock(-1),
            lambda: r.advise(mmkit.ADV_NORMAL, -1), lambda: r.protect(-1),
            lambda: r.resize(-1), lambda: r.seal(-1),
            lambda: r.__setitem__(0, 256), lambda: r.__setitem__(0, -1),
            lambda: r[::0], lambda: r.__setitem__(slice(None, None, 0), b""),
        ]
        for call in calls:
            with pytest.raises(mmkit.InvalidArgument) as info:
                call()
            _is_invalid_argument(info.value)


def test_out_of_range_and_einval_from_the_library(data_file):
    path, data = data_file
    calls = [lambda: mmkit.map_anon(0), lambda: mmkit.map_file(path, len(data) + 1),
             lambda: mmkit.map_file(path, 0, len(data) + 1)]
    with mmkit.map_anon(PAGE) as r:
        calls += [lambda: r.read(0, PAGE + 1), lambda: r.read(PAGE + 1),
                  lambda: r.write(PAGE, b"x"), lambda: r.sync(0, 2 * PAGE),
                  lambda: r.advise(99), lambda: r.protect(mmkit.PROT_READ, 1, PAGE - 1),
                  lambda: r.lock(2 * PAGE)]
        if has("mm_resize"):
            calls.append(lambda: r.resize(0))
        for call in calls:
            with pytest.raises(mmkit.InvalidArgument) as info:
                call()
            _is_invalid_argument(info.value)
    with pytest.raises(mmkit.InvalidArgument) as info:
        mmkit.map_file(path, len(data) + 1)
    assert info.value.filename == str(path)          # the file name is kept


def test_other_errors_keep_their_classes(tmp_path):
    with pytest.raises(FileNotFoundError):
        mmkit.map_file(tmp_path / "missing")
    with pytest.raises(OSError) as info:
        mmkit.map_fd(-1)
    assert type(info.value) is OSError and info.value.errno == errno.EBADF
    r = mmkit.map_anon(PAGE)
    r.close()
    with pytest.raises(ValueError) as info:       # use after close: not an argument
        r.read()
    assert type(info.value) is ValueError
    with mmkit.map_anon(PAGE) as r:
        with pytest.raises(IndexError):           # subscripts keep the sequence protocol
            r[PAGE]
        with pytest.raises(IndexError):
            r[0:2] = b"x"
        with pytest.raises(TypeError) as info:
            r.read("0")
        assert type(info.value) is TypeError


def test_writing_a_read_only_region_is_read_only_error_everywhere(data_file):
    path, _ = data_file
    with mmkit.map_file(path) as r:
        assert not r.writable
        for call in (lambda: r.__setitem__(0, 1), lambda: r.__setitem__(slice(0, 2), b"ab"),
                     lambda: r.__setitem__(slice(0, 4, 2), b"ab")):
            with pytest.raises(mmkit.ReadOnlyError) as info:
                call()
            _is_read_only(info.value)
        if has("mm_write"):
            with pytest.raises(mmkit.ReadOnlyError) as info:
                r.write(0, b"x")
            _is_read_only(info.value)
        with r.view() as v:
            with pytest.raises(TypeError):            # the view is read-only too
                v[0] = 1
    assert path.read_bytes()[:2] != b"ab"


def test_a_protected_page_or_a_write_sealed_object_s_peer_is_read_only_error():
    with mmkit.map_anon(2 * PAGE) as r:
        r.protect(mmkit.PROT_READ, PAGE, PAGE)
        r[0] = 1                                      # the first page still is writable
        for call in (lambda: r.__setitem__(PAGE, 1), lambda: r.write(PAGE, b"x")):
            with pytest.raises(mmkit.ReadOnlyError) as info:
                call()
            _is_read_only(info.value)
    if not (has("mm_map_shareable") and has("mm_seal") and has("mm_fd")):
        return
    with mmkit.map_shareable("sealed", PAGE) as s:
        try:
            s.seal(write=True)
        except OSError as e:
            if e.errno in (errno.ENOTSUP, errno.EOPNOTSUPP, errno.EINVAL):
                pytest.skip("sealing against writes is not supported here")
            raise
        s[0] = 1            # a future-write seal: the sealing region keeps writing
        with mmkit.map_fd(s.fd) as peer:   # a peer can only map it read-only
            assert peer[0] == 1
            for call in (lambda: peer.__setitem__(0, 2), lambda: peer.write(0, b"x")):
                with pytest.raises(mmkit.ReadOnlyError) as info:
                    call()
                _is_read_only(info.value)


def test_einval_from_map_fd_names_no_file(data_file):
    path, data = data_file
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(mmkit.InvalidArgument) as info:
            mmkit.map_fd(fd, len(data) + 1)
        assert info.value.filename is None
    finally:
        os.close(fd)
