"""Fast exact convolutions for XLA:CPU: drop-in replacements of the nets' conv layers.

XLA:CPU computes the kernel gradient of a convolution as another convolution
whose window is the whole feature map; for a transposed convolution (an input-
dilated one) it is ~20x slower than the forward pass, and ~8x for a stride-1
3x3 conv on 32x32 maps with batch 64. `conv_general_dilated` below is the same
function as `jax.lax.conv_general_dilated` (channels-last layouts) with a
custom VJP whose every piece is a plain convolution or a matrix product:

    forward   y = x (*) k                     (input-dilated: sub-pixel phases)
    input     dx = dy (*) rev(k)^T            (JAX's own transposition rule,
                                               routed back through this function)
    kernel    dk[t] = sum_{b,o} x_t[b,o]^T dy[b,o]   (one matmul per tap t over
                                               a strided slice of x or dy)

A transposed convolution with stride s is computed as s^d stride-1 convolutions
of the input, interleaved (depth-to-space): the sub-pixel decomposition of
Shi et al. (2016), "Real-Time Single Image and Video Super-Resolution Using an
Efficient Sub-Pixel Convolutional Neural Network". Results agree with lax to
float rounding. Reverse-mode derivatives of any order are supported; forward
mode (jax.jvp) is not (custom_vjp).

The plain (not input-dilated) convolutions among these, i.e. every forward of a
Conv and the input gradients of stride-1 Convs and of every ConvTranspose, run on
CPU in oneDNN's kernels through XLA:CPU's own custom call (`onednn.py`; 1.4-2x
faster than XLA's own there); the sub-pixel convolutions stay with XLA, which ran
them faster. Where `native.py` is available (an FFI handler around oneDNN, compiled on
first use), kernel gradients run in oneDNN's backward-weights kernels (1.5-3x faster
than the per-tap matmuls) and input-dilated convs (transposed convs' forwards, strided
convs' input gradients) in its backward-data kernels, as the input gradient of their
adjoint strided conv (1.3-2x faster than the sub-pixel convs); the XLA formulations
above remain for other platforms, other dtypes and higher derivatives.

4x4 stride-2 convs with >= 16 features and at most 256 output positions (DCGAN's D and,
as their input gradients, G's transposed convs) run all three passes by Winograd's
F(4x4, 2x2) after space-to-depth (`winograd.py`: 2.56x fewer multiply-adds).

A stride-1 conv with at most THIN_OUTPUT output features (an image head) is one
matmul against every tap's kernel plus a sum of shifted slices, and its backward
two matmuls (`_thin_output_conv`): XLA:CPU ran such convs at ~2 GFLOP/s.

`Conv`, `ConvTranspose`, `UpsampleConv` and `ConvPool` are flax.linen.Conv /
flax.linen.ConvTranspose / gan_jax.nets.layers.UpsampleConv / ConvPool with the same
parameters, names, shapes and options, using this convolution (`LAYERS` bundles them).
"""
from __future__ import annotations

import functools
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from gan_jax.cpu import native, onednn, winograd
from gan_jax.nets import layers

_channels_last = layers.channels_last


def _dilate(size: int, d: int) -> int:
    return 0 if size == 0 else 1 + d * (size - 1)


