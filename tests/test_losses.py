"""gan_jax/losses.py against closed forms and independent PyTorch (CPU) references."""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gan_jax import losses
from tests.helpers import requires_torch, torch

F = torch.nn.functional if torch else None

B = 64


def _logits(seed, n=B, scale=3.0):
    r = np.random.default_rng(seed)
    return (scale * r.standard_normal(n)).astype(np.float32)


# --- PyTorch references: the same formulas written independently with torch ops --------------

def _t(x):
    return torch.from_numpy(np.array(x))


def torch_refs():
    """name -> (jax fn of (real, fake), torch fn of (real, fake))."""
    ls = lambda x: F.logsigmoid(x)  # log sigmoid(l) = log D; log(1 - D) = logsigmoid(-l)
    return {
        "minimax_d": (losses.minimax_d,
                      lambda r, f: -(ls(r).mean() + ls(-f).mean())),
        "minimax_g": (lambda r, f: losses.minimax_g(f),
                      lambda r, f: ls(-f).mean()),
        "nonsaturating_d": (losses.nonsaturating_d,
                            lambda r, f: F.binary_cross_entropy_with_logits(r, torch.ones_like(r))
                            + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f))),
        "nonsaturating_g": (lambda r, f: losses.nonsaturating_g(f),
                            lambda r, f: F.binary_cross_entropy_with_logits(f, torch.ones_like(f))),
        "wasserstein_d": (losses.wasserstein_d, lambda r, f: f.mean() - r.mean()),
        "wasserstein_g": (lambda r, f: losses.wasserstein_g(f), lambda r, f: -f.mean()),
        "least_squares_d": (losses.least_squares_d,
                            lambda r, f: 0.5 * F.mse_loss(r, torch.ones_like(r))
                            + 0.5 * F.mse_loss(f, torch.zeros_like(f))),
        "least_squares_d_pearson": (
            lambda r, f: losses.least_squares_d(r, f, a=-1.0, b=1.0),
            lambda r, f: 0.5 * ((r - 1) ** 2).mean() + 0.5 * ((f + 1) ** 2).mean()),
        "least_squares_g": (lambda r, f: losses.least_squares_g(f),
                            lambda r, f: 0.5 * F.mse_loss(f, torch.ones_like(f))),
        "hinge_d": (losses.hinge_d,
                    lambda r, f: torch.relu(1 - r).mean() + torch.relu(1 + f).mean()),
        "hinge_g": (lambda r, f: losses.hinge_g(f), lambda r, f: -f.mean()),
        "relativistic_d": (losses.relativistic_d,
                           lambda r, f: F.binary_cross_entropy_with_logits(
                               r - f, torch.ones_like(r))),
        "relativistic_g": (losses.relativistic_g,
                           lambda r, f: F.binary_cross_entropy_with_logits(
                               f - r, torch.ones_like(f))),
        "relativistic_average_d": (
            losses.relativistic_average_d,
            lambda r, f: F.binary_cross_entropy_with_logits(r - f.mean(), torch.ones_like(r))
            + F.binary_cross_entropy_with_logits(f - r.mean(), torch.zeros_like(f))),
        "relativistic_average_g": (
            losses.relativistic_average_g,
            lambda r, f: F.binary_cross_entropy_with_logits(f - r.mean(), torch.ones_like(f))
            + F.binary_cross_entropy_with_logits(r - f.mean(), torch.zeros_like(r))),
        "feature_matching_g": (
            lambda r, f: losses.feature_matching_g(r.reshape(8, 8), f.reshape(8, 8)),
            lambda r, f: F.mse_loss(r.reshape(8, 8).mean(0), f.reshape(8, 8).mean(0))),
        "began_reconstruction_loss": (losses.began_reconstruction_loss,
                                      lambda r, f: F.l1_loss(f, r)),
    }


@requires_torch
@pytest.mark.parametrize("name", sorted(torch_refs()))
def test_loss_matches_torch_reference(name):
    jax_fn, torch_fn = torch_refs()[name]
    for seed in range(3):
        real, fake = _logits(seed), _logits(seed + 100)
        want = float(torch_fn(_t(real), _t(fake)))
        got = float(jax_fn(jnp.asarray(real), jnp.asarray(fake)))
        assert abs(got - want) <= 1e-6 * max(1.0, abs(want)), (name, got, want)


