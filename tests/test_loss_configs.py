"""configs/{wgan,wgan_gp,lsgan,hinge,dragan,began,rsgan}.py: the paper settings of each
(their smoke variants train through the loop in tests/test_recipes.py, with every recipe).

The 2000-step digits runs of every config are `experiments/loss_table.py` (docs/results.md); `test_loss_table_trains_2000_steps_without_nan` (slow) runs them.
"""
from __future__ import annotations

import json
import os

import pytest

from gan_jax import config_check
from tests.helpers import ROOT, recipe

CONFIGS = ("wgan", "wgan_gp", "lsgan", "hinge", "dragan", "rsgan", "began")


def test_wgan_has_arjovsky_algorithm1_settings():
    c = recipe("wgan", "")
    assert (c.loss.name, c.loss.penalty, c.loss.clip) == ("wasserstein", "none", 0.01)
    assert (c.optim.name, c.optim.g_lr, c.optim.d_lr) == ("rmsprop", 5e-5, 5e-5)
    assert (c.optim.n_critic, c.batch_size) == (5, 64)
    assert c.steps >= 2000


def test_wgan_gp_has_gulrajani_algorithm1_settings():
    c = recipe("wgan_gp", "")
    assert (c.loss.name, c.loss.penalty, c.loss.penalty_weight, c.loss.clip) == (
        "wasserstein", "gp", 10.0, 0.0)
    assert (c.optim.name, c.optim.g_lr, c.optim.d_lr) == ("adam", 1e-4, 1e-4)
    assert tuple(c.optim.g_betas) == tuple(c.optim.d_betas) == (0.0, 0.9)
    assert (c.optim.n_critic, c.batch_size, c.d.batch_norm) == (5, 64, False)


@pytest.mark.parametrize("name,loss,penalty", [
    ("lsgan", "least_squares", "none"), ("hinge", "hinge", "none"),
    ("dragan", "nonsaturating", "dragan"), ("rsgan", "relativistic", "none")])
def test_loss_config_names_its_loss_and_penalty(name, loss, penalty):
    c = recipe(name, "")
    assert (c.loss.name, c.loss.penalty) == (loss, penalty)
    assert c.steps >= 2000


def test_began_has_paper_control_settings():
    c = recipe("began", "")
    assert (c.game, c.g.net, c.d.net) == ("began", "began", "began")
    assert (c.began.gamma, c.began.lambda_k, c.began.k_init) == (0.5, 1e-3, 0.0)
    assert (c.optim.g_lr, c.batch_size, c.g.z_dim) == (1e-4, 16, 64)


@pytest.mark.parametrize("name", CONFIGS)
def test_config_validates_and_rejects_unknown_variant(name):
    for arg in ("", "smoke"):
        config_check.validate(recipe(name, arg))
    with pytest.raises(ValueError, match=rf"configs/{name}.py: unknown variant 'smok'"):
        recipe(name, "smok")


@pytest.mark.slow
def test_loss_table_trains_2000_steps_without_nan(tmp_path):
    """experiments/loss_table.py: every loss config 2000 steps on digits (about an hour on CPU)."""
    from tests.helpers import run_python
    proc = run_python(f"import sys; sys.argv = ['loss_table', '--out={tmp_path}']; "
                      f"import runpy; runpy.run_path('{ROOT}/experiments/loss_table.py', "
                      f"run_name='__main__')", timeout=4 * 3600)
    table = open(os.path.join(tmp_path, "loss_table.md")).read()
    for name in CONFIGS:
        assert f"| {name} |" in table
    assert "nan" not in table.lower(), table
    assert proc.returncode == 0


def test_loss_table_counts_the_time_of_a_stopped_segment(tmp_path, monkeypatch):
    """A run stopped early (SIGTERM) exits asking for a rerun, and its wall time still counts."""
    import importlib.util
    import types
    spec = importlib.util.spec_from_file_location("loss_table",
                                                  os.path.join(ROOT, "experiments/loss_table.py"))
    loss_table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loss_table)
    clock = iter([100.0, 160.0, 200.0, 230.0])  # segment 1: 60 s, segment 2: 30 s
    monkeypatch.setattr(loss_table, "time", types.SimpleNamespace(time=lambda: next(clock)))
    stop_at = [3, 4]

    def fake_train(config, workdir):
        os.makedirs(workdir, exist_ok=True)
        last = stop_at.pop(0)
        with open(os.path.join(workdir, "metrics.jsonl"), "a") as f:
            f.write(json.dumps({"step": last, "d_loss": 0.5, "g_loss": 1.0}) + "\n")
    monkeypatch.setattr(loss_table.train, "train_and_evaluate", fake_train)
    argv = [f"--out={tmp_path}", "--configs=hinge", "--steps=4"]
    with pytest.raises(SystemExit, match="stopped at step 3 of 4"):
        loss_table.main(argv)
    assert json.load(open(tmp_path / "times.json")) == {"hinge": 60.0}
    loss_table.main(argv)
    assert json.load(open(tmp_path / "times.json")) == {"hinge": 90.0}
    assert "| hinge | hinge | none | 4 |" in open(tmp_path / "loss_table.md").read()
