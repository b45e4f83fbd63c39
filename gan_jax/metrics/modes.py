"""Mode coverage on 2-D Gaussian mixtures (VEEGAN, Srivastava 2017; PacGAN, Lin 2018).

A sample is high quality (HQ) if it lies within 3 standard deviations of its
nearest mode's mean. A mode is captured when at least `min_count` HQ samples are
assigned to it. Reverse KL is KL(p_gen_modes || uniform) of the histogram of HQ
samples over modes.
"""
from __future__ import annotations

import numpy as np


def assign_modes(samples: np.ndarray, means: np.ndarray, std: float):
    """(nearest mode index [N], is high quality [N]) for samples [N, 2]."""
    samples = np.asarray(samples, np.float64)
    d = np.linalg.norm(samples[:, None, :] - np.asarray(means)[None], axis=-1)
    nearest = np.argmin(d, axis=1)
    hq = d[np.arange(len(samples)), nearest] <= 3.0 * std
    hq &= np.isfinite(samples).all(axis=1)
    return nearest, hq


def mode_metrics(samples, means, std, min_count: int = 1) -> dict:
    """{'modes': captured, 'hq_fraction': in [0, 1], 'reverse_kl': nats}."""
    nearest, hq = assign_modes(samples, means, std)
    k = len(means)
    counts = np.bincount(nearest[hq], minlength=k).astype(np.float64)
    captured = int(np.sum(counts >= min_count))
    if counts.sum() == 0:
        rkl = float("inf")
    else:
        p = counts / counts.sum()
        nz = p > 0
        rkl = float(np.sum(p[nz] * np.log(p[nz] * k)))
    return {"modes": captured, "hq_fraction": float(hq.mean()), "reverse_kl": rkl}
