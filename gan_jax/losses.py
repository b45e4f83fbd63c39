"""Adversarial losses and penalties as pure functions of logits / critic outputs.

Every loss is mean-reduced over the batch and written with softplus/log-sigmoid
forms, so it stays finite at |logits| ~ 1e4. With D(x) = sigmoid(l(x)):
log D = -softplus(-l) and log(1 - D) = -softplus(l).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax.numpy as jnp
from jax.nn import softplus


def minimax_d(real_logits, fake_logits):
    """D's loss of the original game (Goodfellow 2014): -E[log D(x)] - E[log(1 - D(G(z)))].

    Args: real_logits [B], fake_logits [B]. Returns a scalar; its minimum over D,
    -2 x (the game value), is 2 log 2 when p_g = p_data.
    """
    return jnp.mean(softplus(-real_logits)) + jnp.mean(softplus(fake_logits))


def minimax_g(fake_logits):
    """G's saturating loss (Goodfellow 2014): E[log(1 - D(G(z)))] = -E[softplus(l)]."""
    return -jnp.mean(softplus(fake_logits))


nonsaturating_d = minimax_d


def nonsaturating_g(fake_logits):
    """G's non-saturating loss (Goodfellow 2014): -E[log D(G(z))] = E[softplus(-l)]."""
    return jnp.mean(softplus(-fake_logits))


class GameLoss(NamedTuple):
    """A named loss pair, both called as f(real_out, fake_out) -> scalar."""
    d: Callable
    g: Callable
    g_needs_real: bool = False


def _g_of_fake(fn):
    return lambda real, fake: fn(fake)


LOSSES = {
    "minimax": GameLoss(minimax_d, _g_of_fake(minimax_g)),
    "nonsaturating": GameLoss(nonsaturating_d, _g_of_fake(nonsaturating_g)),
}


def get(name: str, field: str = "config.loss.name") -> GameLoss:
    """The loss pair registered under `name`."""
    if name not in LOSSES:
        raise ValueError(f"{field}={name!r} is unknown; choose one of: {', '.join(sorted(LOSSES))}.")
    return LOSSES[name]


PENALTIES = {"none"}


def penalty(name: str, critic_fn, real, fake, key, loss_config=None, field="config.loss.penalty"):
    """The penalty `name` of critic_fn at (real, fake); 'none' is 0."""
    if name not in PENALTIES:
        raise ValueError(f"{field}={name!r} is unknown; choose one of: {', '.join(sorted(PENALTIES))}.")
    return jnp.zeros((), jnp.float32)


def clip_weights(params, c: float = 0.01):
    """Clips every critic parameter to [-c, c] (WGAN, Arjovsky 2017)."""
    import jax
    return jax.tree_util.tree_map(lambda p: jnp.clip(p, -c, c), params)
