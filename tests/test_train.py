"""The loop in-process: exact resume, NaN guard, config/checkpoint mismatch, workdir lock,
and clear errors for bad config values."""
import json
import os
import signal

import jax
import numpy as np
import pytest

from gan_jax import checkpoint, config_check, parallel, train
from gan_jax.errors import UserError
from tests.helpers import recipe


def read_rows(workdir):
    return [json.loads(l) for l in open(workdir / "metrics.jsonl")]


def leaves(state):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(state)]


def test_resume_after_stop_replays_exactly(tmp_path):
    # 2N straight vs N, stop, resume to 2N in the same workdir. (Stops off the log, eval and
    # checkpoint grids: test_resume_off_every_grid_and_on_it_... below.)
    kw = dict(steps=12, log_every=2, checkpoint_every=100, sample_every=100, eval_every=-1)
    straight, _ = train.train_and_evaluate(recipe("dcgan", **kw), str(tmp_path / "a"))
    train.train_and_evaluate(recipe("dcgan", **dict(kw, steps=6)), str(tmp_path / "b"))
    resumed, _ = train.train_and_evaluate(recipe("dcgan", **kw), str(tmp_path / "b"))
    assert read_rows(tmp_path / "a") == read_rows(tmp_path / "b")
    assert [r["step"] for r in read_rows(tmp_path / "a")] == [2, 4, 6, 8, 10, 12]
    for x, y in zip(leaves(straight), leaves(resumed)):
        np.testing.assert_array_equal(x, y)


# A toy WGAN-GP whose every interval differs: log 4, eval 6, sample 5, checkpoint 9, metrics
# fetched every 3 steps, 2 critic updates per step, an EMA of G (decay 0.9) and a linear LR
# decay from step 5, over 14 steps. Stops at 7 are off every grid, at 12 on the log, eval
# and fetch grids (and mid-decay for both).
GRIDS = {"steps": 14, "log_every": 4, "eval_every": 6, "sample_every": 5, "checkpoint_every": 9,
         "max_inflight_steps": 3, "optim.n_critic": 2, "ema.decay": 0.9,
         "optim.schedule": "linear_decay", "optim.decay_start": 5, "optim.g_lr": 3e-3,
         "optim.d_lr": 7e-3, "keep_checkpoints": 5}


def stop_after_calls(monkeypatch, stops):
    """Makes the loop's train step send this process SIGTERM during its n-th call (n in
    `stops`, counted from the start of each run), so a run stops at an exact step."""
    real_map_step = parallel.map_step

    def map_step(fn):
        step_fn, calls = real_map_step(fn), [0]

        def wrapped(*args):
            out = step_fn(*args)
            calls[0] += 1
            if calls[0] in stops:
                os.kill(os.getpid(), signal.SIGTERM)
            return out
        return wrapped

    monkeypatch.setattr(parallel, "map_step", map_step)


def test_resume_off_every_grid_and_on_it_replays_the_metrics_file_and_parameters(tmp_path,
                                                                                 monkeypatch):
    """Straight 14 steps vs stops at 7 (off the log, eval, sample, checkpoint and fetch
    grids: the partial log interval 5..7 rides in the checkpoint) and at 12 (on the log and
    eval grids): the whole metrics file and every leaf of the final state (both players,
    optimizer moments, EMA, step) must be identical. Checked against a loop that drops the
    checkpointed partial interval on resume (the row at step 8 differs)."""
    config = recipe("ring", "smoke,wgan_gp", **GRIDS)
    straight, _ = train.train_and_evaluate(config, str(tmp_path / "a"))
    run_b = str(tmp_path / "b")
    stop_after_calls(monkeypatch, {7})
    state, _ = train.train_and_evaluate(config, run_b)
    assert int(np.asarray(state.step).reshape(-1)[0]) == 7
    assert checkpoint.Checkpointer(run_b).steps()[-1] == 7
    stop_after_calls(monkeypatch, {5})  # the resumed run's 5th step is step 12
    state, _ = train.train_and_evaluate(config, run_b)
    assert int(np.asarray(state.step).reshape(-1)[0]) == 12
    assert checkpoint.Checkpointer(run_b).steps()[-2:] == [9, 12]
    monkeypatch.undo()
    resumed, _ = train.train_and_evaluate(config, run_b)
    rows = read_rows(tmp_path / "a")
    assert rows == read_rows(tmp_path / "b")
    assert sorted({r["step"] for r in rows}) == [4, 6, 8, 12, 14]  # log 4, 8, 12, 14; eval 6, 12, 14
    assert any(k.startswith("eval/") for r in rows for k in r)
    for x, y in zip(leaves(straight), leaves(resumed), strict=True):
        np.testing.assert_array_equal(x, y)


