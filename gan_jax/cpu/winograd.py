"""4x4 stride-2 convolutions (DCGAN's) by Winograd's minimal filtering, on CPU.

Space-to-depth turns a 4x4 stride-2 convolution into a 2x2 stride-1 one with 4x the input
features; Winograd's F(4x4, 2x2) (Lavin & Gray 2016, "Fast Algorithms for Convolutional
Neural Networks") computes each 4x4 output tile of that from a 5x5 input tile with 25
products per feature pair where the direct convolution does 64: 2.56x fewer multiply-adds,
the same function up to float rounding (relative error ~5e-6 against lax; the transform
points are 0, +-1, 1/2 and infinity). Per convolution:

    U = G g G^T                   the kernel, [25, 4C, O]       (csrc/winograd.cc, kind 5)
    V = BT d BT^T of every tile   [25, P, 4C]                   (kind 1; tiles of the padded
                                  space-to-depth image, read from x in place)
    M = V @ U                     25 products                   (oneDNN's batched matmul)
    y = AT M AT^T of every tile   [N, Ho, Wo, O]                (kind 3)

The input gradient (also a transposed convolution's forward) is the transpose of that
chain (kinds 4 and 2 around dM @ U^T; kind 2 writes dx itself), the kernel gradient
G^T (V^T dM) G (kinds 1, 4, 6).

It pays only with gan_jax.cpu.hostmem's allocator setting: the transformed tensors are
1.5-6x the size of what they transform, and freshly faulted pages ate the gain without it
(whole-step A/Bs: docs/performance.md). `applies` and `applies_kernel_grad` hold the fixed
rule (fixed, so that every process computes a shape the same way and resumed runs replay):
4x4 kernels, stride 2, >= 16 features on both sides (image layers stay direct), at most
256 output positions (16x16; larger maps were not measured faster), at least 64 output
tiles in the batch (U, 6.25x the kernel, is written and read once per call whatever the
batch, so below that the direct conv was as fast or faster, e.g. CycleGAN's batch-1
PatchGAN conv), and for the kernel gradient a transformed kernel of at most 16M floats
(64 MB; dcgan64's D4 at 13M gains only with the transforms built for the CPU,
-march=native).
GAN_JAX_WINOGRAD=0 turns the path off (the direct oneDNN kernels are used).

conv.py calls these inside its custom VJP (their derivatives are conv.py's); each
lowers to the `fallback` given off CPU, and without the native library or for other
dtypes conv.py does not call them.
"""
from __future__ import annotations

import functools
import os
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from gan_jax.cpu import native

M = 4  # output tile: F(4x4, 2x2), input tiles of A = 5
A = M + 1
POINTS = (0.0, 1.0, -1.0, 0.5)  # and infinity
MAX_OUTPUT_POSITIONS = 256  # Ho * Wo
MIN_FEATURES = 16  # image layers (3 features) stay direct
MIN_TILES = 64  # output tiles (batch x tiles per image) that amortize U's transform
MAX_KERNEL_TRANSFORM = 16 << 20  # floats of U for the kernel gradient's path


@functools.lru_cache(maxsize=None)
def matrices(m: int = M, points: tuple = POINTS):
    """(AT [m, a], G [a, 2], BT [a, a]) of F(m, 2) from a - 1 finite points and infinity
    (Toom-Cook): y = AT ((G g) * (BT d)) is the correlation y_i = sum_j d_{i+j} g_j."""
    a = m + 1

    def vandermonde(n):
        v = np.zeros((a, n))
        for i, p in enumerate(points[:a - 1]):
            v[i] = [p ** j for j in range(n)]
        v[a - 1, n - 1] = 1.0  # the point at infinity: the leading coefficient
        return v

    return (vandermonde(m).T.astype(np.float32), vandermonde(2).astype(np.float32),
            np.linalg.inv(vandermonde(a)).T.astype(np.float32))


def applies(x_shape, k_shape, strides, lhs_dil, rhs_dil, pads, dtype) -> bool:
    """Whether y = x (*) k (NHWC, HWIO) goes to the Winograd path here."""
    if (len(x_shape) != 4 or tuple(k_shape[:2]) != (4, 4) or tuple(strides) != (2, 2)
            or max(lhs_dil) != 1 or max(rhs_dil) != 1 or dtype != jnp.float32
            or min(lo for lo, _ in pads) < 0 or min(hi for _, hi in pads) < 0
            or min(k_shape[2:]) < MIN_FEATURES):
        return False
    if os.environ.get("GAN_JAX_WINOGRAD", "1") in ("0", "false", "False"):
        return False
    ho, wo = (_out_size(n, p) for n, p in zip(x_shape[1:3], pads))
    return (min(ho, wo) >= 2 and ho * wo <= MAX_OUTPUT_POSITIONS
            and _tile_count(x_shape[0], ho, wo) >= MIN_TILES and native.available())


def _out_size(n, pad):
    return (n + pad[0] + pad[1] - 4) // 2 + 1


