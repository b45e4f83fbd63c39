"""Adversarial losses and penalties as pure functions of logits / critic outputs.

Every loss is mean-reduced over the batch and written with softplus/log-sigmoid
forms, so it stays finite at |logits| ~ 1e4. With D(x) = sigmoid(l(x)):
log D = -softplus(-l) and log(1 - D) = -softplus(l).

Configs pick a loss pair by `config.loss.name` (LOSSES) and a penalty on D by
`config.loss.penalty` (PENALTIES), weighted by `config.loss.penalty_weight`;
any penalty composes with any loss. Notebooks call the functions directly:

    d_loss = losses.hinge_d(real_logits, fake_logits)
    d_loss += 10.0 * losses.gradient_penalty(critic_fn, real, fake, key)
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.nn import relu, softplus

from gan_jax import parallel
from gan_jax.errors import UserError

# ---------------------------------------------------------------------------
# Sigmoid cross-entropy games (Goodfellow 2014)


def minimax_d(real_logits, fake_logits):
    """D's loss of the original game (Goodfellow 2014): -E[log D(x)] - E[log(1 - D(G(z)))].

    Args: real_logits [B], fake_logits [B]. Returns a scalar; its minimum over D,
    -2 x (the game value), is 2 log 2 when p_g = p_data.
    """
    return jnp.mean(softplus(-real_logits)) + jnp.mean(softplus(fake_logits))


def minimax_g(fake_logits):
    """G's saturating loss (Goodfellow 2014): E[log(1 - D(G(z)))] = -E[softplus(l)].

    Its gradient d/dl = -sigmoid(l) vanishes when D confidently rejects fakes (l -> -inf).
    """
    return -jnp.mean(softplus(fake_logits))


nonsaturating_d = minimax_d


def nonsaturating_g(fake_logits):
    """G's non-saturating loss (Goodfellow 2014): -E[log D(G(z))] = E[softplus(-l)].

    Same fixed point as minimax_g; gradient d/dl = -(1 - sigmoid(l)) -> -1 as l -> -inf.
    """
    return jnp.mean(softplus(-fake_logits))


# ---------------------------------------------------------------------------
# Wasserstein (Arjovsky 2017), least squares (Mao 2017), hinge (Lim 2017)


def wasserstein_d(real_out, fake_out):
    """WGAN critic loss (Arjovsky, Chintala & Bottou 2017): E[f(G(z))] - E[f(x)].

    Args: critic outputs [B] (unbounded). Minimising it maximises the Kantorovich-
    Rubinstein estimate of W1 over 1-Lipschitz f (clip_weights or a gradient penalty).
    """
    return jnp.mean(fake_out) - jnp.mean(real_out)


def wasserstein_g(fake_out):
    """WGAN generator loss (Arjovsky 2017): -E[f(G(z))]."""
    return -jnp.mean(fake_out)


def clip_weights(params, c: float = 0.01):
    """Clips every critic parameter to [-c, c] (WGAN, Arjovsky 2017); a pytree like params."""
    return jax.tree_util.tree_map(lambda p: jnp.clip(p, -c, c), params)


def least_squares_d(real_out, fake_out, a: float = 0.0, b: float = 1.0):
    """LSGAN D loss (Mao et al. 2017): 1/2 E[(D(x) - b)^2] + 1/2 E[(D(G(z)) - a)^2].

    D(.) is the raw output (no sigmoid); (a, b, c) = (0, 1, 1) is the paper's 0-1 coding,
    (-1, 1, 0) the coding that minimises the Pearson chi^2 divergence.
    """
    return 0.5 * jnp.mean(jnp.square(real_out - b)) + 0.5 * jnp.mean(jnp.square(fake_out - a))


def least_squares_g(fake_out, c: float = 1.0):
    """LSGAN G loss (Mao et al. 2017): 1/2 E[(D(G(z)) - c)^2]."""
    return 0.5 * jnp.mean(jnp.square(fake_out - c))


def hinge_d(real_out, fake_out):
    """Hinge D loss (Lim & Ye 2017; Miyato et al. 2018): E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]."""
    return jnp.mean(relu(1.0 - real_out)) + jnp.mean(relu(1.0 + fake_out))


def hinge_g(fake_out):
    """Hinge G loss (Lim & Ye 2017; Miyato et al. 2018): -E[D(G(z))]."""
    return -jnp.mean(fake_out)


# ---------------------------------------------------------------------------
# Relativistic GANs (Jolicoeur-Martineau 2018). C is the critic's raw output.


def relativistic_d(real_out, fake_out):
    """RSGAN D loss: -E[log sigmoid(C(x_r) - C(x_f))] = E[softplus(C(x_f) - C(x_r))].

    Pairs real and fake example i; real_out, fake_out [B].
    """
    return jnp.mean(softplus(fake_out - real_out))


def relativistic_g(real_out, fake_out):
    """RSGAN G loss: -E[log sigmoid(C(x_f) - C(x_r))] = E[softplus(C(x_r) - C(x_f))]."""
    return jnp.mean(softplus(real_out - fake_out))


def relativistic_average_d(real_out, fake_out):
    """RaSGAN D loss: -E[log sigmoid(C(x_r) - E C(x_f))] - E[log(1 - sigmoid(C(x_f) - E C(x_r)))].

    = E[softplus(-(C(x_r) - mean C(x_f)))] + E[softplus(C(x_f) - mean C(x_r))]; the means
    are over this device's batch (the same as the global batch on one device).
    """
    real_rel = real_out - jnp.mean(fake_out)
    fake_rel = fake_out - jnp.mean(real_out)
    return jnp.mean(softplus(-real_rel)) + jnp.mean(softplus(fake_rel))


def relativistic_average_g(real_out, fake_out):
    """RaSGAN G loss: relativistic_average_d with the roles of real and fake swapped.

    = E[softplus(-(C(x_f) - mean C(x_r)))] + E[softplus(C(x_r) - mean C(x_f))].
    """
    return relativistic_average_d(fake_out, real_out)


# ---------------------------------------------------------------------------
# Feature matching (Salimans et al. 2016)


def feature_matching_g(real_features, fake_features):
    """Feature matching G loss (Salimans et al. 2016): ||E f(x) - E f(G(z))||^2 / F.

    real_features [B, F], fake_features [B', F]: an intermediate layer f of D. The
    squared distance of the batch means is averaged over the F features, as in the
    authors' code (the paper writes the sum; the scale only changes the step size).
    """
    diff = jnp.mean(real_features, axis=0) - jnp.mean(fake_features, axis=0)
    return jnp.mean(jnp.square(diff))


# ---------------------------------------------------------------------------
# BEGAN (Berthelot, Schumm & Metz 2017): D is an autoencoder; k_t lives in state.extra.


def began_reconstruction_loss(x, reconstruction):
    """BEGAN's autoencoder loss L(v) = |v - D(v)| (eta = 1): mean absolute error, a scalar.

    x, reconstruction [B, ...]; the mean runs over the batch and every pixel.
    """
    return jnp.mean(jnp.abs(x - reconstruction))


def began_d(real_loss, fake_loss, k):
    """BEGAN D loss: L_D = L(x) - k_t L(G(z_D)); real_loss, fake_loss from began_reconstruction_loss."""
    return real_loss - k * fake_loss


def began_g(fake_loss):
    """BEGAN G loss: L_G = L(G(z_G))."""
    return fake_loss


def began_k_update(k, real_loss, fake_loss, gamma: float = 0.5, lambda_k: float = 1e-3):
    """BEGAN's proportional control: k <- clip(k + lambda_k (gamma L(x) - L(G(z))), 0, 1).

    gamma = E[L(G(z))] / E[L(x)] is the diversity ratio the controller holds.
    """
    return jnp.clip(k + lambda_k * (gamma * real_loss - fake_loss), 0.0, 1.0)


def began_convergence(real_loss, fake_loss, gamma: float = 0.5):
    """BEGAN's global convergence measure M = L(x) + |gamma L(x) - L(G(z))| (lower is better)."""
    return real_loss + jnp.abs(gamma * real_loss - fake_loss)


# ---------------------------------------------------------------------------
# Gradient penalties on D


def _gradient_norms(critic_fn, x):
    """||grad_x sum_i critic_fn(x)_i|| per example, [B]; norm over all non-batch axes.

    The sum's gradient is each example's own gradient when critic_fn treats examples
    independently (no batch norm in training mode). The norm has a safe gradient at 0.
    """
    out, vjp = jax.vjp(critic_fn, x)
    (grads,) = vjp(jnp.ones_like(out))
    sq = jnp.sum(jnp.square(grads.reshape(grads.shape[0], -1)), axis=1)
    positive = sq > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)


