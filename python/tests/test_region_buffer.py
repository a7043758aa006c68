"""The buffer protocol on Region itself (PEP 688, Python 3.12+; issue 18).

``memoryview(r)``, ``numpy.frombuffer(r)`` and ``re.search(p, r)`` use the
same zero-copy view as ``r.view()``, with its rules: the mapping outlives the
region while a view is alive, and close(), resize() and a protection-reducing
protect() raise BufferError until it is released.
"""

import gc
import re
import sys

import pytest

import mmkit
from conftest import has

PAGE = mmkit.PAGE_SIZE
pytestmark = pytest.mark.skipif(sys.version_info < (3, 12),
                                reason="PEP 688 buffers need Python 3.12+")


def test_memoryview_of_a_region():
    with mmkit.map_anon(PAGE) as r:
        r[10:13] = b"abc"
        with memoryview(r) as v:
            assert v.format == "B" and v.itemsize == 1 and len(v) == PAGE and not v.readonly
            assert v[10:13] == b"abc"
            v[0] = 7
            assert r[0] == 7
            with pytest.raises(BufferError):
                r.close()
            if has("mm_resize"):
                with pytest.raises(BufferError):
                    r.resize(2 * PAGE)
            with pytest.raises(BufferError):
                r.protect(mmkit.PROT_READ)
        assert re.search(rb"[a-c]+", r).span() == (10, 13)
        assert bytes(r)[10:13] == b"abc"


def test_a_read_only_region_gives_read_only_buffers(data_file):
    path, data = data_file
    with mmkit.map_file(path) as r:
        with memoryview(r) as v:
            assert v.readonly and v.tobytes() == data
            with pytest.raises(TypeError):
                v[0] = 1
        assert re.search(re.escape(data[100:110]), r).start() == 100


def test_numpy_frombuffer_of_a_region_shares_memory():
    numpy = pytest.importorskip("numpy")
    r = mmkit.map_anon(PAGE)
    a = numpy.frombuffer(r, dtype=numpy.uint8)
    a[1] = 5
    assert r[1] == 5
    with pytest.raises(BufferError):
        r.close()
    del a
    gc.collect()
    r.close()


def test_the_mapping_outlives_the_region_while_a_buffer_is_alive():
    r = mmkit.map_anon(PAGE)
    r[0] = 4
    v = memoryview(r)
    del r
    gc.collect()
    assert v[0] == 4
    v.release()


def test_release_buffer_checks_its_argument():
    with mmkit.map_anon(PAGE) as r, mmkit.map_anon(PAGE) as other:
        with pytest.raises(TypeError):
            r.__release_buffer__(b"x")
        with pytest.raises(ValueError):
            r.__release_buffer__(memoryview(b"x"))
        theirs = other.view()
        with pytest.raises(ValueError):
            r.__release_buffer__(theirs)
        theirs.release()
        view = r.__buffer__(0)
        r.__release_buffer__(view)
        r.__release_buffer__(view)                    # released: nothing to do
        with pytest.raises(TypeError):
            r.__buffer__("flags")
    with pytest.raises(ValueError):
        memoryview(r)                                 # closed
