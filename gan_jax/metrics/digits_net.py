"""An offline feature net for the embedded digits: a small CNN classifier shipped with the package.

No Inception weights can be downloaded here, so FD / IS / precision-recall on
the built-in `digits` data are measured in the feature space of this
classifier instead ("FD-digits", "IS-digits"; numbers are not comparable to
Inception FID/IS). Trained on scikit-learn's 8x8 digits upsampled to 32x32 by
`python experiments/train_digits_classifier.py` (seeded; its held-out
accuracy is stored in the weights file as `held_out_accuracy`).

Net: conv3x3(16)-swish-avgpool2 -> conv3x3(32)-swish-avgpool2 -> conv3x3(64)-swish
-> global average pool = features [N, 64] -> dense = logits [N, 10]. Swish rather
than ReLU so no feature unit is dead: the features' covariance stays full rank,
which Frechet distance needs.
Input: images [N, H, W, C] in [-1, 1]; C = 3 is averaged to grey; H, W != 32
are resized bilinearly to 32x32.
"""
from __future__ import annotations

import functools
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from gan_jax.errors import UserError
from gan_jax.metrics import extract

WEIGHTS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "assets",
                       "digits_classifier.npz")
IMAGE_SIZE = 32
NUM_CLASSES = 10
HELD_OUT_FRACTION = 0.2
SPLIT_SEED = 0


class DigitsClassifier(nn.Module):
    """images [N, H, W, 1|3] in [-1, 1] -> (features [N, 64], logits [N, 10])."""
    widths: tuple = (16, 32, 64)

    @nn.compact
    def __call__(self, images):
        x = jnp.asarray(images, jnp.float32)
        if x.shape[-1] != 1:
            x = jnp.mean(x, axis=-1, keepdims=True)
        if x.shape[1:3] != (IMAGE_SIZE, IMAGE_SIZE):
            x = jax.image.resize(x, (x.shape[0], IMAGE_SIZE, IMAGE_SIZE, 1), "bilinear")
        for i, w in enumerate(self.widths):
            x = nn.swish(nn.Conv(w, (3, 3), padding="SAME")(x))
            if i < len(self.widths) - 1:
                x = nn.avg_pool(x, (2, 2), (2, 2))
        features = jnp.mean(x, axis=(1, 2))
        return features, nn.Dense(NUM_CLASSES)(features)


def held_out_split(n: int):
    """(train indices, held-out indices): a seeded 80/20 split of the n digits."""
    perm = np.random.default_rng(SPLIT_SEED).permutation(n)
    k = int(round(n * HELD_OUT_FRACTION))
    return np.sort(perm[k:]), np.sort(perm[:k])


def save(path: str, params, **meta) -> None:
    """Writes params (flat 'params/...' keys) and scalar metadata to an .npz."""
    flat = {"params/" + k: np.asarray(v)
            for k, v in traverse_util.flatten_dict(params, sep="/").items()}
    with open(path, "wb") as f:
        np.savez_compressed(f, **flat, **{k: np.asarray(v) for k, v in meta.items()})


@functools.lru_cache(maxsize=None)
def load(path: str = WEIGHTS):
    """(module, variables) of the shipped classifier (weights read once per process)."""
    if not os.path.exists(path):
        raise UserError(f"digits classifier weights {path!r} are missing; make them with "
                         f"`python experiments/train_digits_classifier.py`.")
    # Concrete arrays even when first called under a trace (e.g. jax.eval_shape of DTN's
    # init in --mode=summary): the cache must never hold tracers.
    with np.load(path, allow_pickle=False) as f, jax.ensure_compile_time_eval():
        flat = {k[len("params/"):]: jnp.asarray(f[k]) for k in f.files
                if k.startswith("params/")}
    return DigitsClassifier(), {"params": traverse_util.unflatten_dict(flat, sep="/")}


def metadata(path: str = WEIGHTS) -> dict:
    """The scalars stored beside the weights (e.g. held_out_accuracy, seed, steps)."""
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k].item() for k in f.files if not k.startswith("params/")}


@functools.lru_cache(maxsize=None)
def runner(batch_size: int = 500):
    """The shipped classifier as an `extract.batched_apply` runner (compiled once per process)."""
    module, variables = load()
    return extract.batched_apply(module, variables, batch_size)


def features_and_logits(images, batch_size: int = 500):
    """(features [N, 64], logits [N, 10]) numpy float32 for images [N, H, W, 1|3] in [-1, 1].

    jit-compiled and pmapped over local devices in chunks of batch_size.
    """
    images = np.asarray(images, np.float32)
    if images.ndim != 4:
        raise UserError(f"images must be [N, H, W, C], got shape {images.shape}")
    return extract.apply_all(runner(batch_size), images, batch_size)
