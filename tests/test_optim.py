"""gan_jax/optim.py against the optimizers' update rules written out in numpy, over several
steps with hand-picked gradients, each player with its own non-default settings.

Checked against optim.py with both players reading G's rate or G's betas, Adam's eps inside
the square root, SGD without its momentum, RMSprop's decay 0.9, the
linear decay spread over all steps instead of the steps after decay_start, and D's
schedule advancing per critic update instead of per step: each fails here.
"""
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from gan_jax import optim

GRADS = [np.array([0.3, -1.2, 2.0]), np.array([-0.5, 0.4, 1.0]), np.array([1.5, 0.0, -0.7]),
         np.array([0.2, -0.3, 0.1])]
PARAMS = np.array([1.0, -2.0, 0.5])


def optimizer_config(**fields):
    base = {"name": "adam", "g_lr": 3e-3, "d_lr": 7e-3, "g_betas": (0.5, 0.9),
            "d_betas": (0.0, 0.99), "eps": 1e-8, "schedule": "constant"}
    return ml_collections.ConfigDict({**base, **fields})


def run(tx, grads=GRADS, params=PARAMS):
    """The params after each update of `tx` on `grads` (float32, as training runs)."""
    p = jnp.asarray(params, jnp.float32)
    state, out = tx.init(p), []
    for g in grads:
        updates, state = tx.update(jnp.asarray(g, jnp.float32), state, p)
        p = p + updates
        out.append(np.asarray(p, np.float64))
    return out


def adam_reference(lr, b1, b2, eps, grads=GRADS, params=PARAMS):
    """Kingma & Ba (2015) with bias correction; eps outside the square root."""
    p, m, v, out = params.astype(np.float64), 0.0, 0.0, []
    for t, g in enumerate(grads, start=1):
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        p = p - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        out.append(p)
    return out


@pytest.mark.parametrize("player,lr,betas", [("g", 3e-3, (0.5, 0.9)), ("d", 7e-3, (0.0, 0.99))])
@pytest.mark.parametrize("eps", [1e-8, 0.05])
def test_adam_uses_each_players_own_rate_and_betas(player, lr, betas, eps):
    """eps 0.05 (not the default 1e-8, which hides where eps goes) is outside the sqrt."""
    tx, _ = optim.make(optimizer_config(eps=eps), player, total_steps=100)
    for got, want in zip(run(tx), adam_reference(lr, *betas, eps)):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_rmsprop_is_pytorchs_rule_of_the_wgan_reference():
    """v <- 0.99 v + 0.01 g^2 from v = 0; p <- p - lr g / (sqrt(v) + 1e-8) (torch.optim.RMSprop)."""
    tx, _ = optim.make(optimizer_config(name="rmsprop"), "d", total_steps=100)
    p, v, want = PARAMS.copy(), 0.0, []
    for g in GRADS:
        v = 0.99 * v + 0.01 * g * g
        p = p - 7e-3 * g / (np.sqrt(v) + 1e-8)
        want.append(p)
    for got, w in zip(run(tx), want):
        np.testing.assert_allclose(got, w, rtol=1e-6)


def test_sgd_momentum_is_the_heavy_ball_rule():
    """m <- mu m + g, p <- p - lr m (PyTorch's SGD, dampening 0), mu = 0.7."""
    tx, _ = optim.make(optimizer_config(name="sgd", momentum=0.7), "g", total_steps=100)
    p, m, want = PARAMS.copy(), 0.0, []
    for g in GRADS:
        m = 0.7 * m + g
        p = p - 3e-3 * m
        want.append(p)
    for got, w in zip(run(tx), want):
        np.testing.assert_allclose(got, w, rtol=1e-6)


def test_linear_decay_is_constant_then_linear_to_zero_at_the_last_step():
    """lr for t < start, then lr (1 - (t - start) / (T - start)), 0 at t = T (CycleGAN)."""
    cfg = optimizer_config(schedule="linear_decay", decay_start=4)
    sched = optim.schedule(cfg, "d", total_steps=10)
    want = [7e-3 if t < 4 else 7e-3 * (1 - (t - 4) / 6) for t in range(11)]
    np.testing.assert_allclose([float(sched(t)) for t in range(11)], want, rtol=1e-6, atol=1e-12)
    assert float(sched(10)) == 0.0
    # Without decay_start the decay starts half-way.
    half = optim.schedule(optimizer_config(schedule="linear_decay"), "g", total_steps=10)
    np.testing.assert_allclose(float(half(7)), 3e-3 * (1 - 2 / 5), rtol=1e-6)


def test_ds_schedule_advances_per_step_not_per_critic_update():
    """With n_critic = 3 updates per step, D's updates 3s, 3s+1, 3s+2 all use lr(s)."""
    cfg = optimizer_config(name="sgd", momentum=0.0, schedule="linear_decay", decay_start=1)
    tx, sched = optim.make(cfg, "d", total_steps=4, updates_per_step=3)
    ones = [np.ones(3)] * 12
    p = run(tx, ones, np.zeros(3))
    sizes = -np.diff(np.concatenate([[0.0], [x[0] for x in p]]))
    want = [float(sched(update // 3)) for update in range(12)]
    np.testing.assert_allclose(sizes, want, rtol=1e-5, atol=1e-9)
    assert len(set(want)) == 3  # steps 0-1 at 7e-3, step 2 at 2/3 of it, step 3 at 1/3
