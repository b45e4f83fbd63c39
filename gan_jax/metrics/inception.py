"""FID-InceptionV3 in Flax: layer for layer the network pytorch-fid uses.

This is the 2015-12-05 TensorFlow Inception graph that FID (Heusel et al. 2017)
and IS (Salimans et al. 2016) are defined on, as ported by pytorch-fid
(`pytorch_fid.inception.fid_inception_v3`). It differs from torchvision's
InceptionV3 in: average pools in Mixed_5b-7b that do not count padding
(TF semantics), a max pool (not an average pool) in Mixed_7c's pool branch,
and 1008-way logits. Every conv is conv(no bias) -> BatchNorm(eps=1e-3) -> ReLU.

Input: images [N, H, W, C] in [-1, 1], C in {1, 3} (grey is repeated to RGB),
resized to 299x299 with bilinear interpolation exactly as
`torch.nn.functional.interpolate(mode='bilinear', align_corners=False)`
(no antialiasing). Output: pool3 features [N, 2048] (the FID features) and
logits [N, 1008] (softmax over them gives IS's p(y|x)).

Weights cannot be downloaded here; convert pytorch-fid's file once:
    python -m gan_jax.metrics.inception convert \\
        --pth pt_inception-2015-12-05-6726825d.pth --out inception_fid.npz
(the .pth is read with `torch.load(weights_only=True)`; the output is a plain
.npz read with `allow_pickle=False`).
"""
from __future__ import annotations

import argparse
import functools
import os
import sys
from typing import Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from gan_jax.errors import UserError

HIGHEST = jax.lax.Precision.HIGHEST
SIZE = 299
NUM_CLASSES = 1008
FEATURES = 2048


def _pad(p) -> Tuple[Tuple[int, int], Tuple[int, int]]:
    """PyTorch's symmetric padding (int or (ph, pw)) as Flax's ((top, bottom), (left, right))."""
    ph, pw = (p, p) if isinstance(p, int) else p
    return ((ph, ph), (pw, pw))


class BasicConv(nn.Module):
    """Conv (no bias) -> BatchNorm (eps 1e-3, running statistics) -> ReLU."""
    features: int
    kernel: Tuple[int, int]
    strides: int = 1
    padding: object = 0

    @nn.compact
    def __call__(self, x):
        x = nn.Conv(self.features, self.kernel, (self.strides,) * 2, padding=_pad(self.padding),
                    use_bias=False, precision=HIGHEST, name="conv")(x)
        x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, name="bn")(x)
        return nn.relu(x)


def avg_pool_3x3(x):
    """3x3 stride-1 average pool over the unpadded window (TF's count_include_pad=False)."""
    return nn.avg_pool(x, (3, 3), (1, 1), padding=_pad(1), count_include_pad=False)


def max_pool_3x3_s2(x):
    return nn.max_pool(x, (3, 3), (2, 2), padding="VALID")


class InceptionA(nn.Module):
    """Mixed_5b/5c/5d (35x35): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1."""
    pool_features: int

    @nn.compact
    def __call__(self, x):
        b1 = BasicConv(64, (1, 1), name="branch1x1")(x)
        b5 = BasicConv(48, (1, 1), name="branch5x5_1")(x)
        b5 = BasicConv(64, (5, 5), padding=2, name="branch5x5_2")(b5)
        b3 = BasicConv(64, (1, 1), name="branch3x3dbl_1")(x)
        b3 = BasicConv(96, (3, 3), padding=1, name="branch3x3dbl_2")(b3)
        b3 = BasicConv(96, (3, 3), padding=1, name="branch3x3dbl_3")(b3)
        bp = BasicConv(self.pool_features, (1, 1), name="branch_pool")(avg_pool_3x3(x))
        return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
    """Mixed_6a (35 -> 17): 3x3/2 | 1x1-3x3-3x3/2 | maxpool/2."""

    @nn.compact
    def __call__(self, x):
        b3 = BasicConv(384, (3, 3), strides=2, name="branch3x3")(x)
        bd = BasicConv(64, (1, 1), name="branch3x3dbl_1")(x)
        bd = BasicConv(96, (3, 3), padding=1, name="branch3x3dbl_2")(bd)
        bd = BasicConv(96, (3, 3), strides=2, name="branch3x3dbl_3")(bd)
        return jnp.concatenate([b3, bd, max_pool_3x3_s2(x)], axis=-1)


