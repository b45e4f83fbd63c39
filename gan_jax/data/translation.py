"""Image-to-image translation data: two domains A and B, unpaired (CycleGAN, DTN) or paired (pix2pix).

Built-in, offline (the embedded sklearn digits at data.image_size, as RGB):
  `digits_domains`  unpaired: A = grey digits (white ink on black), B = T(A') for a
                    DISJOINT set of digits A', so no B image is the translation of any A image.
  `digits_pairs`    paired: (a, T(a)) for the same training digits.
The known transform T (`digits_transform`) thickens the strokes (3x3 grey dilation,
+1 pixel on each side), inverts them and tints: ink -> dark blue INK_RGB, paper ->
cream PAPER_RGB. Splits of the 1797 digits by a fixed permutation: 297 held out for
evaluation (`heldout()`: a and T(a)), then 750 for A and 750 for B (pairs use all 1500).

Real data (register these builders in data/__init__.py PREFIXES):
  `build_tfds_pair('cycle_gan/horse2zebra', cfg)`  tfds splits trainA/trainB (testA/testB
                    held out), features 'image' (and 'label' A=0/B=1).
  `build_folder_pair('/data/horse2zebra', cfg)`     the CycleGAN layout <root>/trainA,
                    <root>/trainB (<root>/testA, testB held out when present), or two
                    folders 'dirA,dirB'.
They apply the paper's augmentation per example seed: resize to data.load_size
(286, bicubic), random data.image_size crop (256), horizontal flip with p = 1/2
(data.flip); A's partner in B is drawn uniformly at random, as in the reference
`UnalignedDataset`. Batches: {'a': [B, H, W, C], 'b': [B, H, W, C]} in [-1, 1].
"""
from __future__ import annotations

import os

import numpy as np
from PIL import Image
from scipy import ndimage

from gan_jax.data import folder, tfds_source
from gan_jax.data.embedded import load_digits_images
from gan_jax.errors import UserError

INK_RGB = np.array([0.10, 0.15, 0.45], np.float32)
PAPER_RGB = np.array([1.00, 0.90, 0.65], np.float32)
NUM_HELDOUT = 297
SPLIT_SEED = 20170330  # the CycleGAN arXiv date; fixes which digits go where


def digits_transform(a: np.ndarray) -> np.ndarray:
    """T: grey digits [N, H, W, C] in [-1, 1] (ink bright) -> [N, H, W, 3] in [-1, 1].

    ink = (a + 1) / 2 of the first channel; t = 3x3 max filter of ink (thicker strokes);
    T(a) = 2 (t INK_RGB + (1 - t) PAPER_RGB) - 1 (inverted: dark ink on light paper).
    """
    ink = (np.asarray(a, np.float32)[..., :1] + 1.0) / 2.0
    t = ndimage.grey_dilation(ink, size=(1, 3, 3, 1))
    return (t * INK_RGB + (1.0 - t) * PAPER_RGB) * 2.0 - 1.0