@requires_torch
@pytest.mark.parametrize("name", sorted(torch_refs()))
def test_loss_gradient_matches_torch_autograd(name):
    jax_fn, torch_fn = torch_refs()[name]
    real, fake = _logits(1), _logits(2)
    gr, gf = jax.grad(jax_fn, argnums=(0, 1))(jnp.asarray(real), jnp.asarray(fake))
    tr, tf = _t(real).requires_grad_(), _t(fake).requires_grad_()
    torch_fn(tr, tf).backward()
    for got, want in ((gr, tr.grad), (gf, tf.grad)):
        want = np.zeros_like(real) if want is None else want.numpy()
        np.testing.assert_allclose(np.asarray(got), want, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(torch_refs()))
@pytest.mark.parametrize("big", [1e4, -1e4])
def test_loss_and_gradient_finite_at_logits_1e4(name, big):
    jax_fn, _ = torch_refs()[name]
    real = jnp.full((B,), big).at[::2].set(-big)
    fake = -real
    value, grads = jax.value_and_grad(jax_fn, argnums=(0, 1))(real, fake)
    assert np.isfinite(float(value)), name
    assert all(np.all(np.isfinite(np.asarray(g))) for g in grads), name


def test_minimax_value_is_minus_log4_at_d_one_half():
    zero = jnp.zeros(B)
    # V(D, G) = E log D(x) + E log(1 - D(G(z))) = -minimax_d.
    assert abs(-float(losses.minimax_d(zero, zero)) + math.log(4.0)) < 1e-6
    assert abs(float(losses.minimax_g(zero)) + math.log(2.0)) < 1e-6
    assert abs(float(losses.nonsaturating_g(zero)) - math.log(2.0)) < 1e-6


def _normal_quantiles(mu, sigma, n):
    """n deterministic 'samples' of N(mu, sigma^2): the quantiles at (i + 1/2) / n."""
    from scipy.stats import norm
    return (mu + sigma * norm.ppf((np.arange(n) + 0.5) / n)).astype(np.float32)


def test_minimax_d_converges_to_closed_form_optimal_discriminator():
    """D* = p_data / (p_data + p_g) (Goodfellow 2014, Prop. 1) for p_data = N(0, 1), p_g = N(1, 1.5^2).

    D(x) = sigmoid(a x^2 + b x + c): the family contains D*, whose logit log p_data/p_g is
    quadratic. Trained by Adam on minimax_d of 4096 quantile points per density.
    Measured max |D - D*| on [-3, 3]: 6.9e-4; asserted < 3e-3.
    """
    from scipy.stats import norm
    xr = jnp.asarray(_normal_quantiles(0.0, 1.0, 4096))
    xf = jnp.asarray(_normal_quantiles(1.0, 1.5, 4096))

    def logit(p, x):
        return p[0] * x ** 2 + p[1] * x + p[2]

    loss = lambda p: losses.minimax_d(logit(p, xr), logit(p, xf))
    tx = optax.adam(0.05)

    @jax.jit
    def run(p):
        def body(carry, _):
            p, s = carry
            u, s = tx.update(jax.grad(loss)(p), s)
            return (optax.apply_updates(p, u), s), None
        return jax.lax.scan(body, (p, tx.init(p)), None, length=3000)[0][0]

    p = run(jnp.zeros(3))
    grid = np.linspace(-3, 3, 121)
    pd, pg = norm.pdf(grid, 0, 1), norm.pdf(grid, 1, 1.5)
    d_star = pd / (pd + pg)
    d = np.asarray(jax.nn.sigmoid(logit(p, jnp.asarray(grid))))
    err = np.max(np.abs(d - d_star))
    assert err < 3e-3, err
    # At the optimum the D loss is log 4 - 2 JSD(p_data || p_g) < log 4.
    assert float(loss(p)) < math.log(4.0)


