"""ResNet image-to-image generator (Johnson et al. 2016) as used by CycleGAN (Zhu et al. 2017).

Reflection pad 3, 7x7 conv to ngf, two 3x3 stride-2 convs (ngf -> 2 ngf -> 4 ngf),
`n_blocks` residual blocks x + [reflect pad 1, 3x3 conv, norm, ReLU, reflect
pad 1, 3x3 conv, norm](x), two 3x3 stride-2 transposed convs (padding 1,
output padding 1: exact doubling) back to ngf, reflection pad 3, 7x7 conv, tanh.
Every conv but the last is followed by norm and ReLU. Instance norm without
affine parameters and conv biases, as in the reference code (`resnet_9blocks` /
`resnet_6blocks`); weights ~ N(0, 0.02). n_blocks = 9 for 256x256, 6 for 128x128
and below (`default_blocks`). Image sides must be multiples of 4.
"""
from __future__ import annotations

from typing import Optional, Sequence

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.errors import UserError
from gan_jax.nets import layers
from gan_jax.nets.layers import FLAX, ModuleDef
from gan_jax.nets.patchgan import check_norm, norm_layer


def reflect_pad(x, p: int):
    """Reflection padding of H and W by p (PyTorch's ReflectionPad2d; the edge is not repeated)."""
    return jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")


def default_blocks(image_size: int) -> int:
    """The paper's residual blocks: 9 at 256x256 and above, 6 at 128x128 and below."""
    return 9 if image_size >= 256 else 6


class ResidualBlock(nn.Module):
    """x + conv-norm-ReLU-[dropout]-conv-norm (x), reflection-padded 3x3 convs."""
    features: int
    norm: str = "instance"
    dropout: float = 0.0
    axis_name: Optional[str] = None
    conv: ModuleDef = nn.Conv

    @nn.compact
    def __call__(self, x, train: bool = True):
        bias = self.norm != "batch"
        y = self.conv(self.features, (3, 3), padding="VALID", use_bias=bias,
                      kernel_init=layers.normal_002, name="conv0")(reflect_pad(x, 1))
        y = nn.relu(norm_layer(self.norm, train, self.axis_name, "norm0")(y))
        if self.dropout > 0:
            y = nn.Dropout(self.dropout, deterministic=not train)(y)
        y = self.conv(self.features, (3, 3), padding="VALID", use_bias=bias,
                      kernel_init=layers.normal_002, name="conv1")(reflect_pad(y, 1))
        return x + norm_layer(self.norm, train, self.axis_name, "norm1")(y)


class ResnetGenerator(nn.Module):
    """images [B, H, W, C_in] -> images [B, H, W, channels] in [-1, 1]."""
    channels: int = 3
    width: int = 64
    n_blocks: int = 9
    norm: str = "instance"
    dropout: float = 0.0
    axis_name: Optional[str] = None
    conv: ModuleDef = nn.Conv
    conv_transpose: ModuleDef = nn.ConvTranspose

    @nn.compact
    def __call__(self, x, train: bool = True):
        bias = self.norm != "batch"
        norm = lambda name: norm_layer(self.norm, train, self.axis_name, name)
        x = self.conv(self.width, (7, 7), padding="VALID", use_bias=bias,
                      kernel_init=layers.normal_002, name="stem")(reflect_pad(x, 3))
        x = nn.relu(norm("stem_norm")(x))
        for i in range(2):
            x = self.conv(self.width * 2 ** (i + 1), (3, 3), (2, 2),
                          padding=((1, 1), (1, 1)), use_bias=bias,
                          kernel_init=layers.normal_002, name=f"down{i}")(x)
            x = nn.relu(norm(f"down{i}_norm")(x))
        for i in range(self.n_blocks):
            x = ResidualBlock(self.width * 4, self.norm, self.dropout, self.axis_name, self.conv,
                              name=f"block{i}")(x, train)
        for i in range(2):
            # PyTorch ConvTranspose2d(k=3, s=2, padding=1, output_padding=1) pads the
            # stride-dilated input by (k - 1 - p, k - 1 - p + output_padding) = (1, 2).
            x = self.conv_transpose(self.width * 2 ** (1 - i), (3, 3), (2, 2),
                                    padding=((1, 2), (1, 2)), use_bias=bias,
                                    kernel_init=layers.normal_002, name=f"up{i}")(x)
            x = nn.relu(norm(f"up{i}_norm")(x))
        x = self.conv(self.channels, (7, 7), padding="VALID", kernel_init=layers.normal_002,
                      name="head")(reflect_pad(x, 3))
        return jnp.tanh(x)


def make_generator(cfg, data_shape: Sequence[int], axis_name=None, convs=FLAX):
    """The ResNet generator producing images of `data_shape` ([H, W, C])."""
    h, w = data_shape[0], data_shape[1]
    if h % 4 or w % 4 or min(h, w) < 8:
        raise UserError(f"config.data.image_size={h} is not supported by the ResNet generator; "
                         f"use a multiple of 4 that is at least 8 (e.g. 32, 128, 256).")
    n_blocks = int(cfg.get("n_blocks", 0)) or default_blocks(min(h, w))
    return ResnetGenerator(channels=data_shape[-1], width=cfg.width, n_blocks=n_blocks,
                           norm=check_norm(cfg.get("norm", "instance"), "config.g.norm"),
                           dropout=float(cfg.get("dropout", 0.0)), axis_name=axis_name,
                           conv=convs.conv, conv_transpose=convs.conv_transpose)
