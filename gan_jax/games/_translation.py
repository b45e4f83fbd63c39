"""What the image-to-image translation games (cyclegan, pix2pix, dtn) share: initialising
their nets and state, their loss checks and noise, and running G over held-out images
for samples and evaluation."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import losses, optim, parallel
from gan_jax.errors import UserError
from gan_jax.games import _player
from gan_jax.games._player import apply_net
from gan_jax.state import GANState


def init_variables(module, key, input_shape):
    """module.init on zeros [1, *input_shape] in eval mode, compiled as one computation.

    The initialisers draw from an RBG key made from the (threefry) `key`: XLA:CPU
    compiles threefry-based initialisers far more slowly (measured: 29 s vs 3.6 s of
    CPU for the default ResNet generator), while the draws are equally N(0, 0.02).
    """
    def init(raw):
        rbg = jax.random.wrap_key_data(jnp.concatenate([raw, raw ^ jnp.uint32(0x9E3779B9)]),
                                       impl="rbg")
        return module.init(rbg, jnp.zeros((1,) + tuple(input_shape)), train=False)

    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return jax.jit(init)(key)


def init_nets(nets, key, input_shape):
    """(params, batch_stats) of one net on inputs [*input_shape]; or, for a dict of named
    nets and a dict of their input shapes, dicts of them by name (the i-th name in sorted
    order initialised with fold_in(key, i))."""
    if isinstance(nets, dict):
        params, stats = {}, {}
        for i, name in enumerate(sorted(nets)):
            params[name], stats[name] = init_nets(nets[name], jax.random.fold_in(key, i),
                                                  input_shape[name])
        return params, stats
    variables = init_variables(nets, key, input_shape)
    return variables["params"], variables.get("batch_stats", {})


def create_state(key, config, g, g_input_shape, d, d_input_shape, extra=None) -> GANState:
    """GANState of G and D (each one net or a dict of named nets, see `init_nets`), each
    with its optimizer from config.optim, and an EMA of G when config.ema.decay > 0."""
    kg, kd, kr = jax.random.split(key, 3)
    g_params, g_stats = init_nets(g, kg, g_input_shape)
    d_params, d_stats = init_nets(d, kd, d_input_shape)
    g_tx, _ = optim.make(config.optim, "g", config.steps)
    d_tx, _ = optim.make(config.optim, "d", config.steps)
    return GANState.create(
        rng=kr, g_params=g_params, d_params=d_params, g_tx=g_tx, d_tx=d_tx,
        g_batch_stats=g_stats, d_batch_stats=d_stats, ema=_player.keeps_ema(config),
        extra=extra)


def game_loss(config):
    """The loss pair config.loss.name, which must work on a patch discriminator's logits."""
    loss = losses.get(config.loss.name)
    if getattr(loss, "g_needs_features", False):
        raise UserError(f"config.loss.name={config.loss.name!r} needs D's features, which "
                         f"patch discriminators do not give; use 'least_squares' or "
                         f"'nonsaturating'.")
    return loss


def dropout_rngs(key):
    """Dropout keys differ per device (each device drops its own examples)."""
    _, index = parallel.axis_size_and_index()
    return {"dropout": jax.random.fold_in(key, index)}


def l1(x, y):
    """mean |x - y|."""
    return jnp.mean(jnp.abs(x - y))


@functools.partial(jax.jit, static_argnums=0)
def _apply_eval(module, params, stats, x):
    return apply_net(module, params, stats, x, train=False)[0]


def translate(module, params, stats, images, chunk: int = 256) -> np.ndarray:
    """module(images) in eval mode, jit-compiled once per module, in chunks; numpy."""
    images = np.asarray(images, np.float32)
    return np.concatenate([np.asarray(_apply_eval(module, params, stats, images[i:i + chunk]))
                           for i in range(0, len(images), chunk)])


def strips(*rows):
    """Images [N, H, W, C] per row -> [N, rows * H, W, C]: each sample a vertical strip."""
    return jnp.concatenate(rows, axis=1)


def take(images, num):
    """num images, cycling through the batch when it holds fewer."""
    return images[jnp.arange(num) % images.shape[0]]
