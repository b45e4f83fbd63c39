"""Frechet distance between Gaussians fitted to features (FID: Heusel et al. 2017).

    FD = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))

With Inception pool3 features this is FID; with the digits classifier's
features (`digits_net.py`) it is FD-digits. Statistics are accumulated in
float64 over batches (never all features at once) and stored as .npz with `mu`
and `sigma` (pytorch-fid's format, readable by both).

CLI (like pytorch-fid; A and B are image folders or .npz statistics):
    python -m gan_jax.metrics.fid A B [--weights inception.npz]
    python -m gan_jax.metrics.fid IMAGE_DIR OUT.npz --save-stats [--weights ...]
With --weights (converted by `python -m gan_jax.metrics.inception convert`) it
prints FID; without, it uses the shipped digits classifier and prints FD-digits.
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from typing import Iterable, Iterator, NamedTuple, Sequence

import numpy as np
from PIL import Image
from scipy import linalg

from gan_jax.errors import UserError
from gan_jax.metrics import extract

# pytorch-fid's folder reader: top-level files with these extensions, sorted.
IMAGE_EXTENSIONS = ("bmp", "jpg", "jpeg", "pgm", "png", "ppm", "tif", "tiff", "webp")


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6, method: str = "sqrtm") -> float:
    """FD of N(mu1, sigma1) and N(mu2, sigma2) in float64.

    method='sqrtm' (default) computes it as pytorch-fid does: scipy's blocked
    Schur square root (Deadman, Higham & Ralha 2013) of the product S1 S2; if
    that is not finite (a singular product), eps * I is added to both
    covariances and it is recomputed; a complex result whose diagonal has
    imaginary parts all below 1e-3 (rounding on a nearly singular product) is
    replaced by its real part, larger imaginary parts raise ValueError.
    method='eigh' uses Tr (S1 S2)^(1/2) = sum_i sqrt(l_i), l_i the eigenvalues of
    the symmetric PSD matrix S1^(1/2) S2 S1^(1/2) (negative rounding clipped to 0):
    the same number for covariance matrices (agrees with 'sqrtm' to ~1e-9
    relative), never complex, also for singular ones, and ~4x faster at F = 2048
    (40 s vs 156 s on this project's loaded 2-core CPU).
    mu: [F]; sigma: [F, F]. Returns a Python float (>= 0 up to rounding).
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise UserError(f"statistics do not match: mu {mu1.shape} vs {mu2.shape}, "
                         f"sigma {sigma1.shape} vs {sigma2.shape} (same feature net?)")
    if method == "sqrtm":
        tr_covmean = _trace_sqrt_product_sqrtm(sigma1, sigma2, eps)
    elif method == "eigh":
        tr_covmean = _trace_sqrt_product_eigh(sigma1, sigma2)
    else:
        raise UserError(f"method={method!r} is unknown; choose 'sqrtm' or 'eigh'")
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def _trace_sqrt_product_sqrtm(sigma1, sigma2, eps):
    """Tr (S1 S2)^(1/2) exactly as pytorch-fid's calculate_frechet_distance computes it."""
    with warnings.catch_warnings():  # pytorch-fid's disp=False: singular products are handled
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sigma1 @ sigma2)
        if not np.isfinite(covmean).all():
            offset = np.eye(sigma1.shape[0]) * eps
            covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise UserError(f"Frechet distance: the matrix square root has an imaginary "
                             f"component of {np.max(np.abs(covmean.imag)):.3g}; "
                             f"use method='eigh' or more samples")
        covmean = covmean.real
    return np.trace(covmean)


def _trace_sqrt_product_eigh(sigma1, sigma2):
    """Tr (S1 S2)^(1/2) = sum sqrt(eig(S1^(1/2) S2 S1^(1/2))) for symmetric PSD S1, S2."""
    w, v = linalg.eigh(sigma1)
    root1 = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    m = root1 @ sigma2 @ root1
    lam = linalg.eigvalsh((m + m.T) / 2.0)
    return np.sum(np.sqrt(np.clip(lam, 0.0, None)))


def statistics(features) -> tuple:
    """(mu [F], sigma [F, F]) in float64 of features [N, F]; sigma unbiased (N - 1), as np.cov."""
    x = np.asarray(features, np.float64)
    return x.mean(axis=0), np.cov(x, rowvar=False)


class Moments(NamedTuple):
    """Running count, mean [F] and centred sum of outer products m2 [F, F] (float64)."""
    n: int
    mean: np.ndarray
    m2: np.ndarray


def init_moments(dim: int) -> Moments:
    return Moments(0, np.zeros(dim), np.zeros((dim, dim)))


