"""Feature extraction for the metrics: jit-compiled, pmapped over local devices, batched, streaming.

A feature net is a Flax module whose `apply(variables, images)` returns a tuple
of per-image arrays (e.g. (features [N, F], logits [N, K])). `batched_apply`
maps it over the local devices with `jax.pmap`, padding every chunk to one
fixed global batch so it compiles once per image shape; `stream` runs it over
an iterable of host batches, dispatching batch i+1 before fetching batch i, so
only a couple of batches are ever in memory.
"""
from __future__ import annotations

from typing import Callable, Iterable, Iterator, Sequence, Tuple

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from gan_jax.errors import UserError

Run = Callable[[np.ndarray], Tuple[Callable[[], tuple], int]]


def batched_apply(module, variables, batch_size: int, devices: Sequence | None = None) -> Run:
    """run(images [n <= batch_size, ...]) -> (fetch, n); fetch() -> tuple of numpy [n, ...].

    The variables are replicated onto the devices once; each call pads the
    chunk to batch_size rounded up to a multiple of the device count and
    splits it as [devices, per_device, ...]. The computation is dispatched
    asynchronously; `fetch` waits for it and drops the padding.
    """
    devices = list(devices or jax.local_devices())
    d = len(devices)
    per_device = -(-batch_size // d)
    total = per_device * d
    replicated = NamedSharding(Mesh(np.array(devices), ("devices",)), PartitionSpec())
    variables = jax.device_put(variables, replicated)
    mapped = jax.pmap(lambda v, x: module.apply(v, x), in_axes=(None, 0), devices=devices)

    def run(images):
        images = np.asarray(images, np.float32)
        n = images.shape[0]
        if n > total:
            raise ValueError(f"a chunk of {n} images exceeds the batch size {total}")
        if n < total:
            pad = np.zeros((total - n,) + images.shape[1:], np.float32)
            images = np.concatenate([images, pad])
        out = mapped(variables, images.reshape((d, per_device) + images.shape[1:]))

        def fetch():
            return tuple(np.asarray(o).reshape((total,) + o.shape[2:])[:n] for o in out)
        return fetch, n
    return run


def chunks(images: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    """Consecutive [<= batch_size, ...] slices of an in-memory array."""
    for i in range(0, len(images), batch_size):
        yield images[i:i + batch_size]


def stream(run: Run, batches: Iterable[np.ndarray]) -> Iterator[tuple]:
    """Outputs of `run` for each batch, in order; the next batch is dispatched before a fetch."""
    pending = None
    for batch in batches:
        fetch, _ = run(batch)
        if pending is not None:
            yield pending()
        pending = fetch
    if pending is not None:
        yield pending()


def apply_all(run: Run, images: np.ndarray, batch_size: int) -> tuple:
    """Outputs of `run` over an in-memory array, concatenated: tuple of [N, ...]."""
    outs = list(stream(run, chunks(images, batch_size)))
    if not outs:
        raise UserError("no images to extract features from (empty input)")
    return tuple(np.concatenate(parts) for parts in zip(*outs))
