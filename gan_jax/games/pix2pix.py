"""pix2pix (Isola, Zhu, Zhou & Efros 2017): paired translation a -> b with a conditional GAN.

G (a U-Net) maps a to b; D (a PatchGAN) scores the channel-concatenated pair [a, b]:

  L_D = d L_D(D([a, b]), D([a, G(a)]))
  L_G = w L_G(D([a, G(a)])) + lambda_L1 |G(a) - b|_1

Reference values (configs/pix2pix.py): vanilla GAN loss (losses 'nonsaturating',
BCE with logits), D's loss halved (d = config.loss.d_weight = 0.5), w = 1,
lambda_L1 = 100, Adam(2e-4, 0.5), batch norm and dropout as G's noise. As in the
reference step, D is updated first on G(a) (made once, detached), then G through
the updated D by `jax.vjp` of that same forward pass. config.loss.g_weight = 0
gives the L1-only U-Net baseline (D is then not trained). With config.ema.decay > 0,
samples and evaluation use the EMA of G.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from gan_jax import backend, parallel
from gan_jax.games import _player
from gan_jax.games._player import apply_net
from gan_jax.games._translation import (create_state, dropout_rngs, game_loss, l1, strips, take,
                                        translate)
from gan_jax.metrics import translation as translation_metrics


def pair_shape(shape_a, shape_b):
    """D's input: a and b concatenated on channels."""
    return tuple(shape_b[:-1]) + (shape_a[-1] + shape_b[-1],)


def make_nets(config, shape_a, shape_b, axis_name=parallel.AXIS):
    g = backend.build_net(config, "generator", shape_b, axis_name)
    d = backend.build_net(config, "discriminator", pair_shape(shape_a, shape_b), axis_name)
    return g, d


def adversarial(config) -> bool:
    return config.loss.g_weight > 0


def init(key, config, batch):
    a, b = batch["a"][0], batch["b"][0]
    g, d = make_nets(config, a.shape[1:], b.shape[1:])
    return create_state(key, config, g, a.shape[1:], d, pair_shape(a.shape[1:], b.shape[1:]))


def train_step(state, batch, config):
    a, b = batch["a"], batch["b"]
    g, d = make_nets(config, a.shape[1:], b.shape[1:])
    loss = game_loss(config)
    key = jax.random.fold_in(state.rng, state.step)
    rngs = dropout_rngs(jax.random.fold_in(key, 0))
    fake, g_vjp, g_stats = jax.vjp(
        lambda p: apply_net(g, p, state.g_batch_stats, a, rngs=rngs), state.g_params,
        has_aux=True)
    metrics = {"d_lr": _player.learning_rate(config, "d", state.step)}  # also with D untrained

    if adversarial(config):
        def d_loss_fn(d_params):
            real_out, stats = apply_net(d, d_params, state.d_batch_stats,
                                        jnp.concatenate([a, b], -1))
            fake_out, stats = apply_net(d, d_params, stats,
                                        jnp.concatenate([a, jax.lax.stop_gradient(fake)], -1))
            d_loss = config.loss.d_weight * loss.d(real_out, fake_out)
            return d_loss, (stats, {"d_loss": d_loss, "d_real": jnp.mean(real_out),
                                    "d_fake": jnp.mean(fake_out)})

        d_grads, (d_stats, d_metrics) = jax.grad(d_loss_fn, has_aux=True)(state.d_params)
        state, metrics = _player.update(state, "d", d_grads, config, d_metrics)
        state = state.replace(d_batch_stats=d_stats)

    def g_loss_fn(fake):
        gan = jnp.zeros(())
        if adversarial(config):
            fake_out = apply_net(d, state.d_params, state.d_batch_stats,
                                 jnp.concatenate([a, fake], -1))[0]
            real_out = (apply_net(d, state.d_params, state.d_batch_stats,
                                  jnp.concatenate([a, b], -1))[0] if loss.g_needs_real else None)
            gan = loss.g(real_out, fake_out)
        distance = l1(fake, b)
        total = config.loss.g_weight * gan + config.pix2pix.lambda_l1 * distance
        return total, {"g_loss": gan, "g_l1": distance, "g_total": total}

    (_, g_metrics), d_fake = jax.value_and_grad(g_loss_fn, has_aux=True)(fake)
    (g_grads,) = g_vjp(d_fake)
    state, g_metrics = _player.update(state, "g", g_grads, config, g_metrics)
    state = state.replace(g_batch_stats=g_stats, step=state.step + 1)
    return state, {**metrics, **g_metrics}


def sample(state, config, batch, key, num=None):
    """Strips a | G(a) | b (input, output, target): [num, 3H, W, C]."""
    num = num or config.sample.num
    g, _ = make_nets(config, batch["a"].shape[1:], batch["b"].shape[1:], axis_name=None)
    a, b = take(batch["a"], num), take(batch["b"], num)
    fake = apply_net(g, state.sampling_params(), state.g_batch_stats, a, train=False)[0]
    return strips(a, fake, b)


def evaluate(state, config, pipeline, key):
    """L1 / PSNR / FD-digits of G(a) vs the true b on held-out pairs, with the identity baseline."""
    source = pipeline.source
    held = source.heldout(config.eval.get("num_samples", None))
    g, _ = make_nets(config, held["a"].shape[1:], held["b"].shape[1:], axis_name=None)
    fake = translate(g, state.sampling_params(), state.g_batch_stats, held["a"])
    if not getattr(source, "known_transform", False):
        return {}
    return translation_metrics.report("ab", held["a"], fake, held["b"])
