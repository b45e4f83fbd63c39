"""Keep freed host memory in the process (glibc), so XLA:CPU's buffers reuse pages.

XLA:CPU allocates a step's buffers afresh on every execution. With glibc's defaults the
large ones are mmap'd, or land in per-thread arenas that are given back when empty, so
every step faults their pages in again (2.3-2.5x as many faults as PyTorch's step on the
same nets). `keep_freed_memory()` sets glibc's allocator to one arena, no mmap'd chunks
and a 2 GB trim threshold, so freed pages are reused (the faults per step and the A/B
are in docs/performance.md). The process keeps its peak heap: the trade.

`gan_jax.main` calls it before any JAX call when config.conv_impl chooses the CPU backend
(gan_jax.backend.expects_cpu_backend), as do the benchmark workers' gan_jax sides
(bench_step.py, bench_loop.py); a notebook can call it first thing. It changes the whole
process and cannot be undone; GAN_JAX_KEEP_FREED_MEMORY=0 skips it.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

M_TRIM_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -4, -8  # glibc's mallopt parameters
SETTINGS = ((M_ARENA_MAX, 1), (M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, 2 ** 31 - 1))


def keep_freed_memory() -> bool:
    """Applies SETTINGS with glibc's mallopt. False, changing nothing, without glibc (macOS,
    musl) or with GAN_JAX_KEEP_FREED_MEMORY=0."""
    if os.environ.get("GAN_JAX_KEEP_FREED_MEMORY", "1") in ("0", "false", "False"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # glibc only
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    if not all(mallopt(param, value) == 1 for param, value in SETTINGS):
        logging.warning("gan_jax: glibc's mallopt refused %s; allocator partly changed", SETTINGS)
        return False
    return True
