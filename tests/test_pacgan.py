"""PacGAN packing in the MLP discriminator (gan_jax/nets/mlp.py) and configs/pacgan.py:
a PyTorch reference of the packed maxout D, the unpacked MLP on hand-made packs, the
paper's parameter counts, and a smoke run of the recipe."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import data, games, parallel, train
from gan_jax.nets import mlp
from tests.helpers import recipe, requires_torch, torch


def torch_packed_maxout_d(params, x, pack, width, pieces):
    """The packed maxout D in PyTorch: concat `pack` points, maxout layers, linear logit."""
    t = lambda a: torch.tensor(np.array(a, np.float64))
    layers = params["MLP_0"]
    names = sorted(layers, key=lambda n: int(n.split("_")[1]))
    with torch.no_grad():
        h = t(x).reshape(-1, pack * x.shape[1])
        for name in names[:-1]:
            h = torch.nn.functional.linear(h, t(layers[name]["kernel"]).T, t(layers[name]["bias"]))
            h = h.view(-1, width, pieces).max(dim=-1).values
        out = layers[names[-1]]
        return torch.nn.functional.linear(h, t(out["kernel"]).T, t(out["bias"]))[:, 0].numpy()


@requires_torch
def test_packed_maxout_discriminator_matches_torch():
    d = mlp.Discriminator(width=6, depth=3, activation="maxout", pack=3, maxout_pieces=4,
                          weight_init="normal", weight_scale=0.5)
    x = jax.random.normal(jax.random.PRNGKey(0), (12, 2))
    params = d.init(jax.random.PRNGKey(1), x)["params"]
    out = d.apply({"params": params}, x)
    assert out.shape == (4,)
    np.testing.assert_allclose(out, torch_packed_maxout_d(params, x, 3, 6, 4), rtol=1e-5,
                               atol=1e-6)


def numpy_bn_mlp(params, stats, z, train, momentum=0.95, eps=1e-4):
    """PacGAN's G in float64: (Dense without bias -> BatchNorm(eps 1e-4) -> ReLU) x depth,
    a linear output; in train mode also the running statistics' update (momentum 0.95,
    biased batch variance, as flax)."""
    h, new = np.asarray(z, np.float64), {}
    names = sorted((k for k in params if k.startswith("Dense_")), key=lambda k: int(k[6:]))
    for i, name in enumerate(names[:-1]):
        h = h @ np.asarray(params[name]["kernel"], np.float64)
        bn, p = stats[f"BatchNorm_{i}"], params[f"BatchNorm_{i}"]
        mean, var = (h.mean(0), h.var(0)) if train else (bn["mean"], bn["var"])
        new[f"BatchNorm_{i}"] = {"mean": momentum * bn["mean"] + (1 - momentum) * h.mean(0),
                                 "var": momentum * bn["var"] + (1 - momentum) * h.var(0)}
        h = np.maximum((h - mean) / np.sqrt(var + eps) * p["scale"] + p["bias"], 0.0)
    out = params[names[-1]]
    return h @ np.asarray(out["kernel"], np.float64) + out["bias"], new


def test_pacgan_generator_batch_norm_momentum_095_and_eps_1e4_over_steps():
    """configs/pacgan.py's G (BatchNorm after each hidden Dense): three train applies on
    distinct batches match the numpy reference (batch statistics, eps 1e-4) and the running
    mean / var follow momentum 0.95 step by step; the eval apply uses them. Small inputs keep
    the batch variances near 1e-3, where eps matters. Checked against momentum 0.9 and
    eps 1e-5."""
    cfg = recipe("pacgan", "smoke", **{"g.width": 6, "g.depth": 3})
    assert cfg.g.batch_norm
    g = mlp.make_generator(cfg.g, (2,))
    z = 0.05 * jax.random.normal(jax.random.PRNGKey(6), (16, 2))
    variables = g.init(jax.random.PRNGKey(7), z, train=False)
    params = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), variables["params"])
    stats = variables["batch_stats"]
    want_stats = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), stats)
    train = jax.jit(lambda s, z: g.apply({"params": variables["params"], "batch_stats": s}, z,
                                         train=True, mutable=["batch_stats"]))
    for step in range(3):
        zs = z * (1.0 + step) + 0.01 * step
        out, mut = train(stats, zs)
        want, want_stats = numpy_bn_mlp(params, want_stats, zs, train=True)
        np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)
        stats = mut["batch_stats"]
        jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-9),
                               jax.tree_util.tree_map(np.asarray, stats), want_stats)
    assert float(jnp.max(stats["BatchNorm_0"]["var"])) < 0.9  # 0.95^3 of its init 1, + ~1e-5
    out = g.apply({"params": variables["params"], "batch_stats": stats}, z, train=False)
    want, _ = numpy_bn_mlp(params, want_stats, z, train=False)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)


def test_pack_concatenates_consecutive_points_into_one_input():
    # D(x1..xm) with pack m == the unpacked MLP (pack 1 weights) on [x1, ..., xm] rows.
    d = mlp.Discriminator(width=16, depth=2, activation="relu", pack=2)
    x = jax.random.normal(jax.random.PRNGKey(2), (8, 2))
    params = d.init(jax.random.PRNGKey(3), x)["params"]
    x_np = np.asarray(x)
    packs = np.stack([np.concatenate([x_np[2 * i], x_np[2 * i + 1]]) for i in range(4)])
    ref = mlp.MLP(1, 16, 2, "relu").apply({"params": params["MLP_0"]}, jnp.asarray(packs))[:, 0]
    np.testing.assert_allclose(d.apply({"params": params}, x), ref, rtol=1e-6)


def test_pack_one_is_the_pointwise_discriminator():
    d = mlp.Discriminator(width=16, depth=2, activation="relu", pack=1)
    x = jax.random.normal(jax.random.PRNGKey(4), (5, 2))
    params = d.init(jax.random.PRNGKey(5), x)["params"]
    single = [d.apply({"params": params}, x[i:i + 1])[0] for i in range(5)]
    np.testing.assert_allclose(d.apply({"params": params}, x), single, rtol=1e-5, atol=1e-7)


def test_batch_not_a_multiple_of_pack_names_the_field():
    d = mlp.Discriminator(width=4, pack=3)
    params = d.init(jax.random.PRNGKey(0), jnp.zeros((3, 2)))["params"]
    with pytest.raises(ValueError, match=r"config.d.pack=3 must .* divide .* batch of 4"):
        d.apply({"params": params}, jnp.zeros((4, 2)))


def one_device(fn):
    """fn mapped over a device axis of size 1 (what the loop's pmap does on one device)."""
    mapped = jax.vmap(fn, in_axes=(None, 0), axis_name=parallel.AXIS)
    return jax.jit(lambda s, b: jax.tree_util.tree_map(lambda a: a[0], mapped(s, b)))


def test_game_d_loss_averages_over_packs():
    cfg = recipe("pacgan", "ring3,smoke")
    game = games.get(cfg.game)
    batch = data.build(cfg, 1).batch(0)
    state = game.init(jax.random.PRNGKey(0), cfg, batch)
    _, metrics = one_device(lambda s, b: game.train_step(s, b, cfg))(state, batch)
    x = np.asarray(batch["x"][0])
    real = np.stack([np.concatenate(x[3 * i:3 * i + 3]) for i in range(len(x) // 3)])
    d = mlp.MLP(1, cfg.d.width, cfg.d.depth, "maxout", cfg.d.maxout_pieces)
    ref = d.apply({"params": state.d_params["MLP_0"]}, jnp.asarray(real))[:, 0]
    np.testing.assert_allclose(metrics["d_real"], np.mean(np.asarray(ref)), rtol=1e-5)


@pytest.mark.parametrize("m", [1, 2, 4])
def test_paper_architecture_parameter_counts(m):
    # G: 2->400 (no bias), 3 x 400->400 (no bias), BN scale+bias per layer, 400->2 + bias.
    # D: maxout 2m->200x5, 2 x 200->200x5 (with biases), 200->1.
    cfg = recipe("pacgan", f"grid{m}")
    assert cfg.batch_size == 100 * m and cfg.d.pack == m
    state = games.get("gan").init(jax.random.PRNGKey(0), cfg, data.build(cfg, 1).batch(0))
    count = lambda t: sum(int(np.prod(a.shape)) for a in jax.tree_util.tree_leaves(t))
    assert count(state.g_params) == 2 * 400 + 3 * 400 * 400 + 4 * 2 * 400 + 400 * 2 + 2
    assert count(state.d_params) == (2 * m * 1000 + 1000) + 2 * (200 * 1000 + 1000) + 201


def test_recipe_variants_and_errors():
    assert recipe("pacgan", "").d.pack == 2 and recipe("pacgan", "").data.name == "ring"
    assert recipe("pacgan", "grid4").data.name == "grid"
    with pytest.raises(ValueError, match="ring<m> or grid<m>"):
        recipe("pacgan", "grid4,ring2")
    with pytest.raises(ValueError, match="ring<m> or grid<m>"):
        recipe("pacgan", "pack4")


def test_pacgan_smoke_recipe_trains_and_evaluates_modes(tmp_path):
    train.train_and_evaluate(recipe("pacgan", "grid4,smoke"), str(tmp_path))
    rows = [json.loads(l) for l in open(tmp_path / "metrics.jsonl")]
    evals = [r for r in rows if "eval/modes" in r]
    assert evals and 0 <= evals[-1]["eval/modes"] <= 25
    assert all(np.isfinite(r["d_loss"]) for r in rows if "d_loss" in r)
