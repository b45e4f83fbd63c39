"""Two processes x 2 CPU devices (jax.distributed on 127.0.0.1) play the same game as one
process with 4 devices; only process 0 writes logs; checkpoints are written once."""
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import ROOT, subprocess_env

SCRIPT = r"""
import sys
from gan_jax import parallel
import ml_collections
n, pid, port, workdir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
if n > 1:  # before any other JAX call
    parallel.initialize(ml_collections.ConfigDict(dict(
        coordinator_address=f"127.0.0.1:{port}", num_processes=n, process_id=pid,
        heartbeat_timeout_s=20)))
import jax
assert jax.device_count() == 4 and jax.process_count() == n
from gan_jax import train
from tests.helpers import recipe
cfg = recipe("dcgan", batch_size=16, steps=6, log_every=2, checkpoint_every=3,
             sample_every=100, eval_every=-1)
train.train_and_evaluate(cfg, workdir)
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(n_processes, devices_per_process, workdir, port):
    return [subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(n_processes), str(i), str(port), str(workdir)],
        env=subprocess_env(devices_per_process), cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True) for i in range(n_processes)]


# Slow: three JAX processes; under heavy CPU load the 300 s shutdown barrier of
# jax.distributed once timed out here (the same run passes on a quiet machine).
@pytest.mark.slow
def test_two_processes_match_one_process_with_the_same_devices(tmp_path):
    procs = launch(1, 4, tmp_path / "one", 0) + launch(2, 2, tmp_path / "two", free_port())
    for p in procs:
        out, _ = p.communicate(timeout=600)
        assert p.returncode == 0, out[-3000:]
    one = [json.loads(l) for l in open(tmp_path / "one" / "metrics.jsonl")]
    two = [json.loads(l) for l in open(tmp_path / "two" / "metrics.jsonl")]
    assert [r["step"] for r in two] == [2, 4, 6]  # process 1 wrote nothing
    for a, b in zip(one, two):
        for k in ("d_loss", "g_loss", "d_grad_norm", "g_grad_norm"):
            np.testing.assert_allclose(b[k], a[k], rtol=1e-4, err_msg=k)
    assert sorted(os.listdir(tmp_path / "two" / "checkpoints")) == ["3", "6"]
