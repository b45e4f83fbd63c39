"""gan_jax.main as a user meets it, in a subprocess: each mistake exits 2 with ONE line naming
the field or file and the fix, and no traceback; a smoke run's first and last lines are ours;
a finished run reruns to a clean exit; a workdir whose checkpoints all fail to restore refuses
to start and leaves them as they were."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from gan_jax import checkpoint
from tests.helpers import ROOT, subprocess_env

SMOKE = "--config=configs/dcgan.py:smoke"


def cli(*args, timeout=600):
    """(exit status, stdout + stderr) of `python -m gan_jax.main ARGS`."""
    proc = subprocess.run([sys.executable, "-m", "gan_jax.main", *args], cwd=ROOT,
                          env=subprocess_env(1), capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr


def lines(output):
    return [line for line in output.splitlines() if line.strip()]


def assert_user_error(status, output, *fragments):
    """Exit 2, no traceback, exactly one error line, the last one, holding each fragment."""
    assert "Traceback" not in output, output[-3000:]
    assert status == 2, output[-3000:]
    errors = [line for line in lines(output) if line.startswith("gan_jax: error: ")]
    assert len(errors) == 1 and lines(output)[-1] == errors[0], output[-3000:]
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])


def _file(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text + "\n")
    return str(path)


def _folder(tmp_path, kind):
    """An image folder that is missing, empty, or holds one file that is not an image."""
    path = tmp_path / kind
    if kind != "missing":
        path.mkdir()
    if kind == "corrupt":
        (path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    return str(path)


def _weights(tmp_path, kind):
    path = tmp_path / f"{kind}.npz"
    if kind == "wrong_shapes":
        np.savez(path, **{"params/Conv2d_1a_3x3/conv/kernel": np.zeros((3, 3), np.float32)})
    elif kind == "not_npz":
        path.write_text("these are not weights\n")
    return str(path)


# (id, arguments after the recipe (a callable of tmp_path where files are needed), fragments
# the one error line must hold). Each is a distinct mistake a user makes.
MISTAKES = [
    ("config_file_missing", lambda t: ["--config=configs/dcgn.py"],
     ["--config=configs/dcgn.py", "not a file", "configs/*.py"]),
    ("config_without_get_config", lambda t: [f"--config={_file(t, 'recipe.py', 'steps = 3')}"],
     ["recipe.py", "no get_config()"]),
    ("config_flag_absent", lambda t: ["--workdir=" + str(t / "w")],
     ["--config is required", "configs/dcgan.py"]),
    ("unknown_variant", lambda t: ["--config=configs/dcgan.py:smok"],
     ["unknown variant 'smok'", "'smoke'"]),
    ("unknown_override_field", lambda t: [SMOKE, "--config.optim.g_lrr=1e-3"],
     ["config.optim.g_lrr", "g_lr"]),
    ("override_of_wrong_type", lambda t: [SMOKE, "--config.steps=many"],
     ["--config.steps=many"]),
    ("unknown_mode", lambda t: [SMOKE, "--mode=sumary"], ["--mode=sumary", "summary"]),
    ("stray_argument", lambda t: [SMOKE, "dcgan"], ["unexpected arguments", "--config.FIELD"]),
    ("no_workdir", lambda t: [SMOKE], ["--workdir is required"]),
    ("unknown_game", lambda t: [SMOKE, "--config.game=gna"], ["config.game='gna'", "cyclegan"]),
    ("unknown_loss", lambda t: [SMOKE, "--config.loss.name=hnge"],
     ["config.loss.name='hnge'", "hinge"]),
    ("unknown_penalty", lambda t: [SMOKE, "--config.loss.penalty=gpp"],
     ["config.loss.penalty='gpp'", "gp"]),
    ("unknown_data_name", lambda t: [SMOKE, "--config.data.name=mnits"],
     ["config.data.name='mnits'", "digits", "tfds:"]),
    ("unknown_optimizer", lambda t: [SMOKE, "--config.optim.name=adamw2"],
     ["config.optim.name='adamw2'", "rmsprop"]),
    ("unknown_conv_impl", lambda t: [SMOKE, "--config.conv_impl=gpu"],
     ["config.conv_impl='gpu'", "xla"]),
    ("unknown_nan_policy", lambda t: [SMOKE, "--config.nan_policy=ignore"],
     ["config.nan_policy='ignore'", "skip"]),
    ("negative_steps", lambda t: [SMOKE, "--config.steps=-5"], ["config.steps=-5", ">= 1"]),
    ("zero_batch", lambda t: [SMOKE, "--config.batch_size=0"], ["config.batch_size=0", ">= 1"]),
    ("unknown_generator_net", lambda t: [SMOKE, "--config.g.net=dcgn"],
     ["config.g.net='dcgn'", "dcgan"]),
    ("image_size_the_net_cannot_take", lambda t: [SMOKE, "--config.data.image_size=20"],
     ["config.data.image_size=20", "power of two"]),
    ("image_folder_missing", lambda t: [SMOKE, f"--config.data.name=folder:{_folder(t, 'missing')}"],
     ["does not exist", "missing"]),
    ("image_folder_empty", lambda t: [SMOKE, f"--config.data.name=folder:{_folder(t, 'empty')}"],
     ["holds no images", "empty"]),
    ("unreadable_image", lambda t: [SMOKE, f"--config.data.name=folder:{_folder(t, 'corrupt')}"],
     ["broken.png", "not a readable image"]),
    ("tfds_not_prepared", lambda t: [SMOKE, "--config.data.name=tfds:mnist",
                                     f"--config.data.tfds_dir={t / 'tfds'}"],
     ["tfds:mnist", "tfds build mnist", "pip install tensorflow", "config.data.tfds_dir"]),
    ("weights_file_missing", lambda t: [SMOKE, f"--config.eval.inception_weights={t / 'no.npz'}"],
     ["config.eval.inception_weights", "no.npz", "is not a file", "convert"]),
    ("weights_of_wrong_shape", lambda t: [SMOKE, "--config.eval.inception_weights="
                                          + _weights(t, "wrong_shapes")],
     ["config.eval.inception_weights", "wrong_shapes.npz", "does not hold"]),
    ("weights_not_an_npz", lambda t: [SMOKE, "--config.eval.inception_weights="
                                      + _weights(t, "not_npz")],
     ["config.eval.inception_weights", "not_npz.npz", "convert"]),
]


@pytest.mark.parametrize("name,args,fragments", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_mistake_exits_2_with_one_line_naming_the_field(tmp_path, name, args, fragments):
    args = list(args(tmp_path))
    if name != "no_workdir" and not any(a.startswith("--workdir") for a in args):
        args.append(f"--workdir={tmp_path / 'run'}")
    status, output = cli(*args)
    assert_user_error(status, output, *fragments)


def test_workdir_that_is_a_file_is_refused(tmp_path):
    path = tmp_path / "run"
    path.write_text("not a directory")
    assert_user_error(*cli(SMOKE, f"--workdir={path}"), f"--workdir='{path}'", "is a file")


def test_workdir_in_use_by_another_run_is_refused(tmp_path):
    lock = checkpoint.WorkdirLock(str(tmp_path))
    try:
        assert_user_error(*cli(SMOKE, f"--workdir={tmp_path}"), "in use by another run",
                          str(os.getpid()))
    finally:
        lock.release()


def test_nan_in_training_stops_with_one_line(tmp_path):
    status, output = cli(SMOKE, "--config.optim.d_lr=1e30", "--config.eval_every=-1",
                         f"--workdir={tmp_path}")
    assert_user_error(status, output, "non-finite", "discriminator", "config.nan_policy",
                      "last good checkpoint")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """(workdir, output) of the dcgan smoke recipe run to its end through the CLI."""
    workdir = tmp_path_factory.mktemp("finished") / "run"
    status, output = cli(SMOKE, f"--workdir={workdir}")
    assert status == 0, output[-3000:]
    return workdir, output


def test_smoke_run_first_and_last_lines_are_ours(finished_run):
    workdir, output = finished_run
    out = lines(output)
    assert "Traceback" not in output
    assert "gan_jax: training gan (dcgan/dcgan) from configs/dcgan.py:smoke on digits" in out[0]
    assert "1 cpu device(s)" in out[0] and str(workdir) in out[0], out[0]
    compiling = [i for i, line in enumerate(out) if "Compiling the train step" in line]
    first_step = [i for i, line in enumerate(out) if "step 2/6" in line]
    assert compiling and first_step and compiling[0] < first_step[0]
    last = out[-1]
    assert "gan_jax: done at step 6/6: fd_digits=" in last, last
    grid = os.path.join(str(workdir), "samples", "samples_0000006.png")
    ckpt = os.path.join(str(workdir), "checkpoints", "6")
    assert grid in last and ckpt in last, last
    assert os.path.isfile(grid) and os.path.isdir(ckpt)


def test_rerun_of_a_finished_run_exits_0_at_its_last_step(finished_run):
    workdir, _ = finished_run
    status, output = cli(SMOKE, f"--workdir={workdir}")
    assert status == 0 and "Traceback" not in output, output[-3000:]
    last = lines(output)[-1]
    assert "already at step 6 (config.steps=6)" in last and "--config.steps" in last, last
    assert "Compiling" not in output


def _copy(finished_run, tmp_path):
    workdir = tmp_path / "run"
    shutil.copytree(finished_run[0], workdir)
    return workdir


def _digests(directory):
    return {os.path.relpath(os.path.join(r, f), directory):
            hashlib.sha256(open(os.path.join(r, f), "rb").read()).hexdigest()
            for r, _, files in os.walk(directory) for f in files}


def test_workdir_whose_every_checkpoint_is_corrupt_refuses_and_keeps_them(finished_run, tmp_path):
    workdir = _copy(finished_run, tmp_path)
    ckpt = workdir / "checkpoints"
    steps = sorted(int(d) for d in os.listdir(ckpt) if d.isdigit())
    assert len(steps) >= 2
    for step in steps:  # truncate every data and metadata file of every checkpoint
        for root, _, files in os.walk(ckpt / str(step) / "state"):
            for f in files:
                with open(os.path.join(root, f), "r+b") as fh:
                    fh.truncate(max(os.path.getsize(os.path.join(root, f)) // 3, 1))
    before = _digests(ckpt)
    status, output = cli(SMOKE, "--config.steps=12", f"--workdir={workdir}")
    assert_user_error(status, output, "no checkpoint in", str(ckpt), "left untouched",
                      "another --workdir", *(f"{s} (" for s in steps))
    assert _digests(ckpt) == before
    assert "Compiling" not in output


def test_checkpoint_that_does_not_match_the_config_is_one_line(finished_run, tmp_path):
    workdir = _copy(finished_run, tmp_path)
    status, output = cli(SMOKE, "--config.steps=12", "--config.g.width=16", f"--workdir={workdir}")
    assert_user_error(status, output, "does not match the config", "arrays differ", "g_",
                      " vs config (",
                      "config.json", "another --workdir")
