"""GANState: one pytree holding both players of a game.

G and D each have params, batch statistics and their OWN optax state; an optional
EMA of G's params; game-specific extras (BEGAN's k_t, CycleGAN's image pools,
ProGAN's phase); the root key (the step number is folded in at each step) and the
step counter. Optimizers are static fields, so the whole state is checkpointed
as plain arrays.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct


def global_norm(tree):
    return optax.global_norm(tree) if jax.tree_util.tree_leaves(tree) else jnp.zeros(())


@struct.dataclass
class GANState:
    step: jax.Array
    rng: jax.Array
    g_params: Any
    d_params: Any
    g_opt_state: Any
    d_opt_state: Any
    g_batch_stats: Any = struct.field(default_factory=dict)
    d_batch_stats: Any = struct.field(default_factory=dict)
    g_ema: Any = struct.field(default_factory=dict)
    extra: Any = struct.field(default_factory=dict)
    g_tx: optax.GradientTransformation = struct.field(pytree_node=False, default=None)
    d_tx: optax.GradientTransformation = struct.field(pytree_node=False, default=None)

    @classmethod
    def create(cls, *, rng, g_params, d_params, g_tx, d_tx, g_batch_stats=None,
               d_batch_stats=None, ema: bool = False, extra=None):
        return cls(step=jnp.zeros((), jnp.int32), rng=rng, g_params=g_params, d_params=d_params,
                   g_opt_state=g_tx.init(g_params), d_opt_state=d_tx.init(d_params),
                   g_batch_stats=g_batch_stats or {}, d_batch_stats=d_batch_stats or {},
                   g_ema=jax.tree_util.tree_map(jnp.copy, g_params) if ema else {},
                   extra=extra or {}, g_tx=g_tx, d_tx=d_tx)

    def apply_gradients(self, player: str, grads):
        """One optimizer update of `player` ('g' or 'd'); returns (state, update norm)."""
        params, opt_state, tx = (getattr(self, f"{player}_params"),
                                 getattr(self, f"{player}_opt_state"), getattr(self, f"{player}_tx"))
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return (self.replace(**{f"{player}_params": params, f"{player}_opt_state": opt_state}),
                global_norm(updates))

    def update_ema(self, decay: float):
        """g_ema <- decay * g_ema + (1 - decay) * g_params (no-op without EMA)."""
        if not self.g_ema:
            return self
        return self.replace(g_ema=optax.incremental_update(self.g_params, self.g_ema, 1.0 - decay))

    def sampling_params(self):
        """G's params used for samples and evaluation: the EMA when kept."""
        return self.g_ema if self.g_ema else self.g_params
