"""Precision/recall (Kynkaanniemi et al. 2019) and density/coverage (Naeem et al. 2020).

Each real point i has radius r_i = distance to its k-th nearest other real
point; each fake point j has s_j likewise among fakes. With D_ij = ||real_i - fake_j||:
    precision = mean_j [exists i: D_ij < r_i]      (fakes inside the real manifold)
    recall    = mean_i [exists j: D_ij < s_j]      (reals inside the fake manifold)
    density   = mean_j sum_i [D_ij < r_i] / k      (can exceed 1)
    coverage  = mean_i [min_j D_ij < r_i]          (reals with a fake in their ball)
k = 3 for precision/recall as in Kynkaanniemi et al. (2019).
"""
from __future__ import annotations

import numpy as np

from gan_jax.errors import UserError


def pairwise_distances(a, b, chunk: int = 2048) -> np.ndarray:
    """[n, m] Euclidean distances (float64), computed in row chunks to bound memory."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    bb = np.sum(b * b, axis=1)
    out = np.empty((len(a), len(b)))
    for i in range(0, len(a), chunk):
        x = a[i:i + chunk]
        d2 = np.sum(x * x, axis=1)[:, None] + bb[None] - 2.0 * x @ b.T
        out[i:i + chunk] = np.sqrt(np.maximum(d2, 0.0))
    return out


def kth_neighbour_radii(x, k: int) -> np.ndarray:
    """[n] distance from each row of x to its k-th nearest other row."""
    if len(x) <= k:
        raise UserError(f"k={k} needs more than {k} points, got {len(x)}")
    d = pairwise_distances(x, x)
    return np.partition(d, k, axis=1)[:, k]  # index 0 is the point itself (distance 0)


def prdc(real, fake, k: int = 3) -> dict:
    """{'precision', 'recall', 'density', 'coverage'} of features real [N, d] and fake [M, d]."""
    r = kth_neighbour_radii(real, k)
    s = kth_neighbour_radii(fake, k)
    d = pairwise_distances(real, fake)
    inside_real = d < r[:, None]
    return {
        "precision": float(inside_real.any(axis=0).mean()),
        "recall": float((d < s[None, :]).any(axis=1).mean()),
        "density": float(inside_real.sum(axis=0).mean() / k),
        "coverage": float((d.min(axis=1) < r).mean()),
    }
