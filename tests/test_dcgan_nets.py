"""gan_jax/nets/dcgan.py against a PyTorch transcription of PyTorch's DCGAN example.

G: z -> 4x4 projection, BN, ReLU, ConvTranspose2d(4, stride 2, padding 1) blocks, tanh. D:
Conv2d(4, 2, 1) blocks, BN from the second, LeakyReLU(0.2), a linear head. Both in train
mode (batch statistics) and eval mode (running statistics), from the same weights; the
running statistics follow their closed form over two steps; the init follows N(0, 0.02).

Checked against dcgan.py with LeakyReLU 0.25, BN momentum 0.95, BN epsilon 1e-3 and an
init std 0.025: each fails here.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.nets import dcgan
from tests.helpers import assert_close, requires_torch, torch

F = torch.nn.functional if torch else None
SIZE, WIDTH, Z = 16, 8, 12


def t(a):
    return torch.from_numpy(np.asarray(a, np.float64))


def torch_bn(x, q, stats=None):
    """F.batch_norm with batch statistics (stats None) or the given running ones; eps 1e-5."""
    if stats is None:
        return F.batch_norm(x, None, None, t(q["scale"]), t(q["bias"]), True, 0.0, 1e-5)
    return F.batch_norm(x, t(stats["mean"]), t(stats["var"]), t(q["scale"]), t(q["bias"]),
                        False, 0.0, 1e-5)


def torch_generator(p, z, stats=None):
    """PyTorch's DCGAN G; returns (images NHWC, pre-BN activations of each BN, NCHW)."""
    s = lambda name: None if stats is None else stats[name]
    pre = []

    def ct(x, q):  # flax [kh, kw, in, out] (unflipped) -> torch [in, out, kh, kw]
        w = t(q["kernel"]).flip(0, 1).permute(2, 3, 0, 1)
        return F.conv_transpose2d(x, w, t(q["bias"]) if "bias" in q else None, stride=2,
                                  padding=1)

    x = (t(z) @ t(p["Dense_0"]["kernel"])).reshape(len(z), 4, 4, -1).permute(0, 3, 1, 2)
    pre.append(x)
    x = F.relu(torch_bn(x, p["BatchNorm_0"], s("BatchNorm_0")))
    blocks = sorted(k for k in p if k.startswith("ConvTranspose_"))
    for i, name in enumerate(blocks[:-1], start=1):
        x = ct(x, p[name])
        pre.append(x)
        x = F.relu(torch_bn(x, p[f"BatchNorm_{i}"], s(f"BatchNorm_{i}")))
    x = torch.tanh(ct(x, p[blocks[-1]]))
    return x.permute(0, 2, 3, 1).numpy(), pre


def torch_discriminator(p, images, stats=None):
    """PyTorch's DCGAN D; returns (logits, pre-BN activations of each BN, NCHW)."""
    x, pre = t(images).permute(0, 3, 1, 2), []
    convs = sorted((k for k in p if k.startswith("Conv_")), key=lambda k: int(k.split("_")[1]))
    for i, name in enumerate(convs):
        q = p[name]
        x = F.conv2d(x, t(q["kernel"]).permute(3, 2, 0, 1),
                     t(q["bias"]) if "bias" in q else None, stride=2, padding=1)
        if i > 0:
            pre.append(x)
            bn = f"BatchNorm_{i - 1}"
            x = torch_bn(x, p[bn], None if stats is None else stats[bn])
        x = F.leaky_relu(x, 0.2)
    features = x.permute(0, 2, 3, 1).reshape(len(images), -1)  # flax flattens NHWC
    return (features @ t(p["Dense_0"]["kernel"]) + t(p["Dense_0"]["bias"]))[:, 0].numpy(), pre


def nets():
    g = dcgan.Generator(image_size=SIZE, channels=3, width=WIDTH)
    d = dcgan.Discriminator(image_size=SIZE, width=WIDTH)
    z = jax.random.normal(jax.random.PRNGKey(0), (6, Z))
    x = jax.random.uniform(jax.random.PRNGKey(1), (6, SIZE, SIZE, 3), minval=-1, maxval=1)
    return g, d, z, x