def _per_example(key, x):
    """U[0, 1) of shape [B, 1, ..., 1], drawn at the global batch shape (device-count free)."""
    return parallel.sharded_uniform(key, (x.shape[0],) + (1,) * (x.ndim - 1), x.dtype)


def gradient_penalty(critic_fn, real, fake, key, target: float = 1.0):
    """WGAN-GP (Gulrajani et al. 2017): E[(||grad_x f(x_hat)||_2 - target)^2].

    x_hat = eps real + (1 - eps) fake, eps ~ U[0, 1] per example (drawn through
    parallel.sharded_uniform at the global batch shape). real, fake [B, ...];
    critic_fn(x [B, ...]) -> [B]. Weight lambda = 10 in the paper.
    """
    eps = _per_example(key, real)
    x_hat = eps * real + (1.0 - eps) * fake
    return jnp.mean(jnp.square(_gradient_norms(critic_fn, x_hat) - target))


def dragan_perturb(real, key, scale: float = 0.5):
    """DRAGAN's points near the data: x + alpha (x_p - x), x_p = x + scale std(x) u.

    u ~ U[0, 1) per element, alpha ~ U[0, 1) per example (the authors' code); std(x)
    is the standard deviation of the global batch (pmean over devices).
    """
    ku, ka = jax.random.split(key)
    real = jax.lax.stop_gradient(real)
    mean, mean_sq = parallel.pmean((jnp.mean(real), jnp.mean(jnp.square(real))))
    std = jnp.sqrt(jnp.maximum(mean_sq - jnp.square(mean), 0.0))
    u = parallel.sharded_uniform(ku, real.shape, real.dtype)
    alpha = _per_example(ka, real)
    return real + alpha * scale * std * u


