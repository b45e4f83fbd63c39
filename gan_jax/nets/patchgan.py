"""PatchGAN and PixelGAN discriminators of pix2pix / CycleGAN (Isola 2017; Zhu 2017).

`n_layers` >= 1 gives the reference NLayerDiscriminator: a 4x4 stride-2 conv of
ndf channels with LeakyReLU(0.2), n_layers - 1 more stride-2 convs doubling the
channels (at most 8 ndf) with norm, one stride-1 conv, and a 4x4 stride-1 conv to
`classes` outputs per patch; padding 1 everywhere. Receptive field of one output:
r(n) = 9 * 2^n - 2 = 16, 34, 70, 142 for n_layers = 1, 2, 3, 4 (`receptive_field`);
n_layers = 3, ndf = 64 is the 70x70 PatchGAN. `n_layers` = 0 is the 1x1 PixelGAN (three 1x1 convs). Norm: 'batch'
(pix2pix), 'instance' (CycleGAN) or 'none'; weights ~ N(0, 0.02).
"""
from __future__ import annotations

from typing import Optional, Sequence

import flax.linen as nn

from gan_jax.errors import UserError
from gan_jax.nets import layers
from gan_jax.nets.layers import FLAX, ModuleDef

NORMS = ("batch", "instance", "none")
PAD1 = ((1, 1), (1, 1))


def check_norm(kind: str, field: str) -> str:
    if kind not in NORMS:
        raise UserError(f"{field}={kind!r} is unknown; choose one of: {', '.join(NORMS)}.")
    return kind


def norm_layer(kind: str, train: bool, axis_name: Optional[str] = None, name=None):
    """The reference norm layers: BatchNorm (momentum 0.1 in PyTorch terms, scale ~ N(1, 0.02)),
    InstanceNorm without affine parameters (PyTorch's default), or the identity."""
    if kind == "batch":
        return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                            axis_name=axis_name, scale_init=layers.bn_scale_init, name=name)
    if kind == "instance":
        return nn.InstanceNorm(epsilon=1e-5, use_bias=False, use_scale=False, name=name)
    return lambda x: x


def receptive_field(n_layers: int) -> int:
    """Receptive field (pixels per side) of one PatchGAN output.

    Walks the layers from the output back: r <- (r - 1) * stride + kernel, kernels 4,
    strides 1, 1 (the last two convs), then 2 (n_layers times); r(n) = 9 * 2^n - 2.
    PixelGAN (n_layers = 0) sees 1 pixel.
    """
    if n_layers == 0:
        return 1
    r = 1
    for stride in [1, 1] + [2] * n_layers:
        r = (r - 1) * stride + 4
    return r


class PatchDiscriminator(nn.Module):
    """images [B, H, W, C] -> patch logits [B, H', W'] (or [B, H', W', classes])."""
    width: int = 64
    n_layers: int = 3
    norm: str = "batch"
    classes: int = 1
    axis_name: Optional[str] = None
    conv: ModuleDef = nn.Conv

    @nn.compact
    def __call__(self, x, train: bool = True):
        conv = lambda f, k, s, p, bias=True, name=None: self.conv(
            f, (k, k), (s, s), padding=p, use_bias=bias, kernel_init=layers.normal_002, name=name)
        bias = self.norm != "batch"  # the reference drops conv biases only before batch norm
        if self.n_layers == 0:
            x = nn.leaky_relu(conv(self.width, 1, 1, "VALID", name="conv0")(x), 0.2)
            x = conv(2 * self.width, 1, 1, "VALID", bias, name="conv1")(x)
            x = nn.leaky_relu(norm_layer(self.norm, train, self.axis_name, "norm1")(x), 0.2)
            x = conv(self.classes, 1, 1, "VALID", bias, name="conv2")(x)
        else:
            x = nn.leaky_relu(conv(self.width, 4, 2, PAD1, name="conv0")(x), 0.2)
            for i in range(1, self.n_layers + 1):
                stride = 2 if i < self.n_layers else 1
                x = conv(self.width * min(2 ** i, 8), 4, stride, PAD1, bias, name=f"conv{i}")(x)
                x = nn.leaky_relu(norm_layer(self.norm, train, self.axis_name, f"norm{i}")(x), 0.2)
            x = conv(self.classes, 4, 1, PAD1, name=f"conv{self.n_layers + 1}")(x)
        return x[..., 0] if self.classes == 1 else x


def make_discriminator(cfg, data_shape: Sequence[int], axis_name=None, convs=FLAX):
    n_layers = int(cfg.get("n_layers", 3))
    if n_layers < 0:
        raise UserError(f"config.d.n_layers={n_layers} must be >= 0 (0: PixelGAN, 3: 70x70).")
    size = min(data_shape[0], data_shape[1])
    if n_layers and size < 3 * 2 ** n_layers:
        raise UserError(f"config.d.n_layers={n_layers} needs images of at least "
                         f"{3 * 2 ** n_layers} pixels (got {size}); lower config.d.n_layers.")
    return PatchDiscriminator(width=cfg.width, n_layers=n_layers,
                              norm=check_norm(cfg.get("norm", "batch"), "config.d.norm"),
                              classes=int(cfg.get("classes", 1)), axis_name=axis_name,
                              conv=convs.conv)
