"""Region.find / rfind (at C speed, fault-safe) and Region.size() (issue 18)."""

import errno
import os

import pytest

import mmkit
from conftest import has, run_in_child

PAGE = mmkit.PAGE_SIZE


def _regions(tmp_path, data):
    """The same bytes in anonymous memory (searched in place), in an unguarded
    file (searched through mm_read windows) and in a guarded one (find in
    place, then mm_check; rfind through windows)."""
    anon = mmkit.map_anon(len(data))
    anon[:] = data
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    return {"anon": anon, "file": mmkit.map_file(path, guard=False),
            "guarded": mmkit.map_file(path)}


@pytest.mark.parametrize("window", [64, 1 << 20])
def test_find_and_rfind_are_bytes_find_and_rfind(tmp_path, monkeypatch, window):
    monkeypatch.setattr(mmkit._search, "_WINDOW", window)  # 64: every boundary is met
    data = bytearray(b"-" * (3 * PAGE + 77))
    for at in (0, 5, 63, 64, 65, 200, PAGE - 2, 2 * PAGE + 1, len(data) - 6):
        data[at:at + 6] = b"abcdef"
    data = bytes(data)
    for kind, r in _regions(tmp_path, data).items():
        with r:
            for start, end in ((0, None), (1, None), (64, 200), (0, 70), (PAGE, len(data)),
                               (len(data), None), (5, 5), (0, 0)):
                stop = len(data) if end is None else end
                for needle in (b"abcdef", b"def", b"a", b"-a", b"f-", b"zz", b"", b"-" * 80):
                    assert r.find(needle, start, end) == data.find(needle, start, stop), \
                        (kind, needle, start, end)
                    assert r.rfind(needle, start, end) == data.rfind(needle, start, stop), \
                        (kind, needle, start, end)
            assert r.find(bytearray(b"cde")) == 2 and r.rfind(memoryview(b"abc")) == len(data) - 6


def test_find_arguments(tmp_path):
    with mmkit.map_anon(PAGE) as r:
        for start, end in ((-1, None), (0, -1), (PAGE + 1, None), (0, PAGE + 1), (10, 5)):
            with pytest.raises(mmkit.InvalidArgument):
                r.find(b"x", start, end)
            with pytest.raises(mmkit.InvalidArgument):
                r.rfind(b"x", start, end)
        for bad in ("text", 5, None):
            with pytest.raises(TypeError):
                r.find(bad)
        with pytest.raises(TypeError):
            r.find(b"x", 1.0)
    with pytest.raises(ValueError):
        r.find(b"x")                                    # closed


def test_find_in_an_empty_region(tmp_path):
    path = tmp_path / "empty"
    path.write_bytes(b"")
    with mmkit.map_file(path) as r:
        assert len(r) == 0 and r.find(b"") == 0 and r.find(b"x") == -1 and r.rfind(b"") == 0


def test_partly_protected_anonymous_memory_is_searched_fault_safe():
    with mmkit.map_anon(3 * PAGE) as r:
        r[2 * PAGE:2 * PAGE + 3] = b"end"
        r.protect(mmkit.PROT_NONE, PAGE, PAGE)
        assert r.find(b"x", 0, PAGE) == -1              # the readable page: fine
        assert r.find(b"end", 2 * PAGE) == 2 * PAGE
        for call in (lambda: r.find(b"end"), lambda: r.rfind(b"zz")):
            with pytest.raises(OSError) as info:        # not SIGSEGV
                call()
            assert info.value.errno == errno.EFAULT
        r.protect(mmkit.PROT_READ | mmkit.PROT_WRITE)
        assert r.find(b"end") == 2 * PAGE


def _truncated_find(path):
    r = mmkit.map_file(path)
    with open(path, "r+b") as f:
        f.truncate(PAGE)
    if r.find(b"x", 0, PAGE) != -1:
        return 10
    for call in (lambda: r.find(b"absent"), lambda: r.rfind(b"absent")):
        try:
            call()
            return 11
        except OSError as e:
            if e.errno != errno.EFAULT:
                return 12
    r.close()
    return 0


