"""Translation quality against a known transform: per-pixel L1, PSNR, FD-digits.

When domain B is a known function T of domain A (the built-in digits domains),
G_AB(a) can be scored against T(a) pixel by pixel, and G_BA(b) against the a it
came from. The identity mapping (output = input) is the baseline every learned
translator must beat. Images are [N, H, W, C] in [-1, 1].

  L1   = mean |pred - target| over all pixels and channels (in [-1, 1] units, 0..2)
  PSNR = mean over images of 10 log10(1 / MSE_i), MSE_i on images mapped to [0, 1]
         (so peak 1; identical images are capped at MAX_PSNR dB)
  FD-digits = Frechet distance of the shipped digits classifier's features
         (`metrics.digits_net`) of the predictions vs the real target images.
"""
from __future__ import annotations

import numpy as np

MAX_PSNR = 100.0


def l1(pred, target) -> float:
    """Mean absolute per-pixel error (images in [-1, 1])."""
    return float(np.mean(np.abs(np.asarray(pred, np.float64) - np.asarray(target, np.float64))))


def psnr(pred, target) -> float:
    """Mean per-image PSNR in dB, images mapped from [-1, 1] to [0, 1] (peak 1)."""
    diff = (np.asarray(pred, np.float64) - np.asarray(target, np.float64)) / 2.0
    mse = np.mean(np.square(diff).reshape(diff.shape[0], -1), axis=1)
    return float(np.mean(np.minimum(10.0 * np.log10(1.0 / np.maximum(mse, 1e-30)), MAX_PSNR)))


def fd_digits(x, y) -> float:
    """Frechet distance between digits-classifier features of image sets x and y."""
    from gan_jax.metrics import digits_net, fid

    fx, _ = digits_net.features_and_logits(x)
    fy, _ = digits_net.features_and_logits(y)
    return float(fid.frechet_distance(*fid.statistics(fx), *fid.statistics(fy)))


def report(direction: str, source, pred, target, with_fd: bool = True) -> dict:
    """Scores of one direction ('ab' or 'ba') and of the identity baseline (pred = source).

    Keys: l1_<d>, psnr_<d>, fd_digits_<d>, identity_l1_<d>, identity_psnr_<d>,
    identity_fd_digits_<d> (FD only when with_fd).
    """
    out = {f"l1_{direction}": l1(pred, target), f"psnr_{direction}": psnr(pred, target),
           f"identity_l1_{direction}": l1(source, target),
           f"identity_psnr_{direction}": psnr(source, target)}
    if with_fd:
        out[f"fd_digits_{direction}"] = fd_digits(pred, target)
        out[f"identity_fd_digits_{direction}"] = fd_digits(source, target)
    return out
