"""Evaluation run by the training loop: picks the metrics that fit the data.

- 2-D mixtures (ring, grid): mode coverage, high-quality fraction, reverse KL (`modes.py`).
- Other sampled 2-D data (swiss roll): nothing.
- Images with `config.eval.inception_weights` set (converted by
  `python -m gan_jax.metrics.inception convert`): `fid`, `is`, `is_std`, `kid`,
  `kid_std`, and `precision` / `recall` / `density` / `coverage` (k=3) on
  FID-Inception pool3 features; the reference is up to `config.eval.num_real`
  (default 10000) examples of the training data; KID averages
  `config.eval.kid_subsets` (default 100) subsets of 1000.
- Images otherwise: measures in the feature space of the shipped
  digits classifier (`digits_net.py`; meaningful for digit-like data):
  `fd_digits`, `is_digits`, `class_coverage`, `precision`, `recall`,
  `density`, `coverage`; the reference is the pipeline's data (for
  `digits`: all 1797 embedded digits).

Frechet distances use `fid.frechet_distance(method='eigh')`: the same value as
pytorch-fid's sqrtm route (~1e-9 relative), never complex for singular
covariances, and several times faster at 2048-d. Reference features are
computed once per process and cached (keyed by the feature net, the data
config and the reference size). Generated samples come
from `samples_fn(config.eval.num_samples)`; feature extraction is jit-compiled,
pmapped over the local devices and batched by `config.eval.batch_size`.
"""
from __future__ import annotations

import numpy as np

from gan_jax.metrics import modes

# The metric modules are imported where used: `python -m gan_jax.metrics.fid` (or .inception)
# must not find its own module already imported by this package.

# Reference features per (net, data config, size): one computation per process.
_REFERENCE_CACHE: dict = {}


def class_coverage(logits, min_share: float = 0.25) -> float:
    """Fraction of the K classes that the classifier's argmax assigns to at least
    min_share / K of the samples (default: a quarter of a uniform class's share,
    2.5% for 10 classes). 1.0: every class is produced; 0.1: collapsed onto one digit.
    """
    logits = np.asarray(logits)
    k = logits.shape[1]
    share = np.bincount(np.argmax(logits, axis=1), minlength=k) / len(logits)
    return float(np.mean(share >= min_share / k))


def _reference_indices(n_total: int, n_ref: int) -> np.ndarray:
    """All indices, or a seeded sorted subset of n_ref of them."""
    if n_ref >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(0).permutation(n_total)[:n_ref])


def reference_features(net_key: str, run, source, data_config, n_ref: int,
                       batch_size: int) -> dict:
    """{'features' [n, F], 'logits' [n, K], 'mu', 'sigma'} of up to n_ref examples of
    `source` (all, or a seeded subset), computed once per process and cached."""
    from gan_jax.metrics import extract, fid

    key = (net_key, data_config.to_json_best_effort(sort_keys=True), n_ref)
    if key not in _REFERENCE_CACHE:
        idx = _reference_indices(len(source), n_ref)
        batches = (source.read(c, c.astype(np.uint64))["x"] for c in extract.chunks(idx, batch_size))
        features, logits = (np.concatenate(p) for p in zip(*extract.stream(run, batches)))
        mu, sigma = fid.statistics(features)
        _REFERENCE_CACHE[key] = {"features": features, "logits": logits, "mu": mu, "sigma": sigma}
    return _REFERENCE_CACHE[key]


def feature_metrics(reference: dict, fake_features, k: int = 3) -> dict:
    """Frechet distance and precision/recall/density/coverage (k) of fake features vs reference."""
    from gan_jax.metrics import fid, prdc

    fd = fid.frechet_distance(reference["mu"], reference["sigma"], *fid.statistics(fake_features),
                              method="eigh")
    return {"fd": fd, **prdc.prdc(reference["features"], fake_features, k=k)}


def digits_metrics(config, samples_fn, pipeline) -> dict:
    """FD-digits, IS-digits, class coverage and PRDC in the digits classifier's feature space."""
    from gan_jax.metrics import digits_net, extract, inception_score

    batch = config.eval.get("batch_size", 500)
    run = digits_net.runner(batch)
    real = reference_features("digits", run, pipeline.source, config.data,
                                 config.eval.get("num_real", 10000), batch)
    x = samples_fn(config.eval.get("num_samples", 2500))
    feats, logits = extract.apply_all(run, x, batch)
    out = feature_metrics(real, feats)
    return {"fd_digits": out.pop("fd"),
            "is_digits": inception_score.inception_score(logits)[0],
            "class_coverage": class_coverage(logits), **out}


def inception_metrics(config, samples_fn, pipeline) -> dict:
    """FID, IS, KID and PRDC on FID-InceptionV3 features (config.eval.inception_weights)."""
    from gan_jax.metrics import extract, inception, inception_score, kid

    batch = config.eval.get("batch_size", 500)
    path = config.eval.inception_weights
    run = inception.runner(path, batch)
    real = reference_features(f"inception:{path}", run, pipeline.source, config.data,
                                 config.eval.get("num_real", 10000), batch)
    x = samples_fn(config.eval.get("num_samples", 2500))
    feats, logits = extract.apply_all(run, x, batch)
    out = feature_metrics(real, feats)
    is_mean, is_std = inception_score.inception_score(logits)
    kid_mean, kid_std = kid.kernel_distance(real["features"], feats, config.eval.get("kid_subsets", 100))
    return {"fid": out.pop("fd"), "is": is_mean, "is_std": is_std, "kid": kid_mean,
            "kid_std": kid_std, **out}


def evaluate(config, samples_fn, pipeline) -> dict:
    """Scalars for the current generator. samples_fn(n) -> [n, ...] numpy samples."""
    name = config.data.name
    if name in ("ring", "grid"):
        src = pipeline.source
        x = samples_fn(config.eval.get("num_samples", 2500))
        return modes.mode_metrics(x, src.means, src.std)
    if hasattr(pipeline.source, "sample"):  # other sampled 2-D data: no image metrics
        return {}
    if config.eval.get("inception_weights", ""):
        return inception_metrics(config, samples_fn, pipeline)
    return digits_metrics(config, samples_fn, pipeline)