def test_find_over_a_truncated_file_is_efault_not_sigbus(tmp_path):
    if not has("mm_read"):
        pytest.skip("needs mm_read")
    path = tmp_path / "shrinks"
    path.write_bytes(bytes(4 * PAGE))
    assert run_in_child(lambda: _truncated_find(path)) == 0


# --- size() -----------------------------------------------------------------------------

def test_size_of_a_file_region_follows_the_file(tmp_path):
    path = tmp_path / "grows"
    path.write_bytes(b"x" * 100)
    with mmkit.map_file(path) as r:
        assert r.size() == 100
        with open(path, "ab") as f:
            f.write(b"y" * 50)
        assert r.size() == 150 and len(r) == 100
        renamed = tmp_path / "renamed"
        os.rename(path, renamed)
        assert r.size() == 150                          # the mapping's file, wherever it is
    fd = os.open(renamed, os.O_RDONLY)
    try:
        with mmkit.map_fd(fd, 0, 10) as r:
            assert r.size() == 150
    finally:
        os.close(fd)


def test_size_of_a_replaced_or_deleted_file_is_an_error(tmp_path, monkeypatch):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    with mmkit.map_file(path) as r:
        os.rename(path, tmp_path / "old")
        path.write_bytes(b"new")                        # another file by the old name
        assert r.size() == 100                          # the mapping's own file, renamed
        real_stat = os.stat

        def other_file(p, *args, **kwargs):             # its path now names another file
            st = real_stat(p, *args, **kwargs)
            return os.stat_result((st.st_mode, st.st_ino + 1) + tuple(st)[2:])
        monkeypatch.setattr(mmkit._procmaps.os, "stat", other_file)
        with pytest.raises(OSError) as info:
            r.size()
        assert info.value.errno == errno.ESTALE
        monkeypatch.undo()
        (tmp_path / "old").unlink()
        with pytest.raises(FileNotFoundError) as info:
            r.size()
        assert info.value.errno == errno.ENOENT and info.value.filename.endswith("old")


def test_size_of_anonymous_and_shareable_memory():
    with mmkit.map_anon(3 * PAGE + 1) as r:
        assert r.size() == 3 * PAGE + 1
    if has("mm_map_shareable") and has("mm_fd"):
        with mmkit.map_shareable("sized", 2 * PAGE) as s:
            assert s.size() == 2 * PAGE
            os.ftruncate(s.fd, 5 * PAGE)                # a peer may grow the object
            assert s.size() == 5 * PAGE


def test_size_of_an_empty_or_closed_region(tmp_path):
    path = tmp_path / "empty"
    path.write_bytes(b"")
    with mmkit.map_file(path) as r:
        with pytest.raises(OSError) as info:
            r.size()
        assert info.value.errno == errno.EBADF
    with pytest.raises(ValueError):
        r.size()


def test_size_without_proc(monkeypatch, tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 10)
    monkeypatch.setattr(mmkit._procmaps, "_lines", lambda: None)
    with mmkit.map_file(path) as r:
        with pytest.raises(OSError) as info:
            r.size()
        assert info.value.errno == errno.ENOTSUP


def test_anonymous_memory_is_searched_in_place_and_files_through_copies(tmp_path, monkeypatch):
    copies = []
    real_fill = mmkit._search._fill

    def counting_fill(*args):
        copies.append(args[1])
        return real_fill(*args)
    monkeypatch.setattr(mmkit._search, "_fill", counting_fill)
    data = b"-" * (2 * PAGE) + b"here"
    regions = _regions(tmp_path, data)
    with regions["anon"] as r:
        assert r.find(b"here") == 2 * PAGE and copies == []      # memmem in place
        assert r.rfind(b"here") == 2 * PAGE and copies           # rfind: windows
    del copies[:]
    with regions["file"] as r:
        assert r.find(b"here") == 2 * PAGE and copies == [0]     # one fault-safe window
    del copies[:]
    with regions["guarded"] as r:
        if r.guarded:
            assert r.find(b"here") == 2 * PAGE and copies == []  # in place, then mm_check