def test_saturating_gradient_vanishes_at_confident_d_nonsaturating_does_not():
    """d minimax_g/dl = -sigmoid(l)/B, d nonsaturating_g/dl = -(1 - sigmoid(l))/B: ratio e^l."""
    for l in (-5.0, -10.0, -20.0):
        fake = jnp.full((B,), l)
        g_sat = jax.grad(losses.minimax_g)(fake)
        g_ns = jax.grad(losses.nonsaturating_g)(fake)
        ratio = float(jnp.abs(g_sat[0]) / jnp.abs(g_ns[0]))
        np.testing.assert_allclose(ratio, math.exp(l), rtol=1e-4)
        assert abs(float(g_ns[0]) * B + 1.0) < 1e-2  # non-saturating: |grad| ~ 1 per example
    # D(G(z)) = sigmoid(-10) = 4.5e-5: the saturating signal is ~2e4 times weaker.
    assert ratio < 1e-8


# --- Penalties ------------------------------------------------------------------------------

def _images(seed, shape=(8, 4, 4, 3)):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


@pytest.mark.parametrize("target", [1.0, 0.5])
def test_gradient_penalty_of_linear_critic_is_norm_minus_target_squared(target):
    w = _images(0, (1, 4, 4, 3))[0] * 0.3
    critic = lambda x: jnp.sum(x * w, axis=(1, 2, 3)) + 2.0
    gp = losses.gradient_penalty(critic, _images(1), _images(2), jax.random.PRNGKey(0), target)
    want = (float(jnp.linalg.norm(w)) - target) ** 2
    assert abs(float(gp) - want) < 1e-6 * max(1.0, want), (float(gp), want)


def test_dragan_penalty_of_linear_critic_is_norm_minus_one_squared():
    w = _images(3, (1, 4, 4, 3))[0]
    critic = lambda x: jnp.sum(x * w, axis=(1, 2, 3))
    pen = losses.dragan_penalty(critic, _images(1), jax.random.PRNGKey(1))
    want = (float(jnp.linalg.norm(w)) - 1.0) ** 2
    assert abs(float(pen) - want) < 1e-5 * want


@pytest.mark.parametrize("value", [0.1, -0.55])
def test_dragan_on_a_constant_batch_takes_the_zero_variance_guard(value):
    """A constant batch has std 0, but in float32 E[x^2] - E[x]^2 rounds below zero for these
    values (asserted), so without the max(., 0) guard the std, x_p and the penalty are NaN.
    With it x_p = x exactly and the penalty of f(x) = sum w x^2 is the closed form
    (||2 w x|| - 1)^2 at x = value."""
    real = jnp.full((4, 4, 4, 3), value, jnp.float32)
    assert float(jnp.mean(jnp.square(real)) - jnp.square(jnp.mean(real))) < 0.0
    np.testing.assert_array_equal(losses.dragan_perturb(real, jax.random.PRNGKey(2), 2.0), real)
    w = _images(4, (1, 4, 4, 3))[0]
    critic = lambda x: jnp.sum(w * jnp.square(x), axis=(1, 2, 3))
    pen = float(losses.dragan_penalty(critic, real, jax.random.PRNGKey(2)))
    want = (float(np.linalg.norm(2.0 * np.asarray(w, np.float64) * value)) - 1.0) ** 2
    assert pen == pytest.approx(want, rel=1e-5)


def test_r1_penalty_of_quadratic_critic_matches_analytic_gradient():
    """f(x) = 1/2 x^T A x + b.x + c -> grad = A x + b; R1 = mean_i ||A x_i + b||^2."""
    r = np.random.default_rng(0)
    a = r.standard_normal((6, 6)).astype(np.float32)
    a = a + a.T
    b = r.standard_normal(6).astype(np.float32)
    x = r.standard_normal((16, 6)).astype(np.float32)
    critic = lambda x: 0.5 * jnp.einsum("bi,ij,bj->b", x, a, x) + x @ b + 1.0
    want = np.mean(np.sum((x @ a + b) ** 2, axis=1))
    got = float(losses.r1_penalty(critic, jnp.asarray(x)))
    np.testing.assert_allclose(got, want, rtol=1e-5)


