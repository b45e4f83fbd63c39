"""CycleGAN (Zhu, Park, Isola & Efros 2017): unpaired translation between domains A and B.

Two generators G_AB, G_BA (g_params {'ab', 'ba'}) and two discriminators D_A, D_B
(d_params {'a', 'b'}; D_A tells real a from G_BA(b)). With L1 = mean |.|:

  L_G = w (L_gan(D_B(G_AB(a))) + L_gan(D_A(G_BA(b))))
        + lambda_A |G_BA(G_AB(a)) - a| + lambda_B |G_AB(G_BA(b)) - b|          (cycle)
        + lambda_idt (lambda_B |G_AB(b) - b| + lambda_A |G_BA(a) - a|)        (identity)
  L_D = d (L_D(D_A(a), D_A(pool_A(G_BA(b)))) + L_D(D_B(b), D_B(pool_B(G_AB(a)))))

Paper/reference values (configs/cyclegan.py): least-squares loss, lambda_A = lambda_B
= 10, lambda_idt = 0.5, history pools of 50 (`image_pool`, kept in state.extra),
Adam(2e-4, 0.5), constant LR then linear decay to 0. The reference's G term is
MSE(D(G(a)), 1) = 2 x losses.least_squares_g, so config.loss.g_weight = 2 (w);
its D term 1/2 (MSE real + MSE fake) is losses.least_squares_d (d = config.loss.d_weight = 1).
As in the reference, G is updated first (through the current D), then D on the
pooled fakes of the same forward pass. With config.ema.decay > 0 the state keeps an EMA of
both generators (g_ema {'ab', 'ba'}), which samples and evaluation use.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from gan_jax import backend, image_pool, parallel
from gan_jax.games import _player
from gan_jax.games._player import apply_net
from gan_jax.games._translation import (create_state, dropout_rngs, game_loss, l1, strips,
                                        take, translate)
from gan_jax.metrics import translation as translation_metrics

G_NAMES = ("ab", "ba")
D_NAMES = ("a", "b")


def make_nets(config, shape_a, shape_b, axis_name=parallel.AXIS):
    """({'ab': G_AB, 'ba': G_BA}, {'a': D_A, 'b': D_B}) for images of shape [H, W, C]."""
    g = {"ab": backend.build_net(config, "generator", shape_b, axis_name),
         "ba": backend.build_net(config, "generator", shape_a, axis_name)}
    d = {"a": backend.build_net(config, "discriminator", shape_a, axis_name),
         "b": backend.build_net(config, "discriminator", shape_b, axis_name)}
    return g, d


def init(key, config, batch):
    a, b = batch["a"][0], batch["b"][0]
    g, d = make_nets(config, a.shape[1:], b.shape[1:])
    size = config.cyclegan.pool_size
    return create_state(key, config, g, {"ab": a.shape[1:], "ba": b.shape[1:]},
                        d, {"a": a.shape[1:], "b": b.shape[1:]},
                        extra={"pool_a": image_pool.init(size, a.shape[1:]),
                               "pool_b": image_pool.init(size, b.shape[1:])})


def train_step(state, batch, config):
    a, b = batch["a"], batch["b"]
    g, d = make_nets(config, a.shape[1:], b.shape[1:])
    loss = game_loss(config)
    cc = config.cyclegan
    key = jax.random.fold_in(state.rng, state.step)
    rngs = dropout_rngs(jax.random.fold_in(key, 0))
    d_stats = state.d_batch_stats

    def g_loss_fn(g_params):
        stats = dict(state.g_batch_stats)

        def gen(name, x):
            out, stats[name] = apply_net(g[name], g_params[name], stats[name], x, rngs=rngs)
            return out

        def adv(name, real, fake):
            fake_out = apply_net(d[name], state.d_params[name], d_stats[name], fake)[0]
            real_out = (apply_net(d[name], state.d_params[name], d_stats[name], real)[0]
                        if loss.g_needs_real else None)
            return loss.g(real_out, fake_out)

        fake_b, fake_a = gen("ab", a), gen("ba", b)
        cycle = cc.lambda_a * l1(gen("ba", fake_b), a) + cc.lambda_b * l1(gen("ab", fake_a), b)
        identity = jnp.zeros(())
        if cc.lambda_identity > 0:
            identity = cc.lambda_identity * (cc.lambda_b * l1(gen("ab", b), b)
                                             + cc.lambda_a * l1(gen("ba", a), a))
        gan = adv("b", b, fake_b) + adv("a", a, fake_a)
        total = config.loss.g_weight * gan + cycle + identity
        return total, (fake_a, fake_b, stats,
                       {"g_loss": gan, "g_cycle": cycle, "g_identity": identity, "g_total": total})

    g_grads, (fake_a, fake_b, g_stats, g_metrics) = jax.grad(g_loss_fn, has_aux=True)(
        state.g_params)

    pooled_a, pool_a = image_pool.query(state.extra["pool_a"], jax.lax.stop_gradient(fake_a),
                                        jax.random.fold_in(key, 1))
    pooled_b, pool_b = image_pool.query(state.extra["pool_b"], jax.lax.stop_gradient(fake_b),
                                        jax.random.fold_in(key, 2))

    def d_loss_fn(d_params):
        stats, outs = dict(d_stats), {}
        for name, real, fake in (("a", a, pooled_a), ("b", b, pooled_b)):
            real_out, stats[name] = apply_net(d[name], d_params[name], stats[name], real)
            fake_out, stats[name] = apply_net(d[name], d_params[name], stats[name], fake)
            outs[name] = (loss.d(real_out, fake_out), jnp.mean(real_out), jnp.mean(fake_out))
        total = config.loss.d_weight * (outs["a"][0] + outs["b"][0])
        return total, (stats, {"d_loss": total, "d_loss_a": outs["a"][0],
                               "d_loss_b": outs["b"][0],
                               "d_real": (outs["a"][1] + outs["b"][1]) / 2,
                               "d_fake": (outs["a"][2] + outs["b"][2]) / 2})

    d_grads, (d_stats, d_metrics) = jax.grad(d_loss_fn, has_aux=True)(state.d_params)
    state, g_metrics = _player.update(state, "g", g_grads, config, g_metrics)
    state, d_metrics = _player.update(state, "d", d_grads, config, d_metrics)
    state = state.replace(g_batch_stats=g_stats, d_batch_stats=d_stats, step=state.step + 1,
                          extra={**state.extra, "pool_a": pool_a, "pool_b": pool_b})
    return state, {**g_metrics, **d_metrics}


def sample(state, config, batch, key, num=None):
    """Strips a | G_AB(a) | G_BA(G_AB(a)) for the first half, b | G_BA(b) | G_AB(G_BA(b))
    for the second half: [num, 3H, W, C]; a grid of them shows A -> B -> A rows."""
    num = num or config.sample.num
    g, _ = make_nets(config, batch["a"].shape[1:], batch["b"].shape[1:], axis_name=None)
    params = state.sampling_params()
    run = lambda name, x: apply_net(g[name], params[name], state.g_batch_stats[name], x,
                                    train=False)[0]
    a, b = take(batch["a"], num - num // 2), take(batch["b"], num // 2)
    fake_b, fake_a = run("ab", a), run("ba", b)
    return jnp.concatenate([strips(a, fake_b, run("ba", fake_b)),
                            strips(b, fake_a, run("ab", fake_a))])


def evaluate(state, config, pipeline, key):
    """Held-out scores: vs the known transform (L1/PSNR/FD-digits of G_AB(a) vs T(a) and of
    G_BA(b) vs T^-1(b), with the identity baseline), else the cycle-reconstruction L1."""
    source = pipeline.source
    held = source.heldout(config.eval.get("num_samples", None))
    g, _ = make_nets(config, held["a"].shape[1:], held["b"].shape[1:], axis_name=None)
    params = state.sampling_params()
    run = lambda name, x: translate(g[name], params[name], state.g_batch_stats[name], x)
    fake_b, fake_a = run("ab", held["a"]), run("ba", held["b"])
    if getattr(source, "known_transform", False):
        return {**translation_metrics.report("ab", held["a"], fake_b, held["b"]),
                **translation_metrics.report("ba", held["b"], fake_a, held["a"])}
    return {"cycle_l1_a": translation_metrics.l1(run("ba", fake_b), held["a"]),
            "cycle_l1_b": translation_metrics.l1(run("ab", fake_a), held["b"])}