def test_each_log_row_is_the_mean_of_its_interval(tmp_path):
    """log_every=4 rows are the float64 means of the per-step rows of the same run logged
    with log_every=1 (steps 1..4, 5..8, and the short last interval 9..10); checked against
    a row holding only the interval's last step."""
    kw = dict(GRIDS, steps=10, eval_every=-1, sample_every=100, checkpoint_every=100)
    train.train_and_evaluate(recipe("ring", "smoke,wgan_gp", **dict(kw, log_every=1)),
                             str(tmp_path / "each"))
    train.train_and_evaluate(recipe("ring", "smoke,wgan_gp", **kw), str(tmp_path / "four"))
    each = {r["step"]: r for r in read_rows(tmp_path / "each")}
    four = read_rows(tmp_path / "four")
    assert [r["step"] for r in four] == [4, 8, 10]
    for row, interval in zip(four, ([1, 2, 3, 4], [5, 6, 7, 8], [9, 10])):
        assert row.keys() == each[interval[0]].keys()
        for k in row:
            if k in ("step", "skipped_steps"):
                continue
            values = [each[s][k] for s in interval]
            assert row[k] == pytest.approx(float(np.mean(values)), rel=1e-12, abs=1e-300), k
        assert row["skipped_steps"] == 0.0
    assert four[0]["d_loss"] != each[4]["d_loss"]  # the losses move within an interval


def test_signal_while_waiting_on_metrics_still_checkpoints(tmp_path, monkeypatch):
    # SIGTERM landing inside the loop's wait on metrics (after the step decided not to save)
    # must still leave a checkpoint at the step the run stopped at. Before the fix the loop
    # broke out without saving and the stop lost every step since the last checkpoint.
    config = recipe("dcgan", steps=12, log_every=100, checkpoint_every=100, sample_every=100,
                    eval_every=-1, max_inflight_steps=1)
    real_get, calls = jax.device_get, []

    def device_get(x):
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return real_get(x)

    monkeypatch.setattr(jax, "device_get", device_get)
    state, _ = train.train_and_evaluate(config, str(tmp_path))
    monkeypatch.setattr(jax, "device_get", real_get)
    stopped_at = int(np.asarray(state.step).reshape(-1)[0])
    assert 0 < stopped_at < 12
    assert checkpoint.Checkpointer(str(tmp_path)).steps()[-1] == stopped_at


def test_nan_guard_stops_with_step_player_and_term(tmp_path):
    cfg = recipe("dcgan", **{"optim.d_lr": 1e30, "steps": 4, "checkpoint_every": 100})
    with pytest.raises(train.NonFiniteError,
                       match=r"step \d+: non-finite .*d_.*discriminator.*last good checkpoint"):
        train.train_and_evaluate(cfg, str(tmp_path))


def test_nan_guard_skip_policy_keeps_parameters_finite(tmp_path):
    cfg = recipe("dcgan", nan_policy="skip", **{"optim.d_lr": 1e30, "steps": 4, "log_every": 4})
    state, _ = train.train_and_evaluate(cfg, str(tmp_path))
    assert all(np.isfinite(x).all() for x in leaves(state.d_params))
    assert sum(r.get("skipped_steps", 0) for r in read_rows(tmp_path)) >= 1


def test_resume_with_changed_shapes_lists_the_mismatched_parameters(tmp_path):
    train.train_and_evaluate(recipe("dcgan", steps=2), str(tmp_path))
    with pytest.raises(checkpoint.CheckpointMismatchError,
                       match=r"arrays differ: g_\S+: checkpoint \(.*\) vs config \("):
        train.train_and_evaluate(recipe("dcgan", steps=4, **{"g.width": 16}), str(tmp_path))


def test_config_changes_on_resume_are_reported(tmp_path, caplog):
    train.train_and_evaluate(recipe("dcgan", steps=2), str(tmp_path))
    cfg = recipe("dcgan", steps=3, **{"optim.g_lr": 1e-4})
    train.save_config(cfg, str(tmp_path))
    assert "config.optim.g_lr changed on resume" in caplog.text
    assert json.load(open(tmp_path / "config.json"))["optim"]["g_lr"] == 1e-4


def test_second_run_on_the_same_workdir_refuses(tmp_path):
    lock = checkpoint.WorkdirLock(str(tmp_path))
    try:
        with pytest.raises(UserError, match=r"in use by another run"):
            train.train_and_evaluate(recipe("dcgan"), str(tmp_path))
    finally:
        lock.release()
    checkpoint.WorkdirLock(str(tmp_path)).release()  # free again afterwards


@pytest.mark.parametrize("field,value,pattern", [
    ("game", "gna", r"config\.game='gna' is unknown; choose one of: .*gan"),
    ("loss.name", "hnge", r"config\.loss\.name='hnge' is unknown; choose one of"),
    ("loss.penalty", "gpp", r"config\.loss\.penalty='gpp' is unknown"),
    ("data.name", "mnits", r"config\.data\.name='mnits' is unknown"),
    ("nan_policy", "ignore", r"config\.nan_policy='ignore' is unknown"),
    ("steps", 0, r"config\.steps=0 must be an integer >= 1"),
    ("max_inflight_steps", 64, r"config\.max_inflight_steps=64 .*deadlock"),
])
def test_bad_config_values_name_the_field(field, value, pattern):
    with pytest.raises(ValueError, match=pattern):
        config_check.validate(recipe("dcgan", **{field: value}))


@pytest.mark.parametrize("field,value,pattern", [
    ("g.net", "dcgn", r"config\.g\.net='dcgn' is not a known generator; choose one of: .*dcgan"),
    ("data.image_size", 20, r"config\.data\.image_size=20 is not supported by the DCGAN nets"),
])
def test_bad_net_choices_fail_before_training(tmp_path, field, value, pattern):
    with pytest.raises(ValueError, match=pattern):
        train.train_and_evaluate(recipe("dcgan", **{field: value}), str(tmp_path))
