"""glibc's malloc is told to keep freed tensor memory (`render.host_memory`); its effect, a quarter to a third of a
CPU step's time in page faults saved, is measured by bench/step_profile.py (with and without --release-memory): the
page faults of one allocation depend too much on the heap's state for a test to pin them down."""

import sys

import pytest

from diffpaint.render.host_memory import retain_freed_memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_malloc_accepts_the_thresholds():
    assert retain_freed_memory()
