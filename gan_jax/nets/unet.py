"""U-Net generator of pix2pix (Isola et al. 2017), built from the inside out like the reference.

`n_downs` levels (8 for 256x256: down to 1x1; default log2(image size)). Level i
(0 = outermost) downsamples with a 4x4 stride-2 conv (padding 1) to ngf * min(2^i, 8)
channels and upsamples with a 4x4 stride-2 transposed conv; the decoder input of
every level but the innermost is [skip, inner output] concatenated on channels.
Encoder: LeakyReLU(0.2) -> conv -> norm (no activation before the first conv, no
norm on the first and innermost convs). Decoder: ReLU -> transposed conv -> norm
(tanh and a bias on the outermost). Dropout 0.5 follows the decoder of each middle
level (8 ngf in and out, not the innermost: levels 4 .. n_downs - 2, the reference
`use_dropout` blocks), i.e. the first three decoder blocks at 256x256 and none at
32x32. Convs have no bias before batch norm. Weights ~ N(0, 0.02).

The reference's in-place LeakyReLU also rewrites the skip tensors, but the decoder's
ReLU makes that invisible: ReLU(LeakyReLU(d)) = ReLU(d), so concatenating the
pre-activation skip here gives the same function and gradients.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.errors import UserError
from gan_jax.nets import layers
from gan_jax.nets.layers import FLAX, ModuleDef
from gan_jax.nets.patchgan import check_norm, norm_layer

PAD1 = ((1, 1), (1, 1))
# PyTorch ConvTranspose2d(k=4, s=2, padding=1) pads the dilated input by k - 1 - p = 2.
UP_PAD = ((2, 2), (2, 2))


def level_width(width: int, i: int) -> int:
    return width * min(2 ** i, 8)


class UnetGenerator(nn.Module):
    """images [B, H, W, C_in] -> images [B, H, W, channels] in [-1, 1]; H, W divisible by 2^n_downs."""
    channels: int = 3
    width: int = 64
    n_downs: int = 8
    norm: str = "batch"
    dropout: float = 0.5
    axis_name: Optional[str] = None
    conv: ModuleDef = nn.Conv
    conv_transpose: ModuleDef = nn.ConvTranspose

    @nn.compact
    def __call__(self, x, train: bool = True):
        bias = self.norm != "batch"
        n = self.n_downs
        skips = []
        for i in range(n):
            if i > 0:
                x = nn.leaky_relu(x, 0.2)
            x = self.conv(level_width(self.width, i), (4, 4), (2, 2), padding=PAD1,
                          use_bias=bias, kernel_init=layers.normal_002,
                          name=f"down{i}")(x)
            if 0 < i < n - 1:
                x = norm_layer(self.norm, train, self.axis_name, f"down{i}_norm")(x)
            skips.append(x)
        for i in reversed(range(n)):
            if i < n - 1:
                x = jnp.concatenate([skips[i], x], axis=-1)
            x = nn.relu(x)
            out = self.channels if i == 0 else level_width(self.width, i - 1)
            x = self.conv_transpose(out, (4, 4), (2, 2), padding=UP_PAD,
                                    use_bias=bias or i == 0, kernel_init=layers.normal_002,
                                    name=f"up{i}")(x)
            if i == 0:
                return jnp.tanh(x)
            x = norm_layer(self.norm, train, self.axis_name, f"up{i}_norm")(x)
            if self.dropout > 0 and 4 <= i < n - 1:  # the middle levels: 8 ngf in and out
                x = nn.Dropout(self.dropout, deterministic=not train)(x)


def make_generator(cfg, data_shape: Sequence[int], axis_name=None, convs=FLAX):
    """The U-Net producing images of `data_shape` ([H, W, C])."""
    size = min(data_shape[0], data_shape[1])
    n_downs = int(cfg.get("n_downs", 0)) or int(round(math.log2(size)))
    if data_shape[0] % 2 ** n_downs or data_shape[1] % 2 ** n_downs:
        raise UserError(f"config.g.n_downs={n_downs} needs image sides divisible by "
                         f"{2 ** n_downs} (got {data_shape[0]}x{data_shape[1]}); use a power-of-two "
                         f"config.data.image_size or a smaller config.g.n_downs.")
    return UnetGenerator(channels=data_shape[-1], width=cfg.width, n_downs=n_downs,
                         norm=check_norm(cfg.get("norm", "batch"), "config.g.norm"),
                         dropout=float(cfg.get("dropout", 0.5)), axis_name=axis_name,
                         conv=convs.conv, conv_transpose=convs.conv_transpose)