def update_moments(m: Moments, features) -> Moments:
    """Merges a batch [B, F] into the running moments (Chan, Golub & LeVeque 1979).

    mean = mean_a + d n_b / n; m2 = m2_a + m2_b + d d^T n_a n_b / n with d = mean_b - mean_a:
    each batch is centred on its own mean, so no large sums cancel.
    """
    x = np.asarray(features, np.float64)
    nb = x.shape[0]
    if nb == 0:
        return m
    mb = x.mean(axis=0)
    xc = x - mb
    n = m.n + nb
    d = mb - m.mean
    return Moments(n, m.mean + d * (nb / n), m.m2 + xc.T @ xc + np.outer(d, d) * (m.n * nb / n))


def finalize_moments(m: Moments) -> tuple:
    """(mu, sigma) of the accumulated features; sigma divides by n - 1 like np.cov."""
    if m.n < 2:
        raise UserError(f"need at least 2 feature vectors for a covariance, got {m.n}")
    return m.mean, m.m2 / (m.n - 1)


def streaming_statistics(feature_batches: Iterable) -> tuple:
    """(mu, sigma) of all rows of an iterable of [B, F] batches, one batch in memory at a time."""
    m = None
    for f in feature_batches:
        m = update_moments(m if m is not None else init_moments(np.shape(f)[1]), f)
    if m is None:
        raise UserError("no features to compute statistics of (empty input)")
    return finalize_moments(m)


def save_statistics(path: str, mu, sigma) -> None:
    """Writes {mu, sigma} as .npz (pytorch-fid's format)."""
    with open(path, "wb") as f:
        np.savez_compressed(f, mu=np.asarray(mu), sigma=np.asarray(sigma))


def load_statistics(path: str) -> tuple:
    """(mu, sigma) from an .npz with arrays `mu` and `sigma` (no pickle)."""
    with np.load(path, allow_pickle=False) as f:
        if "mu" not in f.files or "sigma" not in f.files:
            raise UserError(f"{path!r} holds {f.files}; statistics need arrays 'mu' and 'sigma'")
        return f["mu"].astype(np.float64), f["sigma"].astype(np.float64)


# --- CLI ---------------------------------------------------------------------------------------

def list_image_files(path: str) -> list:
    """Sorted image files directly in `path` (pytorch-fid's rule: no subfolders)."""
    if not os.path.isdir(path):
        raise UserError(f"{path!r} is neither an image folder nor an .npz statistics file")
    files = sorted(os.path.join(path, f) for f in os.listdir(path)
                   if f.rsplit(".", 1)[-1] in IMAGE_EXTENSIONS)
    if not files:
        raise UserError(f"image folder {path!r} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
    return files


def read_image_batches(files: Sequence[str], batch_size: int) -> Iterator[np.ndarray]:
    """[B, H, W, 3] float32 batches in [-1, 1], RGB as pytorch-fid reads them (no resizing here)."""
    for i in range(0, len(files), batch_size):
        batch = []
        for f in files[i:i + batch_size]:
            with Image.open(f) as im:
                batch.append(np.asarray(im.convert("RGB"), np.float32) / 127.5 - 1.0)
        if len({b.shape for b in batch}) > 1:
            raise UserError(f"images in one batch differ in size ({sorted({b.shape for b in batch})}"
                             f"); resize the folder's images to one size first")
        yield np.stack(batch)


def path_statistics(path: str, run, batch_size: int = 50) -> tuple:
    """(mu, sigma) of an .npz, or of the features that `run` (extract.batched_apply) gives
    a folder's images, streamed batch by batch."""
    if path.endswith(".npz"):
        return load_statistics(path)
    batches = read_image_batches(list_image_files(path), batch_size)
    return streaming_statistics(out[0] for out in extract.stream(run, batches))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gan_jax.metrics.fid",
                                     description="Frechet distance of two image folders or "
                                                 ".npz statistics.")
    parser.add_argument("path", nargs=2, help="image folders or .npz statistics files")
    parser.add_argument("--weights", default="",
                        help="converted FID-Inception weights (.npz); omitted: digits classifier")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--save-stats", action="store_true",
                        help="write the statistics of the first path to the second (.npz)")
    args = parser.parse_args(argv)
    from gan_jax.metrics import digits_net, inception

    if args.weights:
        net, label = inception.load(args.weights), "FID"
    else:
        net, label = digits_net.load(), "FD-digits"
    run = extract.batched_apply(*net, args.batch_size)
    if args.save_stats:
        if os.path.exists(args.path[1]):
            raise UserError(f"{args.path[1]!r} exists; give a new output file for --save-stats")
        save_statistics(args.path[1], *path_statistics(args.path[0], run, args.batch_size))
        print(f"wrote {args.path[1]}")
        return
    s1 = path_statistics(args.path[0], run, args.batch_size)
    s2 = path_statistics(args.path[1], run, args.batch_size)
    print(f"{label}: {frechet_distance(*s1, *s2)}")


if __name__ == "__main__":
    main(sys.argv[1:])
