"""gan_jax/games/gan.py and games/began.py: one step against closed-form / independent references.

With linear nets (MLP depth 0) on 2-D points and plain SGD, one step of the gan game
has a closed form in numpy: n_critic D updates (loss + penalty, then clipping), then
G's gradient through the UPDATED D on the last critic iteration's fakes. The
references below write those gradients by hand for each loss and penalty.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import data, games, losses
from tests.helpers import recipe, run_python

# Distinct learning rates: a step that used one player's rate for the other fails.
G_LR, D_LR = 0.03, 0.07


def linear_config(recipe_name="wgan", **overrides):
    """A recipe's smoke variant on `ring` with linear G (z -> Az + c) and linear D (x -> w.x + b)."""
    base = {"data.name": "ring", "g.net": "mlp", "d.net": "mlp", "g.depth": 0, "d.depth": 0,
            "g.z_dim": 3, "optim.name": "sgd", "optim.g_lr": G_LR, "optim.d_lr": D_LR,
            "optim.momentum": 0.0, "batch_size": 8, "ema.decay": 0.0}
    base.update(overrides)
    return recipe(recipe_name, **base)


def _init(config):
    game = games.get(config.game)
    per_step = getattr(game, "examples_per_step", lambda c: c.batch_size)(config)
    pipe = data.build(config, 1, 0, 1, per_step)
    batch = {k: v[0] for k, v in pipe.batch(0).items()}
    return game, game.init(jax.random.PRNGKey(1), config, {"x": batch["x"][None]}), batch


def _linear_params(state):
    (gb, gk), (db, dk) = (jax.tree_util.tree_leaves(state.g_params),
                          jax.tree_util.tree_leaves(state.d_params))
    return (np.asarray(gk, np.float64), np.asarray(gb, np.float64),
            np.asarray(dk, np.float64)[:, 0], float(np.asarray(db)[0]))


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# dL/d(output) per example (times B) of each D loss: (real, fake) -> (d/dr, d/df).
D_GRADS = {
    "wasserstein": lambda r, f: (-np.ones_like(r), np.ones_like(f)),
    "hinge": lambda r, f: (-(1 - r > 0).astype(float), (1 + f > 0).astype(float)),
    "nonsaturating": lambda r, f: (-_sigmoid(-r), _sigmoid(f)),
    "least_squares": lambda r, f: (r - 1.0, f),
    "relativistic": lambda r, f: (-_sigmoid(f - r), _sigmoid(f - r)),
}
# dL/d(fake output) per example (times B) of each G loss: (real, fake) -> d/df.
G_GRADS = {
    "wasserstein": lambda r, f: -np.ones_like(f),
    "hinge": lambda r, f: -np.ones_like(f),
    "nonsaturating": lambda r, f: -_sigmoid(-f),
    "least_squares": lambda r, f: f - 1.0,
    "relativistic": lambda r, f: -_sigmoid(r - f),
}


def reference_step(config, state, batch):
    """numpy closed form of one gan train_step with linear nets and SGD; new (A, c, w, b)."""
    a, c, w, b = _linear_params(state)
    n_critic, lam = config.optim.n_critic, config.loss.penalty_weight
    reals = np.asarray(batch["x"], np.float64).reshape(-1, n_critic, 2).swapaxes(0, 1)
    per = reals.shape[1]
    key = jax.random.fold_in(state.rng, state.step)
    for i in range(n_critic):
        k = jax.random.fold_in(key, i)
        z = np.asarray(jax.random.normal(jax.random.fold_in(k, 0), (per, a.shape[0])), np.float64)
        fake = z @ a + c
        dr, df = D_GRADS[config.loss.name if config.loss.name in D_GRADS else "nonsaturating"](
            reals[i] @ w + b, fake @ w + b)
        gw = (reals[i].T @ dr + fake.T @ df) / per
        gb = (dr.sum() + df.sum()) / per
        norm = np.linalg.norm(w)
        if config.loss.penalty in ("gp", "dragan"):   # (||w|| - target)^2 for any points
            target = config.loss.get("gp_target", 1.0)
            gw = gw + lam * 2.0 * (norm - target) * w / norm
        elif config.loss.penalty == "r1":             # gamma/2 ||w||^2
            gw = gw + lam * w
        w, b = w - D_LR * gw, b - D_LR * gb
        if config.loss.clip > 0:
            w, b = np.clip(w, -config.loss.clip, config.loss.clip), np.clip(b, -config.loss.clip,
                                                                               config.loss.clip)
    real, f = reals[-1], fake @ w + b
    if config.loss.name == "feature_matching":        # features of a depth-0 MLP = its input
        dfake = -2.0 * (real.mean(0) - fake.mean(0))[None, :] / 2.0 * np.ones((per, 1))
    else:
        dfake = G_GRADS[config.loss.name](real @ w + b, f)[:, None] * w[None, :]
    dfake = dfake / per
    return a - G_LR * z.T @ dfake, c - G_LR * dfake.sum(0), w, b


