"""Frechet distance, streaming statistics, .npz stats and the CLI (gan_jax/metrics/fid.py)."""
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from gan_jax.data.embedded import load_digits_images
from gan_jax.metrics import digits_net, fid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def random_features(seed, n, dim, shift=0.0):
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((dim, dim)) / np.sqrt(dim)
    return rng.standard_normal((n, dim)) @ mix + shift + rng.random(dim)


@pytest.mark.parametrize("method", ["sqrtm", "eigh"])
@pytest.mark.parametrize("n", [500, 40], ids=["full_rank", "singular_n_lt_dim"])
def test_frechet_distance_matches_pytorch_fid(n, method):
    fid_score = pytest.importorskip("pytorch_fid.fid_score")
    s1 = fid.statistics(random_features(0, n, 64))
    s2 = fid.statistics(random_features(1, n, 64, shift=0.3))
    want = fid_score.calculate_frechet_distance(*s1, *s2)
    got = fid.frechet_distance(*s1, *s2, method=method)
    assert want > 1.0
    assert abs(got - want) <= 1e-6 * abs(want)


# Two feature vectors per set in 3-D, feature 2 dead (constant) in the first set: rank-1
# covariances whose product has a repeated zero eigenvalue, where scipy's Schur square
# root gives NaN. Small sets and dead units are how this happens with real features.
FEW_REAL = np.array([[2.0, -1.0, 2.0], [-1.0, -2.0, 2.0]])
FEW_FAKE = np.array([[0.0, -1.0, 2.0], [2.0, -2.0, 1.0]])


@pytest.mark.parametrize("eps", [1e-6, 1e-3])
def test_frechet_distance_fallback_on_a_singular_product_matches_pytorch_fid(eps):
    """The eps * I fallback (sqrtm of the raw product is not finite here) against pytorch-fid's
    calculate_frechet_distance at the same eps; both near the exact value, whose trace term
    Tr (S1 S2)^(1/2) = sqrt(a.b a.b) for rank-1 S1 = a a^T, S2 = b b^T. Checked against
    fid.py with the fallback offsetting only sigma1 (differs from pytorch-fid by 2e-6
    relative at eps 1e-6) and with the fallback removed (NaN)."""
    from scipy import linalg
    fid_score = pytest.importorskip("pytorch_fid.fid_score")
    (mu1, s1), (mu2, s2) = fid.statistics(FEW_REAL), fid.statistics(FEW_FAKE)
    assert not np.isfinite(linalg.sqrtm(s1 @ s2)).all()  # the guard is what runs
    want = fid_score.calculate_frechet_distance(mu1, s1, mu2, s2, eps=eps)
    got = fid.frechet_distance(mu1, s1, mu2, s2, eps=eps)
    assert np.isfinite(got) and abs(got - want) <= 1e-9 * abs(want)
    a, b = (FEW_REAL[0] - FEW_REAL[1]) / np.sqrt(2), (FEW_FAKE[0] - FEW_FAKE[1]) / np.sqrt(2)
    exact = np.sum((mu1 - mu2) ** 2) + a @ a + b @ b - 2 * abs(a @ b)
    assert got == pytest.approx(exact, rel=100 * np.sqrt(eps))
    assert fid.frechet_distance(mu1, s1, mu2, s2, method="eigh") == pytest.approx(exact, rel=1e-9)


def test_frechet_distance_with_a_complex_square_root_raises_like_pytorch_fid():
    """A covariance that is not PSD (corrupt statistics) makes the square root complex with
    imaginary parts ~1: the guard raises (pytorch-fid raises ValueError too). Checked against
    fid.py with the imaginary-part check removed (returns a number)."""
    fid_score = pytest.importorskip("pytorch_fid.fid_score")
    mu, sigma = np.zeros(3), np.diag([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="Imaginary"):
        fid_score.calculate_frechet_distance(mu, sigma, mu, -sigma)
    with pytest.raises(ValueError, match="imaginary component"):
        fid.frechet_distance(mu, sigma, mu, -sigma)


@pytest.mark.parametrize("method", ["sqrtm", "eigh"])
def test_frechet_distance_of_diagonal_gaussians_closed_form(method):
    """||mu1 - mu2||^2 + sum(s1 + s2 - 2 sqrt(s1 s2)) for diagonal covariances s1, s2."""
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.standard_normal(16), rng.standard_normal(16)
    s1, s2 = rng.uniform(0.1, 3.0, 16), rng.uniform(0.1, 3.0, 16)
    want = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    got = fid.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2), method=method)
    assert got == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize("method", ["sqrtm", "eigh"])
