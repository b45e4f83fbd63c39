"""BEGAN: Boundary Equilibrium GAN (Berthelot, Schumm & Metz 2017).

D is an autoencoder (config.d.net='began'); L(v) = |v - D(v)| its reconstruction
loss. D minimises L(x) - k_t L(G(z)), G minimises L(G(z)), and the control
variable k_t (state.extra['k']) keeps E[L(G(z))] = gamma E[L(x)]:
k <- clip(k + lambda_k (gamma L(x) - L(G(z))), 0, 1). Config: config.began.{gamma,
lambda_k, k_init}. Logged: began_k, began_M (the convergence measure), d_real and
d_fake (= L(x), L(G(z))).

One step, as in the paper and its reference code: one G forward (jax.vjp) and
one D pass on each of real and fake; both players' gradients and the k update
come from these same values (simultaneous updates).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from gan_jax import losses, parallel
from gan_jax.errors import UserError
from gan_jax.games import _player, gan

sample = gan.sample


def init(key, config, batch):
    """gan.init's nets and optimizers, plus k_t = config.began.k_init in state.extra."""
    if config.optim.n_critic != 1:
        raise UserError(f"config.optim.n_critic={config.optim.n_critic} is not used by BEGAN "
                         "(G and D update together each step); set it to 1.")
    state = gan.init(key, config, batch)
    return state.replace(extra={"k": jnp.asarray(config.began.k_init, jnp.float32)})


def _reconstruction(d, d_params, x, config):
    rec, _ = gan.apply_net(d, d_params, {}, x)
    if rec.shape != x.shape:
        raise UserError(f"config.d.net={config.d.net!r} returns {rec.shape[1:]} for inputs "
                         f"{x.shape[1:]}; BEGAN needs an autoencoder D (config.d.net='began').")
    return rec


def train_step(state, batch, config):
    real = batch["x"]
    cfg = config.began
    g, d = gan.make_nets(config, real.shape[1:])
    key = jax.random.fold_in(state.rng, state.step)
    z = parallel.sharded_normal(jax.random.fold_in(key, 0), (real.shape[0], config.g.z_dim))
    fake, g_vjp, g_bs = jax.vjp(
        lambda p: gan.apply_net(g, p, state.g_batch_stats, z), state.g_params, has_aux=True)

    def reconstruction_losses(d_params, fake):
        """[L(x), L(G(z))] for this device's batch."""
        return jnp.stack([
            losses.began_reconstruction_loss(real, _reconstruction(d, d_params, real, config)),
            losses.began_reconstruction_loss(fake, _reconstruction(d, d_params, fake, config))])

    rec_losses, rec_vjp = jax.vjp(reconstruction_losses, state.d_params, fake)
    k = state.extra["k"]
    d_grads, _ = rec_vjp(jnp.stack([1.0, -k]))    # d/d theta_D of L(x) - k L(G(z))
    _, fake_grad = rec_vjp(jnp.array([0.0, 1.0]))  # d/d G(z) of L(G(z))
    (g_grads,) = g_vjp(fake_grad)
    real_loss, fake_loss = parallel.pmean(rec_losses)

    state, d_metrics = _player.update(state, "d", d_grads, config)
    state, g_metrics = _player.update(state, "g", g_grads, config)
    new_k = losses.began_k_update(k, real_loss, fake_loss, cfg.gamma, cfg.lambda_k)
    state = state.replace(g_batch_stats=g_bs, step=state.step + 1,
                          extra=dict(state.extra, k=new_k))
    metrics = {
        "d_loss": losses.began_d(real_loss, fake_loss, k), "g_loss": losses.began_g(fake_loss),
        "d_real": real_loss, "d_fake": fake_loss, "began_k": k,
        "began_M": losses.began_convergence(real_loss, fake_loss, cfg.gamma),
        **d_metrics, **g_metrics,
    }
    return state, metrics
