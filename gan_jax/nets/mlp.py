"""MLP generator and discriminator for 2-D toy mixtures.

One MLP covers the toy nets of the papers we reproduce (config.g / config.d):
- PacGAN (Lin 2018): G = 4 x 400 (Dense without bias -> BatchNorm -> ReLU), D =
  3 x 200 maxout with 5 pieces; weights N(0, 0.02), biases 0. D is *packed*:
  config.d.pack = m concatenates m samples, [B, 2] -> [B/m, 2m], and returns B/m
  logits, so the losses (means over logits) average over packs.
- Unrolled GAN (Metz 2017, public demo notebook): G and D = 2 x 128 tanh,
  orthogonal init with gain 1.4.
- WGAN-GP toys (Gulrajani 2017): G and D = 3 x 512 ReLU.
"""
from __future__ import annotations

from typing import Optional, Sequence

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.errors import UserError

ACTIVATIONS = ("relu", "tanh", "leaky_relu", "maxout")
INITS = ("lecun", "normal", "orthogonal")


def kernel_init(name: str, scale: float):
    """Dense kernel initializer: flax's default (lecun), N(0, scale^2), or orthogonal(gain=scale)."""
    if name == "lecun":
        return nn.initializers.lecun_normal()
    if name == "normal":
        return nn.initializers.normal(scale)
    if name == "orthogonal":
        return nn.initializers.orthogonal(scale)
    raise UserError(f"config.g.weight_init / config.d.weight_init={name!r} is unknown; choose one of: "
                     f"{', '.join(INITS)}.")


class MLP(nn.Module):
    """depth hidden layers of `width` with `activation`, then a linear layer to `out`.

    activation 'maxout' takes the max over `maxout_pieces` linear maps per unit
    (Goodfellow 2013). batch_norm puts BatchNorm (synced over `axis_name`) between
    each hidden Dense (then without bias) and its activation.
    """
    out: int
    width: int = 128
    depth: int = 2
    activation: str = "relu"
    maxout_pieces: int = 5
    batch_norm: bool = False
    axis_name: Optional[str] = None
    weight_init: str = "lecun"
    weight_scale: float = 1.0

    @nn.compact
    def __call__(self, x, train: bool = True, return_features: bool = False):
        if self.activation not in ACTIVATIONS:
            raise UserError(f"config.g.activation / config.d.activation={self.activation!r} is "
                             f"unknown; choose one of: {', '.join(ACTIVATIONS)}.")
        init = kernel_init(self.weight_init, self.weight_scale)
        for _ in range(self.depth):
            if self.activation == "maxout":
                h = nn.Dense(self.width * self.maxout_pieces, kernel_init=init)(x)
                x = jnp.max(h.reshape(h.shape[:-1] + (self.width, self.maxout_pieces)), -1)
                continue
            x = nn.Dense(self.width, use_bias=not self.batch_norm, kernel_init=init)(x)
            if self.batch_norm:
                # momentum 0.95: the population-statistics update of the PacGAN code.
                x = nn.BatchNorm(use_running_average=not train, momentum=0.95, epsilon=1e-4,
                                 axis_name=self.axis_name)(x)
            x = {"relu": nn.relu, "tanh": nn.tanh, "leaky_relu": nn.leaky_relu}[self.activation](x)
        y = nn.Dense(self.out, kernel_init=init)(x)
        return (y, x) if return_features else y


class Discriminator(nn.Module):
    """Points [B, 2] -> logits [B / pack]: `pack` consecutive points form one input of D.

    PacGAN (Lin 2018): D(x_1, ..., x_m) on the concatenation [B/m, 2m] of m samples,
    all real or all generated; B must be a multiple of m.
    """
    width: int = 128
    depth: int = 2
    activation: str = "relu"
    pack: int = 1
    maxout_pieces: int = 5
    weight_init: str = "lecun"
    weight_scale: float = 1.0

    @nn.compact
    def __call__(self, x, train: bool = True, return_features: bool = False):
        x = x.reshape(x.shape[0], -1)
        if 0 < x.shape[0] < self.pack:
            # A probe smaller than one pack (games init D on one point) is repeated to a pack.
            x = jnp.tile(x, (-(-self.pack // x.shape[0]), 1))[:self.pack]
        if self.pack < 1 or x.shape[0] % self.pack:
            raise UserError(
                f"config.d.pack={self.pack} must be >= 1 and divide the per-device batch of "
                f"{x.shape[0]} points; use a batch size that is a multiple of pack x devices.")
        x = x.reshape(x.shape[0] // self.pack, self.pack * x.shape[1])
        y, f = MLP(1, self.width, self.depth, self.activation, self.maxout_pieces,
                   weight_init=self.weight_init, weight_scale=self.weight_scale)(x, return_features=True)
        return (y[:, 0], f) if return_features else y[:, 0]


def _init_fields(cfg):
    return {"weight_init": cfg.get("weight_init", "lecun"),
            "weight_scale": float(cfg.get("weight_scale", 1.0))}


def make_generator(cfg, data_shape: Sequence[int], axis_name: Optional[str] = None, convs=None):
    return MLP(out=data_shape[-1], width=cfg.width, depth=cfg.get("depth", 2),
               activation=cfg.get("activation", "relu"),
               maxout_pieces=cfg.get("maxout_pieces", 5),
               batch_norm=bool(cfg.get("batch_norm", False)), axis_name=axis_name,
               **_init_fields(cfg))


def make_discriminator(cfg, data_shape: Sequence[int], axis_name: Optional[str] = None,
                       convs=None):
    """The MLP critic; config.d.batch_norm is ignored (none of the toy papers uses BN in D)."""
    return Discriminator(width=cfg.width, depth=cfg.get("depth", 2),
                         activation=cfg.get("activation", "relu"), pack=int(cfg.get("pack", 1)),
                         maxout_pieces=cfg.get("maxout_pieces", 5), **_init_fields(cfg))