def test_frechet_distance_of_identical_statistics_is_zero(method):
    mu, sigma = fid.statistics(random_features(2, 300, 32))
    assert abs(fid.frechet_distance(mu, sigma, mu, sigma, method=method)) < 1e-9 * np.trace(sigma)


def test_frechet_distance_rejects_mismatched_dimensions():
    with pytest.raises(ValueError, match="do not match"):
        fid.frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def test_streaming_statistics_equal_batch_formula():
    """Uneven batches (incl. size 1) and a large common offset: mean and np.cov (ddof 1)."""
    x = random_features(3, 257, 24, shift=1e4)
    batches = [x[:1], x[1:100], x[100:101], x[101:]]
    mu, sigma = fid.streaming_statistics(iter(batches))
    np.testing.assert_allclose(mu, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(x, rowvar=False), rtol=1e-9, atol=1e-9)


def test_statistics_npz_round_trip_and_pytorch_fid_reads_it(tmp_path):
    fid_score = pytest.importorskip("pytorch_fid.fid_score")
    mu, sigma = fid.statistics(random_features(4, 100, 8))
    path = str(tmp_path / "stats.npz")
    fid.save_statistics(path, mu, sigma)
    for m, s in (fid.load_statistics(path),
                 fid_score.compute_statistics_of_path(path, None, 1, 8, "cpu")):
        np.testing.assert_array_equal(m, mu)
        np.testing.assert_array_equal(s, sigma)


def write_pngs(folder, images):
    os.makedirs(folder, exist_ok=True)
    for i, im in enumerate(images):
        arr = np.round((im[..., 0] + 1.0) * 127.5).astype(np.uint8)
        Image.fromarray(arr, mode="L").save(os.path.join(folder, f"{i:04d}.png"))


def test_cli_folders_and_save_stats_use_digits_net_without_weights(tmp_path, capsys):
    images, labels = load_digits_images(32)
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    write_pngs(a, images[:120])
    write_pngs(b, images[labels == 0][:120])
    stats = str(tmp_path / "a.npz")
    fid.main([a, stats, "--save-stats", "--batch-size", "32"])
    fid.main([a, stats])
    assert float(capsys.readouterr().out.strip().split()[-1]) == pytest.approx(0.0, abs=1e-6)
    fid.main([a, b, "--batch-size", "50"])
    out = capsys.readouterr().out
    # Independent path: in-memory features of the PNG-decoded images.
    decode = lambda folder: np.stack([
        np.asarray(Image.open(f).convert("RGB"), np.float32) / 127.5 - 1.0
        for f in fid.list_image_files(folder)])
    fa, _ = digits_net.features_and_logits(decode(a))
    fb, _ = digits_net.features_and_logits(decode(b))
    want = fid.frechet_distance(*fid.statistics(fa), *fid.statistics(fb))
    assert out.startswith("FD-digits:")
    assert float(out.split()[-1]) == pytest.approx(want, rel=1e-6)
    assert want > 10.0
    with pytest.raises(ValueError, match="exists"):
        fid.main([a, stats, "--save-stats"])


def test_cli_runs_as_module(tmp_path):
    mu, sigma = fid.statistics(random_features(5, 200, 64))
    p1, p2 = str(tmp_path / "1.npz"), str(tmp_path / "2.npz")
    fid.save_statistics(p1, mu, sigma)
    fid.save_statistics(p2, mu + 1.0, sigma)
    out = subprocess.run([sys.executable, "-m", "gan_jax.metrics.fid", p1, p2], cwd=ROOT,
                         capture_output=True, text=True, check=True,
                         env=dict(os.environ, JAX_PLATFORMS="cpu"))
    assert float(out.stdout.split()[-1]) == pytest.approx(64.0, rel=1e-6)  # ||1||^2, same sigma
    assert "RuntimeWarning" not in out.stderr
