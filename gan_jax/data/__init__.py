"""Input pipelines: name -> source; step -> device-sharded numpy batch.

Every source is random access (or sampled from a seeded generator), so the batch
of step `s` is a pure function of (seed, s): resuming at step s replays exactly,
and the data position needs no state beyond the step number. Batches come shaped
`[local_devices, per_device, ...]`; images are float32 NHWC in [-1, 1].
"""
from __future__ import annotations

import importlib
import pkgutil
import queue
import threading
from typing import Dict, Iterator

import numpy as np

from gan_jax.data import folder, tfds_source, translation
from gan_jax.errors import UserError

Batch = Dict[str, np.ndarray]


def _discover(table: str):
    """Built-in names: the `table` dict {name: fn(data_config)} of each data module
    (DATASETS: the source builders; SHAPES: per-example shapes from the config alone)."""
    found = {}
    for m in pkgutil.iter_modules(__path__):
        found.update(getattr(importlib.import_module(f"{__name__}.{m.name}"), table, {}))
    return found


BUILTIN = _discover("DATASETS")
BUILTIN_SHAPES = _discover("SHAPES")
PREFIX_SHAPES = {
    "tfds:": lambda name, dc: {"x": tfds_source.image_shape(name, dc)},
    "folder:": lambda name, dc: folder.shapes(dc),
    "tfds_pair:": lambda name, dc: translation.pair_shapes(dc),
    "folder_pair:": lambda name, dc: translation.pair_shapes(dc),
}
PREFIXES = {
    "tfds:": tfds_source.build,                    # one tfds image split
    "folder:": folder.build,                       # one folder of images
    "tfds_pair:": translation.build_tfds_pair,     # unpaired domains, e.g. cycle_gan/horse2zebra
    "folder_pair:": translation.build_folder_pair,  # <root>/trainA,trainB or 'dirA,dirB'
}


def build_source(data_config):
    """Returns the source named by `config.data.name`."""
    name = data_config.name
    for prefix, builder in PREFIXES.items():
        if name.startswith(prefix):
            return builder(name[len(prefix):], data_config)
    if name not in BUILTIN:
        raise UserError(
            f"config.data.name={name!r} is unknown; choose one of: "
            f"{', '.join(sorted(BUILTIN))}, or a prefixed name: "
            f"{', '.join(p + '<...>' for p in PREFIXES)}.")
    return BUILTIN[name](data_config)


def example_shapes(data_config) -> dict:
    """{key: per-example shape} of `config.data`'s batches, from the config alone: no
    example is read (`--mode=summary` builds the nets on zeros of these shapes)."""
    name = data_config.name
    for prefix, shapes in PREFIX_SHAPES.items():
        if name.startswith(prefix):
            return shapes(name[len(prefix):], data_config)
    if name not in BUILTIN_SHAPES:
        build_source(data_config)  # the unknown-name error
    return BUILTIN_SHAPES[name](data_config)


def _example_seeds(seed: int, positions: np.ndarray) -> np.ndarray:
    """One independent 64-bit seed per global example position."""
    ss = np.random.SeedSequence([seed, 0x5EED])
    base = ss.generate_state(2, dtype=np.uint64)
    # splitmix64 of (position ^ base) gives well-mixed, device-count-free seeds.
    z = (positions.astype(np.uint64) + base[0]) * np.uint64(0x9E3779B97F4A7C15)
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= (z >> np.uint64(27)) ^ base[1]
    return z


class Pipeline:
    """Deterministic batches of one source, sliced for this process and its devices.

    `batch(step)` holds this process's slice of the global batch of `step`:
    positions `step*B .. step*B+B-1` of an endless stream that walks a fresh
    seeded permutation of the dataset each epoch (finite sources), or that is
    drawn from a generator seeded by (seed, step) (sampled sources).
    """

    def __init__(self, source, batch_size: int, seed: int, local_devices: int,
                 process_index: int = 0, process_count: int = 1):
        if batch_size % (local_devices * process_count):
            raise UserError(
                f"config.batch_size={batch_size} is not divisible by the number of devices "
                f"({local_devices * process_count}); use a multiple of it.")
        self.source = source
        self.batch_size = batch_size
        self.seed = seed
        self.local_devices = local_devices
        self.process_index = process_index
        self.local_batch = batch_size // process_count
        if self.local_batch // local_devices == 0:
            raise UserError(f"config.batch_size={batch_size} gives 0 examples per device.")

    def _local_positions(self, step: int) -> np.ndarray:
        start = step * self.batch_size + self.process_index * self.local_batch
        return np.arange(start, start + self.local_batch, dtype=np.int64)

    def global_batch_indices(self, step: int) -> np.ndarray:
        """Dataset indices of this process's slice of step `step` (finite sources)."""
        pos = self._local_positions(step)
        n = len(self.source)
        epochs = pos // n
        out = np.empty_like(pos)
        for e in np.unique(epochs):
            perm = np.random.default_rng([self.seed, int(e)]).permutation(n)
            sel = epochs == e
            out[sel] = perm[pos[sel] % n]
        return out

    def host_batch(self, step: int) -> Batch:
        """This process's slice of the global batch, shaped [local_batch, ...]."""
        pos = self._local_positions(step)
        if hasattr(self.source, "sample"):
            # Sampled sources draw the whole global batch then slice, so values at
            # each position do not depend on how many processes read.
            rng = np.random.default_rng([self.seed, step])
            full = self.source.sample(rng, self.batch_size)
            lo = self.process_index * self.local_batch
            return {k: v[lo:lo + self.local_batch] for k, v in full.items()}
        return self.source.read(self.global_batch_indices(step),
                                _example_seeds(self.seed, pos))

    def batch(self, step: int) -> Batch:
        """This process's batch for `step`, shaped [local_devices, per_device, ...]."""
        b = self.host_batch(step)
        d = self.local_devices
        return {k: v.reshape((d, v.shape[0] // d) + v.shape[1:]) for k, v in b.items()}

    def iterate(self, start_step: int, prefetch: int = 2) -> Iterator[Batch]:
        """Batches from `start_step` on, prepared `prefetch` ahead in a thread."""
        q: queue.Queue = queue.Queue(maxsize=prefetch)
        stop = threading.Event()

        def work():
            step = start_step
            try:
                while not stop.is_set():
                    item = self.batch(step)
                    while not stop.is_set():
                        try:
                            q.put(item, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    step += 1
            except BaseException as e:  # surfaced in the consumer
                q.put(e)

        t = threading.Thread(target=work, daemon=True)
        t.start()
        try:
            while True:
                item = q.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()


def build(config, local_devices: int, process_index: int = 0, process_count: int = 1,
          examples_per_step: int | None = None) -> Pipeline:
    """The pipeline of `config.data` at `config.batch_size` (x examples_per_step)."""
    source = build_source(config.data)
    return Pipeline(source, examples_per_step or config.batch_size, config.seed,
                    local_devices, process_index, process_count)
