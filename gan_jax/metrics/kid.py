"""Kernel Inception Distance (Binkowski et al. 2018): unbiased MMD^2, cubic polynomial kernel.

    k(x, y) = (x . y / d + 1)^3,  d = feature dimension
    MMD^2_u = sum_{i!=j} k(x_i, x_j) / (m(m-1)) + sum_{i!=j} k(y_i, y_j) / (m(m-1))
              - 2 sum_{i,j} k(x_i, y_j) / m^2

averaged over `num_subsets` random subsets of `subset_size` rows of each set
(defaults 100 x 1000 as in the paper's code). Unbiased: its expectation is 0
when both sets come from one distribution, so small sets give no positive bias
(estimates can be negative).
"""
from __future__ import annotations

import numpy as np

from gan_jax.errors import UserError


def polynomial_kernel(x, y, degree: int = 3, coef0: float = 1.0):
    """[n, m] matrix (x . y / d + coef0)^degree of x [n, d], y [m, d]."""
    base = x @ y.T / x.shape[1] + coef0
    out = base
    for _ in range(degree - 1):  # repeated products: much faster than a float power
        out = out * base
    return out


def mmd2_unbiased(x, y) -> float:
    """Unbiased MMD^2 of two equal-size sets [m, d] under the cubic polynomial kernel."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    m = x.shape[0]
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    off = lambda k: (k.sum() - np.trace(k)) / (m * (m - 1))
    return float(off(kxx) + off(kyy) - 2.0 * kxy.mean())


def kernel_distance(features1, features2, num_subsets: int = 100, subset_size: int = 1000,
                    seed: int = 0) -> tuple:
    """(mean, std) of unbiased MMD^2 over random subsets of [N1, d] and [N2, d] features.

    subset_size is capped at min(N1, N2); subsets are drawn without replacement
    within a subset, independently across subsets, from np.random.default_rng(seed).
    """
    f1, f2 = np.asarray(features1, np.float64), np.asarray(features2, np.float64)
    m = min(subset_size, len(f1), len(f2))
    if m < 2:
        raise UserError(f"KID needs at least 2 features per set, got {len(f1)} and {len(f2)}")
    rng = np.random.default_rng(seed)
    values = [mmd2_unbiased(f1[rng.choice(len(f1), m, replace=False)],
                            f2[rng.choice(len(f2), m, replace=False)])
              for _ in range(num_subsets)]
    return float(np.mean(values)), float(np.std(values))
