"""gan_jax/nets/resnet.py: the SN-GAN ResNet nets against a PyTorch transcription.

The reference computes every block the usual way (nearest upsampling then 3x3
conv, conv then average pooling, shortcut conv before/after pooling as in the
authors' code) with torch.nn.functional, from the same weights.
"""

import jax
import ml_collections
import numpy as np
import pytest

from gan_jax.nets import resnet
from tests.helpers import requires_torch, torch

F = torch.nn.functional if torch else None

WIDTH = 8


def t(a):
    return torch.from_numpy(np.asarray(a, np.float64))


def conv(x, p, padding):
    """flax kernel [kh, kw, in, out] -> torch conv2d."""
    return F.conv2d(x, t(p["kernel"]).permute(3, 2, 0, 1), t(p["bias"]), padding=padding)


def torch_generator(params, z):
    x = (t(z) @ t(params["dense"]["kernel"]) + t(params["dense"]["bias"]))
    x = x.reshape(z.shape[0], 4, 4, -1).permute(0, 3, 1, 2)
    bn = lambda x, p: F.batch_norm(x, None, None, t(p["scale"]), t(p["bias"]), True, 0.0, 1e-5)
    up = lambda x: F.interpolate(x, scale_factor=2, mode="nearest")
    for i in range(3):
        p = params[f"block{i}"]
        h = conv(up(F.relu(bn(x, p["bn1"]))), p["conv1"], 1)
        h = conv(F.relu(bn(h, p["bn2"])), p["conv2"], 1)
        x = h + conv(up(x), p["shortcut"], 0)
    x = conv(F.relu(bn(x, params["bn"])), params["conv_out"], 1)
    return torch.tanh(x).permute(0, 2, 3, 1).numpy()


def torch_discriminator(params, images):
    x = t(images).permute(0, 3, 1, 2)
    for i, down in enumerate((True, True, False, False)):
        p = params[f"block{i}"]
        h = conv(x if i == 0 else F.relu(x), p["conv1"], 1)
        h = conv(F.relu(h), p["conv2"], 1)
        if down:
            h = F.avg_pool2d(h, 2)
        if i == 0:
            x = conv(F.avg_pool2d(x, 2), p["shortcut"], 0)
        elif "shortcut" in p:
            x = F.avg_pool2d(conv(x, p["shortcut"], 0), 2)
        x = h + x
    features = F.relu(x).sum(dim=(2, 3))
    return (features @ t(params["dense"]["kernel"]) + t(params["dense"]["bias"]))[:, 0].numpy()


@requires_torch
def test_generator_matches_torch_upsample_then_conv():
    g = resnet.make_generator(ml_collections.ConfigDict({"width": WIDTH}), (32, 32, 3))
    z = jax.random.normal(jax.random.PRNGKey(0), (4, 128))
    variables = g.init(jax.random.PRNGKey(1), z, train=False)
    out, _ = jax.jit(lambda v, z: g.apply(v, z, train=True, mutable=["batch_stats"]))(variables, z)
    assert out.shape == (4, 32, 32, 3)
    np.testing.assert_allclose(out, torch_generator(variables["params"], z), atol=2e-5)


@requires_torch
def test_discriminator_matches_torch_conv_then_pool():
    cfg = ml_collections.ConfigDict({"width": WIDTH, "spectral_norm": False})
    d = resnet.make_discriminator(cfg, (32, 32, 3))
    x = jax.random.uniform(jax.random.PRNGKey(2), (4, 32, 32, 3), minval=-1, maxval=1)
    variables = d.init(jax.random.PRNGKey(3), x, train=False)
    logits = jax.jit(lambda v, x: d.apply(v, x, train=True))(variables, x)
    assert logits.shape == (4,)
    ref = torch_discriminator(variables["params"], x)
    np.testing.assert_allclose(logits, ref, atol=2e-5 * max(1.0, float(np.max(np.abs(ref)))))


@requires_torch
def test_spectral_norm_divides_every_d_kernel_by_its_largest_singular_value():
    """After many power iterations D(x) = D_without_sn(x) with each kernel [*, out] / sigma_max."""
    cfg = ml_collections.ConfigDict({"width": WIDTH, "spectral_norm": True})
    d = resnet.make_discriminator(cfg, (32, 32, 3))
    x = jax.random.uniform(jax.random.PRNGKey(4), (2, 32, 32, 3), minval=-1, maxval=1)
    variables = d.init(jax.random.PRNGKey(5), x, train=False)

    @jax.jit
    def power_iterations(stats):
        def body(stats, _):
            _, mut = d.apply({"params": variables["params"], "batch_stats": stats}, x, train=True,
                             mutable=["batch_stats"])
            return mut["batch_stats"], None
        return jax.lax.scan(body, stats, None, length=60)[0]

    stats = power_iterations(variables["batch_stats"])
    logits = d.apply({"params": variables["params"], "batch_stats": stats}, x, train=False)

    def normalise(path, leaf):
        if path[-1].key != "kernel":
            return leaf
        matrix = np.asarray(leaf).reshape(-1, leaf.shape[-1])
        return leaf / np.linalg.svd(matrix, compute_uv=False)[0]

    plain = jax.tree_util.tree_map_with_path(normalise, variables["params"])
    np.testing.assert_allclose(logits, torch_discriminator(plain, x), rtol=1e-4, atol=1e-5)