def dragan_penalty(critic_fn, real, key, scale: float = 0.5, target: float = 1.0):
    """DRAGAN (Kodali et al. 2017): E[(||grad_x f(x_p)||_2 - target)^2] at x_p = dragan_perturb(real).

    The WGAN-GP penalty, taken around perturbed data points instead of on
    real-fake lines. Weight lambda = 10 in the paper.
    """
    return jnp.mean(jnp.square(_gradient_norms(critic_fn, dragan_perturb(real, key, scale)) - target))


def r1_penalty(critic_fn, real):
    """R1 (Mescheder, Geiger & Nowozin 2018): E[||grad_x f(x)||_2^2] at real data.

    The caller scales it by gamma / 2 (the registry's 'r1' does the 1/2, so
    config.loss.penalty_weight is gamma).
    """
    return jnp.mean(jnp.square(_gradient_norms(critic_fn, real)))


# ---------------------------------------------------------------------------
# Registries: config.loss.name -> GameLoss, config.loss.penalty -> penalty


class GameLoss(NamedTuple):
    """A named loss pair, both called as f(real, fake) -> scalar.

    real/fake are D's logits, or D's features when g_needs_features (G's loss only).
    g_needs_real: G's loss reads D's output on real data too (relativistic, feature matching).
    """
    d: Callable
    g: Callable
    g_needs_real: bool = False
    g_needs_features: bool = False


def _g_of_fake(fn):
    return lambda real, fake: fn(fake)


def _least_squares(a, b, c):
    return GameLoss(lambda real, fake: least_squares_d(real, fake, a, b),
                    lambda real, fake: least_squares_g(fake, c))


LOSSES = {
    "minimax": GameLoss(minimax_d, _g_of_fake(minimax_g)),
    "nonsaturating": GameLoss(nonsaturating_d, _g_of_fake(nonsaturating_g)),
    "wasserstein": GameLoss(wasserstein_d, _g_of_fake(wasserstein_g)),
    "least_squares": _least_squares(0.0, 1.0, 1.0),
    "least_squares_pearson": _least_squares(-1.0, 1.0, 0.0),
    "hinge": GameLoss(hinge_d, _g_of_fake(hinge_g)),
    "relativistic": GameLoss(relativistic_d, relativistic_g, g_needs_real=True),
    "relativistic_average": GameLoss(relativistic_average_d, relativistic_average_g,
                                     g_needs_real=True),
    "feature_matching": GameLoss(nonsaturating_d, feature_matching_g, g_needs_real=True,
                                 g_needs_features=True),
}


def get(name: str, field: str = "config.loss.name") -> GameLoss:
    """The loss pair registered under `name`."""
    if name not in LOSSES:
        raise UserError(f"{field}={name!r} is unknown; choose one of: {', '.join(sorted(LOSSES))}.")
    return LOSSES[name]


def _option(loss_config, name, default):
    return float(loss_config.get(name, default)) if loss_config is not None else default


PENALTIES = {
    "none": lambda critic_fn, real, fake, key, cfg: jnp.zeros((), jnp.float32),
    "gp": lambda critic_fn, real, fake, key, cfg: gradient_penalty(
        critic_fn, real, fake, key, _option(cfg, "gp_target", 1.0)),
    "dragan": lambda critic_fn, real, fake, key, cfg: dragan_penalty(
        critic_fn, real, key, _option(cfg, "dragan_scale", 0.5), _option(cfg, "gp_target", 1.0)),
    "r1": lambda critic_fn, real, fake, key, cfg: 0.5 * r1_penalty(critic_fn, real),
}


def penalty(name: str, critic_fn, real, fake, key, loss_config=None, field="config.loss.penalty"):
    """The penalty `name` of critic_fn at (real, fake), before config.loss.penalty_weight.

    'none': 0; 'gp': gradient_penalty (loss_config.gp_target, default 1); 'dragan':
    dragan_penalty (loss_config.dragan_scale, default 0.5); 'r1': r1_penalty / 2, so
    the weight is R1's gamma.
    """
    if name not in PENALTIES:
        raise UserError(f"{field}={name!r} is unknown; choose one of: {', '.join(sorted(PENALTIES))}.")
    return PENALTIES[name](critic_fn, real, fake, key, loss_config)
