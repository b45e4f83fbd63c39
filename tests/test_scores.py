"""IS (inception_score.py), KID (kid.py) and precision/recall/density/coverage (prdc.py)."""
import numpy as np
import pytest

from gan_jax.metrics import inception_score, kid, prdc


# --- Inception Score -------------------------------------------------------------------------

def test_inception_score_of_uniform_predictions_is_one():
    mean, std = inception_score.inception_score_from_probs(np.full((200, 7), 1 / 7))
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)


def test_inception_score_of_one_hot_uniform_classes_is_number_of_classes():
    labels = np.arange(500) % 10  # every split of 50 holds each class 5 times
    mean, std = inception_score.inception_score_from_probs(np.eye(10)[labels])
    assert mean == pytest.approx(10.0, rel=1e-12) and std == pytest.approx(0.0, abs=1e-9)


def test_inception_score_matches_improved_gan_formula():
    """The reference code of Salimans et al. (openai/improved-gan), written out per split."""
    logits = np.random.default_rng(0).standard_normal((300, 12)) * 3
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    scores = []
    for i in range(10):
        part = p[i * 30:(i + 1) * 30]
        kl = part * (np.log(part) - np.log(np.expand_dims(np.mean(part, 0), 0)))
        scores.append(np.exp(np.mean(np.sum(kl, 1))))
    mean, std = inception_score.inception_score(logits)
    assert mean == pytest.approx(np.mean(scores), rel=1e-10)
    assert std == pytest.approx(np.std(scores), rel=1e-8)


def test_inception_score_with_classes_never_predicted_takes_the_log_zero_guard():
    """One-hot predictions over classes 0..3 of 9: p(y) = 0 for five classes, where log p(y)
    is -inf and 0 * -inf is NaN without the guard. IS = 4 exactly (KL = log 4 per sample),
    and equals scipy.stats.entropy's KL (which treats 0 log 0 as 0) on random predictions
    with two dead classes."""
    import scipy.stats

    probs = np.eye(9)[np.arange(400) % 4]
    mean, std = inception_score.inception_score_from_probs(probs)
    assert mean == pytest.approx(4.0, rel=1e-12) and std == pytest.approx(0.0, abs=1e-9)
    rng = np.random.default_rng(5)
    p = rng.dirichlet(np.ones(6), size=200)
    p = np.concatenate([p[:, :3], np.zeros((200, 2)), p[:, 3:]], 1)  # classes 3, 4 dead
    scores = [np.exp(np.mean([scipy.stats.entropy(row, part.mean(0)) for row in part]))
              for part in np.array_split(p, 10)]
    mean, std = inception_score.inception_score_from_probs(p)
    assert mean == pytest.approx(np.mean(scores), rel=1e-12)
    assert std == pytest.approx(np.std(scores), rel=1e-9)


# --- KID -------------------------------------------------------------------------------------

def uniform_moment(a, b, k):
    return (b ** (k + 1) - a ** (k + 1)) / ((k + 1) * (b - a))