def test_bad_image_size_names_the_field():
    with pytest.raises(ValueError, match="config.data.image_size=48"):
        resnet.make_generator(ml_collections.ConfigDict({"width": 8}), (48, 48, 3))


def _power_iteration(matrix, u, steps):
    """flax.linen.SpectralNorm's rule in float64: v = u W^T / |.|, u = v W / |.|, sigma = v W u^T."""
    normalise = lambda a: a / np.sqrt(np.sum(a * a) + 1e-12)
    for _ in range(steps):
        v = normalise(u @ matrix.T)
        u = normalise(v @ matrix)
    return u, float((v @ matrix @ u.T)[0, 0])


def _sn_layers(params, stats):
    """{(scope, layer): (kernel [*, out] float64, u [1, out], sigma)} of every SN layer."""
    layers = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(stats)[0]:
        *scope, sn, name = [k.key for k in path]
        layer, _, kind = name.split("/")
        node = params
        for k in scope + [layer]:
            node = node[k]
        entry = layers.setdefault((tuple(scope), layer), {})
        entry["kernel"] = np.asarray(node["kernel"], np.float64)
        entry[kind] = np.asarray(leaf, np.float64)
    return layers


@requires_torch
def test_spectral_norm_u_and_sigma_follow_one_power_iteration_per_training_apply():
    """Each train=True apply advances every layer's stored u by exactly one power iteration
    from the stored one (checked in float64 over 3 applies against the closed rule above);
    train=False leaves u and sigma alone and its logits are those of the plain net with each
    kernel divided by the sigma one further iteration gives, so samples and evaluation use
    the tracked u. Checked against a u that never updates (fails at the first apply)."""
    cfg = ml_collections.ConfigDict({"width": WIDTH, "spectral_norm": True})
    d = resnet.make_discriminator(cfg, (32, 32, 3))
    x = jax.random.uniform(jax.random.PRNGKey(6), (2, 32, 32, 3), minval=-1, maxval=1)
    variables = d.init(jax.random.PRNGKey(7), x, train=False)
    params = variables["params"]
    train_apply = jax.jit(lambda s: d.apply({"params": params, "batch_stats": s}, x, train=True,
                                            mutable=["batch_stats"])[1]["batch_stats"])
    start = _sn_layers(params, variables["batch_stats"])
    stats = variables["batch_stats"]
    for step in (1, 2, 3):
        stats = train_apply(stats)
        for key, layer in _sn_layers(params, stats).items():
            matrix = layer["kernel"].reshape(-1, layer["kernel"].shape[-1])
            u, sigma = _power_iteration(matrix, start[key]["u"], step)
            np.testing.assert_allclose(layer["u"], u, rtol=0, atol=1e-6, err_msg=str((step, key)))
            assert layer["sigma"] == pytest.approx(sigma, rel=1e-6), (step, key)
    assert any(abs(float(layer["sigma"]) - np.linalg.svd(
        layer["kernel"].reshape(-1, layer["kernel"].shape[-1]), compute_uv=False)[0]) > 1e-3
        for layer in _sn_layers(params, stats).values())  # 3 iterations have not converged

    logits, after = d.apply({"params": params, "batch_stats": stats}, x, train=False,
                            mutable=["batch_stats"])
    jax.tree_util.tree_map(np.testing.assert_array_equal, after["batch_stats"], stats)
    layers = _sn_layers(params, stats)

    def normalise(path, leaf):
        if path[-1].key != "kernel":
            return leaf
        scope = tuple(k.key for k in path[:-2])
        layer = layers[(scope, path[-2].key)]
        _, sigma = _power_iteration(layer["kernel"].reshape(-1, leaf.shape[-1]), layer["u"], 1)
        return np.asarray(leaf, np.float64) / sigma

    plain = jax.tree_util.tree_map_with_path(normalise, params)
    np.testing.assert_allclose(logits, torch_discriminator(plain, x), rtol=1e-5, atol=1e-6)
