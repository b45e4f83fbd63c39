"""Mode coverage on 2-D Gaussian mixtures, as PacGAN (Lin et al. 2018) measures it.

On N generated samples (N = 2500 in PacGAN and VEEGAN, Srivastava et al. 2017),
each sample is assigned to its nearest mode mean mu_j; with isotropic mode std s,
the PacGAN reference code (fjxmlzn/PacGAN, synthetic_data_experiments/PacGAN/
pacgan/extensions.py, `MetricLogger`) computes the Mahalanobis distance
sqrt(sum_d (x_d - mu_jd)^2 / s^2) = |x - mu_j| / s, and

    high quality (HQ):  |x - mu_j| < 3 s          (within three standard deviations)
    c_j               = #{HQ samples assigned to mode j}   ("detail of coverage")
    modes captured    = #{j : c_j >= 1}
    HQ fraction       = sum_j c_j / N
    reverse KL        = KL(q || u) = sum_j q_j log(q_j K),  q_j = c_j / sum_j c_j,
                        u = uniform over the K modes (the real mode distribution).

The GDPP code (Elfeki 2019, gdppgan_Synthetic.py), which reproduces VEEGAN's
table, uses the same nearest-mode / 3-std rule. Reverse KL is finite even when
modes are missed (0 log 0 = 0) and is +inf only when no sample is HQ.
"""
from __future__ import annotations

import numpy as np

HQ_STDS = 3.0


def assign_modes(samples: np.ndarray, means: np.ndarray, std: float):
    """(nearest mode index [N], is high quality [N]) for samples [N, 2].

    Non-finite samples are never high quality.
    """
    samples = np.asarray(samples, np.float64)
    means = np.asarray(means, np.float64)
    d = np.linalg.norm(samples[:, None, :] - means[None], axis=-1)
    d = np.where(np.isfinite(d), d, np.inf)
    nearest = np.argmin(d, axis=1)
    hq = d[np.arange(len(samples)), nearest] < HQ_STDS * float(std)
    return nearest, hq


def mode_histogram(samples, means, std) -> np.ndarray:
    """c_j: the number of high-quality samples assigned to each mode, [K]."""
    nearest, hq = assign_modes(samples, means, std)
    return np.bincount(nearest[hq], minlength=len(means)).astype(np.int64)


def reverse_kl_to_uniform(counts: np.ndarray) -> float:
    """KL(q || uniform) in nats for the histogram q = counts / sum(counts); inf if empty."""
    counts = np.asarray(counts, np.float64)
    total = counts.sum()
    if total == 0:
        return float("inf")
    q = counts[counts > 0] / total
    return float(np.sum(q * np.log(q * len(counts))))


def mode_metrics(samples, means, std) -> dict:
    """{'modes': captured modes, 'hq_fraction': in [0, 1], 'reverse_kl': nats} of samples [N, 2]."""
    counts = mode_histogram(samples, means, std)
    n = len(np.asarray(samples))
    return {"modes": int(np.sum(counts >= 1)),
            "hq_fraction": float(counts.sum() / max(n, 1)),
            "reverse_kl": reverse_kl_to_uniform(counts)}
