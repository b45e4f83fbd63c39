"""Inception Score (Salimans et al. 2016): exp E_x KL(p(y|x) || p(y)), over splits.

    IS = exp( mean_x sum_y p(y|x) (log p(y|x) - log p(y)) ),  p(y) = mean_x p(y|x)

computed separately on `splits` consecutive equal parts of the samples (10 in
the paper); returns the mean and standard deviation over the parts. With the
FID-Inception logits (1008 classes) this is IS; with the digits classifier it
is IS-digits (1 <= IS <= number of classes).
"""
from __future__ import annotations

import numpy as np
from scipy.special import softmax, xlogy

from gan_jax.errors import UserError


def inception_score_from_probs(probs, splits: int = 10) -> tuple:
    """(mean, std) of IS over `splits` parts of class probabilities [N, K] (float64; 0 log 0 = 0)."""
    p = np.asarray(probs, np.float64)
    if p.ndim != 2 or len(p) < splits:
        raise UserError(f"need probabilities [N >= splits={splits}, K], got shape {p.shape}")
    scores = []
    for part in np.array_split(p, splits):
        py = part.mean(axis=0)
        log_py = np.log(py, out=np.zeros_like(py), where=py > 0)  # a class never predicted: 0
        kl = np.sum(xlogy(part, part), axis=1) - part @ log_py
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def inception_score(logits, splits: int = 10) -> tuple:
    """(mean, std) of IS from classifier logits [N, K] (softmax in float64)."""
    return inception_score_from_probs(softmax(np.asarray(logits, np.float64), axis=1), splits)
