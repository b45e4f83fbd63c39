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
