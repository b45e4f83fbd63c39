"""MLP generator and discriminator for 2-D toy mixtures (Goodfellow 2014; Metz 2017)."""
from __future__ import annotations

from typing import Optional, Sequence

import flax.linen as nn


class MLP(nn.Module):
    """depth hidden layers of `width` with `activation`, then a linear layer to `out`."""
    out: int
    width: int = 128
    depth: int = 2
    activation: str = "relu"

    @nn.compact
    def __call__(self, x, train: bool = True, return_features: bool = False):
        act = {"relu": nn.relu, "tanh": nn.tanh, "leaky_relu": nn.leaky_relu}[self.activation]
        for _ in range(self.depth):
            x = act(nn.Dense(self.width)(x))
        y = nn.Dense(self.out)(x)
        return (y, x) if return_features else y


class Discriminator(nn.Module):
    """Points [B, 2] -> logits [B]."""
    width: int = 128
    depth: int = 2
    activation: str = "relu"

    @nn.compact
    def __call__(self, x, train: bool = True, return_features: bool = False):
        y, f = MLP(1, self.width, self.depth, self.activation)(
            x.reshape(x.shape[0], -1), return_features=True)
        return (y[:, 0], f) if return_features else y[:, 0]


def make_generator(cfg, data_shape: Sequence[int], axis_name: Optional[str] = None):
    return MLP(out=data_shape[-1], width=cfg.width, depth=cfg.get("depth", 2),
               activation=cfg.get("activation", "relu"))


def make_discriminator(cfg, data_shape: Sequence[int], axis_name: Optional[str] = None):
    return Discriminator(width=cfg.width, depth=cfg.get("depth", 2),
                         activation=cfg.get("activation", "relu"))