class InceptionC(nn.Module):
    """Mixed_6b-6e (17x17): factorized 7x7 branches and an avgpool-1x1 branch."""
    channels_7x7: int

    @nn.compact
    def __call__(self, x):
        c7 = self.channels_7x7
        b1 = BasicConv(192, (1, 1), name="branch1x1")(x)
        b7 = BasicConv(c7, (1, 1), name="branch7x7_1")(x)
        b7 = BasicConv(c7, (1, 7), padding=(0, 3), name="branch7x7_2")(b7)
        b7 = BasicConv(192, (7, 1), padding=(3, 0), name="branch7x7_3")(b7)
        bd = BasicConv(c7, (1, 1), name="branch7x7dbl_1")(x)
        bd = BasicConv(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_2")(bd)
        bd = BasicConv(c7, (1, 7), padding=(0, 3), name="branch7x7dbl_3")(bd)
        bd = BasicConv(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_4")(bd)
        bd = BasicConv(192, (1, 7), padding=(0, 3), name="branch7x7dbl_5")(bd)
        bp = BasicConv(192, (1, 1), name="branch_pool")(avg_pool_3x3(x))
        return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
    """Mixed_7a (17 -> 8): 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool/2."""

    @nn.compact
    def __call__(self, x):
        b3 = BasicConv(192, (1, 1), name="branch3x3_1")(x)
        b3 = BasicConv(320, (3, 3), strides=2, name="branch3x3_2")(b3)
        b7 = BasicConv(192, (1, 1), name="branch7x7x3_1")(x)
        b7 = BasicConv(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
        b7 = BasicConv(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
        b7 = BasicConv(192, (3, 3), strides=2, name="branch7x7x3_4")(b7)
        return jnp.concatenate([b3, b7, max_pool_3x3_s2(x)], axis=-1)


class InceptionE(nn.Module):
    """Mixed_7b/7c (8x8). pool='avg' (7b, no-pad average) or 'max' (7c: the FID graph's max pool)."""
    pool: str = "avg"

    @nn.compact
    def __call__(self, x):
        b1 = BasicConv(320, (1, 1), name="branch1x1")(x)
        b3 = BasicConv(384, (1, 1), name="branch3x3_1")(x)
        b3 = jnp.concatenate([
            BasicConv(384, (1, 3), padding=(0, 1), name="branch3x3_2a")(b3),
            BasicConv(384, (3, 1), padding=(1, 0), name="branch3x3_2b")(b3)], axis=-1)
        bd = BasicConv(448, (1, 1), name="branch3x3dbl_1")(x)
        bd = BasicConv(384, (3, 3), padding=1, name="branch3x3dbl_2")(bd)
        bd = jnp.concatenate([
            BasicConv(384, (1, 3), padding=(0, 1), name="branch3x3dbl_3a")(bd),
            BasicConv(384, (3, 1), padding=(1, 0), name="branch3x3dbl_3b")(bd)], axis=-1)
        if self.pool == "max":
            pooled = nn.max_pool(x, (3, 3), (1, 1), padding=_pad(1))
        else:
            pooled = avg_pool_3x3(x)
        bp = BasicConv(192, (1, 1), name="branch_pool")(pooled)
        return jnp.concatenate([b1, b3, bd, bp], axis=-1)


def bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """[n_out, n_in] weights of 1-D linear interpolation, PyTorch align_corners=False.

    Source coordinate of output i: s = (i + 0.5) * n_in / n_out - 0.5, clamped at 0;
    weights (1 - f, f) on floor(s) and min(floor(s) + 1, n_in - 1), f = s - floor(s).
    Computed in float32 like PyTorch's CPU kernel, so downsampling matches too.
    """
    f32 = np.float32
    scale = f32(n_in) / f32(n_out)
    s = np.maximum(scale * (np.arange(n_out, dtype=f32) + f32(0.5)) - f32(0.5), f32(0))
    i0 = np.minimum(np.floor(s).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    frac = np.clip(s - i0.astype(f32), f32(0), f32(1))
    m = np.zeros((n_out, n_in), f32)
    np.add.at(m, (np.arange(n_out), i0), f32(1) - frac)
    np.add.at(m, (np.arange(n_out), i1), frac)
    return m


def resize_bilinear(x, size: int = SIZE):
    """[N, H, W, C] -> [N, size, size, C], equal to F.interpolate(bilinear, align_corners=False)."""
    n, h, w, c = x.shape
    if (h, w) == (size, size):
        return x
    x = jnp.einsum("oh,nhwc->nowc", bilinear_matrix(h, size), x, precision=HIGHEST)
    return jnp.einsum("pw,nowc->nopc", bilinear_matrix(w, size), x, precision=HIGHEST)


class FIDInceptionV3(nn.Module):
    """images [N, H, W, 1|3] in [-1, 1] -> (pool3 [N, 2048], logits [N, 1008])."""
    resize: bool = True

    @nn.compact
    def __call__(self, images):
        x = jnp.asarray(images, jnp.float32)
        if x.shape[-1] == 1:
            x = jnp.repeat(x, 3, axis=-1)
        if self.resize:
            x = resize_bilinear(x, SIZE)
        x = BasicConv(32, (3, 3), strides=2, name="Conv2d_1a_3x3")(x)
        x = BasicConv(32, (3, 3), name="Conv2d_2a_3x3")(x)
        x = BasicConv(64, (3, 3), padding=1, name="Conv2d_2b_3x3")(x)
        x = max_pool_3x3_s2(x)
        x = BasicConv(80, (1, 1), name="Conv2d_3b_1x1")(x)
        x = BasicConv(192, (3, 3), name="Conv2d_4a_3x3")(x)
        x = max_pool_3x3_s2(x)
        x = InceptionA(32, name="Mixed_5b")(x)
        x = InceptionA(64, name="Mixed_5c")(x)
        x = InceptionA(64, name="Mixed_5d")(x)
        x = InceptionB(name="Mixed_6a")(x)
        for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160),
                         ("Mixed_6e", 192)):
            x = InceptionC(c7, name=name)(x)
        x = InceptionD(name="Mixed_7a")(x)
        x = InceptionE("avg", name="Mixed_7b")(x)
        x = InceptionE("max", name="Mixed_7c")(x)
        pool3 = jnp.mean(x, axis=(1, 2))
        logits = nn.Dense(NUM_CLASSES, precision=HIGHEST, name="fc")(pool3)
        return pool3, logits


# --- weights -----------------------------------------------------------------------------------

def _torch_key_to_flax(key: str, value: np.ndarray):
    """('params'|'batch_stats', path tuple, array in Flax layout) for one state-dict entry."""
    *mods, leaf = key.split(".")
    mods = tuple(mods)
    if mods and mods[-1] == "conv" and leaf == "weight":  # [O, I, kh, kw] -> [kh, kw, I, O]
        return "params", mods + ("kernel",), value.transpose(2, 3, 1, 0)
    if mods and mods[-1] == "bn":
        table = {"weight": ("params", "scale"), "bias": ("params", "bias"),
                 "running_mean": ("batch_stats", "mean"), "running_var": ("batch_stats", "var")}
        if leaf in table:
            col, name = table[leaf]
            return col, mods + (name,), value
    if mods == ("fc",) and leaf == "weight":
        return "params", ("fc", "kernel"), value.T
    if mods == ("fc",) and leaf == "bias":
        return "params", ("fc", "bias"), value
    return None


def expected_shapes() -> dict:
    """{'params/...': shape, 'batch_stats/...': shape} of FIDInceptionV3's variables."""
    shapes = jax.eval_shape(lambda: FIDInceptionV3().init(
        jax.random.PRNGKey(0), jnp.zeros((1, SIZE, SIZE, 3), jnp.float32)))
    return {k: v.shape for k, v in traverse_util.flatten_dict(shapes, sep="/").items()}


def torch_to_flat(state_dict) -> tuple:
    """({'params/...' | 'batch_stats/...': float32 array in Flax layout}, [unmapped names]).

    Works for the whole net or any block of it (names relative to the block).
    Conv weights [O, I, kh, kw] -> kernels [kh, kw, I, O]; fc [out, in] -> [in, out];
    BatchNorm weight/bias -> scale/bias, running_mean/var -> batch_stats mean/var.
    """
    flat, unknown = {}, []
    for key, value in state_dict.items():
        if key.endswith("num_batches_tracked"):
            continue
        value = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
        mapped = _torch_key_to_flax(key, value.astype(np.float32))
        if mapped is None:
            unknown.append(key)
            continue
        col, path, arr = mapped
        flat["/".join((col,) + path)] = np.ascontiguousarray(arr)
    return flat, unknown


def unflatten(flat) -> dict:
    """{'a/b/c': x} -> {'a': {'b': {'c': x}}} with jax arrays (Flax variables)."""
    return traverse_util.unflatten_dict({k: jnp.asarray(v) for k, v in flat.items()}, sep="/")


def convert_state_dict(state_dict) -> dict:
    """pytorch-fid state dict {name: tensor|array} -> flat {'params/...': float32 array}.

    Ignores `num_batches_tracked`; raises ValueError on unknown names, missing or
    mis-shaped weights (e.g. torchvision's 1000-class InceptionV3 instead of FID's).
    """
    out, unknown = torch_to_flat(state_dict)
    want = expected_shapes()
    missing = sorted(set(want) - set(out))
    wrong = [f"{k}: {out[k].shape} != {want[k]}" for k in sorted(set(want) & set(out))
             if tuple(out[k].shape) != tuple(want[k])]
    if unknown or missing or wrong:
        raise UserError(
            "the state dict is not pytorch-fid's FID-InceptionV3 (pt_inception-2015-12-05); "
            f"unknown: {unknown[:5]}, missing: {missing[:5]}, wrong shapes: {wrong[:5]}")
    return out


def convert(pth_path: str, out_path: str) -> None:
    """Reads a pytorch-fid .pth (torch.load weights_only=True) and writes a flat .npz."""
    import torch

    state_dict = torch.load(pth_path, map_location="cpu", weights_only=True)
    flat = convert_state_dict(state_dict)
    with open(out_path, "wb") as f:  # an open file keeps the name as given (no added .npz)
        np.savez(f, **flat)


def load_variables(path: str) -> dict:
    """The Flax variables {'params', 'batch_stats'} stored by `convert` (no pickle)."""
    if not os.path.isfile(path):
        raise UserError(f"config.eval.inception_weights={path!r} is not a file; convert "
                         f"pytorch-fid's weights with `python -m gan_jax.metrics.inception "
                         f"convert --pth <pt_inception-2015-12-05-6726825d.pth> --out F`.")
    try:
        with np.load(path, allow_pickle=False) as f:
            flat = {k: f[k] for k in f.files}
    except Exception as e:  # not an .npz: BadZipFile, ValueError, OSError, ...
        raise UserError(f"config.eval.inception_weights={path!r} is not a weights file written "
                        f"by `python -m gan_jax.metrics.inception convert` ({type(e).__name__}); "
                        f"convert pytorch-fid's .pth with it.") from None
    want = expected_shapes()
    if {k: tuple(v.shape) for k, v in flat.items()} != {k: tuple(v) for k, v in want.items()}:
        raise UserError(f"config.eval.inception_weights={path!r} does not hold converted "
                         f"FID-Inception weights; make it with `python -m "
                         f"gan_jax.metrics.inception convert --pth <pytorch-fid .pth> --out F`.")
    return unflatten(flat)


def load(path: str):
    """(module, variables) of the FID-InceptionV3 whose weights `convert` wrote to `path`."""
    return FIDInceptionV3(), load_variables(path)


@functools.lru_cache(maxsize=4)
def runner(path: str, batch_size: int = 500):
    """The net of `path` as an `extract.batched_apply` runner (loaded and compiled once)."""
    from gan_jax.metrics import extract

    return extract.batched_apply(*load(path), batch_size)


# --- pytorch-fid reference (tests and benchmarks; needs torch and pytorch-fid) ----------------

def pytorch_fid_net(state_dict):
    """pytorch-fid's `InceptionV3([3])` (pool3 output) built from `state_dict`, not downloaded."""
    import pytorch_fid.inception as pfi

    original = pfi.load_state_dict_from_url
    pfi.load_state_dict_from_url = lambda *args, **kwargs: state_dict
    try:
        return pfi.InceptionV3([3]).eval()
    finally:
        pfi.load_state_dict_from_url = original


def random_pytorch_fid_weights(seed: int = 0) -> dict:
    """Seeded random FID-Inception weights in pytorch-fid's format (1008 classes).

    BatchNorm scale/shift are drawn at random and its running statistics set to
    those of each layer's input on one random 299x299 image, so activations keep
    unit scale through the 94 layers instead of vanishing or exploding.
    """
    import pytorch_fid.inception as pfi
    import torch

    torch.manual_seed(seed)
    net = pfi._inception_v3(num_classes=NUM_CLASSES, aux_logits=False, weights=None).eval()
    g = torch.Generator().manual_seed(seed + 1)
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in bns:
        bn.weight.data = torch.rand(bn.num_features, generator=g) + 0.5
        bn.bias.data = torch.rand(bn.num_features, generator=g) * 0.4 - 0.1

    def calibrate(bn, inputs):
        bn.running_mean.copy_(inputs[0].mean((0, 2, 3)))
        bn.running_var.copy_(inputs[0].var((0, 2, 3)))

    hooks = [bn.register_forward_pre_hook(calibrate) for bn in bns]
    with torch.no_grad():
        net(torch.rand(1, 3, SIZE, SIZE, generator=g) * 2 - 1)
    for h in hooks:
        h.remove()
    return net.state_dict()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gan_jax.metrics.inception",
                                     description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    conv = sub.add_parser("convert", help="pytorch-fid .pth -> .npz for gan_jax")
    conv.add_argument("--pth", required=True, help="pytorch-fid weights (pt_inception-*.pth)")
    conv.add_argument("--out", required=True, help="output .npz")
    args = parser.parse_args(argv)
    convert(args.pth, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main(sys.argv[1:])