def test_kid_matches_closed_form_mmd_of_uniforms():
    """1-D, k(x, y) = (xy + 1)^3: MMD^2 = (m3p - m3q)^2 + 3 (m2p - m2q)^2 + 3 (m1p - m1q)^2."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 1.0, (20000, 1))
    y = rng.uniform(0.5, 1.5, (20000, 1))
    want = sum(c * (uniform_moment(0, 1, k) - uniform_moment(0.5, 1.5, k)) ** 2
               for k, c in ((3, 1), (2, 3), (1, 3)))
    mean, std = kid.kernel_distance(x, y, num_subsets=200, subset_size=500, seed=1)
    assert abs(mean - want) < 4 * std / np.sqrt(200)
    assert want > 10 * std / np.sqrt(200)  # the test can tell a wrong kernel or estimator


def test_kid_of_identical_sets_is_about_zero():
    """KID(x, x) on the whole set is exactly 2 (sum(K) / m - tr K) / (m (m - 1)): -O(1/m)."""
    x = np.random.default_rng(1).standard_normal((1000, 16))
    k = kid.polynomial_kernel(x, x)
    m = len(x)
    assert kid.mmd2_unbiased(x, x) == pytest.approx(2 * (k.sum() / m - np.trace(k)) / (m * (m - 1)),
                                                    rel=1e-9)
    same, _ = kid.kernel_distance(x, x, num_subsets=5, subset_size=500)
    shifted, _ = kid.kernel_distance(x, x + 0.5, num_subsets=5, subset_size=500)
    assert abs(same) < 0.02 * shifted


def test_kid_estimator_is_unbiased_where_the_biased_one_is_not():
    """Same distribution, tiny sets: the mean of MMD^2_u over many draws is ~0; the V-statistic's is > 0."""
    rng = np.random.default_rng(2)
    m, trials = 8, 3000
    unbiased, biased = [], []
    for _ in range(trials):
        x, y = rng.uniform(-1, 1, (m, 2)), rng.uniform(-1, 1, (m, 2))
        unbiased.append(kid.mmd2_unbiased(x, y))
        k = kid.polynomial_kernel
        biased.append(k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean())
    se = np.std(unbiased) / np.sqrt(trials)
    assert abs(np.mean(unbiased)) < 4 * se
    assert np.mean(biased) > 10 * np.std(biased) / np.sqrt(trials)


# --- precision / recall / density / coverage -------------------------------------------------

REAL_1D = np.array([[0.0], [1.0], [2.0], [3.0]])


@pytest.mark.parametrize("fake,k,want", [
    ([[0.5], [10.0]], 1, dict(precision=0.5, recall=1.0, density=1.0, coverage=0.5)),
    ([[0.5], [2.5], [10.0]], 2, dict(precision=2 / 3, recall=1.0, density=2 / 3, coverage=1.0)),
], ids=["k1", "k2"])
def test_prdc_hand_computed_one_dimensional_example(fake, k, want):
    got = prdc.prdc(REAL_1D, np.array(fake), k=k)
    assert got == pytest.approx(want, abs=1e-12)


def test_prdc_identical_sets_full_and_disjoint_sets_empty():
    x = np.random.default_rng(3).standard_normal((300, 5))
    same = prdc.prdc(x, x, k=3)
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    assert prdc.prdc(x, x + 100.0, k=3) == dict(precision=0.0, recall=0.0, density=0.0,
                                                coverage=0.0)


def test_pairwise_distances_match_direct_norms_across_chunks():
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((37, 6)), rng.standard_normal((11, 6))
    want = np.linalg.norm(a[:, None] - b[None], axis=-1)
    np.testing.assert_allclose(prdc.pairwise_distances(a, b, chunk=8), want, atol=1e-12)


def test_pairwise_distances_of_duplicate_far_points_take_the_rounding_guard():
    """Points near 1e4 with duplicates: ||a||^2 + ||b||^2 - 2 a.b rounds below zero for some
    pairs (asserted), which would be NaN distances without the max(., 0) guard. Distances
    must be finite, >= 0, equal scipy's cdist to the square root of a few ulps of |a|^2 (1e-3),
    and a duplicated set must have full precision, recall and coverage."""
    import scipy.spatial

    rng = np.random.default_rng(6)
    a = 1e4 + rng.standard_normal((50, 6))
    a = np.concatenate([a, a[:10]])
    raw = np.sum(a * a, 1)[:, None] + np.sum(a * a, 1)[None] - 2.0 * a @ a.T
    assert (raw < 0).any()
    d = prdc.pairwise_distances(a, a, chunk=16)
    assert np.isfinite(d).all() and (d >= 0).all()
    tol = np.sqrt(4 * np.spacing(2 * np.max(np.sum(a * a, 1))))  # sqrt of a few ulps of |a|^2
    np.testing.assert_allclose(d, scipy.spatial.distance.cdist(a, a), rtol=0, atol=tol)
    got = prdc.prdc(a, a, k=3)
    assert got["precision"] == got["recall"] == got["coverage"] == 1.0
