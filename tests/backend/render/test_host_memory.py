"""Freed tensor memory is kept for reuse: a tensor made again after one of its size was freed takes no fresh pages."""

import resource
import sys

import pytest
import torch

from diffpaint.render.host_memory import retain_freed_memory


def _page_faults_of_new_tensor(mib: int) -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    x = torch.ones(mib << 18)  # written through: every page is touched
    del x
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_a_freed_tensor_is_reused_not_faulted_in_again():
    assert retain_freed_memory()
    _page_faults_of_new_tensor(20)  # the first one maps its pages
    pages = (20 << 20) // resource.getpagesize()
    faults = _page_faults_of_new_tensor(20)
    print(f"page faults of a second 20 MiB tensor: {faults} (it has {pages} pages)")
    assert faults < pages // 10
