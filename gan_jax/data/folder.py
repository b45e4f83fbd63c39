"""Users' own images: `folder:/path` reads PNG/JPEG files found under a directory."""
from __future__ import annotations

import os

import numpy as np
from PIL import Image

from gan_jax.errors import UserError

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def list_images(path: str, field: str = "config.data.name"):
    """Sorted image files under `path`; errors name the field when missing or empty."""
    if not os.path.isdir(path):
        raise UserError(f"{field}: image folder {path!r} does not exist; "
                         f"give an existing directory of PNG/JPEG files.")
    files = sorted(
        os.path.join(root, f) for root, _, names in os.walk(path) for f in names
        if f.lower().endswith(EXTENSIONS))
    if not files:
        raise UserError(f"{field}: image folder {path!r} holds no images "
                         f"(looked for {', '.join(EXTENSIONS)}).")
    return files


def open_image(path: str, field: str = "config.data.name") -> Image.Image:
    """PIL's image at `path`, fully read; a file that is not a readable image is a UserError."""
    try:
        with Image.open(path) as im:
            im.load()
            return im.copy()
    except (OSError, SyntaxError, ValueError) as e:
        raise UserError(f"{field}: {path!r} is not a readable image ({type(e).__name__}: "
                        f"{e}); remove or replace the file.") from None


def load_image(path: str, size: int, channels: int = 3) -> np.ndarray:
    """Center-crops to a square, resizes to size x size; float32 [size, size, C] in [-1, 1]."""
    with open_image(path) as im:
        im = im.convert("RGB" if channels == 3 else "L")
        w, h = im.size
        s = min(w, h)
        im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
        im = im.resize((size, size), Image.BILINEAR)
        x = np.asarray(im, np.float32)
    if x.ndim == 2:
        x = x[..., None]
    return x / 127.5 - 1.0


class FolderSource:
    def __init__(self, files, image_size: int, channels: int = 3):
        self.files = files
        self.image_size = image_size
        self.channels = channels

    def __len__(self):
        return len(self.files)

    def read(self, indices, seeds=None):
        return {"x": np.stack([load_image(self.files[i], self.image_size, self.channels)
                               for i in indices])}


def shapes(data_config) -> dict:
    """Per-example shape of `folder:` batches: data.image_size square, data.channels."""
    return {"x": (int(data_config.image_size),) * 2 + (int(data_config.get("channels", 3)),)}


def build(path: str, data_config):
    return FolderSource(list_images(path), data_config.image_size,
                        data_config.get("channels", 3))