def running_closed_form(pre_activations, momentum=0.9):
    """flax's BatchNorm: mean <- m mean + (1 - m) batch mean, var <- m var + (1 - m) biased
    batch var, per channel, from mean 0 and var 1. (PyTorch updates var with the unbiased
    batch variance; flax, and so gan_jax, with the biased one.)"""
    mean, var = 0.0, 1.0
    for x in pre_activations:
        x = x.numpy().transpose(0, 2, 3, 1).reshape(-1, x.shape[1])
        mean = momentum * mean + (1 - momentum) * x.mean(0)
        var = momentum * var + (1 - momentum) * x.var(0)
    return {"mean": mean, "var": var}


@requires_torch
@pytest.mark.parametrize("which", ["g", "d"])
def test_dcgan_nets_match_pytorch_in_train_and_eval_mode_with_closed_form_running_stats(which):
    """Two train applies on different batches: outputs equal PyTorch's with batch statistics,
    and the running mean / var equal their closed form (momentum 0.9) from PyTorch's pre-BN
    activations; then the eval apply equals PyTorch's with those running statistics."""
    g, d, z, x = nets()
    net, inputs, ref = (g, z, torch_generator) if which == "g" else (d, x, torch_discriminator)
    variables = net.init(jax.random.PRNGKey(2), inputs, train=False)
    params, stats = variables["params"], variables["batch_stats"]
    batches = [inputs, inputs * 0.5 + 0.3]
    train = jax.jit(lambda s, b: net.apply({"params": params, "batch_stats": s}, b, train=True,
                                           mutable=["batch_stats"]))
    pre_by_layer = {}
    for b in batches:
        out, mut = train(stats, b)
        want, pre = ref(params, b)
        assert_close(out, want, rtol=2e-6)
        for i, a in enumerate(pre):
            pre_by_layer.setdefault(i, []).append(a)
        stats = mut["batch_stats"]
    for i, pre in pre_by_layer.items():
        got = stats[f"BatchNorm_{i}"]
        want = running_closed_form(pre)
        np.testing.assert_allclose(got["mean"], want["mean"], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(got["var"], want["var"], rtol=1e-5, atol=1e-7)
    out = net.apply({"params": params, "batch_stats": stats}, inputs, train=False)
    want, _ = ref(params, inputs, jax.tree_util.tree_map(np.asarray, stats))
    assert_close(out, want, rtol=2e-6)


def test_dcgan_init_is_normal_0_002_with_bn_scale_normal_1_002_and_zero_biases():
    """Every kernel's sample mean and std against N(0, 0.02) within 5 standard errors of the
    estimates (the std's relative error is 1/sqrt(2n): 0.4% for the 33k-entry kernels);
    BN scales pooled against N(1, 0.02); biases and BN shifts exactly 0."""
    g = dcgan.Generator(image_size=32, channels=3, width=16)
    d = dcgan.Discriminator(image_size=32, width=16)
    z = jnp.zeros((2, 100))
    x = jnp.zeros((2, 32, 32, 3))
    params = {"g": jax.jit(lambda k: g.init(k, z, train=False))(jax.random.PRNGKey(3))["params"],
              "d": jax.jit(lambda k: d.init(k, x, train=False))(jax.random.PRNGKey(4))["params"]}
    scales, checked = [], 0
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        name, a = jax.tree_util.keystr(path), np.asarray(leaf, np.float64)
        if path[-1].key == "kernel":
            n = a.size
            assert abs(a.mean()) < 5 * 0.02 / np.sqrt(n), name
            if n >= 1000:
                assert abs(a.std() / 0.02 - 1) < 5 / np.sqrt(2 * n), (name, a.std())
                checked += 1
        elif path[-1].key == "scale":
            scales.append(a)
        else:  # biases and BN shifts
            np.testing.assert_array_equal(a, 0.0, err_msg=name)
    assert checked >= 6
    s = np.concatenate(scales)
    assert abs(s.mean() - 1) < 5 * 0.02 / np.sqrt(s.size)
    assert abs(s.std() / 0.02 - 1) < 5 / np.sqrt(2 * s.size), s.std()