def transpose_padding(kernel: int, stride: int, padding: str):
    """lax.conv_transpose's (low, high) padding of the dilated input for 'SAME'/'VALID'."""
    if padding == "SAME":
        total = kernel + stride - 2
        low = kernel - 1 if stride > kernel - 1 else -(-total // 2)
    elif padding == "VALID":
        total = kernel + stride - 2 + max(kernel - stride, 0)
        low = kernel - 1
    else:
        raise ValueError(f"padding={padding!r} is unknown; use 'SAME', 'VALID' or (low, high) pairs.")
    return low, total - low


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                         rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                         batch_group_count=1, precision=None, preferred_element_type=None):
    """jax.lax.conv_general_dilated with fast exact gradients on XLA:CPU.

    Channels-last layouts ([B, *spatial, C] * [*K, C, F] -> [B, *spatial', F], as
    flax passes them) without feature/batch groups take the fast path; anything
    else is passed to lax unchanged.
    """
    nd = lhs.ndim - 2
    dn = lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
    if (dn != _channels_last(nd) or feature_group_count != 1 or batch_group_count != 1
            or lhs.ndim != rhs.ndim):
        return lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation,
                                        rhs_dilation, dimension_numbers, feature_group_count,
                                        batch_group_count, precision, preferred_element_type)
    ones = (1,) * nd
    strides = tuple(int(s) for s in window_strides)
    lhs_dil = tuple(int(d) for d in (lhs_dilation or ones))
    rhs_dil = tuple(int(d) for d in (rhs_dilation or ones))
    if isinstance(padding, str):
        pads = lax.padtype_to_pads(
            [_dilate(n, d) for n, d in zip(lhs.shape[1:-1], lhs_dil)],
            [_dilate(k, d) for k, d in zip(rhs.shape[:nd], rhs_dil)], strides, padding)
    else:
        pads = padding
    pads = tuple((int(lo), int(hi)) for lo, hi in pads)
    if (rhs.shape[-1] <= THIN_OUTPUT and max(strides + lhs_dil + rhs_dil) == 1
            and np.prod(rhs.shape[:nd]) > 1):
        return _thin_output_conv(lhs, rhs, pads, precision, preferred_element_type)
    return _conv(lhs, rhs, strides, pads, lhs_dil, rhs_dil, precision, preferred_element_type,
                 False)


THIN_OUTPUT = 3  # output features at most this: an RGB or grey image head


def _pad_spatial(x, pads):
    return lax.pad(x, jnp.zeros((), x.dtype), [(0, 0, 0)] + [(lo, hi, 0) for lo, hi in pads]
                   + [(0, 0, 0)])


def _tap_matrix(k):
    """[*K, C, F] -> [C, taps * F], columns ordered (tap, feature)."""
    nd = k.ndim - 2
    taps = int(np.prod(k.shape[:nd]))
    return jnp.moveaxis(k.reshape(taps, k.shape[-2], k.shape[-1]), 0, 1).reshape(k.shape[-2], -1)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _thin_output_conv(x, k, pads, precision, out_type):
    """A stride-1 conv with few output features (an image head: 64 -> 3, 7x7) as matmuls.

    XLA:CPU's convolution runs these at ~2 GFLOP/s (130 ms for CycleGAN's 7x7 head at
    128x128, PyTorch 14 ms). Forward: z = x_pad @ [every tap's kernel] (one matmul with
    taps x F columns), y[p] = sum_t z[p + t, t] (shifted slices of the thin z). Backward:
    D[q, t] = dy[q - t] (the thin dy shifted per tap, zero outside), then
    dx_pad = D @ [kernels]^T and dk = x_pad^T D: two matmuls.
    """
    nd = x.ndim - 2
    taps = list(np.ndindex(*k.shape[:nd]))
    xp = _pad_spatial(x, pads)
    features = k.shape[-1]
    z = lax.dot_general(xp, _tap_matrix(k), (((nd + 1,), (0,)), ((), ())),
                        precision=precision, preferred_element_type=out_type)
    z = z.reshape(xp.shape[:-1] + (len(taps), features))
    out = [n - kd + 1 for n, kd in zip(xp.shape[1:-1], k.shape[:nd])]
    y = None
    for i, t in enumerate(taps):
        part = lax.slice(z, (0, *t, i, 0), (z.shape[0], *[a + o for a, o in zip(t, out)], i + 1,
                                             features))
        y = part if y is None else y + part
    return y.reshape(y.shape[:-2] + (features,))


def _thin_output_fwd(x, k, pads, precision, out_type):
    return _thin_output_conv(x, k, pads, precision, out_type), (x, k)