def _mlp(seed):
    r = np.random.default_rng(seed)
    w1 = (0.3 * r.standard_normal((48, 16))).astype(np.float32)
    w2 = (0.3 * r.standard_normal(16)).astype(np.float32)
    jax_fn = lambda x: jnp.tanh(x.reshape(x.shape[0], -1) @ w1) @ w2
    torch_fn = lambda x: torch.tanh(x.reshape(x.shape[0], -1) @ _t(w1)) @ _t(w2)
    return jax_fn, torch_fn


def _torch_grad_norms(torch_fn, x):
    x = x.detach().requires_grad_()
    (g,) = torch.autograd.grad(torch_fn(x).sum(), x, create_graph=True)
    return g.reshape(g.shape[0], -1).norm(2, dim=1)


@requires_torch
def test_gradient_penalty_matches_torch_autograd():
    """Gulrajani et al.'s reference: autograd.grad of D(x_hat) with ones, (||g|| - 1)^2 mean."""
    jax_fn, torch_fn = _mlp(0)
    real, fake, key = _images(1), _images(2), jax.random.PRNGKey(3)
    eps = np.asarray(jax.random.uniform(key, (8, 1, 1, 1)))  # the draw gradient_penalty makes
    x_hat = _t(eps) * _t(np.asarray(real)) + (1 - _t(eps)) * _t(np.asarray(fake))
    want = float(((_torch_grad_norms(torch_fn, x_hat) - 1) ** 2).mean().detach())
    got = float(losses.gradient_penalty(jax_fn, real, fake, key))
    np.testing.assert_allclose(got, want, rtol=1e-5)


@requires_torch
def test_dragan_penalty_matches_torch_reference_of_authors_code():
    """Kodali et al.'s code: X_p = X + 0.5 std(X) U; x = X + alpha (X_p - X); (||g|| - 1)^2."""
    jax_fn, torch_fn = _mlp(1)
    real, key = _images(4), jax.random.PRNGKey(5)
    ku, ka = jax.random.split(key)
    u = _t(np.asarray(jax.random.uniform(ku, real.shape)))
    alpha = _t(np.asarray(jax.random.uniform(ka, (8, 1, 1, 1))))
    x = _t(np.asarray(real))
    x_p = x + 0.5 * x.std(unbiased=False) * u
    want = float(((_torch_grad_norms(torch_fn, x + alpha * (x_p - x)) - 1) ** 2).mean().detach())
    got = float(losses.dragan_penalty(jax_fn, real, key))
    np.testing.assert_allclose(got, want, rtol=1e-5)


@requires_torch
def test_r1_penalty_matches_torch_autograd():
    jax_fn, torch_fn = _mlp(2)
    real = _images(6)
    want = float((_torch_grad_norms(torch_fn, _t(real)) ** 2).mean().detach())
    np.testing.assert_allclose(float(losses.r1_penalty(jax_fn, real)), want, rtol=1e-5)


@requires_torch
def test_penalty_gradient_wrt_critic_params_matches_torch_double_backward():
    """d/dw of the GP (grad of a grad): the term that trains D."""
    r = np.random.default_rng(7)
    w1 = (0.3 * r.standard_normal((48, 16))).astype(np.float32)
    real, fake, key = _images(1), _images(2), jax.random.PRNGKey(3)
    jax_pen = lambda w: losses.gradient_penalty(
        lambda x: jnp.sum(jnp.tanh(x.reshape(8, -1) @ w), axis=1), real, fake, key)
    got = np.asarray(jax.grad(jax_pen)(jnp.asarray(w1)))
    tw = _t(w1).requires_grad_()
    eps = _t(np.asarray(jax.random.uniform(key, (8, 1, 1, 1))))
    x_hat = eps * _t(np.asarray(real)) + (1 - eps) * _t(np.asarray(fake))
    norms = _torch_grad_norms(lambda x: torch.tanh(x.reshape(8, -1) @ tw).sum(1), x_hat)
    ((norms - 1) ** 2).mean().backward()
    np.testing.assert_allclose(got, tw.grad.numpy(), atol=1e-6, rtol=1e-4)


