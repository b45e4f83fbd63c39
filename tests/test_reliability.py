"""Crash safety through the real CLI: kill -9, SIGTERM and a corrupted newest checkpoint all
resume to bit-exactly the metrics and parameters of an uninterrupted run."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import orbax.checkpoint as ocp
import pytest

from tests.helpers import ROOT, subprocess_env

ARGS = ["--config=configs/dcgan.py:smoke", "--config.steps=60", "--config.checkpoint_every=5",
        "--config.log_every=5", "--config.sample_every=30", "--config.eval_every=-1"]


def start(workdir):
    log = open(os.path.join(str(workdir) + ".log"), "ab")
    return subprocess.Popen([sys.executable, "-m", "gan_jax.main", *ARGS, f"--workdir={workdir}"],
                            env=subprocess_env(1), cwd=ROOT, stdout=log, stderr=log)


def run(workdir):
    proc = start(workdir)
    assert proc.wait(timeout=600) == 0, open(str(workdir) + ".log").read()[-3000:]


def wait_for_checkpoint(workdir, step, proc, timeout=600):
    path = os.path.join(workdir, "checkpoints", str(step))
    t0 = time.time()
    while not os.path.isdir(path):  # orbax renames the temporary dir when the save is complete
        assert proc.poll() is None, "run ended before the checkpoint appeared"
        assert time.time() - t0 < timeout
        time.sleep(0.01)


def final(workdir):
    """(metrics.jsonl text, final parameter leaves) of a finished run."""
    ckpt = os.path.join(workdir, "checkpoints")
    last = max(int(d) for d in os.listdir(ckpt) if d.isdigit())
    tree = ocp.StandardCheckpointer().restore(os.path.join(ckpt, str(last), "state"))
    return open(os.path.join(workdir, "metrics.jsonl")).read(), last, tree


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("straight") / "run")
    run(workdir)
    return final(workdir)


def assert_same_run(reference, workdir):
    text, last, tree = final(workdir)
    ref_text, ref_last, ref_tree = reference
    assert last == ref_last == 60
    assert text == ref_text  # every logged value, bit for bit
    import jax
    for a, b in zip(jax.tree_util.tree_leaves(ref_tree), jax.tree_util.tree_leaves(tree)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_kill9_after_a_checkpoint_resumes_exactly(reference, tmp_path):
    workdir = str(tmp_path / "run")
    proc = start(workdir)
    wait_for_checkpoint(workdir, 15, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    rows = [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl"))]
    assert rows[-1]["step"] < 60, "the run finished before it was killed"
    run(workdir)
    assert_same_run(reference, workdir)


def test_sigterm_checkpoints_the_current_step_and_resumes_exactly(reference, tmp_path):
    workdir = str(tmp_path / "run")
    proc = start(workdir)
    wait_for_checkpoint(workdir, 15, proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 0  # a clean stop, not an error
    log = open(workdir + ".log").read()
    stopped = int(log.split("checkpointed at step ")[1].split()[0])
    assert 15 <= stopped < 60
    assert os.path.isdir(os.path.join(workdir, "checkpoints", str(stopped)))
    run(workdir)
    assert_same_run(reference, workdir)


def test_corrupt_newest_checkpoint_falls_back_to_the_previous(reference, tmp_path):
    workdir = str(tmp_path / "run")
    proc = start(workdir)
    wait_for_checkpoint(workdir, 20, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    ckpt = os.path.join(workdir, "checkpoints")
    newest = max(int(d) for d in os.listdir(ckpt) if d.isdigit())
    for root, _, files in os.walk(os.path.join(ckpt, str(newest), "state")):
        for f in files:  # truncate every data and metadata file of the newest checkpoint
            with open(os.path.join(root, f), "r+b") as fh:
                fh.truncate(max(os.path.getsize(os.path.join(root, f)) // 3, 1))
    run(workdir)
    log = open(workdir + ".log").read()
    assert f"Checkpoint at step {newest}" in log and "failed to restore" in log
    assert_same_run(reference, workdir)
