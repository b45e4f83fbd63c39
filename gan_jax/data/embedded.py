"""Datasets that ship inside installed packages and need no network."""
from __future__ import annotations

import numpy as np
from PIL import Image


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of uint8 or float [N, H, W, C] images to [N, size, size, C] float32."""
    if images.shape[1] == size and images.shape[2] == size:
        return images.astype(np.float32)
    out = np.empty((images.shape[0], size, size, images.shape[3]), np.float32)
    for i, im in enumerate(images.astype(np.float32)):
        for c in range(im.shape[-1]):
            out[i, :, :, c] = np.asarray(
                Image.fromarray(im[:, :, c], mode="F").resize((size, size), Image.BILINEAR))
    return out


class ArraySource:
    """An in-memory labelled image set, preprocessed once, read by index."""

    def __init__(self, images: np.ndarray, labels: np.ndarray | None = None):
        self.images = images.astype(np.float32)
        self.labels = None if labels is None else labels.astype(np.int32)

    def __len__(self):
        return self.images.shape[0]

    @property
    def image_shape(self):
        return self.images.shape[1:]

    def read(self, indices, seeds=None):
        out = {"x": self.images[indices]}
        if self.labels is not None:
            out["label"] = self.labels[indices]
        return out


def load_digits_images(image_size: int = 32):
    """scikit-learn's 1797 8x8 digits as [N, size, size, 1] float32 in [-1, 1] and labels."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = d.images[..., None] / 16.0  # [N, 8, 8, 1] in [0, 1]
    images = np.clip(resize_images(images, image_size), 0.0, 1.0)
    return images * 2.0 - 1.0, d.target.astype(np.int32)


def digits(data_config):
    """Built-in `digits`: sklearn's digits upsampled bilinearly to data.image_size."""
    images, labels = load_digits_images(data_config.image_size)
    return ArraySource(images, labels)


DATASETS = {"digits": digits}
SHAPES = {"digits": lambda data_config: {"x": (data_config.image_size,) * 2 + (1,)}}