def _thin_output_bwd(pads, precision, out_type, residuals, dy):
    x, k = residuals
    nd = x.ndim - 2
    xp = _pad_spatial(x, pads)
    shifted = [_pad_spatial(dy, [(t_d, kd - 1 - t_d) for t_d, kd in zip(t, k.shape[:nd])])
               for t in np.ndindex(*k.shape[:nd])]
    d = jnp.concatenate(shifted, axis=-1).reshape(-1, len(shifted) * dy.shape[-1])
    kmat = _tap_matrix(k)
    dxp = lax.dot_general(d, kmat.astype(d.dtype), (((1,), (1,)), ((), ())), precision=precision)
    dxp = dxp.reshape(xp.shape)
    dx = lax.slice(dxp, (0,) + tuple(lo for lo, _ in pads) + (0,),
                   (xp.shape[0],) + tuple(lo + n for (lo, _), n in zip(pads, x.shape[1:-1]))
                   + (x.shape[-1],))
    dk = lax.dot_general(xp.reshape(-1, xp.shape[-1]), d, (((0,), (0,)), ((), ())),
                         precision=precision)
    dk = jnp.moveaxis(dk.reshape(k.shape[-2], len(shifted), k.shape[-1]), 1, 0)
    return dx.astype(x.dtype), dk.reshape(k.shape).astype(k.dtype)


_thin_output_conv.defvjp(_thin_output_fwd, _thin_output_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5, 6, 7, 8))
def _conv(x, k, strides, pads, lhs_dil, rhs_dil, precision, out_type, adjoint):
    """The convolution with kernel k, or with `adjoint`, with kernel rev(k)^T (spatially
    flipped, in and out features swapped): the input gradient's kernel, passed unflipped so
    that the paths below that can read it as it is need not materialize it."""
    return _forward(x, k, strides, pads, lhs_dil, rhs_dil, precision, out_type, adjoint)


def _flip_swap(k):
    return jnp.swapaxes(lax.rev(k, tuple(range(k.ndim - 2))), -1, -2)


def _forward(x, k, strides, pads, lhs_dil, rhs_dil, precision, out_type, adjoint):
    if max(lhs_dil) > 1 and max(strides) == 1:
        if out_type in (None, jnp.float32) and native.supported(x, k):
            return _native_input_dilated(x, k, lhs_dil, pads, rhs_dil, precision, adjoint)
        if max(rhs_dil) == 1:
            k = _flip_swap(k) if adjoint else k
            return _subpixel_forward(x, k, lhs_dil, pads, precision, out_type)
    k_shape = k.shape[:-2] + (k.shape[-1], k.shape[-2]) if adjoint else k.shape
    if out_type in (None, jnp.float32) and winograd.applies(x.shape, k_shape, strides, lhs_dil,
                                                            rhs_dil, pads, x.dtype):
        plain = lambda x, k: lax.conv_general_dilated(x, k, strides, pads, lhs_dil, rhs_dil,
                                                      _channels_last(2), precision=precision)
        return winograd.strided_conv(x, _flip_swap(k) if adjoint else k, pads, plain)
    return _plain_conv(x, k, strides, pads, lhs_dil, rhs_dil, precision, out_type, adjoint)


def _adjoint(k_shape, x_shape, y_shape, lhs_dil, pads, rhs_dil):
    """For y = x (*) k input-dilated by s (stride 1): the pads of its adjoint, the strided
    conv x' = y (*)_{stride s} kf with kf = rev(k)^T, as (low, high) per spatial dim;
    <dy, x (*)_{lhs s} k> = <x, dy (*)_{stride s} kf>. Negative entries crop."""
    ksize = [_dilate(n, r) for n, r in zip(k_shape[:2], rhs_dil)]
    low = [kd - 1 - lo for kd, (lo, _) in zip(ksize, pads)]
    high = [s * (n - 1) + kd - o - lo for s, n, kd, o, lo in
            zip(lhs_dil, x_shape[1:3], ksize, y_shape[1:3], low)]
    return list(zip(low, high))