def test_penalties_have_finite_gradient_at_zero_input_gradient():
    """f_w(x) = w |x|^2 at x = 0 (real = fake = 0, so every interpolate and DRAGAN point is 0):
    grad_x f = 2 w x = 0 there, and d/dw of each penalty is exactly 0 (gp: 2 (0 - 1) 2|x|,
    r1: 8 w |x|^2). Checked against losses.py with the norm's zero guard removed (NaN)."""
    quadratic = lambda w: (lambda x: w * jnp.sum(jnp.square(x.reshape(x.shape[0], -1)), axis=1))
    zeros = jnp.zeros_like(_images(1))
    for name in ("gp", "dragan", "r1"):
        g = jax.grad(lambda w: losses.penalty(name, quadratic(w), zeros, zeros,
                                              jax.random.PRNGKey(0)))(1.5)
        assert float(g) == 0.0, (name, float(g))


def test_penalty_registry_r1_is_half_of_r1_penalty_and_none_is_zero():
    jax_fn, _ = _mlp(2)
    real, fake, key = _images(6), _images(7), jax.random.PRNGKey(0)
    np.testing.assert_allclose(float(losses.penalty("r1", jax_fn, real, fake, key)),
                               0.5 * float(losses.r1_penalty(jax_fn, real)), rtol=1e-6)
    assert float(losses.penalty("none", jax_fn, real, fake, key)) == 0.0


# --- Clipping, BEGAN, registries --------------------------------------------------------------

def test_clip_weights_bounds_every_leaf():
    params = {"a": jnp.array([-1.0, 0.005, 2.0]), "b": {"c": jnp.array([[0.3, -0.001]])}}
    clipped = losses.clip_weights(params)
    f32 = lambda v: np.asarray(v, np.float32)
    np.testing.assert_array_equal(np.asarray(clipped["a"]), f32([-0.01, 0.005, 0.01]))
    np.testing.assert_array_equal(np.asarray(clipped["b"]["c"]), f32([[0.01, -0.001]]))
    np.testing.assert_array_equal(np.asarray(losses.clip_weights(params, 0.5)["a"]),
                                  f32([-0.5, 0.005, 0.5]))


def test_began_control_and_convergence_closed_forms():
    # k + lambda_k (gamma L_real - L_fake) = 0.2 + 0.1 * (0.5 * 0.4 - 0.1) = 0.21
    np.testing.assert_allclose(float(losses.began_k_update(0.2, 0.4, 0.1, 0.5, 0.1)), 0.21,
                               rtol=1e-6)
    assert float(losses.began_k_update(0.0, 0.1, 0.9, 0.5, 0.1)) == 0.0  # clipped below
    assert float(losses.began_k_update(0.999, 0.9, 0.0, 0.5, 0.1)) == 1.0  # clipped above
    # M = L_real + |gamma L_real - L_fake| = 0.4 + |0.2 - 0.5| = 0.7
    np.testing.assert_allclose(float(losses.began_convergence(0.4, 0.5, 0.5)), 0.7, rtol=1e-6)
    np.testing.assert_allclose(float(losses.began_d(0.4, 0.5, 0.2)), 0.3, rtol=1e-6)
    assert float(losses.began_g(0.5)) == 0.5


def _softplus(x):
    return np.logaddexp(0.0, x)


