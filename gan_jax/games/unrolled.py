"""Unrolled GAN (Metz et al. 2017): G's loss is taken against D unrolled k steps.

With D's parameters theta_D^0 (after this step's D update, as in games/gan.py),
the surrogate is

    theta_D^{i+1} = theta_D^i + U(grad_D L_D(theta_D^i, theta_G), s^i),  i = 0..k-1
    L_G^unrolled(theta_G) = L_G(D(.; theta_D^k(theta_G)), G(z; theta_G)),

where U / s are D's REAL optimizer update rule and state (its optax transform,
e.g. Adam's moments), applied to the same real batch, the same z and fakes.
G's gradient differentiates THROUGH the k updates (second order: dtheta_D^k /
dtheta_G); config.unroll.first_order = True treats theta_D^k as a constant
(Metz 2017, Sec. 2.2, the "first term only"). The unrolled parameters are
only used for G's gradient; D keeps its ordinary one-step update. With
config.unroll.steps = 0 the step is exactly games/gan.py's step.

Config: config.unroll.steps (k, default 5 in Metz 2017), config.unroll.first_order.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from gan_jax import losses, parallel
from gan_jax.errors import UserError
from gan_jax.games.gan import (apply_g_update, apply_net, begin_step, d_update,
                               examples_per_step, g_loss_fn, init, make_nets, sample)

__all__ = ["init", "train_step", "sample", "examples_per_step", "unrolled_g_loss"]


def _unroll_config(config):
    u = config.get("unroll", {})
    steps, first_order = int(u.get("steps", 5)), bool(u.get("first_order", False))
    if steps < 0:
        raise UserError(f"config.unroll.steps={steps} must be >= 0.")
    return steps, first_order


def unroll_d(state, d, loss, config, real, fake, key, steps):
    """theta_D^k: `steps` updates of D's optimizer from (state.d_params, state.d_opt_state).

    Differentiable in `fake` (and so in G's params). Penalties and weight clipping
    are applied as in D's real update; batch statistics are not carried.
    """
    def d_objective(d_params, i):
        real_logits, bs = apply_net(d, d_params, state.d_batch_stats, real)
        fake_logits, bs = apply_net(d, d_params, bs, fake)
        critic = lambda x: apply_net(d, d_params, bs, x)[0]
        pen = losses.penalty(config.loss.penalty, critic, real, fake, jax.random.fold_in(key, i),
                             config.loss)
        return loss.d(real_logits, fake_logits) + config.loss.penalty_weight * pen

    def one_update(carry, i):
        d_params, opt_state = carry
        grads = parallel.pmean(jax.grad(d_objective)(d_params, i))
        updates, opt_state = state.d_tx.update(grads, opt_state, d_params)
        d_params = optax.apply_updates(d_params, updates)
        if config.loss.get("clip", 0.0) > 0:
            d_params = losses.clip_weights(d_params, config.loss.clip)
        return (d_params, opt_state), None

    if steps == 0:
        return state.d_params
    (d_params, _), _ = jax.lax.scan(one_update, (state.d_params, state.d_opt_state),
                                    jnp.arange(steps))
    return d_params


def unrolled_g_loss(g_params, state, config, real, z, key):
    """L_G against D unrolled config.unroll.steps steps; returns (loss, new G batch stats).

    A pure function of g_params (for jax.grad and finite-difference checks).
    """
    steps, first_order = _unroll_config(config)
    g, d = make_nets(config, real.shape[1:])
    loss = losses.get(config.loss.name)
    fake, g_bs = apply_net(g, g_params, state.g_batch_stats, z)
    d_params = unroll_d(state, d, loss, config, real, fake, key, steps)
    if first_order:
        d_params = jax.lax.stop_gradient(d_params)
    return g_loss_fn(fake, state.replace(d_params=d_params), d, loss, real), g_bs


def train_step(state, batch, config):
    """n_critic D updates (games/gan.py), then one G update on the unrolled surrogate."""
    _unroll_config(config)
    state, g, d, loss, reals, k, z = begin_step(state, batch, config)
    # The last critic iteration shares z and reals with G's surrogate (as in games/gan.py);
    # G's batch statistics advance once, from the surrogate's forward pass.
    fake, _ = apply_net(g, state.g_params, state.g_batch_stats, z)
    state, metrics = d_update(state, d, loss, config, reals[-1], jax.lax.stop_gradient(fake),
                              jax.random.fold_in(k, 1))
    (g_loss, g_bs), g_grads = jax.value_and_grad(unrolled_g_loss, has_aux=True)(
        state.g_params, state, config, reals[-1], z, jax.random.fold_in(k, 2))
    return apply_g_update(state, config, g_grads, g_loss, g_bs, metrics)
