"""The suite without PyTorch (the ~5 GB test-extra download): every test module still
imports, and the parity tests that need torch as their reference skip, saying why."""
from __future__ import annotations

import subprocess
import sys

from tests.helpers import ROOT, TORCH_REASON, subprocess_env

# Runs pytest in a process where torch, torchvision and pytorch_fid cannot be imported. In that
# one process: xdist workers (pytest.ini's -n 2) would start fresh interpreters without the block.
BLOCKED = """
import importlib.abc, sys
class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("torch", "torchvision", "pytorch_fid"):
            raise ImportError(f"No module named {name!r}")
sys.meta_path.insert(0, Blocked())
import pytest
sys.exit(pytest.main(sys.argv[1:]))
"""


def pytest_without_torch(*args):
    proc = subprocess.run([sys.executable, "-c", BLOCKED, "-p", "no:cacheprovider", "-n", "0",
                           *args],
                          cwd=ROOT, env=subprocess_env(1), capture_output=True, text=True,
                          timeout=600)
    return proc.returncode, proc.stdout + proc.stderr


def test_every_test_module_imports_without_torch():
    status, output = pytest_without_torch("--collect-only", "-q", "tests")
    assert status == 0, output[-3000:]


def test_torch_parity_tests_skip_with_the_reason():
    status, output = pytest_without_torch("-q", "-rs", "-k", "torch and not without_torch",
                                          "tests")
    assert status == 0, output[-3000:]
    skipped = [line for line in output.splitlines() if line.startswith("SKIPPED")]
    assert len(skipped) >= 5 and all(TORCH_REASON in line or "torch" in line
                                     for line in skipped), skipped