def digits_splits(image_size: int = 32):
    """{'heldout', 'a', 'b'}: disjoint grey RGB digit sets [N, size, size, 3] and labels."""
    images, labels = load_digits_images(image_size)
    images = np.repeat(images, 3, axis=-1)
    perm = np.random.default_rng(SPLIT_SEED).permutation(len(images))
    rest = perm[NUM_HELDOUT:]
    parts = {"heldout": perm[:NUM_HELDOUT], "a": rest[:len(rest) // 2], "b": rest[len(rest) // 2:]}
    return {k: (images[v], labels[v]) for k, v in parts.items()}


class DigitsDomains:
    """Unpaired A (grey digits) and B = T(other digits); index i -> a_i, b random by seed."""

    known_transform = True

    def __init__(self, image_size: int = 32):
        s = digits_splits(image_size)
        self.a, self.label_a = s["a"]
        self.b, self.label_b = digits_transform(s["b"][0]), s["b"][1]
        self.heldout_a = s["heldout"][0]
        self.heldout_b = digits_transform(self.heldout_a)

    def __len__(self):
        return max(len(self.a), len(self.b))

    def read(self, indices, seeds):
        j = np.asarray(seeds, np.uint64) % np.uint64(len(self.b))
        return {"a": self.a[np.asarray(indices) % len(self.a)], "b": self.b[j.astype(np.int64)]}

    def heldout(self, n: int | None = None):
        """Held-out digits a and their true translations T(a) (paired), [n, H, W, 3]."""
        return {"a": self.heldout_a[:n], "b": self.heldout_b[:n]}


class DigitsPairs(DigitsDomains):
    """Paired (a, T(a)) on the 1500 training digits (A and B sets together)."""

    def __init__(self, image_size: int = 32):
        super().__init__(image_size)
        s = digits_splits(image_size)
        self.a = np.concatenate([s["a"][0], s["b"][0]])
        self.b = digits_transform(self.a)

    def __len__(self):
        return len(self.a)

    def read(self, indices, seeds=None):
        return {"a": self.a[indices], "b": self.b[indices]}


# ----------------------------------------------------------------------------
# Real image pairs: augmentation and sources.

def augment(image: Image.Image, rng: np.random.Generator, load_size: int, crop: int,
            flip: bool) -> np.ndarray:
    """Resize to load_size^2 (bicubic), random crop^2, random h-flip; float32 [-1, 1]."""
    image = image.convert("RGB").resize((load_size, load_size), Image.BICUBIC)
    x = np.asarray(image, np.float32)
    top, left = rng.integers(0, load_size - crop + 1, size=2)
    x = x[top:top + crop, left:left + crop]
    if flip and rng.random() < 0.5:
        x = x[:, ::-1]
    return x / 127.5 - 1.0


def center(image: Image.Image, size: int) -> np.ndarray:
    """Evaluation view: resize straight to size^2 (bicubic), no crop or flip."""
    return np.asarray(image.convert("RGB").resize((size, size), Image.BICUBIC),
                      np.float32) / 127.5 - 1.0


class UnpairedImages:
    """Two image collections, each a callable i -> PIL image with a length.

    `read` gives a_{i mod |A|} and b_j with j uniform from the example's seed, each
    augmented with its own draws (the reference's unaligned loader).
    """

    known_transform = False

    def __init__(self, load_a, len_a, load_b, len_b, data_config, heldout_a=None,
                 heldout_b=None):
        self.load_a, self.len_a, self.load_b, self.len_b = load_a, len_a, load_b, len_b
        self.crop = int(data_config.image_size)
        self.load_size = int(data_config.get("load_size", 0)) or self.crop
        self.flip = bool(data_config.get("flip", True))
        self.heldout_sources = (heldout_a, heldout_b)
        if self.load_size < self.crop:
            raise UserError(f"config.data.load_size={self.load_size} is smaller than "
                             f"config.data.image_size={self.crop}; use load_size >= image_size.")

    def __len__(self):
        return max(self.len_a, self.len_b)

    def read(self, indices, seeds):
        a, b = [], []
        for i, seed in zip(indices, seeds):
            rng = np.random.default_rng(int(seed))
            a.append(augment(self.load_a(int(i) % self.len_a), rng, self.load_size, self.crop,
                             self.flip))
            j = int(rng.integers(self.len_b))
            b.append(augment(self.load_b(j), rng, self.load_size, self.crop, self.flip))
        return {"a": np.stack(a), "b": np.stack(b)}

    def heldout(self, n: int | None = None):
        """The first n held-out images of each domain (unpaired), or the training images."""
        out = {}
        for key, held, load, size in (("a", self.heldout_sources[0], self.load_a, self.len_a),
                                      ("b", self.heldout_sources[1], self.load_b, self.len_b)):
            load, size = held if held else (load, size)
            out[key] = np.stack([center(load(i), self.crop) for i in range(min(n or size, size))])
        return out


def _tfds_images(name, split, data_dir):
    ds = tfds_source.open_split(name, split, data_dir, field="config.data.name")
    return (lambda i: Image.fromarray(np.asarray(ds[i]["image"]))), len(ds)


def build_tfds_pair(name: str, data_config):
    """tfds `name` (e.g. 'cycle_gan/horse2zebra') as unpaired domains: trainA/trainB."""
    data_dir = data_config.get("tfds_dir", "")
    split = data_config.get("split", "train")
    if split not in ("train", "test"):
        raise UserError(f"config.data.split={split!r} is not a CycleGAN split; use 'train' "
                         f"(trainA/trainB) or 'test' (testA/testB).")
    load_a, len_a = _tfds_images(name, f"{split}A", data_dir)
    load_b, len_b = _tfds_images(name, f"{split}B", data_dir)
    held = [_tfds_images(name, f"test{d}", data_dir) for d in "AB"]
    return UnpairedImages(load_a, len_a, load_b, len_b, data_config, *held)


def _folder_images(path):
    files = folder.list_images(path)
    return (lambda i: folder.open_image(files[i])), len(files)


def build_folder_pair(path: str, data_config):
    """'<root>' with trainA/ and trainB/ (testA/, testB/ optional), or 'dirA,dirB'."""
    if "," in path:
        dir_a, dir_b = path.split(",", 1)
        tests = (None, None)
    else:
        dir_a, dir_b = os.path.join(path, "trainA"), os.path.join(path, "trainB")
        tests = tuple(os.path.join(path, f"test{d}") for d in "AB")
        tests = tests if all(os.path.isdir(t) for t in tests) else (None, None)
    held = [_folder_images(t) if t else None for t in tests]
    return UnpairedImages(*_folder_images(dir_a), *_folder_images(dir_b), data_config, *held)


DATASETS = {
    "digits_domains": lambda data_config: DigitsDomains(data_config.image_size),
    "digits_pairs": lambda data_config: DigitsPairs(data_config.image_size),
}


def pair_shapes(data_config) -> dict:
    """Per-example shapes of a translation batch: RGB images a and b at data.image_size."""
    shape = (int(data_config.image_size),) * 2 + (3,)
    return {"a": shape, "b": shape}


SHAPES = {name: pair_shapes for name in DATASETS}
