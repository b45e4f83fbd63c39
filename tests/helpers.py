"""Shared test helpers: load a recipe's config, run a subprocess with N CPU devices, compare
modules (outputs and gradients) at float precision."""
from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import tempfile

import jax
import numpy as np
import pytest

TORCH_REASON = ("PyTorch is the reference of this parity test and is not installed; "
                "`pip install -e '.[test]'` brings it (a CUDA build, ~5 GB)")
try:
    import torch
except ImportError:  # the parity tests skip; everything else runs without it
    torch = None
requires_torch = pytest.mark.skipif(torch is None, reason=TORCH_REASON)


def importorskip_torch():
    """torch, or skip the whole module (files whose module-level code needs torch)."""
    return pytest.importorskip("torch", reason=TORCH_REASON)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def recipe_names() -> list:
    """Every recipe in configs/ (configs.recipes()): tests parametrized over it test a new
    recipe by its being added."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from configs import recipes
    return recipes()


def recipe(name: str, arg: str = "smoke", **overrides):
    """configs/<name>.py's get_config(arg) with dotted overrides, e.g. **{'optim.g_lr': 1e-3}."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    config = importlib.import_module(f"configs.{name}").get_config(arg)
    for dotted, value in overrides.items():
        node = config
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return config


def subprocess_env(devices: int = 1) -> dict:
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("JAX_PLATFORMS", "cpu")
    # Subprocesses share compiled executables (identical programs give identical numbers).
    env.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(tempfile.gettempdir(), "gan_jax_test_xla_cache"))
    env.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    return env


def shutil_which(name: str):
    """The path of a program on PATH, or None (looked up before a test changes PATH)."""
    return shutil.which(name)


def run_python(code: str, devices: int = 1, timeout: int = 600, check: bool = True):
    """Runs `code` in a fresh Python with `devices` virtual CPU devices; returns the process."""
    proc = subprocess.run([sys.executable, "-c", code], env=subprocess_env(devices), cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"subprocess failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc


RTOL = 2e-5


def assert_close(a, b, rtol=RTOL):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    scale = max(float(np.max(np.abs(b))), 1e-6)
    np.testing.assert_allclose(a / scale, b / scale, atol=rtol, rtol=0)


def assert_modules_match(pairs, x, seed=0):
    """For each (fast, reference) module pair: the same outputs, input gradient and
    parameter gradients at the reference's init params and a random cotangent.
    All pairs run in one jit (one compilation)."""
    variables = [ref.init(jax.random.PRNGKey(seed), x) for _, ref in pairs]
    cotangents = [jax.random.normal(jax.random.PRNGKey(seed + 1),
                                    jax.eval_shape(ref.apply, v, x).shape)
                  for (_, ref), v in zip(pairs, variables)]

    @jax.jit
    def outputs_and_grads(variables, x):
        results = []
        for (fast, ref), v, dy in zip(pairs, variables, cotangents):
            for module in (fast, ref):
                y, vjp = jax.vjp(module.apply, v, x)
                results.append((y, vjp(dy)))
        return results

    results = outputs_and_grads(variables, x)
    for fast, ref in zip(results[::2], results[1::2]):
        assert jax.tree_util.tree_structure(fast) == jax.tree_util.tree_structure(ref)
        for a, b in zip(jax.tree_util.tree_leaves(fast), jax.tree_util.tree_leaves(ref)):
            assert_close(a, b)


def assert_module_matches(module_fast, module_ref, x):
    assert_modules_match([(module_fast, module_ref)], x)