CASES = [
    ("wgan", {}),                                            # wasserstein, clip 0.01, n_critic 5
    ("wgan", {"loss.clip": 0.5, "optim.n_critic": 2}),
    ("wgan_gp", {"optim.n_critic": 2}),                     # wasserstein + gp
    # gp towards 0.5 with weight 3 (defaults 1 and 10 hide an ignored target), EMA on:
    ("wgan_gp", {"optim.n_critic": 2, "loss.gp_target": 0.5, "loss.penalty_weight": 3.0,
                 "ema.decay": 0.9}),
    ("dragan", {}),                                          # nonsaturating + dragan
    ("hinge", {"loss.penalty": "r1", "loss.penalty_weight": 3.0}),
    ("lsgan", {}),
    ("rsgan", {"optim.n_critic": 2}),                        # G's loss reads D(real)
    ("dcgan", {"loss.name": "feature_matching"}),
]


@pytest.mark.parametrize("name,overrides", CASES,
                         ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in o.items())}" for n, o in CASES])
def test_one_step_matches_numpy_closed_form_with_linear_nets(name, overrides):
    """G and D with distinct SGD rates 0.03 / 0.07. Checked against games/gan.py with the
    critic batch split contiguously, a critic iteration dropped, the penalty weight dropped,
    the gp target ignored (the 0.5 case), and against optim.py / _player.py with the players'
    rates swapped, state.py logging the gradient's norm as the update's, _player.py logging
    G's parameter norm for D, and gan.sample ignoring the EMA."""
    config = linear_config(name, **overrides)
    game, state, batch = _init(config)
    new, metrics = jax.jit(lambda s, b: game.train_step(s, b, config))(state, batch)
    want = reference_step(config, state, batch)
    for got, w in zip(_linear_params(new), want):
        np.testing.assert_allclose(got, w, rtol=2e-5, atol=1e-6)
    assert int(new.step) == 1
    # Logged norms: the optimizer's update (-lr grad for SGD), the gradient, the new params.
    flat = lambda *xs: np.concatenate([np.ravel(x) for x in xs])
    old = _linear_params(state)
    g_step = flat(want[0] - old[0], want[1] - old[1])
    np.testing.assert_allclose(float(metrics["g_update_norm"]), np.linalg.norm(g_step), rtol=1e-4)
    np.testing.assert_allclose(float(metrics["g_grad_norm"]), np.linalg.norm(g_step) / G_LR,
                               rtol=1e-4)
    np.testing.assert_allclose(float(metrics["g_param_norm"]),
                               np.linalg.norm(flat(want[0], want[1])), rtol=1e-5)
    np.testing.assert_allclose(float(metrics["d_param_norm"]),  # after D's last update
                               np.linalg.norm(flat(want[2], want[3])), rtol=1e-5)
    if config.optim.n_critic == 1 and config.loss.clip == 0:
        d_step = flat(want[2] - old[2], want[3] - old[3])
        np.testing.assert_allclose(float(metrics["d_update_norm"]), np.linalg.norm(d_step),
                                   rtol=1e-4)
        np.testing.assert_allclose(float(metrics["d_grad_norm"]), np.linalg.norm(d_step) / D_LR,
                                   rtol=1e-4)
    if config.ema.decay > 0:
        # ema_1 = decay ema_0 + (1 - decay) params_1 with ema_0 = params_0; samples use it.
        ec, ea = [np.asarray(x, np.float64) for x in jax.tree_util.tree_leaves(new.g_ema)]
        a0, c0 = old[:2]
        np.testing.assert_allclose(ea, 0.9 * a0 + 0.1 * want[0], rtol=2e-5, atol=1e-6)
        np.testing.assert_allclose(ec, 0.9 * c0 + 0.1 * want[1], rtol=2e-5, atol=1e-6)
        key = jax.random.PRNGKey(3)
        z = np.asarray(jax.random.normal(key, (5, config.g.z_dim)), np.float64)
        np.testing.assert_allclose(np.asarray(game.sample(new, config, batch, key, 5)),
                                   z @ ea + ec, rtol=2e-5, atol=1e-6)
    if config.loss.penalty in ("gp", "dragan"):
        # Logged penalty of a linear critic: (||w|| - 1)^2 with w of the last critic update's input.
        assert np.isfinite(float(metrics["d_penalty"]))


