"""The two-player game of Goodfellow et al. (2014) and its loss variants.

G maps z ~ N(0, I) to samples; D scores reals and fakes. The loss pair
(config.loss.name: minimax, nonsaturating, wasserstein, least_squares, hinge,
relativistic[_average], feature_matching; see losses.LOSSES), a penalty on D
(config.loss.penalty: none | gp | dragan | r1, weighted by
config.loss.penalty_weight), weight clipping (config.loss.clip), n_critic D
updates per G update (config.optim.n_critic) and an EMA of G are config values.

One step: n_critic D updates, each on its own real minibatch (examples i,
i + n_critic, ... of the step's batch) and fresh z; the last one's fakes are made
ONCE with `jax.vjp`, used (detached) for D's update and then, through the updated
D, for G's gradient, as PyTorch's DCGAN does. Penalties see D in training mode;
with batch norm in D they mix examples, so the penalty configs turn it off.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from gan_jax import backend, losses, optim, parallel
from gan_jax.games import _player
from gan_jax.games._player import apply_net
from gan_jax.state import GANState


def make_nets(config, data_shape, axis_name=parallel.AXIS):
    g = backend.build_net(config, "generator", data_shape, axis_name)
    d = backend.build_net(config, "discriminator", data_shape, axis_name)
    return g, d


def examples_per_step(config):
    return config.batch_size * config.optim.n_critic


def init(key, config, batch):
    x = batch["x"][0]
    data_shape = x.shape[1:]
    g, d = make_nets(config, data_shape)
    kg, kd, kr = jax.random.split(key, 3)
    # Compiled once without XLA's backend optimizations: they took 24 s on BEGAN's encoder
    # init (1.5 s without), and an init runs once. Same draws as flax's eager init up to
    # float rounding (max difference 1.2e-7 measured on the BEGAN and DCGAN nets). Under a
    # trace (jax.eval_shape: --mode=summary) nothing compiles, and a nested jit takes no
    # compiler options.
    jit_once = lambda f: (f if isinstance(kg, jax.core.Tracer) else
                          jax.jit(f, compiler_options={"xla_backend_optimization_level": 0}))
    g_vars = jit_once(lambda k: g.init(k, jnp.zeros((1, config.g.z_dim)), train=False))(kg)
    d_vars = jit_once(lambda k: d.init(k, jnp.zeros((1,) + data_shape), train=False))(kd)
    g_tx, _ = optim.make(config.optim, "g", config.steps)
    d_tx, _ = optim.make(config.optim, "d", config.steps, config.optim.n_critic)
    return GANState.create(
        rng=kr, g_params=g_vars["params"], d_params=d_vars["params"], g_tx=g_tx, d_tx=d_tx,
        g_batch_stats=g_vars.get("batch_stats"), d_batch_stats=d_vars.get("batch_stats"),
        ema=_player.keeps_ema(config))


def d_update(state, d, loss, config, real, fake, key):
    """One D (critic) update on (real, fake); returns (state, metrics)."""
    def d_loss_fn(d_params):
        real_logits, bs = apply_net(d, d_params, state.d_batch_stats, real)
        fake_logits, bs = apply_net(d, d_params, bs, fake)
        critic = lambda x: apply_net(d, d_params, bs, x)[0]
        pen = losses.penalty(config.loss.penalty, critic, real, fake, key, config.loss)
        d_loss = loss.d(real_logits, fake_logits)
        metrics = {"d_loss": d_loss, "d_penalty": pen, "d_real": jnp.mean(real_logits),
                   "d_fake": jnp.mean(fake_logits)}
        return d_loss + config.loss.penalty_weight * pen, (bs, metrics)

    grads, (bs, metrics) = jax.grad(d_loss_fn, has_aux=True)(state.d_params)
    state, metrics = _player.update(state, "d", grads, config, metrics)
    return state.replace(d_batch_stats=bs), metrics


def g_loss_fn(fake, state, d, loss, real):
    """G's loss on its samples `fake` through D (params fixed), as loss.g(real_out, fake_out).

    D's outputs are logits, or its last features when loss.g_needs_features (feature
    matching); D's output on `real` is computed only when loss.g_needs_real.
    """
    kwargs = {"return_features": True} if loss.g_needs_features else {}
    pick = (lambda out: out[1]) if loss.g_needs_features else (lambda out: out)
    fake_out = pick(apply_net(d, state.d_params, state.d_batch_stats, fake, **kwargs)[0])
    real_out = (pick(apply_net(d, state.d_params, state.d_batch_stats, real, **kwargs)[0])
                if loss.g_needs_real else None)
    return loss.g(real_out, fake_out)


def critic_batches(batch, n_critic):
    """The real batch split over n_critic D updates: [n_critic, batch / n_critic, ...].

    Critic iteration i takes examples i, i + n_critic, ...: with the batch's global
    positions split contiguously over devices, this is the same global minibatch for any
    device count (a contiguous split would not be).
    """
    real_all = jnp.asarray(batch["x"])  # numpy batches work outside jit too (notebooks)
    per = real_all.shape[0] // n_critic
    return jnp.swapaxes(real_all.reshape((per, n_critic) + real_all.shape[1:]), 0, 1)


def critic_iterations(state, g, d, loss, config, reals, key):
    """The first n_critic - 1 D updates of a step (the last one shares G's forward).

    A Python loop (unrolled), not lax.scan: on XLA:CPU the scanned version of WGAN's
    step (n_critic 5, width 32, batch 64) took 12.7 s CPU per step, this one 0.55 s.
    """
    z_shape = (reals.shape[1], config.g.z_dim)
    for i in range(reals.shape[0] - 1):
        k = jax.random.fold_in(key, i)
        z = parallel.sharded_normal(jax.random.fold_in(k, 0), z_shape)
        fake, g_bs = apply_net(g, state.g_params, state.g_batch_stats, z)
        state, _ = d_update(state.replace(g_batch_stats=g_bs), d, loss, config, reals[i],
                            jax.lax.stop_gradient(fake), jax.random.fold_in(k, 1))
    return state


def apply_g_update(state, config, g_grads, g_loss, g_bs, metrics):
    """G's update (`_player.update`), its batch statistics, the step counter; the step's
    metrics are `metrics` (D's last update) with G's."""
    state, g_metrics = _player.update(state, "g", g_grads, config, {"g_loss": g_loss})
    return state.replace(g_batch_stats=g_bs, step=state.step + 1), {**metrics, **g_metrics}


def begin_step(state, batch, config):
    """Everything before a step's last D update and G's update: the nets, the loss, the
    split batch, the first n_critic - 1 D updates, and the key and z of the last iteration
    (which G's update shares). Returns (state, g, d, loss, reals, key, z)."""
    reals = critic_batches(batch, config.optim.n_critic)
    g, d = make_nets(config, reals.shape[2:])
    loss = losses.get(config.loss.name)
    key = jax.random.fold_in(state.rng, state.step)
    state = critic_iterations(state, g, d, loss, config, reals, key)
    k = jax.random.fold_in(key, reals.shape[0] - 1)
    z = parallel.sharded_normal(jax.random.fold_in(k, 0), (reals.shape[1], config.g.z_dim))
    return state, g, d, loss, reals, k, z


def train_step(state, batch, config):
    state, g, d, loss, reals, k, z = begin_step(state, batch, config)
    # The last critic iteration shares its fakes with G's update: one G forward.
    fake, g_vjp, g_bs = jax.vjp(
        lambda p: apply_net(g, p, state.g_batch_stats, z), state.g_params, has_aux=True)
    state, metrics = d_update(state, d, loss, config, reals[-1], jax.lax.stop_gradient(fake),
                              jax.random.fold_in(k, 1))

    g_loss, d_fake_out = jax.value_and_grad(g_loss_fn)(fake, state, d, loss, reals[-1])
    (g_grads,) = g_vjp(d_fake_out)
    return apply_g_update(state, config, g_grads, g_loss, g_bs, metrics)


def sample(state, config, batch, key, num=None):
    """num samples G(z) with z from `key` (EMA params when kept); [num, ...]."""
    num = num or config.sample.num
    g = backend.build_net(config, "generator", batch["x"].shape[1:], None)
    z = jax.random.normal(key, (num, config.g.z_dim))
    return apply_net(g, state.sampling_params(), state.g_batch_stats, z, train=False)[0]