def _native_input_dilated(x, k, lhs_dil, pads, rhs_dil, precision, adjoint):
    """y = x (*)_{lhs s} k (a transposed conv, or a strided conv's input gradient) in oneDNN:
    the input gradient (backward data) of its adjoint strided conv, with x as that conv's
    output gradient and kernel rev(k)^T; with `adjoint`, k is that kernel already. Where
    the adjoint's pads are negative, y's rows it never reads are 0."""
    kf = k if adjoint else _flip_swap(k)
    y_shape = jax.eval_shape(lambda x, kf: lax.conv_general_dilated(
        x, _flip_swap(kf), (1, 1), pads, lhs_dil, rhs_dil, _channels_last(2)), x, kf).shape
    adj_pads = _adjoint(kf.shape, x.shape, y_shape, lhs_dil, pads, rhs_dil)
    crop = [(max(0, -lo), max(0, -hi)) for lo, hi in adj_pads]
    inner = (y_shape[0],) + tuple(n - a - b for n, (a, b) in zip(y_shape[1:3], crop)) \
        + (y_shape[3],)
    adj_pads = tuple((max(0, lo), max(0, hi)) for lo, hi in adj_pads)

    def xla(x, kf):  # the same function in lax ops: y over the rows the adjoint reads
        y = lax.conv_general_dilated(x, _flip_swap(kf), (1, 1), pads,
                                     lhs_dil, rhs_dil, _channels_last(2), precision=precision)
        return lax.slice(y, (0, crop[0][0], crop[1][0], 0),
                         (y.shape[0], y.shape[1] - crop[0][1], y.shape[2] - crop[1][1],
                          y.shape[3]))
    if winograd.applies(inner, kf.shape, lhs_dil, (1, 1), rhs_dil, adj_pads, x.dtype):
        y = winograd.strided_conv_input_grad(x, kf, adj_pads, inner, xla)
    else:
        y = native.input_grad(x, kf, inner, lhs_dil, adj_pads, rhs_dil, xla)
    return _pad_spatial(y, crop)


def _plain_conv(x, k, strides, pads, lhs_dil, rhs_dil, precision, out_type, adjoint):
    """One convolution: oneDNN's kernels on CPU where `onednn` takes the case, else lax's.
    oneDNN reads an adjoint's kernel with in and out swapped: only the flip is copied."""
    if out_type in (None, jnp.float32) and onednn.supported(x, k, strides, pads, lhs_dil, rhs_dil):
        if adjoint:
            return onednn.conv(x, lax.rev(k, (0, 1)), strides, pads, rhs_dil, swap_io=True)
        return onednn.conv(x, k, strides, pads, rhs_dil)
    k = _flip_swap(k) if adjoint else k
    return lax.conv_general_dilated(x, k, strides, pads, lhs_dil, rhs_dil,
                                    _channels_last(x.ndim - 2), precision=precision,
                                    preferred_element_type=out_type)


