"""gan_jax/games/_player.py: every game updates G and D through `_player.update` (the same
norm and learning-rate metrics), and with config.ema.decay > 0 the translation games keep
the EMA of G, ema_t = decay ema_{t-1} + (1 - decay) params_t, and sample and evaluate with it.
"""
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import data, games, parallel
from gan_jax.games import _player
from tests.helpers import recipe

G_LR, D_LR, DECAY = 3e-4, 7e-4, 0.9
RECIPES = {"gan": "dcgan", "began": "began", "unrolled": "unrolled", "cyclegan": "cyclegan",
           "pix2pix": "pix2pix", "dtn": "dtn"}
TRANSLATION = ("cyclegan", "pix2pix", "dtn")
# CycleGAN's identity terms (two more passes of each G) only cost compile time here.
OVERRIDES = {"cyclegan": {"cyclegan.lambda_identity": 0.0}}
STEPS = 3
# The tests' programs compile without XLA's backend optimizations (about half the compile
# time); each test compares values made by the same programs.
FAST_COMPILE = {"xla_backend_optimization_level": 0}


class Run(NamedTuple):
    config: object
    module: object
    pipeline: object
    states: list      # state_0 (init), ..., state_STEPS, on the host
    metrics: dict     # of the last step (the translation games), else only g_lr and d_lr
    keys: list        # the names of the step's metrics
    players: list     # the `player` of each _player.update call while tracing the step


@functools.lru_cache(maxsize=None)
def smoke_run(game) -> Run:
    """The game's smoke recipe with G's and D's learning rates 3e-4 and 7e-4 and an EMA of G
    with decay 0.9: STEPS pmapped steps from init for the translation games; for the others
    one run of a program of the step that returns only the learning rates (the rest is
    compiled away), on a state of zeros."""
    config = recipe(RECIPES[game], "smoke", **{"optim.g_lr": G_LR, "optim.d_lr": D_LR,
                                               "ema.decay": DECAY, **OVERRIDES.get(game, {})})
    module, pipeline = games.get(game), data.build(config, 1)
    init = lambda key: module.init(key, config, pipeline.batch(0))
    if game in TRANSLATION:
        state = init(jax.random.PRNGKey(0))
    else:  # the learning rates depend on the step alone: zeros of the state's shapes will do
        state = jax.tree_util.tree_map(lambda x: jnp.zeros(x.shape, x.dtype),
                                       jax.eval_shape(init, jax.random.PRNGKey(0)))
    states = [parallel.replicate(state)]
    steps = STEPS if game in TRANSLATION else 1
    keys, players, update = [], [], _player.update

    def spy(state, player, *args, **kwargs):
        players.append(player)
        return update(state, player, *args, **kwargs)

    def train_step(state, batch):
        new, metrics = module.train_step(state, batch, config)
        keys.extend(metrics)
        if game in TRANSLATION:
            return new, metrics
        return state, {k: metrics[k] for k in ("g_lr", "d_lr")}

    _player.update = spy
    try:
        step = parallel.map_step(train_step).lower(states[0], pipeline.batch(0)).compile(
            compiler_options=FAST_COMPILE)
    finally:
        _player.update = update
    for i in range(steps):
        state, metrics = step(states[-1], pipeline.batch(i))
        if game in TRANSLATION:
            states.append(state)
    return Run(config, module, pipeline, jax.device_get(states), jax.device_get(metrics), keys,
               players)


def leaves(tree):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]


def same_tree(x, y):
    return (jax.tree_util.tree_structure(x) == jax.tree_util.tree_structure(y)
            and all(np.array_equal(a, b) for a, b in zip(leaves(x), leaves(y))))


def test_every_game_has_a_smoke_recipe_here():
    assert sorted(RECIPES) == games.available()


@pytest.mark.parametrize("game", sorted(RECIPES))
def test_every_game_updates_both_players_through_player_update(game):
    """The step calls _player.update once for G (and at least once for D), and logs each
    player's norms and its own learning rate (3e-4 for G, 7e-4 for D: a swap shows)."""
    run = smoke_run(game)
    assert run.players.count("g") == 1 and "d" in run.players and set(run.players) == {"g", "d"}
    for p in "gd":
        for name in ("grad_norm", "update_norm", "param_norm", "lr"):
            assert f"{p}_{name}" in run.keys, (game, p, name)
    assert run.metrics["g_lr"] == pytest.approx(G_LR) and run.metrics["d_lr"] == pytest.approx(D_LR)


@pytest.mark.parametrize("game", TRANSLATION)
def test_translation_game_logs_g_param_norm_after_the_update(game):
    run = smoke_run(game)
    norm = np.sqrt(sum(np.sum(np.square(x), dtype=np.float64) for x in leaves(run.states[-1].g_params)))
    assert run.metrics["g_param_norm"] == pytest.approx(norm, rel=1e-5)
    for p in "gd":
        for name in ("grad_norm", "update_norm", "param_norm"):
            assert np.isfinite(run.metrics[f"{p}_{name}"]) and run.metrics[f"{p}_{name}"] > 0


@pytest.mark.parametrize("game", TRANSLATION)
def test_translation_game_g_ema_is_the_closed_form_average(game):
    states = smoke_run(game).states
    assert (jax.tree_util.tree_structure(states[0].g_ema)
            == jax.tree_util.tree_structure(states[0].g_params))  # cyclegan: {'ab', 'ba'}
    ema = leaves(states[0].g_params)  # ema_0 = the initial params
    for t, state in enumerate(states[1:], 1):
        ema = [DECAY * e + (1 - DECAY) * p for e, p in zip(ema, leaves(state.g_params))]
        for got, want in zip(leaves(state.g_ema), ema):
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7, err_msg=f"{game} {t}")
    assert not same_tree(states[-1].g_ema, states[-1].g_params)


@pytest.mark.parametrize("game", TRANSLATION)
def test_translation_game_samples_come_from_the_ema(game):
    """sample(state) is the nets applied with g_ema: the same as with g_ema put in G's
    params' place, and not the same as with G's params put in the EMA's place."""
    run = smoke_run(game)
    state, host = run.states[-1], {k: v[0] for k, v in run.pipeline.batch(0).items()}
    sample = jax.jit(lambda s, b: run.module.sample(s, run.config, b, jax.random.PRNGKey(1), 4),
                     compiler_options=FAST_COMPILE)
    out = np.asarray(sample(state, host))
    np.testing.assert_array_equal(
        out, np.asarray(sample(state.replace(g_params=state.g_ema), host)))
    assert not np.allclose(out, np.asarray(sample(state.replace(g_ema=state.g_params), host)),
                           atol=1e-6)


@pytest.mark.parametrize("game", TRANSLATION)
def test_translation_game_evaluates_with_the_ema(game, monkeypatch):
    run = smoke_run(game)
    state, seen, translate = run.states[-1], [], run.module.translate

    def spy(net, params, stats, images):
        seen.append(params)
        return translate(net, params, stats, images)

    monkeypatch.setattr(run.module, "translate", spy)
    assert run.module.evaluate(state, run.config, run.pipeline, jax.random.PRNGKey(0))
    emas = list(state.g_ema.values()) if game == "cyclegan" else [state.g_ema]
    assert seen and all(any(same_tree(params, ema) for ema in emas) for params in seen), game
