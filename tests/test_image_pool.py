"""The history image pool: the reference's fill-then-half-swap rule, determinism, device
independence and checkpoint/restore. Images are constant maps carrying an integer id, so
each returned image can be traced back to the query that produced it."""
import collections

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax import checkpoint, image_pool
from gan_jax.state import GANState
from tests.helpers import run_python

SHAPE = (2, 2, 1)


def ids_to_images(ids):
    return jnp.asarray(np.asarray(ids, np.float32)[:, None, None, None] * np.ones(SHAPE, np.float32))


def image_ids(images):
    """The id each constant image carries, compared exactly (no casts, no rounding)."""
    images = np.asarray(images)
    assert (images == images[:, :1, :1, :1]).all(), "an image is no longer constant"
    return images[:, 0, 0, 0].tolist()


def run_queries(pool, batches, key):
    query = jax.jit(image_pool.query)
    outs = []
    for step, ids in enumerate(batches):
        out, pool = query(pool, ids_to_images(ids), jax.random.fold_in(key, step))
        outs.append(image_ids(out))
    return outs, pool


def test_returns_the_current_images_until_the_pool_is_full():
    pool = image_pool.init(5, SHAPE)
    outs, pool = run_queries(pool, [[1, 2], [3, 4], [5]], jax.random.PRNGKey(0))
    assert outs == [[1, 2], [3, 4], [5]]
    assert int(pool["count"]) == 5
    assert sorted(image_ids(pool["images"])) == [1, 2, 3, 4, 5]


def test_full_pool_swaps_half_the_time_and_conserves_images():
    """Once full, each image is returned with p = 1/2, else a stored one that it replaces."""
    size, key = 10, jax.random.PRNGKey(1)
    pool = image_pool.init(size, SHAPE)
    batches = [list(range(1 + 4 * s, 5 + 4 * s)) for s in range(250)]  # ids 1..1000
    outs, pool = run_queries(pool, batches, key)
    stored = list(range(1, size + 1))
    swaps, slots = 0, collections.Counter()
    # Replay the reference rule on ids: a returned id that is not the query's own
    # image must be one held in the pool at that moment, and takes its place.
    for ids, out in zip(batches, outs):
        for new, got in zip(ids, out):
            if new <= size:
                assert got == new
                continue
            if got != new:
                assert got in stored, (new, got)
                slots[stored.index(got)] += 1
                stored[stored.index(got)] = new
                swaps += 1
    assert sorted(stored) == sorted(image_ids(pool["images"]))
    n = 1000 - size
    assert abs(swaps - n / 2) < 4 * np.sqrt(n / 4), swaps  # binomial(990, 1/2): 4 sigma
    assert set(slots) == set(range(size))  # every slot gets replaced


def test_every_draw_follows_the_reference_rule_replayed_on_the_same_keys():
    """An independent replay of ImagePool.query: for each image of the batch, a coin
    uniform(k_coin) > 1/2 decides the swap and randint(k_slot, 0, size) the slot, on the
    keys the pool derives (fold_in of the query key by the image's index in the batch).
    Every returned image and the final pool must match, so a coin threshold other than
    1/2, a kept old image or a wrong slot fails on the first draw that differs."""
    size, key = 4, jax.random.PRNGKey(11)
    batches = [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12], [13, 14, 15], [16, 17, 18]]
    outs, pool = run_queries(image_pool.init(size, SHAPE), batches, key)
    stored, swaps = [], 0
    for step, (ids, out) in enumerate(zip(batches, outs)):
        want = []
        for i, new in enumerate(ids):
            k_coin, k_slot = jax.random.split(jax.random.fold_in(jax.random.fold_in(key, step), i))
            if len(stored) < size:
                stored.append(new)
                want.append(new)
            elif float(jax.random.uniform(k_coin)) > 0.5:
                slot = int(jax.random.randint(k_slot, (), 0, size))
                want.append(stored[slot])
                stored[slot] = new
                swaps += 1
            else:
                want.append(new)
        assert out == want, (step, out, want)
    assert image_ids(pool["images"]) == stored
    assert 0 < swaps < len(sum(batches, [])) - size  # both branches ran


def test_reproducible_under_a_fixed_key():
    batches = [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]]
    a, pa = run_queries(image_pool.init(4, SHAPE), batches, jax.random.PRNGKey(3))
    b, pb = run_queries(image_pool.init(4, SHAPE), batches, jax.random.PRNGKey(3))
    c, _ = run_queries(image_pool.init(4, SHAPE), batches * 8, jax.random.PRNGKey(4))
    assert a == b
    np.testing.assert_array_equal(pa["images"], pb["images"])
    d, _ = run_queries(image_pool.init(4, SHAPE), batches * 8, jax.random.PRNGKey(3))
    assert c != d


def test_size_zero_returns_the_images():
    out, _ = image_pool.query(image_pool.init(0, SHAPE), ids_to_images([3, 4]),
                              jax.random.PRNGKey(0))
    assert image_ids(out) == [3, 4]


def test_survives_checkpoint_and_restore(tmp_path):
    pool = image_pool.init(6, SHAPE)
    _, pool = run_queries(pool, [[1, 2, 3, 4], [5, 6, 7, 8]], jax.random.PRNGKey(5))
    tx = optax.sgd(0.1)
    state = GANState.create(rng=jax.random.PRNGKey(0), g_params={"w": jnp.ones(2)},
                            d_params={"w": jnp.ones(2)}, g_tx=tx, d_tx=tx, extra={"pool_b": pool})
    ckpt = checkpoint.Checkpointer(str(tmp_path), async_save=False)
    ckpt.save(2, state)
    blank = state.replace(extra={"pool_b": image_pool.init(6, SHAPE)})
    restored, _, step = ckpt.restore_latest(blank)
    ckpt.close()
    assert step == 2
    later = [[9, 10, 11], [12, 13, 14]]
    want, want_pool = run_queries(pool, later, jax.random.PRNGKey(6))
    got, got_pool = run_queries(restored.extra["pool_b"], later, jax.random.PRNGKey(6))
    assert got == want
    np.testing.assert_array_equal(got_pool["images"], want_pool["images"])


def test_two_devices_give_the_one_device_result():
    """Under pmap each device sends its slice; the pool and the global result match 1 device."""
    code = """
import jax, jax.numpy as jnp, numpy as np
from gan_jax import image_pool, parallel
assert jax.local_device_count() == 2
ids = np.arange(1, 25, dtype=np.float32).reshape(6, 4)
step = jax.pmap(lambda pool, x: image_pool.query(pool, x, jax.random.PRNGKey(7))[::-1],
                axis_name=parallel.AXIS, in_axes=(None, 0), out_axes=(None, 0))
pool1 = pool2 = image_pool.init(5, (1,))
for row in ids:
    x = jnp.asarray(row)[:, None]
    out1, pool1 = image_pool.query(pool1, x, jax.random.PRNGKey(7))
    pool2, out2 = step(pool2, x.reshape(2, 2, 1))
    np.testing.assert_array_equal(np.asarray(out2).reshape(4, 1), out1)
    np.testing.assert_array_equal(pool2["images"], pool1["images"])
print("ok")
"""
    assert "ok" in run_python(code, devices=2).stdout
