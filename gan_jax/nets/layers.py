"""Layers shared by the nets: initializers, the upsample-conv and conv-pool fusions, and
the bundle of convolution modules a net is built with.

Every layer here is plain Flax over `jax.lax`: what XLA compiles on any platform.
A net takes its convolutions as module fields (`conv: ModuleDef = nn.Conv`, the pattern
of Flax's ResNet example), so one net definition runs with flax.linen's layers or with
drop-in replacements of the same parameters (gan_jax.backend picks them from
config.conv_impl).
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

import flax.linen as nn
import jax.numpy as jnp
from jax import lax

ModuleDef = Any

# Weight init N(0, 0.02) of DCGAN (Radford 2016) and pix2pix/CycleGAN (Isola 2017).
normal_002 = nn.initializers.normal(0.02)


def bn_scale_init(key, shape, dtype=None):
    """BatchNorm scale ~ N(1, 0.02) as in the DCGAN reference code."""
    return 1.0 + 0.02 * nn.initializers.normal(1.0)(key, shape, dtype or "float32")


def box_kernel(kernel, factor: int):
    """kernel [*K, C, F] -> [*(K + factor - 1), C, F]: per spatial dim u, the sum of
    kernel[t] over t in [u - factor + 1, u] (a full 1-D convolution with ones(factor))."""
    nd = kernel.ndim - 2
    for d in range(nd):
        pads = [(0, 0)] * kernel.ndim
        pads[d] = (factor - 1, factor - 1)
        padded = jnp.pad(kernel, pads)
        size = kernel.shape[d] + factor - 1
        kernel = sum(lax.slice_in_dim(padded, i, i + size, axis=d) for i in range(factor))
    return kernel


def channels_last(nd: int) -> lax.ConvDimensionNumbers:
    """lax's dimension numbers of [B, *spatial, C] * [*K, C, F] -> [B, *spatial, F]."""
    spatial = tuple(range(1, nd + 1))
    return lax.ConvDimensionNumbers((0, nd + 1) + spatial, (nd + 1, nd) + tuple(range(nd)),
                                    (0, nd + 1) + spatial)


class _BoxConv(nn.Module):
    """Parameters of flax.linen.Conv ('kernel' [*K, C, F], 'bias' [F]); 'SAME' or explicit
    padding. `conv_general_dilated` is lax's (a field, as in flax.linen.Conv)."""
    features: int
    kernel_size: Sequence[int]
    factor: int = 2
    padding: object = "SAME"
    use_bias: bool = True
    kernel_init: object = nn.initializers.lecun_normal()
    bias_init: object = nn.initializers.zeros_init()
    precision: object = None
    conv_general_dilated: Callable = lax.conv_general_dilated

    def params_and_pads(self, x):
        ks, nd = tuple(self.kernel_size), len(self.kernel_size)
        kernel = self.param("kernel", self.kernel_init, ks + (x.shape[-1], self.features))
        bias = self.param("bias", self.bias_init, (self.features,)) if self.use_bias else None
        pads = (lax.padtype_to_pads(x.shape[1:-1], ks, (1,) * nd, self.padding)
                if isinstance(self.padding, str) else self.padding)
        return kernel, bias, nd, [tuple(p) for p in pads]

    @staticmethod
    def add_bias(y, bias):
        return y if bias is None else y + bias.reshape((1,) * (y.ndim - 1) + (-1,))


class UpsampleConv(_BoxConv):
    """Conv(upsample_nearest(x, factor)) with the parameters of the Conv, ~(K+f-1)^d / (f K)^d
    of its multiply-adds (2.25x fewer for 3x3, f = 2).

    Nearest upsampling then a stride-1 conv with padding (p, q) is exactly the
    transposed conv with stride f, kernel box_kernel(k, f) and padding
    (p + f - 1, q + f - 1): y[o] = sum_i x[i] sum_{t: floor((o + t - p) / f) = i} k[t].
    As used by the SN-GAN / WGAN-GP ResNet generators (Miyato 2018; Gulrajani 2017).
    """

    @nn.compact
    def __call__(self, x):
        kernel, bias, nd, pads = self.params_and_pads(x)
        f = self.factor
        pads = [(p + f - 1, q + f - 1) for p, q in pads]
        y = self.conv_general_dilated(x, box_kernel(kernel, f), (1,) * nd, pads, (f,) * nd,
                                      None, channels_last(nd), precision=self.precision)
        return self.add_bias(y, bias)


class ConvPool(_BoxConv):
    """avg_pool(Conv(x), factor, stride factor) with the parameters of the Conv, as one
    strided conv: kernel box_kernel(k, f) / f^d, stride f, the Conv's padding.
    (K+f-1)^d / (f K)^d of the multiply-adds (SN-GAN ResNet D, Miyato 2018)."""

    @nn.compact
    def __call__(self, x):
        kernel, bias, nd, pads = self.params_and_pads(x)
        f = self.factor
        y = self.conv_general_dilated(x, box_kernel(kernel, f) / f ** nd, (f,) * nd, pads, None,
                                      None, channels_last(nd), precision=self.precision)
        return self.add_bias(y, bias)


class ConvLayers(NamedTuple):
    """The convolution modules a net is built with; the defaults are flax.linen's and the
    fusions above. A replacement takes the same arguments and makes the same parameters."""
    conv: ModuleDef = nn.Conv
    conv_transpose: ModuleDef = nn.ConvTranspose
    upsample_conv: ModuleDef = UpsampleConv
    conv_pool: ModuleDef = ConvPool


FLAX = ConvLayers()
