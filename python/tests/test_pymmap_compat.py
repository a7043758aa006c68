"""mmkit.mmap and the standard mmap module, side by side (see pymmap_compat.py).

run_cpython_test_mmap.py runs the same comparison under every Python found.
"""

import pytest

from pymmap_compat import KINDS, compare


@pytest.mark.parametrize("seed", range(4))
def test_random_operations_behave_as_the_standard_module(seed):
    stats = {}
    problems = compare(seed, 3000, stats=stats)
    assert not problems, "\n".join(problems)
    assert stats["steps"] > len(KINDS) * 1000  # the walks were not all cut short
