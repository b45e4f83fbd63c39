"""Unrolled GAN (gan_jax/games/unrolled.py): k = 0 is the plain GAN step, the second-order
gradient matches PyTorch autograd through unrolled SGD and finite differences through
unrolled Adam, and differs from the first-order variant."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from ml_collections import ConfigDict

from gan_jax import data, losses, parallel, train
from gan_jax.games import gan, unrolled
from tests.helpers import recipe, requires_torch, torch


def one_device(fn):
    """fn mapped over a device axis of size 1 (what the loop's pmap does on one device)."""
    mapped = jax.vmap(fn, in_axes=(None, 0), axis_name=parallel.AXIS)
    return jax.jit(lambda s, b: jax.tree_util.tree_map(lambda a: a[0], mapped(s, b)))


def setup(cfg, seed=0):
    batch = data.build(cfg, 1, 0, 1, gan.examples_per_step(cfg)).batch(0)
    return gan.init(jax.random.PRNGKey(seed), cfg, batch), batch


def assert_trees_close(a, b, rtol=1e-6, atol=1e-7):
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


@pytest.mark.parametrize("recipe_args", [("unrolled", "smoke"), ("pacgan", "ring2,smoke")])
def test_zero_unrolled_steps_is_the_plain_gan_step(recipe_args):
    # pacgan: a BatchNorm generator, a packed maxout D and two critic steps.
    cfg = recipe(*recipe_args, game="unrolled", **{"optim.n_critic": 2})
    cfg.unroll = ConfigDict({"steps": 0, "first_order": False})
    state, batch = setup(cfg)
    ours = one_device(lambda s, b: unrolled.train_step(s, b, cfg))(state, batch)
    plain = one_device(lambda s, b: gan.train_step(s, b, cfg))(state, batch)
    assert_trees_close(ours, plain)


def g_grads(cfg, state, real, z, key):
    loss = lambda p: unrolled.unrolled_g_loss(p, state, cfg, real, z, key)[0]
    return jax.grad(loss)(state.g_params)


def unrolled_inputs(cfg, seed=0):
    state, batch = setup(cfg, seed)
    real = batch["x"][0]
    z = jax.random.normal(jax.random.PRNGKey(seed + 1), (real.shape[0], cfg.g.z_dim))
    return state, real, z, jax.random.PRNGKey(seed + 2)


def test_second_order_gradient_differs_from_first_order_and_from_k0():
    cfg = recipe("unrolled", "smoke", **{"unroll.steps": 3, "optim.d_lr": 0.05})
    state, real, z, key = unrolled_inputs(cfg)
    second = g_grads(cfg, state, real, z, key)
    first = g_grads(recipe("unrolled", "smoke,first_order", **{"unroll.steps": 3,
                                                                "optim.d_lr": 0.05}),
                    state, real, z, key)
    k0 = g_grads(recipe("unrolled", "smoke", **{"unroll.steps": 0}), state, real, z, key)
    norm = lambda t: float(jnp.sqrt(sum(jnp.sum(x ** 2) for x in jax.tree_util.tree_leaves(t))))
    diff = lambda a, b: norm(jax.tree_util.tree_map(jnp.subtract, a, b)) / norm(b)
    assert np.isfinite(norm(second)) and diff(second, first) > 1e-3
    assert diff(first, k0) > 1e-3


def torch_unrolled_g_grads(g_params, d_params, real, z, lr, steps, first_order):
    """PyTorch autograd through `steps` SGD updates of the tanh MLP D (minimax loss)."""
    t = lambda a: torch.tensor(np.array(a, np.float64), requires_grad=True)
    layer = lambda tree: [(t(tree[n]["kernel"]), t(tree[n]["bias"]))
                          for n in sorted(tree, key=lambda n: int(n.split("_")[1]))]

    def mlp(layers, x):
        for w, b in layers[:-1]:
            x = torch.tanh(x @ w + b)
        return (x @ layers[-1][0] + layers[-1][1])[:, 0 if layers[-1][0].shape[1] == 1 else slice(None)]

    g, d = layer(g_params), layer(d_params["MLP_0"])
    real, z = torch.tensor(np.array(real, np.float64)), torch.tensor(np.array(z, np.float64))
    fake = mlp(g, z)
    sp = torch.nn.functional.softplus
    for _ in range(steps):
        d_loss = sp(-mlp(d, real)).mean() + sp(mlp(d, fake)).mean()
        flat = [p for wb in d for p in wb]
        grads = torch.autograd.grad(d_loss, flat, create_graph=True)
        new = [p - lr * gr for p, gr in zip(flat, grads)]
        d = list(zip(new[::2], new[1::2]))
    if first_order:
        d = [(w.detach(), b.detach()) for w, b in d]
    g_loss = -sp(mlp(d, fake)).mean()
    grads = torch.autograd.grad(g_loss, [p for wb in g for p in wb])
    return [gr.numpy() for gr in grads]


@requires_torch
@pytest.mark.parametrize("first_order", [False, True])
def test_unrolled_sgd_gradient_matches_torch_autograd(first_order):
    with jax.enable_x64(True):
        cfg = recipe("unrolled", "smoke", **{"unroll.steps": 3, "unroll.first_order": first_order,
                                             "optim.name": "sgd", "optim.d_lr": 0.5})
        state, real, z, key = unrolled_inputs(cfg)
        state = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64)
                                       if jnp.issubdtype(a.dtype, jnp.floating) else a, state)
        real, z = real.astype(jnp.float64), z.astype(jnp.float64)
        ours = g_grads(cfg, state, real, z, key)
    ref = torch_unrolled_g_grads(state.g_params, state.d_params, real, z, 0.5, 3, first_order)
    names = sorted(ours, key=lambda n: int(n.split("_")[1]))
    flat = [np.asarray(ours[n][p]) for n in names for p in ("kernel", "bias")]
    for a, b in zip(flat, ref):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_unrolled_adam_gradient_matches_finite_differences():
    with jax.enable_x64(True):
        cfg = recipe("unrolled", "smoke", **{"unroll.steps": 2, "optim.d_lr": 0.05})
        state, batch = setup(cfg)
        step = one_device(lambda s, b: unrolled.train_step(s, b, cfg))
        for _ in range(3):  # D's Adam moments away from their zero init
            state, _ = step(state, batch)
        state = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64)
                                       if jnp.issubdtype(a.dtype, jnp.floating) else a, state)
        real = batch["x"][0].astype(jnp.float64)
        z = jax.random.normal(jax.random.PRNGKey(7), (real.shape[0], cfg.g.z_dim), jnp.float64)
        loss = lambda p: unrolled.unrolled_g_loss(p, state, cfg, real, z,
                                                  jax.random.PRNGKey(8))[0]
        check_grads(loss, (state.g_params,), order=1, modes=["rev"], eps=1e-6, atol=1e-6,
                    rtol=1e-5)


