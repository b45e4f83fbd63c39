"""Mode-coverage metrics (gan_jax/metrics/modes.py) and the toy mixtures (gan_jax/data/toys.py):
closed forms on constructed samples, scipy references, and the chi-square HQ rate of real data."""
import math

import numpy as np
import pytest
import scipy.spatial
import scipy.stats
from ml_collections import ConfigDict

from gan_jax.data import toys
from gan_jax.metrics import modes

GRID = toys.grid_means(5, 2.0)


def test_grid_means_are_the_25_points_of_minus4_to_4_step_2():
    # Exact, in meshgrid "ij" order: a spacing off by 1% (4.04 for 4) fails here.
    expected = np.array([(a, b) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)], float)
    np.testing.assert_array_equal(GRID, expected)


@pytest.mark.parametrize("num_modes, radius", [(8, 1.0), (8, 2.0), (6, 3.0)])
def test_ring_means_are_evenly_spaced_angles_from_zero(num_modes, radius):
    # Mode k sits at angle 2 pi k / num_modes: checked against the closed form at float
    # precision (angles over num_modes + 1, or a wrong radius, fail), not only |mu| = r.
    means = toys.ring_means(num_modes, radius)
    k = np.arange(num_modes)
    expected = radius * np.stack([np.cos(2 * np.pi * k / num_modes),
                                  np.sin(2 * np.pi * k / num_modes)], 1)
    np.testing.assert_allclose(means, expected, rtol=0, atol=1e-15)
    if num_modes == 8 and radius == 1.0:  # the PacGAN ring: (1, 0), (1/sqrt2, 1/sqrt2), (0, 1) ...
        h = math.sqrt(0.5)
        np.testing.assert_allclose(means[:3], [[1, 0], [h, h], [0, 1]], rtol=0, atol=1e-15)
    gaps = np.diff(np.unwrap(np.arctan2(means[:, 1], means[:, 0])))
    np.testing.assert_allclose(gaps, 2 * np.pi / num_modes, rtol=0, atol=1e-12)


def test_all_points_on_the_25_means_give_25_modes_full_quality_zero_kl():
    samples = np.repeat(GRID, 100, axis=0)  # 2500 samples, 100 per mode
    m = modes.mode_metrics(samples, GRID, 0.05)
    assert m == {"modes": 25, "hq_fraction": 1.0, "reverse_kl": 0.0}


def test_all_points_on_one_mode_give_one_mode_and_reverse_kl_ln25():
    samples = np.tile(GRID[7], (2500, 1))
    m = modes.mode_metrics(samples, GRID, 0.05)
    assert m["modes"] == 1 and m["hq_fraction"] == 1.0
    assert m["reverse_kl"] == pytest.approx(math.log(25), abs=1e-12)


def test_points_far_from_every_mode_are_not_high_quality():
    samples = np.tile([[1.0, 1.0]], (2500, 1))  # midway between four grid means
    m = modes.mode_metrics(samples, GRID, 0.05)
    assert m["modes"] == 0 and m["hq_fraction"] == 0.0 and m["reverse_kl"] == math.inf


def test_high_quality_radius_is_three_standard_deviations():
    std = 0.05
    inside = GRID[3] + np.array([[2.99 * std, 0.0]])
    outside = GRID[3] + np.array([[0.0, 3.01 * std]])
    _, hq = modes.assign_modes(np.concatenate([inside, outside]), GRID, std)
    assert hq.tolist() == [True, False]


def test_non_finite_samples_count_as_low_quality():
    samples = np.array([[np.nan, 0.0], [np.inf, 1.0], [0.0, 0.0]])
    m = modes.mode_metrics(samples, GRID, 0.05)
    assert m["modes"] == 1 and m["hq_fraction"] == pytest.approx(1 / 3)


def test_nearest_mode_matches_scipy_kdtree():
    rng = np.random.default_rng(0)
    samples = rng.uniform(-5, 5, size=(2000, 2))
    nearest, _ = modes.assign_modes(samples, GRID, 0.05)
    _, ref = scipy.spatial.cKDTree(GRID).query(samples)
    np.testing.assert_array_equal(nearest, ref)


def test_reverse_kl_matches_scipy_entropy_against_uniform():
    counts = np.array([5, 0, 3, 1, 0, 9, 2, 0])
    expected = scipy.stats.entropy(counts / counts.sum(), np.full(8, 1 / 8))
    assert modes.reverse_kl_to_uniform(counts) == pytest.approx(expected, rel=1e-12)
    # q = (1/2, 1/4, 1/4, 0): KL = 1/2 ln 2 in closed form.
    assert modes.reverse_kl_to_uniform(np.array([2, 1, 1, 0])) == pytest.approx(0.5 * math.log(2))


@pytest.mark.parametrize("name, protocol, radius, std", [
    ("ring", "pacgan", 1.0, 0.01), ("ring", "unrolled", 2.0, 0.02),
    ("grid", "pacgan", None, 0.05), ("grid", "unrolled", None, 0.05)])
def test_real_samples_are_high_quality_at_the_chi_square_rate(name, protocol, radius, std):
    # |x - mu| / std ~ chi with 2 dof, so P(HQ) = P(chi2_2 < 9) = 1 - exp(-4.5) = 0.98889.
    source = toys.DATASETS[name](ConfigDict({"name": name, "protocol": protocol}))
    assert source.std == std
    if radius is not None:
        np.testing.assert_allclose(np.linalg.norm(source.means, axis=1), radius, rtol=1e-6)
    x = source.sample(np.random.default_rng(1), 25000)["x"]
    m = modes.mode_metrics(x, source.means, source.std)
    assert m["modes"] == len(source.means)
    assert m["hq_fraction"] == pytest.approx(1 - math.exp(-4.5), abs=0.004)
    assert m["reverse_kl"] < 0.01


def test_toy_overrides_and_unknown_protocol():
    src = toys.ring(ConfigDict({"protocol": "pacgan", "radius": 3.0, "mode_std": 0.1,
                                "num_modes": 6}))
    assert src.means.shape == (6, 2) and src.std == 0.1
    np.testing.assert_allclose(np.linalg.norm(src.means, axis=1), 3.0, rtol=1e-6)
    with pytest.raises(ValueError, match=r"config.data.protocol='veegan2' is unknown.*pacgan"):
        toys.ring(ConfigDict({"protocol": "veegan2"}))
