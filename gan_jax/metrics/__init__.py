"""Evaluation run by the training loop: picks the metrics that fit the data.

2-D mixtures (ring, grid): mode coverage (`modes.py`). Images: see the metrics
modules (Frechet distance, IS, KID, PRDC) once their feature nets are available.
"""
from __future__ import annotations

import numpy as np

from gan_jax.metrics import modes


def evaluate(config, samples_fn, pipeline) -> dict:
    """Scalars for the current generator. samples_fn(n) -> [n, ...] numpy samples."""
    name = config.data.name
    if name in ("ring", "grid"):
        src = pipeline.source
        x = samples_fn(config.eval.get("num_samples", 2500))
        return modes.mode_metrics(x, src.means, src.std)
    return {}
