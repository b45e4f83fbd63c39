"""CycleGAN, pix2pix and DTN steps against their papers' loss formulas written out here
(PyTorch's BCE / cross-entropy as references), the loop on the real smoke recipes, and the
translation metrics' closed forms."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from gan_jax import data, games, parallel, summary, train
from gan_jax.games.gan import apply_net
from gan_jax.metrics import digits_net
from gan_jax.metrics import translation as tm
from tests.helpers import recipe, requires_torch, torch


def one_step(config):
    """(state before, batch [1, B, ...], state after, metrics) of one pmapped step."""
    game = games.get(config.game)
    batch = data.build(config, 1).batch(0)
    state = parallel.replicate(game.init(jax.random.PRNGKey(0), config, batch))
    step = parallel.map_step(lambda s, b: game.train_step(s, b, config))
    new, metrics = step(state, batch)
    return state, batch, new, jax.device_get(metrics)


def run(module, params, stats, x, train=True):
    return apply_net(module, params, stats, x, train=train)[0]


def bce_with_logits(logits, target):
    logits = torch.tensor(np.asarray(logits, np.float32))
    return torch.nn.functional.binary_cross_entropy_with_logits(
        logits, torch.full_like(logits, float(target))).item()


# Distinct, non-default weights, so that a swapped or dropped weight changes the result
# (the recipe's 10 / 10 / 0.5 / 2 / 1 would hide a swap of lambda_a and lambda_b).
CYCLEGAN_WEIGHTS = {"cyclegan.lambda_a": 3.0, "cyclegan.lambda_b": 7.0,
                    "cyclegan.lambda_identity": 0.3, "loss.g_weight": 1.5, "loss.d_weight": 0.7}
PIX2PIX_WEIGHTS = {"pix2pix.lambda_l1": 30.0, "loss.g_weight": 0.6, "loss.d_weight": 0.4}
DTN_WEIGHTS = {"dtn.alpha": 3.0, "dtn.beta": 7.0, "dtn.gamma": 0.5}


@pytest.fixture(scope="module")
def cyclegan_step():
    config = recipe("cyclegan", **CYCLEGAN_WEIGHTS)
    return (config,) + one_step(config)


def test_cyclegan_step_matches_the_paper_losses(cyclegan_step):
    """With lambda_A 3, lambda_B 7, lambda_idt 0.3, G weight 1.5, D weight 0.7. Checked
    against cyclegan.py with the two cycle weights swapped, the identity weights swapped,
    and D's weight dropped: each fails here (none fails at the recipe's 10 / 10 / 1)."""
    config, state, batch, new, m = cyclegan_step
    a, b = batch["a"][0], batch["b"][0]
    g, d = games.get("cyclegan").make_nets(config, a.shape[1:], b.shape[1:], axis_name=None)

    @jax.jit
    def reference(state, a, b):
        G = lambda k, x: run(g[k], state.g_params[k], {}, x)
        D = lambda k, x: run(d[k], state.d_params[k], {}, x)
        mse = lambda x, y: jnp.mean((x - y) ** 2)
        mae = lambda x, y: jnp.mean(jnp.abs(x - y))
        fake_b, fake_a = G("ab", a), G("ba", b)
        # Zhu et al. / the reference code: LSGAN, MSE against 1 (G) and 1/0 halved (D);
        # cycle lambda_A |G_BA(G_AB(a)) - a| + lambda_B |G_AB(G_BA(b)) - b|; identity
        # lambda_idt (lambda_B |G_AB(b) - b| + lambda_A |G_BA(a) - a|) (loss_idt_A, _B).
        return {
            "adv": 1.5 * 0.5 * (mse(D("b", fake_b), 1) + mse(D("a", fake_a), 1)),
            "cycle": 3 * mae(G("ba", fake_b), a) + 7 * mae(G("ab", fake_a), b),
            "idt": 0.3 * (7 * mae(G("ab", b), b) + 3 * mae(G("ba", a), a)),
            # The pool is empty, so D sees this step's fakes.
            "d": 0.7 * (0.5 * (mse(D("a", a), 1) + mse(D("a", fake_a), 0))
                        + 0.5 * (mse(D("b", b), 1) + mse(D("b", fake_b), 0))),
            "fake_b": fake_b}

    ref = jax.device_get(reference(jax.device_get(state), a, b))
    np.testing.assert_allclose(config.loss.g_weight * m["g_loss"], ref["adv"], rtol=1e-4)
    np.testing.assert_allclose(m["g_cycle"], ref["cycle"], rtol=1e-4)
    np.testing.assert_allclose(m["g_identity"], ref["idt"], rtol=1e-4)
    np.testing.assert_allclose(m["g_total"], ref["adv"] + ref["cycle"] + ref["idt"], rtol=1e-4)
    np.testing.assert_allclose(m["d_loss"], ref["d"], rtol=1e-4)
    # The history pool now holds this step's fakes of each domain.
    assert int(new.extra["pool_b"]["count"]) == a.shape[0]
    np.testing.assert_allclose(new.extra["pool_b"]["images"][:a.shape[0]], ref["fake_b"],
                               atol=1e-5)
    assert int(new.step) == 1 and m["g_lr"] == pytest.approx(config.optim.g_lr)


@requires_torch
def test_pix2pix_step_matches_the_paper_losses():
    """With lambda_L1 30, G weight 0.6, D weight 0.4 (recipe: 100 / 1 / 0.5). Checked against
    pix2pix.py with G's adversarial weight dropped (passes at the recipe's 1) and with D
    fed (b, a) for real pairs."""
    config = recipe("pix2pix", **PIX2PIX_WEIGHTS)
    state, batch, new, m = one_step(config)
    a, b = batch["a"][0], batch["b"][0]
    g, d = games.get("pix2pix").make_nets(config, a.shape[1:], b.shape[1:], axis_name=None)

    @jax.jit
    def reference(state, new_d_params, a, b):
        fake = run(g, state.g_params, state.g_batch_stats, a)
        D = lambda p, y: run(d, p, state.d_batch_stats, jnp.concatenate([a, y], -1))
        # D's outputs on the real and fake pairs; G's term uses the UPDATED D (D steps first).
        return fake, D(state.d_params, b), D(state.d_params, fake), D(new_d_params, fake)

    fake, d_real, d_fake, d_fake_new = jax.device_get(
        reference(jax.device_get(state), jax.device_get(new.d_params), a, b))
    d_ref = 0.4 * (bce_with_logits(d_real, 1) + bce_with_logits(d_fake, 0))
    np.testing.assert_allclose(m["d_loss"], d_ref, rtol=1e-4)
    l1 = float(np.mean(np.abs(fake - np.asarray(b))))
    np.testing.assert_allclose(m["g_l1"], l1, rtol=1e-4)
    np.testing.assert_allclose(m["g_total"], 0.6 * bce_with_logits(d_fake_new, 1) + 30 * l1,
                               rtol=1e-4)


def test_pix2pix_l1_only_trains_g_alone():
    state, _, new, m = one_step(recipe("pix2pix", "l1,smoke"))
    assert "d_loss" not in m and m["g_loss"] == 0.0
    for x, y in zip(jax.tree_util.tree_leaves(state.d_params),
                    jax.tree_util.tree_leaves(new.d_params)):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(jax.tree_util.tree_leaves(state.g_params)[0],
                              jax.tree_util.tree_leaves(new.g_params)[0])


@requires_torch
def test_dtn_step_matches_the_paper_losses():
    """With alpha 3, beta 7, gamma 0.5 (paper: 15 / 15 / 0, which hide a swap of alpha and
    beta and drop TV). Checked against dtn.py with alpha and beta swapped."""
    config = recipe("dtn", "smoke", **DTN_WEIGHTS)
    state, batch, new, m = one_step(config)
    s, t = batch["a"][0], batch["b"][0]
    g, d = games.get("dtn").make_nets(config, t.shape[1:], axis_name=None)
    f = lambda x: digits_net.features_and_logits(np.asarray(x))[0]

    @jax.jit
    def reference(state, features, t):
        both = run(g, state.g_params, state.g_batch_stats, features)  # one G pass on [s; t]
        g_s, g_t = both[:len(t)], both[len(t):]
        D = lambda x: run(d, state.d_params, state.d_batch_stats, x)
        return g_s, g_t, D(g_s), D(g_t), D(t)

    g_s, g_t, d_s, d_t, d_real = jax.device_get(
        reference(jax.device_get(state), np.concatenate([f(s), f(t)]), t))
    ce = lambda logits, k: torch.nn.functional.cross_entropy(
        torch.tensor(np.asarray(logits).reshape(-1, 3)),
        torch.full((np.asarray(logits).size // 3,), k)).item()
    np.testing.assert_allclose(m["d_loss"], ce(d_s, 0) + ce(d_t, 1) + ce(d_real, 2), rtol=1e-4)
    np.testing.assert_allclose(m["g_const"], np.mean((f(g_s) - f(s)) ** 2), rtol=1e-3)
    np.testing.assert_allclose(m["g_tid"], np.mean((g_t - np.asarray(t)) ** 2), rtol=1e-4)
    tv = np.mean((g_s[:, 1:] - g_s[:, :-1]) ** 2) + np.mean((g_s[:, :, 1:] - g_s[:, :, :-1]) ** 2)
    np.testing.assert_allclose(m["g_tv"], tv, rtol=1e-4)
    np.testing.assert_allclose(
        m["g_total"], m["g_loss"] + 3 * m["g_const"] + 7 * m["g_tid"] + 0.5 * tv, rtol=1e-4)


def test_cyclegan_sample_strips_and_evaluation_against_the_transform(cyclegan_step):
    config, _, batch, state, _ = cyclegan_step
    game = games.get("cyclegan")
    host = {k: v[0] for k, v in batch.items()}
    strips = np.asarray(game.sample(state, config, host, jax.random.PRNGKey(0), 4))
    assert strips.shape == (4, 96, 32, 3)
    # Rows of each strip: a (or b) as given, then its translation, then the cycle.
    np.testing.assert_array_equal(strips[:2, :32], host["a"][:2])
    np.testing.assert_array_equal(strips[2:, :32], host["b"][:2])
    pipeline = data.build(config, 1)
    scores = game.evaluate(state, config, pipeline, jax.random.PRNGKey(0))
    held = pipeline.source.heldout(config.eval.num_samples)
    assert scores["identity_l1_ab"] == pytest.approx(tm.l1(held["a"], held["b"]))
    for k in ("l1_ab", "psnr_ab", "l1_ba", "psnr_ba", "fd_digits_ab", "identity_fd_digits_ba"):
        assert np.isfinite(scores[k]), k


@pytest.mark.slow
def test_cyclegan_smoke_recipe_writes_strips_and_translation_metrics(tmp_path):
    config = recipe("cyclegan")
    train.train_and_evaluate(config, str(tmp_path))
    grid = np.asarray(Image.open(tmp_path / "samples" / "samples_0000004.png"))
    # 4 strips of [a; G_AB(a); G_BA(G_AB(a))] (3 x 32 high), 2 per grid row, 2 px padding.
    assert grid.shape == (2 * (96 + 2) + 2, 2 * (32 + 2) + 2, 3)
    rows = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
    final = rows[-1]
    for k in ("l1_ab", "psnr_ab", "l1_ba", "psnr_ba", "identity_l1_ab", "identity_psnr_ba",
              "fd_digits_ab", "identity_fd_digits_ba"):
        assert np.isfinite(final[f"eval/{k}"]), k
    assert any("g_cycle" in r for r in rows)


@pytest.mark.slow
def test_summary_lists_both_generators_and_discriminators():
    table = summary.parameter_table(recipe("cyclegan"))
    for name in ("g.ab", "g.ba", "d.a", "d.b"):
        assert name in table


def test_l1_and_psnr_closed_forms():
    x = np.zeros((3, 4, 4, 3), np.float32)
    assert tm.l1(x + 0.2, x) == pytest.approx(0.2)
    # A 0.2 offset in [-1, 1] is 0.1 in [0, 1]: MSE 0.01, PSNR 20 dB.
    assert tm.psnr(x + 0.2, x) == pytest.approx(20.0)
    assert tm.psnr(x, x) == tm.MAX_PSNR
    r = tm.report("ab", x - 0.5, x + 0.2, x, with_fd=False)
    assert r["identity_l1_ab"] == pytest.approx(0.5) and r["l1_ab"] == pytest.approx(0.2)


@pytest.mark.slow
def test_cyclegan_two_devices_match_one_device(tmp_path):
    """Same global batch on 1 and 2 devices: same params and pools (momentum SGD, 2 steps)."""
    from tests.helpers import run_python

    code = """
import jax, numpy as np
from gan_jax import data, games, parallel
from tests.helpers import recipe
config = recipe("cyclegan", **{"optim.name": "sgd", "optim.momentum": 0.9, "optim.g_lr": 0.01,
                               "optim.d_lr": 0.01, "cyclegan.pool_size": 4})
game = games.get("cyclegan")
pipe = data.build(config, jax.local_device_count())
state = parallel.replicate(game.init(jax.random.PRNGKey(0), config, pipe.batch(0)))
step = parallel.map_step(lambda s, b: game.train_step(s, b, config))
for i in range(2):
    state, m = step(state, pipe.batch(i))
leaves = jax.tree_util.tree_leaves((state.g_params, state.d_params, state.extra))
np.savez("OUT/%d.npz" % jax.local_device_count(), *[np.asarray(x) for x in leaves])
"""
    for n in (1, 2):
        run_python(code.replace("OUT", str(tmp_path)), devices=n)
    one, two = np.load(tmp_path / "1.npz"), np.load(tmp_path / "2.npz")
    for k in one.files:
        np.testing.assert_allclose(one[k], two[k], rtol=2e-4, atol=2e-5)
