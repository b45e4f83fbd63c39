"""SN-GAN ResNet generator and discriminator for 32x32 images (Miyato et al. 2018).

The CIFAR-10 architecture of Miyato, Kataoka, Koyama & Yoshida (2018), "Spectral
Normalization for GANs" (appendix B.4), after Gulrajani et al. (2017):

    G: z [B, z_dim] -> Dense 4x4xW -> 3 x up-block(W) -> BN, ReLU, conv3x3 -> C, tanh
       up-block: x + BN, ReLU, upsample x2, conv3x3, BN, ReLU, conv3x3;
                 shortcut: upsample x2, conv1x1               (W = 256)
    D: x -> down-block(W, first) -> down-block(W) -> block(W) -> block(W) -> ReLU,
       global SUM pool -> Dense 1                              (W = 128)
       block: ReLU, conv3x3, ReLU, conv3x3, [avg pool 2] + shortcut;
       first block: conv3x3, ReLU, conv3x3, avg pool 2 + conv1x1(avg pool 2 (x))
       shortcut of the others: conv1x1 then avg pool 2 when downsampling or
       changing width, else the identity.

Every D layer is spectrally normalised (`spectral_norm`, one power iteration per
call, u kept in 'batch_stats'). Upsample-then-conv runs as `layers.UpsampleConv`
and conv-then-pool as `layers.ConvPool` (module fields, like `conv`): the same
functions and parameters with 2.25x fewer multiply-adds; the G shortcut applies its
1x1 conv before upsampling (they commute). Init: Xavier-uniform, gain sqrt(2) in the residual branches and
1 in shortcuts and dense layers (the authors' Chainer code).
Config: config.g.width (256), config.g.z_dim (128), config.d.width (128),
config.d.spectral_norm (True). Image size 32 (4 x 2^3); others of 4 x 2^n work
for G with n up-blocks (n = log2(size / 4)) and for D as is.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.errors import UserError
from gan_jax.nets import layers
from gan_jax.nets.layers import FLAX, ModuleDef

RESIDUAL_INIT = nn.initializers.variance_scaling(2.0, "fan_avg", "uniform")
SHORTCUT_INIT = nn.initializers.xavier_uniform()


def up_blocks(image_size: int, field: str = "config.data.image_size") -> int:
    """Number of x2 up-blocks from the 4x4 base to `image_size`."""
    n = int(round(math.log2(image_size / 4))) if image_size >= 8 else 0
    if n < 1 or 4 * 2 ** n != image_size:
        raise UserError(f"{field}={image_size} is not supported by the ResNet nets; use "
                         f"4 x a power of two (32 as in SN-GAN).")
    return n


def upsample(x, factor: int = 2):
    """Nearest-neighbour upsampling of H and W; [B, H, W, C] -> [B, fH, fW, C]."""
    b, h, w, c = x.shape
    x = jnp.broadcast_to(x[:, :, None, :, None, :], (b, h, factor, w, factor, c))
    return x.reshape(b, h * factor, w * factor, c)


class UpBlock(nn.Module):
    """x + BN-ReLU-upsample-conv3x3-BN-ReLU-conv3x3 (x); shortcut upsample(conv1x1(x))."""
    features: int
    axis_name: Optional[str] = None
    conv: ModuleDef = nn.Conv
    upsample_conv: ModuleDef = layers.UpsampleConv

    @nn.compact
    def __call__(self, x, train: bool = True):
        bn = lambda name: nn.BatchNorm(use_running_average=not train, momentum=0.9,
                                       epsilon=1e-5, axis_name=self.axis_name, name=name)
        h = self.upsample_conv(self.features, (3, 3), kernel_init=RESIDUAL_INIT, name="conv1")(
            nn.relu(bn("bn1")(x)))
        h = self.conv(self.features, (3, 3), kernel_init=RESIDUAL_INIT, name="conv2")(
            nn.relu(bn("bn2")(h)))
        shortcut = self.conv(self.features, (1, 1), kernel_init=SHORTCUT_INIT, name="shortcut")
        return h + upsample(shortcut(x))


class Generator(nn.Module):
    """z [B, z_dim] -> images [B, size, size, channels] in [-1, 1]."""
    image_size: int = 32
    channels: int = 3
    width: int = 256
    axis_name: Optional[str] = None
    conv: ModuleDef = nn.Conv
    upsample_conv: ModuleDef = layers.UpsampleConv

    @nn.compact
    def __call__(self, z, train: bool = True):
        x = nn.Dense(4 * 4 * self.width, kernel_init=SHORTCUT_INIT, name="dense")(z)
        x = x.reshape(z.shape[0], 4, 4, self.width)
        for i in range(up_blocks(self.image_size)):
            x = UpBlock(self.width, self.axis_name, self.conv, self.upsample_conv,
                        name=f"block{i}")(x, train)
        x = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                                 axis_name=self.axis_name, name="bn")(x))
        x = self.conv(self.channels, (3, 3), kernel_init=SHORTCUT_INIT, name="conv_out")(x)
        return jnp.tanh(x)


class DownBlock(nn.Module):
    """Residual D block (pre-activation unless `first`), optionally downsampling by 2."""
    features: int
    downsample: bool = True
    first: bool = False
    spectral_norm: bool = True
    conv: ModuleDef = nn.Conv
    conv_pool: ModuleDef = layers.ConvPool

    @nn.compact
    def __call__(self, x, train: bool = True):
        def sn(layer, inputs):
            if not self.spectral_norm:
                return layer(inputs)
            return nn.SpectralNorm(layer)(inputs, update_stats=train)

        def conv(k, init, pool, name):
            if pool:
                return self.conv_pool(self.features, (k, k), kernel_init=init, name=name)
            return self.conv(self.features, (k, k), kernel_init=init, name=name)

        h = x if self.first else nn.relu(x)
        h = sn(conv(3, RESIDUAL_INIT, False, "conv1"), h)
        h = sn(conv(3, RESIDUAL_INIT, self.downsample, "conv2"), nn.relu(h))
        if self.downsample or x.shape[-1] != self.features:
            # conv1x1 and avg-pool commute: the first block's pool-then-conv is the same map.
            x = sn(conv(1, SHORTCUT_INIT, self.downsample, "shortcut"), x)
        return h + x


class Discriminator(nn.Module):
    """images [B, H, W, C] -> logits [B]. Optionally returns the pooled features."""
    width: int = 128
    spectral_norm: bool = True
    conv: ModuleDef = nn.Conv
    conv_pool: ModuleDef = layers.ConvPool

    @nn.compact
    def __call__(self, x, train: bool = True, return_features: bool = False):
        for i, down in enumerate((True, True, False, False)):
            x = DownBlock(self.width, down, i == 0, self.spectral_norm, self.conv, self.conv_pool,
                          name=f"block{i}")(x, train)
        features = jnp.sum(nn.relu(x), axis=(1, 2))
        dense = nn.Dense(1, kernel_init=SHORTCUT_INIT, name="dense")
        logits = (nn.SpectralNorm(dense)(features, update_stats=train) if self.spectral_norm
                  else dense(features))[:, 0]
        return (logits, features) if return_features else logits


def make_generator(cfg, data_shape: Sequence[int], axis_name=None, convs=FLAX):
    up_blocks(data_shape[0])
    return Generator(image_size=data_shape[0], channels=data_shape[-1], width=cfg.width,
                     axis_name=axis_name, conv=convs.conv, upsample_conv=convs.upsample_conv)


def make_discriminator(cfg, data_shape: Sequence[int], axis_name=None, convs=FLAX):
    if min(data_shape[0], data_shape[1]) < 4:
        raise UserError(f"config.data.image_size={data_shape[0]} is too small for the ResNet D; "
                         f"use at least 4 (32 as in SN-GAN).")
    return Discriminator(width=cfg.width, spectral_norm=bool(cfg.get("spectral_norm", True)),
                         conv=convs.conv, conv_pool=convs.conv_pool)
