"""Every recipe in configs/ (found, not listed): its smoke variant trains through the real
loop (gan_jax.train.train_and_evaluate) to its last step with finite metrics and no skipped
step, writes its sample grid and final checkpoint, and its evaluation gives values (no NaN).
A new recipe is tested by being added."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from gan_jax import checkpoint, config_check, train
from tests.helpers import recipe, recipe_names


def _rows(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.mark.parametrize("name", recipe_names())
def test_recipe_validates_with_its_paper_defaults(name):
    config_check.validate(recipe(name, ""))


@pytest.mark.parametrize("name", recipe_names())
def test_smoke_variant_trains_through_the_loop(name, tmp_path):
    config = recipe(name, "smoke", nan_policy="stop")
    config_check.validate(config)
    state, last_eval = train.train_and_evaluate(config, str(tmp_path))
    assert int(np.asarray(state.step).reshape(-1)[0]) == config.steps
    rows = [r for r in _rows(tmp_path) if "d_loss" in r or "g_loss" in r]
    assert rows and rows[-1]["step"] == config.steps
    assert all(np.isfinite(v) for r in rows for v in r.values())
    assert all(r["skipped_steps"] == 0 for r in rows)
    for player in ("g", "d"):  # both players learn, and every game reports the same metrics
        for metric in ("lr", "grad_norm", "update_norm", "param_norm"):
            assert f"{player}_{metric}" in rows[-1], (player, metric, sorted(rows[-1]))
        assert rows[-1][f"{player}_update_norm"] > 0
    assert os.path.isfile(os.path.join(tmp_path, "samples", f"samples_{config.steps:07d}.png"))
    assert checkpoint.Checkpointer(str(tmp_path)).steps()[-1] == config.steps
    if config.eval_every >= 0:  # +inf is a value (reverse KL when no mode is covered); NaN not
        assert last_eval and not any(np.isnan(v) for v in last_eval.values()), last_eval
    if config.game == "began":  # the control variable stays a proportion
        assert 0.0 <= rows[-1]["began_k"] <= 1.0