# config.loss.name -> numpy closed forms of (D's loss, G's loss) at D outputs (r, f).
REGISTERED = {
    "minimax": (lambda r, f: _softplus(-r).mean() + _softplus(f).mean(),
                lambda r, f: -_softplus(f).mean()),
    "nonsaturating": (lambda r, f: _softplus(-r).mean() + _softplus(f).mean(),
                      lambda r, f: _softplus(-f).mean()),
    "wasserstein": (lambda r, f: f.mean() - r.mean(), lambda r, f: -f.mean()),
    "least_squares": (lambda r, f: 0.5 * ((r - 1) ** 2).mean() + 0.5 * (f ** 2).mean(),
                      lambda r, f: 0.5 * ((f - 1) ** 2).mean()),
    # Mao et al.'s Pearson chi^2 coding (a, b, c) = (-1, 1, 0).
    "least_squares_pearson": (lambda r, f: 0.5 * ((r - 1) ** 2).mean() + 0.5 * ((f + 1) ** 2).mean(),
                              lambda r, f: 0.5 * (f ** 2).mean()),
    "hinge": (lambda r, f: np.maximum(0, 1 - r).mean() + np.maximum(0, 1 + f).mean(),
              lambda r, f: -f.mean()),
    "relativistic": (lambda r, f: _softplus(f - r).mean(), lambda r, f: _softplus(r - f).mean()),
    "relativistic_average": (
        lambda r, f: _softplus(-(r - f.mean())).mean() + _softplus(f - r.mean()).mean(),
        lambda r, f: _softplus(-(f - r.mean())).mean() + _softplus(r - f.mean()).mean()),
}


@pytest.mark.parametrize("name", sorted(REGISTERED))
def test_each_registered_name_is_its_papers_loss_pair(name):
    """losses.get(name).d / .g against numpy closed forms at asymmetric outputs (real and fake
    drawn apart, so a swapped argument changes the value). Checked against losses.py with the
    Pearson coding's c = 1 (the default c of least squares)."""
    real, fake = _logits(5).astype(np.float64) + 0.7, _logits(6).astype(np.float64) - 0.4
    pair, (want_d, want_g) = losses.get(name), REGISTERED[name]
    np.testing.assert_allclose(float(pair.d(jnp.asarray(real), jnp.asarray(fake))),
                               want_d(real, fake), rtol=1e-6)
    np.testing.assert_allclose(float(pair.g(jnp.asarray(real), jnp.asarray(fake))),
                               want_g(real, fake), rtol=1e-6)


def test_penalty_options_from_the_config_reach_the_penalties():
    """config.loss.gp_target 0.5 and dragan_scale 2 (defaults 1 and 0.5) through
    losses.penalty equal the functions called with them, and differ from the defaults.
    Checked against losses.py ignoring each option."""
    import ml_collections
    jax_fn, _ = _mlp(3)
    real, fake, key = _images(8), _images(9), jax.random.PRNGKey(4)
    cfg = ml_collections.ConfigDict({"gp_target": 0.5, "dragan_scale": 2.0})
    gp = float(losses.penalty("gp", jax_fn, real, fake, key, cfg))
    assert gp == pytest.approx(float(losses.gradient_penalty(jax_fn, real, fake, key, 0.5)),
                               rel=1e-6)
    assert gp != pytest.approx(float(losses.gradient_penalty(jax_fn, real, fake, key)), rel=1e-3)
    dragan = float(losses.penalty("dragan", jax_fn, real, fake, key, cfg))
    assert dragan == pytest.approx(float(losses.dragan_penalty(jax_fn, real, key, 2.0, 0.5)),
                                   rel=1e-6)
    assert dragan != pytest.approx(float(losses.dragan_penalty(jax_fn, real, key, 0.5, 0.5)),
                                   rel=1e-3)


def test_every_registered_loss_and_penalty_is_selectable_by_name():
    jax_fn, _ = _mlp(0)
    real, fake = _images(1), _images(2)
    for name, pair in losses.LOSSES.items():
        r, f = (jax_fn(real), jax_fn(fake))
        if pair.g_needs_features:
            r, f = real.reshape(8, -1), fake.reshape(8, -1)
        assert np.isfinite(float(pair.d(jax_fn(real), jax_fn(fake)))), name
        assert np.isfinite(float(pair.g(r, f))), name
    for name in losses.PENALTIES:
        assert np.isfinite(float(losses.penalty(name, jax_fn, real, fake, jax.random.PRNGKey(0))))


def test_unknown_names_raise_errors_naming_the_config_field():
    with pytest.raises(ValueError, match=r"config.loss.name='hnge' is unknown; choose one of: .*hinge"):
        losses.get("hnge")
    with pytest.raises(ValueError, match=r"config.loss.penalty='wgp' is unknown; .*gp"):
        losses.penalty("wgp", None, None, None, None)