def test_gp_penalty_metric_of_linear_critic_is_closed_form():
    config = linear_config("wgan_gp", **{"optim.n_critic": 1})
    game, state, batch = _init(config)
    _, metrics = game.train_step(state, batch, config)
    w = _linear_params(state)[2]
    np.testing.assert_allclose(float(metrics["d_penalty"]), (np.linalg.norm(w) - 1) ** 2,
                               rtol=1e-5)


def test_weight_clipping_bounds_every_critic_parameter_after_a_step():
    config = linear_config("wgan", **{"d.depth": 2, "d.width": 16, "optim.d_lr": 10.0})
    game, state, batch = _init(config)
    new, _ = game.train_step(state, batch, config)
    leaves = jax.tree_util.tree_leaves(new.d_params)
    assert max(float(jnp.max(jnp.abs(p))) for p in leaves) <= 0.01 + 1e-9
    assert any(float(jnp.max(jnp.abs(p))) == pytest.approx(0.01) for p in leaves)


def test_unknown_penalty_raises_naming_the_field():
    config = linear_config("wgan", **{"loss.penalty": "wgp"})
    game, state, batch = _init(config)
    with pytest.raises(ValueError, match=r"config.loss.penalty='wgp' is unknown"):
        game.train_step(state, batch, config)


# --- BEGAN ---------------------------------------------------------------------------------

def test_began_step_matches_jax_grad_of_the_papers_losses_and_k_update():
    """D: theta_D -= lr grad(L(x) - k L(G(z))); G: theta_G -= lr grad L(G(z)); k closed form.

    The game gets both gradients from one forward and two vjps; the reference
    differentiates the paper's losses with jax.grad directly.
    """
    config = recipe("began", **{"optim.name": "sgd", "optim.momentum": 0.0, "optim.g_lr": G_LR,
                                "optim.d_lr": D_LR, "began.k_init": 0.3, "began.lambda_k": 0.1,
                                "began.gamma": 0.7,
                                "batch_size": 4})
    game, state, batch = _init(config)
    g, d = games.get("gan").make_nets(config, batch["x"].shape[1:])
    z = jax.random.normal(jax.random.fold_in(jax.random.fold_in(state.rng, 0), 0),
                          (4, config.g.z_dim))
    real = batch["x"]
    recon_loss = lambda dp, x: losses.began_reconstruction_loss(x, d.apply({"params": dp}, x))
    fake_fn = lambda gp: g.apply({"params": gp}, z)
    d_loss = lambda dp: recon_loss(dp, real) - 0.3 * recon_loss(dp, fake_fn(state.g_params))
    g_loss = lambda gp: recon_loss(state.d_params, fake_fn(gp))
    want_d = jax.tree_util.tree_map(lambda p, gr: p - D_LR * gr, state.d_params,
                                    jax.jit(jax.grad(d_loss))(state.d_params))
    want_g = jax.tree_util.tree_map(lambda p, gr: p - G_LR * gr, state.g_params,
                                    jax.jit(jax.grad(g_loss))(state.g_params))
    l_real = float(jax.jit(recon_loss)(state.d_params, real))
    l_fake = float(jax.jit(g_loss)(state.g_params))

    new, metrics = jax.jit(lambda s, b: game.train_step(s, b, config))(state, batch)
    for got, want in ((new.d_params, want_d), (new.g_params, want_g)):
        jax.tree_util.tree_map(
            lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4,
                                                    atol=1e-6), got, want)
    np.testing.assert_allclose(float(new.extra["k"]),
                               np.clip(0.3 + 0.1 * (0.7 * l_real - l_fake), 0, 1), rtol=1e-5)
    np.testing.assert_allclose(float(metrics["began_M"]), l_real + abs(0.7 * l_real - l_fake),
                               rtol=1e-5)