@pytest.mark.parametrize("clip", [0.0, 0.05])
def test_unrolled_d_follows_ds_own_optimizer(clip):
    """theta_D^k is 3 of D's own Adam updates; with config.loss.clip 0.05 (a value that binds:
    asserted) each update is followed by the weight clipping D's real update applies
    (checked against an unrolled D that skips the clipping)."""
    cfg = recipe("unrolled", "smoke", **{"unroll.steps": 3, "loss.clip": clip})
    state, real, z, key = unrolled_inputs(cfg)
    g, d = gan.make_nets(cfg, real.shape[1:])
    fake = gan.apply_net(g, state.g_params, state.g_batch_stats, z)[0]
    loss = losses.get(cfg.loss.name)
    ours = unrolled.unroll_d(state, d, loss, cfg, real, fake, key, 3)
    ref = state
    for _ in range(3):
        grads = jax.grad(lambda p: loss.d(d.apply({"params": p}, real),
                                          d.apply({"params": p}, fake)))(ref.d_params)
        ref, _ = ref.apply_gradients("d", grads)
        if clip:
            ref = ref.replace(d_params=losses.clip_weights(ref.d_params, clip))
    assert_trees_close(ours, ref.d_params, rtol=1e-5, atol=1e-7)
    if clip:
        top = max(float(jnp.max(jnp.abs(x))) for x in jax.tree_util.tree_leaves(ours))
        assert top == pytest.approx(clip, rel=1e-7)
        raw = max(float(jnp.max(jnp.abs(x))) for x in jax.tree_util.tree_leaves(state.d_params))
        assert raw > 2 * clip  # the clip binds


def test_recipe_errors_name_the_field():
    with pytest.raises(ValueError, match="unknown variant"):
        recipe("unrolled", "grid,bogus")
    cfg = recipe("unrolled", "smoke", **{"unroll.steps": -1})
    state, batch = setup(cfg)
    with pytest.raises(ValueError, match=r"config.unroll.steps=-1"):
        one_device(lambda s, b: unrolled.train_step(s, b, cfg))(state, batch)


def test_unrolled_smoke_recipe_trains_and_evaluates_modes(tmp_path):
    train.train_and_evaluate(recipe("unrolled", "grid,smoke"), str(tmp_path))
    rows = [json.loads(l) for l in open(tmp_path / "metrics.jsonl")]
    assert all(np.isfinite(r["g_loss"]) for r in rows if "g_loss" in r)
    assert [r for r in rows if "eval/modes" in r]