def _tiles(n):
    return -(-n // M)


def _transform(a, kind, out_shape, s2d=(0, 0, 0, 0)):
    """A transform of csrc/winograd.cc; kinds 1 and 2 tile the space-to-depth image of x
    described by s2d = (pad before rows, pad before columns, its rows, its columns)."""
    at, gm, bt = matrices()
    call = jax.ffi.ffi_call(native.WINOGRAD_TARGET, jax.ShapeDtypeStruct(out_shape, jnp.float32),
                            vmap_method="sequential")
    return call(a, kind=np.int64(kind), m=np.int64(M), bt=bt.ravel(), at=at.ravel(),
                g=gm.ravel(), s2d=np.asarray(s2d, np.int64))


def _matmul(a, b, ta=False, tb=False):
    rows, cols = a.shape[2] if ta else a.shape[1], b.shape[1] if tb else b.shape[2]
    call = jax.ffi.ffi_call(native.MATMUL_TARGET,
                            jax.ShapeDtypeStruct((a.shape[0], rows, cols), jnp.float32),
                            vmap_method="sequential")
    return call(a, b, ta=np.int64(ta), tb=np.int64(tb))


def _taps(k):
    """k [4, 4, C, O] as the space-to-depth conv's 2x2 kernel, taps (i, j) first: [4, 4C, O]."""
    c, o = k.shape[2:]
    return k.reshape(2, 2, 2, 2, c, o).transpose(0, 2, 1, 3, 4, 5).reshape(4, 4 * c, o)


def _untaps(g, c):
    """The inverse of `_taps`: [4, 4C, O] -> [4, 4, C, O]."""
    o = g.shape[-1]
    return g.reshape(2, 2, 2, 2, c, o).transpose(0, 2, 1, 3, 4, 5).reshape(4, 4, c, o)


def _kernel(k):
    """U = G g G^T of the space-to-depth kernel g of k [4, 4, C, O]: [25, 4C, O]."""
    # in the handler: XLA took 88 ms (einsum) and 24 ms (a fused sum of the 4 taps) to
    # write dcgan64's D4 U (52 MB)
    return _transform(_taps(k), 5, (A * A, 4 * k.shape[2], k.shape[3]))


def _geometry(x_shape, pads):
    """(s2d, output size): x padded by the low pads and cut or zero-extended at the high end
    to 2 (Ho + 1) rows and columns (a row the conv never reads), folded 2x2 into features
    (space-to-depth): the image the transforms tile, read from x in place (`_transform`)."""
    out = tuple(_out_size(n, p) for n, p in zip(x_shape[1:3], pads))
    return (pads[0][0], pads[1][0], out[0] + 1, out[1] + 1), out


def _tile_count(batch, ho, wo):
    return batch * _tiles(ho) * _tiles(wo)


def _input(x, s2d, p):
    """V [25, P, 4C] of x's space-to-depth image: kind 1."""
    return _transform(x, 1, (A * A, p, 4 * x.shape[-1]), s2d)


def _on_cpu(winograd: Callable, fallback: Callable, a, b):
    if not native.available():  # also registers the handlers
        return fallback(a, b)
    return _bilinear(a, b, winograd, fallback)


# Both uses are bilinear in their two operands; derivatives (second order, e.g. gradient
# penalties) are those of `fallback`, the same function in XLA ops.
@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3))
def _bilinear(a, b, winograd, fallback):
    return lax.platform_dependent(a, b, cpu=winograd, default=fallback)


@_bilinear.defjvp
def _bilinear_jvp(winograd, fallback, primals, tangents):
    (a, b), (ta, tb) = primals, tangents
    return _bilinear(a, b, winograd, fallback), fallback(ta, b) + fallback(a, tb)


def strided_conv(x, k, pads, fallback: Callable):
    """y = x (*) k with stride 2, k [4, 4, C, O], pads >= 0 (`applies`)."""
    s2d, (ho, wo) = _geometry(x.shape, pads)

    def winograd(x, k):
        v = _input(x, s2d, _tile_count(x.shape[0], ho, wo))
        return _transform(_matmul(v, _kernel(k)), 3, (x.shape[0], ho, wo, k.shape[-1]))
    return _on_cpu(winograd, fallback, x, k)


def applies_kernel_grad(x_shape, k_shape, strides, rhs_dil, pads) -> bool:
    """Whether dk of y = x (*) k goes to the Winograd path: as `applies`, and U at most
    MAX_KERNEL_TRANSFORM floats (a bound on the memory it takes)."""
    return (applies(x_shape, k_shape, strides, (1, 1), rhs_dil, pads, jnp.float32)
            and A * A * 4 * k_shape[2] * k_shape[3] <= MAX_KERNEL_TRANSFORM)


def strided_conv_kernel_grad(x, dy, pads, k_shape, fallback: Callable):
    """dk of y = x (*) k with stride 2 for the output gradient dy: G^T (V^T dM) G per tap."""
    s2d, (ho, wo) = _geometry(x.shape, pads)
    c, o = k_shape[2:]

    def winograd(x, dy):
        p = _tile_count(x.shape[0], ho, wo)
        v = _input(x, s2d, p)
        du = _matmul(v, _transform(dy, 4, (A * A, p, o)), ta=True)
        return _untaps(_transform(du, 6, (4, 4 * c, o)), c)
    return _on_cpu(winograd, fallback, x, dy)


def strided_conv_input_grad(dy, k, pads, x_shape, fallback: Callable):
    """dx of y = x (*) k with stride 2 (`strided_conv`) for the output gradient dy."""
    s2d, (ho, wo) = _geometry(x_shape, pads)
    assert dy.shape[1:3] == (ho, wo), (dy.shape, x_shape, pads)

    def winograd(dy, k):
        dm = _transform(dy, 4, (A * A, _tile_count(dy.shape[0], ho, wo), k.shape[-1]))
        return _transform(_matmul(dm, _kernel(k), tb=True), 2, tuple(x_shape), s2d)
    return _on_cpu(winograd, fallback, dy, k)