def test_began_k_follows_its_control_law_over_steps_and_clips():
    """k_{t+1} = clip(k_t + lambda_k (gamma L(x)_t - L(G(z))_t), 0, 1) over 6 steps from
    k_0 = 0.6, with gamma 0.7 and lambda_k 4 (large, so the clip at 0 or 1 is reached);
    the logged began_k is the k of the step (k_t), the one D's loss used. Checked against
    began.py with gamma and lambda_k swapped and logging k_{t+1}, and losses.py clipping
    at -1."""
    config = recipe("began", **{"began.k_init": 0.6, "began.lambda_k": 4.0, "began.gamma": 0.7,
                                "batch_size": 4})
    game, state, batch = _init(config)
    step = jax.jit(lambda s, b: game.train_step(s, b, config))
    k, clipped = 0.6, 0
    for _ in range(6):
        state, m = step(state, batch)
        assert float(m["began_k"]) == pytest.approx(k, abs=1e-7)
        raw = k + 4.0 * (0.7 * float(m["d_real"]) - float(m["d_fake"]))
        clipped += not 0.0 <= raw <= 1.0
        k = float(np.clip(raw, 0.0, 1.0))
        assert float(state.extra["k"]) == pytest.approx(k, abs=1e-6)
        np.testing.assert_allclose(float(m["d_loss"]),
                                   float(m["d_real"]) - float(m["began_k"]) * float(m["d_fake"]),
                                   rtol=1e-6)
    assert clipped >= 1


def test_began_rejects_a_non_autoencoder_discriminator():
    config = recipe("began", **{"d.net": "dcgan", "d.batch_norm": False})
    game, state, batch = _init(config)
    with pytest.raises(ValueError, match=r"config.d.net='dcgan' .* BEGAN needs an autoencoder"):
        game.train_step(state, batch, config)


# --- Devices -------------------------------------------------------------------------------

DEVICES_CODE = r"""
import jax, numpy as np
from gan_jax import data, games, parallel
from tests.helpers import recipe
for name in ("wgan_gp", "dragan"):
    config = recipe(name, **{"data.name": "ring", "g.net": "mlp", "d.net": "mlp", "g.depth": 1,
                             "d.depth": 1, "g.width": 8, "d.width": 8, "d.activation": "tanh",
                             "g.z_dim": 3, "optim.name": "sgd", "optim.momentum": 0.9,
                             "optim.n_critic": 2, "batch_size": 8, "ema.decay": 0.0})
    game = games.get("gan")
    host = data.build(config, 1, 0, 1, game.examples_per_step(config)).host_batch(0)
    state = game.init(jax.random.PRNGKey(0), config, {"x": host["x"][None]})
    outs = []
    for n in (1, 2):
        devices = jax.local_devices()[:n]
        step = parallel.map_step(lambda s, b: game.train_step(s, b, config), devices=devices)
        s = parallel.replicate(state, devices)  # placed as the step's outputs: one compile
        for _ in range(3):
            s, _ = step(s, {"x": host["x"].reshape((n, -1, 2))})
        outs.append(jax.tree_util.tree_leaves((s.g_params, s.d_params)))
    err = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in zip(*outs))
    print(name, err)
    assert err < 1e-5, (name, err)
"""


def test_penalised_step_is_the_same_on_one_and_two_devices():
    """GP's eps and DRAGAN's noise are drawn at the global batch shape (sharded_uniform)."""
    run_python(DEVICES_CODE, devices=2, timeout=600)
