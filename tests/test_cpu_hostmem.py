"""gan_jax/cpu/hostmem.py: after keep_freed_memory(), freed buffers are reused without page faults.

Checked in fresh processes (the setting is process-wide and final), with transparent huge
pages off so that every 4 KB page counts: a 40 MB buffer (above glibc's largest mmap
threshold, like XLA's big activations) allocated, touched and freed four times faults its
10k pages in every time with glibc's defaults, and not again with the setting.
"""
import os
import platform
import subprocess
import sys

import pytest

SCRIPT = """
import ctypes, resource, sys
import numpy as np
ctypes.CDLL(None).prctl(41, 1, 0, 0, 0)  # PR_SET_THP_DISABLE: count 4 KB pages
from gan_jax.cpu import hostmem
applied = hostmem.keep_freed_memory() if sys.argv[1] == "keep" else False
np.ones(10_000_000, np.float32)  # 40 MB: allocated, touched, freed
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(4):
    np.ones(10_000_000, np.float32)
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
PAGES = 4 * 40_000_000 // os.sysconf("SC_PAGE_SIZE")

glibc_only = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                reason="glibc's mallopt")


def _faults(mode, **env):
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True,
                         check=True, env=dict(os.environ, **env)).stdout.split()
    return out[0] == "True", int(out[1])


@glibc_only
def test_freed_buffers_are_reused_without_faulting_their_pages_again():
    applied, kept = _faults("keep")
    _, default = _faults("default")
    assert applied
    assert default > 0.9 * PAGES, default  # glibc's default: mmap'd and unmapped each time
    assert kept < 0.05 * PAGES, kept


@glibc_only
def test_the_switch_turns_it_off():
    applied, faults = _faults("keep", GAN_JAX_KEEP_FREED_MEMORY="0")
    assert not applied
    assert faults > 0.9 * PAGES, faults
