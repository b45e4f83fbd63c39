"""The only module that knows about devices and hosts.

A train step is written for one device; gradients and metrics are averaged with
`pmean` over the axis 'batch'; `map_step` maps it with `jax.pmap` over the local
devices. State is passed unstacked (in_axes=None) and comes back unstacked
(out_axes=None), so checkpoints hold one copy. Random draws go through
`sharded_normal`/`sharded_uniform`: drawn at the GLOBAL batch shape, each device
keeps its slice, so numbers do not depend on the device count.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

AXIS = "batch"


def initialize(distributed_config) -> None:
    """Starts multi-process JAX when config.distributed.coordinator_address is set.

    Must run before any other JAX call (even jax.devices()).
    """
    addr = distributed_config.get("coordinator_address", "")
    if not addr:
        return
    jax.distributed.initialize(
        coordinator_address=addr,
        num_processes=int(distributed_config.num_processes),
        process_id=int(distributed_config.process_id),
        heartbeat_timeout_seconds=int(distributed_config.get("heartbeat_timeout_s", 30)),
    )


def axis_size_and_index():
    """(number of devices on the axis, this device's index); (1, 0) when unmapped."""
    try:
        return jax.lax.psum(1, AXIS), jax.lax.axis_index(AXIS)
    except NameError:
        return 1, 0


def pmean(tree):
    """Mean over the device axis; the identity when called unmapped (notebooks)."""
    try:
        return jax.lax.pmean(tree, AXIS)
    except NameError:
        return tree


def _sharded(draw, key, local_shape, dtype):
    n, i = axis_size_and_index()
    full = draw(key, (n * local_shape[0],) + tuple(local_shape[1:]), dtype)
    if n == 1:
        return full
    return jax.lax.dynamic_slice_in_dim(full, i * local_shape[0], local_shape[0], axis=0)


def sharded_normal(key, local_shape, dtype=jnp.float32):
    """This device's slice of a N(0, 1) draw of shape [devices * local_shape[0], ...]."""
    return _sharded(jax.random.normal, key, local_shape, dtype)


def sharded_uniform(key, local_shape, dtype=jnp.float32):
    """This device's slice of a U[0, 1) draw of the global shape."""
    return _sharded(jax.random.uniform, key, local_shape, dtype)


def sharded_bernoulli(key, p, local_shape):
    """This device's slice of a Bernoulli(p) draw of the global shape."""
    return sharded_uniform(key, local_shape) < p


def map_step(step_fn, devices=None):
    """pmap of step_fn(state, batch) -> (state, metrics) over local devices.

    The state is broadcast and returned unstacked; the batch is [devices, per_device, ...].
    """
    return jax.pmap(step_fn, axis_name=AXIS, in_axes=(None, 0), out_axes=(None, None),
                    devices=devices)


def replicate(tree, devices=None):
    """Places `tree` replicated on `devices` exactly as map_step's outputs are placed,
    so the first step and all later ones share one compilation."""
    devices = list(devices or jax.local_devices())
    mesh = jax.sharding.Mesh(np.array(devices), (AXIS,))
    return jax.device_put(tree, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))


def local_devices():
    return jax.local_devices()


def is_main_process() -> bool:
    return jax.process_index() == 0