def _subpixel_forward(x, k, dil, pads, precision, out_type):
    """Input-dilated stride-1 conv as one stride-1 conv with s^d x the features + depth-to-space.

    Per spatial dim with kernel K, dilation s, padding (p, q), input length N:
    the full result z[u] = sum_i x[i] k[K-1-(u - s i)], u in [0, (N-1)s + K), is
    read in blocks of s: z[s b + r] = sum_m x[b - m] k[K-1-s m-r] (M = ceil(K/s)
    taps m), a stride-1 conv with kernel H[j, r] = k[K-1-s(M-1-j)-r] (0 outside);
    the output is z[K-1-p : K-1-p + L] with L = (N-1)s + p + q - K + 2.
    """
    nd = x.ndim - 2
    features = k.shape[-1]
    kernel, x_pads, crops = k, [(0, 0, 0)], []
    for d in range(nd):
        size, s, (p, q), n = k.shape[d], dil[d], pads[d], x.shape[1 + d]
        m = -(-size // s)
        length = (n - 1) * s + p + q - size + 2
        a = size - 1 - p
        b0, b1 = a // s, (a + length - 1) // s     # blocks of z that hold the output
        x_pads.append((m - 1 - b0, b1 - (n - 1), 0))
        crops.append((a - s * b0, length))
        tap = size - 1 - s * (m - 1 - np.arange(m)[:, None]) - np.arange(s)[None, :]
        valid = (tap >= 0) & (tap < size)
        kernel = jnp.take(kernel, np.clip(tap, 0, size - 1).reshape(-1), axis=2 * d)
        kernel = kernel.reshape(kernel.shape[:2 * d] + (m, s) + kernel.shape[2 * d + 1:])
        mask = valid.reshape((1,) * 2 * d + (m, s) + (1,) * (kernel.ndim - 2 * d - 2))
        kernel = kernel * jnp.asarray(mask, kernel.dtype)
    # [M1, s1, M2, s2, ..., C, F] -> [M1, M2, ..., C, s1 * s2 * ... * F]
    order = [2 * d for d in range(nd)] + [2 * nd] + [2 * d + 1 for d in range(nd)] + [2 * nd + 1]
    kernel = kernel.transpose(order)
    kernel = kernel.reshape(kernel.shape[:nd + 1] + (-1,))
    xp = lax.pad(x, jnp.zeros((), x.dtype), x_pads + [(0, 0, 0)])
    # lax, not oneDNN: oneDNN ran these stride-1 convs over few, wide blocks 1.0-1.3x slower
    # than XLA:CPU (bench_conv's dcgan32/dcgan64 rows).
    y = lax.conv_general_dilated(xp, kernel, (1,) * nd, "VALID", dimension_numbers=_channels_last(nd),
                                 precision=precision, preferred_element_type=out_type)
    blocks = y.shape[1:-1]
    y = y.reshape(y.shape[:1] + blocks + tuple(dil) + (features,))
    order = [0] + [a for d in range(nd) for a in (1 + d, 1 + nd + d)] + [2 * nd + 1]
    y = y.transpose(order).reshape(y.shape[:1] + tuple(b * s for b, s in zip(blocks, dil))
                                   + (features,))
    start = (0,) + tuple(c for c, _ in crops) + (0,)
    limit = y.shape[:1] + tuple(c + n for c, n in crops) + (features,)
    return lax.slice(y, start, limit)


def _conv_fwd(x, k, strides, pads, lhs_dil, rhs_dil, precision, out_type, adjoint):
    y = _forward(x, k, strides, pads, lhs_dil, rhs_dil, precision, out_type, adjoint)
    return y, (x, k)


def _conv_bwd(strides, pads, lhs_dil, rhs_dil, precision, out_type, adjoint, residuals, dy):
    x, k = residuals
    nd = x.ndim - 2
    # JAX's transpose rule for the input: a conv of dy with the flipped, transposed kernel,
    # i.e. the adjoint of this one (the adjoint of an adjoint has kernel k again).
    ksize = [_dilate(n, d) for n, d in zip(k.shape[:nd], rhs_dil)]
    low = [kd - 1 - p for kd, (p, _) in zip(ksize, pads)]
    high = [_dilate(n, dl) + kd - 1 - _dilate(o, s) - lo for n, dl, kd, o, s, lo in
            zip(x.shape[1:-1], lhs_dil, ksize, dy.shape[1:-1], strides, low)]
    dx = _conv(dy, k.astype(dy.dtype), lhs_dil, tuple(zip(low, high)), strides, rhs_dil,
               precision, None, not adjoint)
    dk = _kernel_grad(x, dy, k.shape, strides, pads, lhs_dil, rhs_dil, precision, adjoint)
    return dx.astype(x.dtype), dk.astype(k.dtype)


_conv.defvjp(_conv_fwd, _conv_bwd)


THIN_CHANNELS = 16


def _kernel_grad(x, dy, k_shape, strides, pads, lhs_dil, rhs_dil, precision, adjoint):
    """The gradient w.r.t. _conv's kernel argument k (of shape k_shape; the kernel is
    rev(k)^T with `adjoint`): in oneDNN on CPU where `native` is available, else XLA's.

    oneDNN's primitive takes plain convolutions. An input-dilated stride-1 one (a
    transposed conv, or a strided conv's input gradient) y = x (*)_{lhs s} k is handled
    through its adjoint: <dy, y> = <x, dy (*)_{stride s} kf> with kf = rev(k)^T (in and
    out features swapped), so dk = rev(kf')^T where kf' is the kernel gradient of that
    strided conv with dy as its input and x as its output gradient; with `adjoint`, kf'
    is already the gradient wanted.
    """
    nd = x.ndim - 2
    if adjoint:  # the kernel the convolution applies
        k_shape = tuple(k_shape[:nd]) + (k_shape[-1], k_shape[-2])
    if native.supported(x, dy) and max(lhs_dil) > 1 and max(strides) == 1:
        dy, adjoint_pads = _crop_negative_pads(
            dy, _adjoint(k_shape, x.shape, dy.shape, lhs_dil, pads, rhs_dil))
        swapped = tuple(k_shape[:2]) + (k_shape[3], k_shape[2])
        kf = _native_kernel_grad(dy, x, swapped, lhs_dil, adjoint_pads, rhs_dil, precision)
        return kf if adjoint else _flip_swap(kf)
    if native.supported(x, dy) and max(lhs_dil) == 1:
        x, pads = _crop_negative_pads(x, pads)
        dk = _native_kernel_grad(x, dy, k_shape, strides, pads, rhs_dil, precision)
    else:
        dk = _kernel_grad_xla(x, dy, k_shape, strides, pads, lhs_dil, rhs_dil, precision)
    return _flip_swap(dk) if adjoint else dk


def _native_kernel_grad(x, dy, k_shape, strides, pads, rhs_dil, precision):
    """native.kernel_grad of a plain conv (pads >= 0), with XLA's formulation beside it."""
    xla = functools.partial(_kernel_grad_xla, k_shape=k_shape, strides=strides, pads=pads,
                            lhs_dil=(1, 1), rhs_dil=rhs_dil, precision=precision)
    if winograd.applies_kernel_grad(x.shape, k_shape, strides, rhs_dil, pads):
        return winograd.strided_conv_kernel_grad(x, dy, pads, k_shape, xla)
    return native.kernel_grad(x, dy, k_shape, strides, pads, rhs_dil, xla)


def _crop_negative_pads(x, pads):
    """x cropped where a pad is negative (lax's meaning of it), and the pads made >= 0."""
    start = [max(0, -lo) for lo, _ in pads]
    stop = [n - max(0, -hi) for n, (_, hi) in zip(x.shape[1:-1], pads)]
    x = lax.slice(x, (0, *start, 0), (x.shape[0], *stop, x.shape[-1]))
    return x, tuple((max(0, lo), max(0, hi)) for lo, hi in pads)


def _kernel_grad_xla(x, dy, k_shape, strides, pads, lhs_dil, rhs_dil, precision):
    """dk[t] = sum over batch and output positions of (input under tap t)^T dy.

    Per tap t one strided slice and one matmul contracting batch x positions, so
    no zero of a dilation is multiplied. With stride 1 and a dilated input (a
    transposed conv) dy is sliced instead: dk[t] = sum_i x[i]^T dy[s i + p - t r].
    """
    nd = x.ndim - 2
    taps = list(np.ndindex(*k_shape[:nd]))
    slice_dy = max(strides) == 1 and max(lhs_dil) > 1
    if slice_dy:
        fixed, moving, step, count = x, dy, lhs_dil, x.shape[1:-1]
        first = [p - (kd - 1) * r for (p, _), kd, r in zip(pads, k_shape[:nd], rhs_dil)]
        last = [s * (n - 1) + p for s, n, (p, _) in zip(lhs_dil, count, pads)]
        pad = [(max(0, -f), max(0, l - (o - 1))) for f, l, o in zip(first, last, dy.shape[1:-1])]
        starts = [[p + lo - t_d * r for t_d, (p, _), (lo, _), r in zip(t, pads, pad, rhs_dil)]
                  for t in taps]
    else:
        if max(lhs_dil) > 1:  # strided and input-dilated at once: dilate explicitly
            x = lax.pad(x, jnp.zeros((), x.dtype),
                        [(0, 0, 0)] + [(0, 0, d - 1) for d in lhs_dil] + [(0, 0, 0)])
        fixed, moving, step, count = dy, x, strides, dy.shape[1:-1]
        pad = list(pads)
        starts = [[t_d * r for t_d, r in zip(t, rhs_dil)] for t in taps]
    moving = _pad_spatial(moving, pad)
    fixed = fixed.reshape(-1, fixed.shape[-1])
    parts = []
    for st in starts:
        limit = [a + s * (n - 1) + 1 for a, s, n in zip(st, step, count)]
        parts.append(lax.slice(moving, (0, *st, 0), (moving.shape[0], *limit, moving.shape[-1]),
                               (1, *step, 1)).reshape(-1, moving.shape[-1]))
    contract = (((0,), (0,)), ((), ()))
    c = moving.shape[-1]
    if c < THIN_CHANNELS:  # few channels: one matmul over all taps (im2col) beats thin ones
        g = lax.dot_general(jnp.concatenate(parts, axis=1), fixed, contract, precision=precision)
        g = g.reshape(len(taps), c, -1)
        return (jnp.swapaxes(g, 1, 2) if slice_dy else g).reshape(k_shape)
    grads = [lax.dot_general(fixed, p, contract, precision=precision) if slice_dy else
             lax.dot_general(p, fixed, contract, precision=precision) for p in parts]
    return jnp.stack(grads).reshape(k_shape)


class Conv(nn.Conv):
    """flax.linen.Conv (same parameters and options) with fast exact gradients on CPU."""
    conv_general_dilated: object = conv_general_dilated


class ConvTranspose(nn.ConvTranspose):
    """flax.linen.ConvTranspose: same parameters, names, shapes and semantics, fast.

    y = conv_general_dilated(x, kernel, 1, padding, lhs_dilation=strides): the input
    dilated by the strides and correlated with `kernel` ([*K, C_in, F], or
    [*K, F, C_in] flipped when transpose_kernel=True), as lax.conv_transpose.
    """

    @nn.compact
    def __call__(self, inputs):
        ks = (self.kernel_size,) if isinstance(self.kernel_size, int) else tuple(self.kernel_size)
        nd = len(ks)
        broadcast = lambda v: (1,) * nd if v is None else (v,) * nd if isinstance(v, int) else tuple(v)
        strides, dilation = broadcast(self.strides), broadcast(self.kernel_dilation)
        batch_shape = inputs.shape[:inputs.ndim - nd - 1]
        x = inputs.reshape((-1,) + inputs.shape[-nd - 1:])
        c_in = x.shape[-1]
        shape = ks + ((self.features, c_in) if self.transpose_kernel else (c_in, self.features))
        if self.mask is not None and self.mask.shape != shape:
            raise ValueError(f"Mask needs to have the same shape as weights. Shapes are: "
                             f"{self.mask.shape}, {shape}")
        kernel = self.param("kernel", self.kernel_init, shape, self.param_dtype)
        if self.mask is not None:
            kernel = kernel * self.mask
        bias = (self.param("bias", self.bias_init, (self.features,), self.param_dtype)
                if self.use_bias else None)
        x, kernel, bias = self.promote_dtype(x, kernel, bias, dtype=self.dtype)
        if self.transpose_kernel:
            kernel = jnp.swapaxes(lax.rev(kernel, tuple(range(nd))), -1, -2)
        padding = nn.linear.canonicalize_padding(self.padding, nd)
        circular = padding == "CIRCULAR"
        if isinstance(padding, str):
            padding = [transpose_padding(_dilate(k, d), s, "VALID" if circular else padding)
                       for k, d, s in zip(ks, dilation, strides)]
        y = conv_general_dilated(x, kernel, (1,) * nd, padding, strides, dilation,
                                 _channels_last(nd), precision=self.precision,
                                 preferred_element_type=self.preferred_element_type)
        if circular:
            y = _wrap_circular(y, x.shape[1:-1], strides, self.transpose_kernel)
        if bias is not None:
            y = y + bias.reshape((1,) * (y.ndim - 1) + (-1,))
        return y.reshape(batch_shape + y.shape[1:])


class UpsampleConv(layers.UpsampleConv):
    """gan_jax.nets.layers.UpsampleConv (same parameters) with fast exact gradients on CPU."""
    conv_general_dilated: object = conv_general_dilated


class ConvPool(layers.ConvPool):
    """gan_jax.nets.layers.ConvPool (same parameters) with fast exact gradients on CPU."""
    conv_general_dilated: object = conv_general_dilated


LAYERS = layers.ConvLayers(conv=Conv, conv_transpose=ConvTranspose, upsample_conv=UpsampleConv,
                           conv_pool=ConvPool)


def _wrap_circular(y, in_spatial: Sequence[int], strides, transpose_kernel: bool):
    """Periodic boundary of flax's ConvTranspose(padding='CIRCULAR'): fold the VALID
    output onto a period of (input size x stride) per spatial dim."""
    periods = [n * s for n, s in zip(in_spatial, strides)]
    diffs = [-(yd - p) % (2 * p) for yd, p in zip(y.shape[1:-1], periods)]
    pads = [(d // 2, (d + 1) // 2) if transpose_kernel else ((d + 1) // 2, d // 2) for d in diffs]
    y = jnp.pad(y, [(0, 0)] + pads + [(0, 0)])
    for i, p in enumerate(periods, start=1):
        y = y.reshape(y.shape[:i] + (-1, p) + y.shape[i + 1:]).sum(axis=i)
    return y
