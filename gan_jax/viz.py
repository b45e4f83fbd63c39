"""Image grids and 2-D scatter plots written as PNG (PIL only, no matplotlib)."""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw


def to_uint8(images: np.ndarray) -> np.ndarray:
    """float images in [-1, 1] -> uint8 in [0, 255]."""
    return np.clip((np.asarray(images, np.float32) + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)


def grid(images: np.ndarray, nrow: int | None = None, pad: int = 2) -> np.ndarray:
    """[N, H, W, C] images in [-1, 1] -> one uint8 [rows*(H+pad)+pad, ..., C] grid."""
    images = to_uint8(images)
    n, h, w, c = images.shape
    nrow = nrow or int(math.ceil(math.sqrt(n)))
    ncol = int(math.ceil(n / nrow))
    out = np.full((ncol * (h + pad) + pad, nrow * (w + pad) + pad, c), 255, np.uint8)
    for i in range(n):
        r, k = divmod(i, nrow)
        out[pad + r * (h + pad):pad + r * (h + pad) + h, pad + k * (w + pad):pad + k * (w + pad) + w] = images[i]
    return out


def scatter(points: np.ndarray, reference: np.ndarray | None = None, size: int = 512,
            extent: float | None = None) -> np.ndarray:
    """2-D points as a uint8 RGB image: samples in blue, `reference` (e.g. modes) in red."""
    points = np.asarray(points, np.float32)
    ref = None if reference is None else np.asarray(reference, np.float32)
    if extent is None:
        allp = points if ref is None else np.concatenate([points, ref])
        extent = float(np.nanmax(np.abs(allp[np.isfinite(allp).all(1)]), initial=1.0)) * 1.15
    im = Image.new("RGB", (size, size), "white")
    dr = ImageDraw.Draw(im)
    to_px = lambda p: ((p[0] / extent + 1) * size / 2, (1 - p[1] / extent) * size / 2)
    dr.line([(size / 2, 0), (size / 2, size)], fill=(220, 220, 220))
    dr.line([(0, size / 2), (size, size / 2)], fill=(220, 220, 220))
    for p in points[np.isfinite(points).all(1)]:
        x, y = to_px(p)
        dr.ellipse([x - 1.5, y - 1.5, x + 1.5, y + 1.5], fill=(30, 80, 200))
    if ref is not None:
        for p in ref:
            x, y = to_px(p)
            dr.ellipse([x - 4, y - 4, x + 4, y + 4], outline=(220, 30, 30), width=2)
    return np.asarray(im)


def save_png(path: str, image: np.ndarray) -> None:
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    Image.fromarray(image).save(path)


def render(samples: np.ndarray, reference: np.ndarray | None = None, nrow: int | None = None):
    """Samples as a picture: an image grid for [N, H, W, C], a scatter plot for [N, 2]."""
    samples = np.asarray(samples)
    if samples.ndim == 2:
        return scatter(samples, reference)
    return grid(samples, nrow)
