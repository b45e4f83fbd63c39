"""BEGAN's nets (Berthelot, Schumm & Metz 2017): an autoencoder D and a decoder G.

Both decoders: z [B, h] -> Dense to an 8x8 map of n filters -> at each resolution
two 3x3 convs with ELU, then 2x nearest-neighbour upsampling, up to the image size
-> a 3x3 conv to the image channels. The encoder mirrors it: a 3x3 conv, then per
resolution two 3x3 convs (n, 2n, 3n, ... filters) and a stride-2 3x3 conv to go
down, then Dense to the embedding h. No batch norm (the paper's nets). G ends in
tanh so samples stay in [-1, 1]; D's reconstruction is linear, as in the paper.
Fields: config.{g,d}.width = n, config.g.z_dim = h = config.d.embedding.
The convs are flax.linen.Conv on every backend (`convs` of make_* is not used: the CPU
backend's layers were not measured on these nets).
"""
from __future__ import annotations

import math
from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.errors import UserError

BASE = 8  # the decoder's first map is 8x8 (the paper's 8x8xn)


def num_upsamplings(image_size: int, field: str = "config.data.image_size") -> int:
    """Doublings from the 8x8 base to image_size; errors for sizes the nets cannot make."""
    n = int(round(math.log2(image_size))) if image_size > 0 else 0
    if image_size < BASE or 2 ** n != image_size:
        raise UserError(f"{field}={image_size} is not supported by the BEGAN nets; use a power "
                         f"of two >= {BASE} (e.g. 32 or 64).")
    return n - 3


def _conv(features, stride=1):
    return nn.Conv(features, (3, 3), (stride, stride), padding=((1, 1), (1, 1)))


class Decoder(nn.Module):
    """h [B, embedding] -> [B, size, size, channels]."""
    image_size: int = 32
    channels: int = 1
    width: int = 64
    tanh: bool = False

    @nn.compact
    def __call__(self, h, train: bool = True):
        n = self.width
        x = nn.Dense(BASE * BASE * n)(h).reshape(h.shape[0], BASE, BASE, n)
        ups = num_upsamplings(self.image_size)
        for i in range(ups + 1):
            x = nn.elu(_conv(n)(x))
            x = nn.elu(_conv(n)(x))
            if i < ups:
                x = jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)
        x = _conv(self.channels)(x)
        return jnp.tanh(x) if self.tanh else x


class Encoder(nn.Module):
    """[B, size, size, C] -> h [B, embedding]."""
    image_size: int = 32
    width: int = 64
    embedding: int = 64

    @nn.compact
    def __call__(self, x, train: bool = True):
        n = self.width
        x = nn.elu(_conv(n)(x))
        downs = num_upsamplings(self.image_size)
        for i in range(downs + 1):
            x = nn.elu(_conv(n * (i + 1))(x))
            x = nn.elu(_conv(n * (i + 1))(x))
            if i < downs:
                x = nn.elu(_conv(n * (i + 1), stride=2)(x))
        return nn.Dense(self.embedding)(x.reshape(x.shape[0], -1))


class AutoencoderDiscriminator(nn.Module):
    """BEGAN's D: x [B, H, W, C] -> its reconstruction D(x) [B, H, W, C] (linear output)."""
    image_size: int = 32
    channels: int = 1
    width: int = 64
    embedding: int = 64

    @nn.compact
    def __call__(self, x, train: bool = True):
        h = Encoder(self.image_size, self.width, self.embedding)(x)
        return Decoder(self.image_size, self.channels, self.width)(h)


def make_generator(cfg, data_shape: Sequence[int], axis_name=None, convs=None):
    num_upsamplings(data_shape[0])
    return Decoder(image_size=data_shape[0], channels=data_shape[-1], width=cfg.width, tanh=True)


def make_discriminator(cfg, data_shape: Sequence[int], axis_name=None, convs=None):
    num_upsamplings(data_shape[0])
    return AutoencoderDiscriminator(image_size=data_shape[0], channels=data_shape[-1],
                                    width=cfg.width, embedding=cfg.get("embedding", 64))
