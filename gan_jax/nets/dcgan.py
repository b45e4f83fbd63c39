"""DCGAN generator and discriminator (Radford, Metz & Chintala 2016).

Strided convolutions (no pooling), batch norm in both nets except G's output and
D's input layers, ReLU in G, LeakyReLU(0.2) in D, tanh output; kernels 4x4 with
stride 2 and padding 1 (PyTorch's DCGAN example), weights ~ N(0, 0.02).
Image sizes: powers of two >= 8 (4x4 base, one doubling per block).
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.errors import UserError
from gan_jax.nets import layers
from gan_jax.nets.layers import FLAX, ModuleDef

PAD1 = ((1, 1), (1, 1))


def num_blocks(image_size: int, field: str = "config.data.image_size") -> int:
    """Doublings from the 4x4 base to `image_size`; errors for unsupported sizes."""
    n = int(round(math.log2(image_size))) if image_size > 0 else 0
    if image_size < 8 or 2 ** n != image_size:
        raise UserError(f"{field}={image_size} is not supported by the DCGAN nets; "
                         f"use a power of two >= 8 (e.g. 32 or 64).")
    return n - 2


class Generator(nn.Module):
    """z [B, z_dim] -> images [B, size, size, channels] in [-1, 1]."""
    image_size: int = 32
    channels: int = 1
    width: int = 64
    max_mult: int = 8
    axis_name: Optional[str] = None
    conv_transpose: ModuleDef = nn.ConvTranspose

    @nn.compact
    def __call__(self, z, train: bool = True):
        n = num_blocks(self.image_size)
        mults = [min(2 ** i, self.max_mult) for i in reversed(range(n))]
        bn = lambda: nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                                  axis_name=self.axis_name, scale_init=layers.bn_scale_init)
        # Project z to a 4x4 map: the same function as a 4x4 VALID transposed conv on 1x1.
        x = nn.Dense(4 * 4 * self.width * mults[0], use_bias=False,
                     kernel_init=layers.normal_002)(z)
        x = nn.relu(bn()(x.reshape(z.shape[0], 4, 4, self.width * mults[0])))
        for m in mults[1:]:
            x = self.conv_transpose(self.width * m, (4, 4), (2, 2), padding="SAME",
                                    use_bias=False, kernel_init=layers.normal_002)(x)
            x = nn.relu(bn()(x))
        x = self.conv_transpose(self.channels, (4, 4), (2, 2), padding="SAME",
                                kernel_init=layers.normal_002)(x)
        return jnp.tanh(x)


class Discriminator(nn.Module):
    """images [B, size, size, C] -> logits [B]. Optionally returns the last features."""
    image_size: int = 32
    width: int = 64
    max_mult: int = 8
    batch_norm: bool = True
    axis_name: Optional[str] = None
    conv: ModuleDef = nn.Conv

    @nn.compact
    def __call__(self, x, train: bool = True, return_features: bool = False):
        n = num_blocks(self.image_size)
        for i in range(n):
            x = self.conv(self.width * min(2 ** i, self.max_mult), (4, 4), (2, 2),
                          padding=PAD1, use_bias=not (self.batch_norm and i > 0),
                          kernel_init=layers.normal_002)(x)
            if self.batch_norm and i > 0:
                x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                                 axis_name=self.axis_name, scale_init=layers.bn_scale_init)(x)
            x = nn.leaky_relu(x, 0.2)
        features = x.reshape(x.shape[0], -1)
        logits = nn.Dense(1, kernel_init=layers.normal_002)(features)[:, 0]
        return (logits, features) if return_features else logits


def make_generator(cfg, data_shape: Sequence[int], axis_name=None, convs=FLAX):
    num_blocks(data_shape[0])
    return Generator(image_size=data_shape[0], channels=data_shape[-1], width=cfg.width,
                     axis_name=axis_name, conv_transpose=convs.conv_transpose)


def make_discriminator(cfg, data_shape: Sequence[int], axis_name=None, convs=FLAX):
    num_blocks(data_shape[0])
    return Discriminator(image_size=data_shape[0], width=cfg.width,
                         batch_norm=cfg.get("batch_norm", True), axis_name=axis_name,
                         conv=convs.conv)
