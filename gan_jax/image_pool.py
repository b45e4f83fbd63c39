"""History of generated images fed to the discriminator (Shrivastava 2017; CycleGAN, Zhu 2017).

A pure, checkpointable replacement for the reference `ImagePool`: the pool is a
pytree {'images': [size, H, W, C], 'count': int32} that lives in GANState.extra.
`query` walks the images of the GLOBAL batch in order, as the reference walks its
batch: while fewer than `size` images are stored, each new image is stored and
returned; once full, with probability 1/2 a uniformly chosen stored image is
returned and replaced by the new one, otherwise the new image is returned.

Device-aware: under pmap every device gathers all devices' images and applies
the same update with the same key, so the pool copies stay identical (and the
state unstacked) and the result does not depend on the number of devices; each
device then keeps its own slice of the returned batch.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from gan_jax import parallel

DEFAULT_SIZE = 50


def init(size: int, image_shape, dtype=jnp.float32) -> dict:
    """An empty pool holding up to `size` images of `image_shape` ([H, W, C])."""
    return {"images": jnp.zeros((size,) + tuple(image_shape), dtype),
            "count": jnp.zeros((), jnp.int32)}


def _global_batch(images):
    """All devices' images concatenated in device order, and this device's offset."""
    n, i = parallel.axis_size_and_index()
    if n == 1:
        return images, 0
    return jax.lax.all_gather(images, parallel.AXIS, tiled=True), i * images.shape[0]


def _query_one(pool_images, count, image, key):
    """The reference's per-image rule; returns (pool_images, count, returned image)."""
    size = pool_images.shape[0]
    k_coin, k_slot = jax.random.split(key)
    full = count >= size
    swap = full & (jax.random.uniform(k_coin) > 0.5)
    slot = jnp.where(full, jax.random.randint(k_slot, (), 0, size), count)
    old = pool_images[slot]
    stored = jnp.where(full & ~swap, old, image)
    pool_images = jax.lax.dynamic_update_index_in_dim(pool_images, stored, slot, 0)
    return pool_images, jnp.minimum(count + 1, size), jnp.where(swap, old, image)


def query(pool: dict, images, key):
    """(images for D [B, ...], new pool) for this device's generated `images` [B, ...].

    Deterministic given `key` and the global batch; a pool of size 0 returns `images`.
    """
    if pool["images"].shape[0] == 0:
        return images, pool
    everything, offset = _global_batch(images)
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(everything.shape[0]))

    def step(carry, inputs):
        pool_images, count = carry
        pool_images, count, out = _query_one(pool_images, count, *inputs)
        return (pool_images, count), out

    (pool_images, count), out = jax.lax.scan(
        step, (pool["images"], pool["count"]), (everything.astype(pool["images"].dtype), keys))
    if out.shape[0] != images.shape[0]:
        out = jax.lax.dynamic_slice_in_dim(out, offset, images.shape[0], axis=0)
    return out, {"images": pool_images, "count": count}
