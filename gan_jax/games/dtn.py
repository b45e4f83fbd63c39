"""Domain Transfer Network (Taigman, Polyak & Wolf 2017): unsupervised cross-domain transfer.

G = g o f maps a source image s (domain A) to the target domain B, where f is a
FIXED pretrained encoder (the shipped digits classifier's features,
`metrics.digits_net`) and g a trained decoder (config.g.net, e.g. the DCGAN
generator on the 64-d features). D is a 3-way classifier (class 0: G(s), 1: G(t),
2: real t), here a PatchGAN with 3 outputs per patch. With CE = cross-entropy
averaged over patches and MSE the squared error (the paper's digits choice for d):

  L_D     = CE(D(G(s)), 0) + CE(D(G(t)), 1) + CE(D(t), 2)
  L_GANG  = CE(D(G(s)), 2) + CE(D(G(t)), 2)
  L_CONST = MSE(f(s), f(G(s)))        (f-constancy)
  L_TID   = MSE(t, G(t))              (identity on target samples)
  L_G     = L_GANG + alpha L_CONST + beta L_TID + gamma TV(G(s))

Paper (SVHN -> MNIST): alpha = beta = 15, gamma = 0; Adam. One step updates D then
G (through the updated D) on the same G outputs (one forward, `jax.vjp`).
Evaluation scores G(a) against the known transform T(a) (L1/PSNR/FD-digits); with
config.ema.decay > 0, samples and evaluation use the EMA of g.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from gan_jax import backend, parallel
from gan_jax.errors import UserError
from gan_jax.games import _player
from gan_jax.games._player import apply_net
from gan_jax.games._translation import create_state, strips, take, translate
from gan_jax.metrics import digits_net
from gan_jax.metrics import translation as translation_metrics

FAKE_SOURCE, FAKE_TARGET, REAL_TARGET = 0, 1, 2


def encoder():
    """f: images [N, H, W, C] in [-1, 1] -> features [N, F]; fixed, differentiable."""
    module, variables = digits_net.load()
    return lambda x: module.apply(variables, x)[0]


def make_nets(config, shape_b, axis_name=parallel.AXIS):
    g = backend.build_net(config, "generator", shape_b, axis_name)
    if config.d.get("classes", 1) != 3:
        raise UserError(f"config.d.classes={config.d.get('classes', 1)} must be 3 for DTN's "
                         f"3-way discriminator.")
    d = backend.build_net(config, "discriminator", shape_b, axis_name)
    return g, d


def class_loss(logits, label: int):
    """Mean cross-entropy of logits [..., 3] (every patch) against one class."""
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(
        logits.reshape(-1, logits.shape[-1]), jnp.full((logits.size // logits.shape[-1],),
                                                       label)))


def total_variation(x):
    """Mean squared difference of neighbouring pixels (the paper's L_TV with B = 2)."""
    return (jnp.mean(jnp.square(x[:, 1:] - x[:, :-1]))
            + jnp.mean(jnp.square(x[:, :, 1:] - x[:, :, :-1])))


def init(key, config, batch):
    a, b = batch["a"][0], batch["b"][0]
    g, d = make_nets(config, b.shape[1:])
    features = jax.eval_shape(encoder(), jax.ShapeDtypeStruct((1,) + a.shape[1:], jnp.float32))
    return create_state(key, config, g, features.shape[1:], d, b.shape[1:])


def train_step(state, batch, config):
    s, t = batch["a"], batch["b"]
    g, d = make_nets(config, t.shape[1:])
    f = encoder()
    dc = config.dtn
    f_s = f(s)
    n = s.shape[0]
    inputs = jnp.concatenate([f_s, f(t)])
    # One G forward on [f(s); f(t)] (batch statistics over both, like the paper's G step).
    fakes, g_vjp, g_stats = jax.vjp(
        lambda p: apply_net(g, p, state.g_batch_stats, inputs), state.g_params, has_aux=True)
    g_s, g_t = fakes[:n], fakes[n:]

    def d_loss_fn(d_params):
        out_s, stats = apply_net(d, d_params, state.d_batch_stats, jax.lax.stop_gradient(g_s))
        out_t, stats = apply_net(d, d_params, stats, jax.lax.stop_gradient(g_t))
        out_real, stats = apply_net(d, d_params, stats, t)
        loss = (class_loss(out_s, FAKE_SOURCE) + class_loss(out_t, FAKE_TARGET)
                + class_loss(out_real, REAL_TARGET))
        p_real = lambda o: jnp.mean(jax.nn.softmax(o)[..., REAL_TARGET])
        return loss, (stats, {"d_loss": loss, "d_real": p_real(out_real),
                              "d_fake": (p_real(out_s) + p_real(out_t)) / 2})

    d_grads, (d_stats, d_metrics) = jax.grad(d_loss_fn, has_aux=True)(state.d_params)
    state, d_metrics = _player.update(state, "d", d_grads, config, d_metrics)
    state = state.replace(d_batch_stats=d_stats)

    def g_loss_fn(fakes):
        g_s, g_t = fakes[:n], fakes[n:]
        out = apply_net(d, state.d_params, state.d_batch_stats, fakes)[0]
        gan = class_loss(out[:n], REAL_TARGET) + class_loss(out[n:], REAL_TARGET)
        const = jnp.mean(jnp.square(f(g_s) - f_s))
        tid = jnp.mean(jnp.square(g_t - t))
        tv = total_variation(g_s)
        total = gan + dc.alpha * const + dc.beta * tid + dc.gamma * tv
        return total, {"g_loss": gan, "g_const": const, "g_tid": tid, "g_tv": tv,
                       "g_total": total}

    (_, g_metrics), d_fakes = jax.value_and_grad(g_loss_fn, has_aux=True)(fakes)
    (g_grads,) = g_vjp(d_fakes)
    state, g_metrics = _player.update(state, "g", g_grads, config, g_metrics)
    state = state.replace(g_batch_stats=g_stats, step=state.step + 1)
    return state, {**d_metrics, **g_metrics}


def generator_fn(state, config, shape_b):
    """G = g o f in eval mode, images -> images."""
    g, _ = make_nets(config, shape_b, axis_name=None)
    f = encoder()
    params = state.sampling_params()
    return lambda x: apply_net(g, params, state.g_batch_stats, f(x), train=False)[0]


def sample(state, config, batch, key, num=None):
    """Strips s | G(s) | t: source, its transfer, and a real target image: [num, 3H, W, C]."""
    num = num or config.sample.num
    a, b = take(batch["a"], num), take(batch["b"], num)
    return strips(a, generator_fn(state, config, b.shape[1:])(a), b)


def evaluate(state, config, pipeline, key):
    """L1 / PSNR / FD-digits of G(a) vs T(a) on held-out digits, with the identity baseline."""
    source = pipeline.source
    held = source.heldout(config.eval.get("num_samples", None))
    g, _ = make_nets(config, held["b"].shape[1:], axis_name=None)
    features, _ = digits_net.features_and_logits(held["a"])
    fake = translate(g, state.sampling_params(), state.g_batch_stats, features)
    if not getattr(source, "known_transform", False):
        return {}
    return translation_metrics.report("ab", held["a"], fake, held["b"])
