"""tensorflow-datasets sources read by random access (no TensorFlow needed).

`tfds.data_source` reads prepared ArrayRecord datasets; nothing is downloaded at
run time. Prepare a dataset once on a machine with network:
`tfds build <name> --file_format=array_record` (or point data.tfds_dir at a copy).
"""
from __future__ import annotations

import numpy as np

from gan_jax.data.embedded import resize_images
from gan_jax.errors import UserError


def open_split(name: str, split: str, data_dir: str | None, field: str = "config.data.name"):
    """`tfds.data_source(name, split)` with an error that says how to prepare it."""
    import tensorflow_datasets as tfds

    try:
        return tfds.data_source(name, split=split, data_dir=data_dir or None,
                                download=False)
    except Exception as e:  # tfds raises several types for "not prepared"
        raise UserError(
            f"{field}='tfds:{name}' (split {split!r}) is not prepared locally "
            f"({type(e).__name__}: {_first_line(e)}). Prepare it once on a machine with "
            f"network and TensorFlow (`pip install tensorflow`; gan_jax does not install it): "
            f"`tfds build {name} --file_format=array_record`, then copy the data directory "
            f"here and set config.data.tfds_dir to it.") from None


def image_shape(name: str, data_config, field: str = "config.data.name") -> tuple:
    """[H, W, C] of `tfds:<name>` images from the dataset's metadata (no example is read)."""
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_config.get("tfds_dir", "") or None)
        h, w, c = builder.info.features[data_config.get("image_key", "image")].shape
    except Exception as e:
        raise UserError(f"{field}='tfds:{name}': no image metadata ({type(e).__name__}: "
                        f"{_first_line(e)}); check the name against `tfds.list_builders()` "
                        f"and config.data.image_key.") from None
    size = int(data_config.image_size)
    return (size, size, c) if size else (h, w, c)


def _first_line(error) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else ""


def to_float_images(images: np.ndarray, image_size: int) -> np.ndarray:
    """uint8 [N, H, W, C] -> float32 [N, size, size, C] in [-1, 1]."""
    x = resize_images(images, image_size) if image_size else images.astype(np.float32)
    return np.clip(x / 127.5 - 1.0, -1.0, 1.0)


class TfdsSource:
    """A tfds split as a random-access image source (image and optional label)."""

    def __init__(self, ds, image_key: str, label_key: str, image_size: int):
        self.ds = ds
        self.image_key = image_key
        self.label_key = label_key
        self.image_size = image_size

    def __len__(self):
        return len(self.ds)

    def read(self, indices, seeds=None):
        keys = [int(i) for i in indices]
        try:
            items = self.ds.__getitems__(keys)  # one batched ArrayRecord read
        except TypeError:  # sources without batched reads (e.g. tfds.testing mocks)
            items = [self.ds[k] for k in keys]
        images = np.stack([np.asarray(it[self.image_key]) for it in items])
        if images.ndim == 3:
            images = images[..., None]
        out = {"x": to_float_images(images, self.image_size)}
        if self.label_key and self.label_key in items[0]:
            out["label"] = np.asarray([it[self.label_key] for it in items], np.int32)
        return out


def build(name: str, data_config):
    """`tfds:<name>` -> TfdsSource of data.split, resized to data.image_size."""
    ds = open_split(name, data_config.get("split", "train"), data_config.get("tfds_dir", ""))
    return TfdsSource(ds, data_config.get("image_key", "image"),
                      data_config.get("label_key", "label"), data_config.image_size)
