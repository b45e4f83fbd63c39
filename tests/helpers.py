"""Shared test helpers: load a recipe's config, run a subprocess with N CPU devices."""
from __future__ import annotations

import importlib
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


def run_python(code: str, devices: int = 1, timeout: int = 600, check: bool = True):
    """Runs `code` in a fresh Python with `devices` virtual CPU devices; returns the process."""
    proc = subprocess.run([sys.executable, "-c", code], env=subprocess_env(devices), cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"subprocess failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc
