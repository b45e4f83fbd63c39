"""Training games. Each module `games/<name>.py` exports

    init(key, config, batch) -> GANState
    train_step(state, batch, config) -> (state, metrics)   # one device; pmean inside
    sample(state, config, batch, key) -> [N, ...] samples for grids and evaluation

and optionally `examples_per_step(config)` (real examples a step consumes, default
config.batch_size) and `evaluate(state, config, pipeline, key) -> dict` (its own
measures; otherwise `metrics.evaluate` on `sample`'s output). config.game picks the module by name.
"""
from __future__ import annotations

import importlib
import pkgutil

from gan_jax.errors import UserError


def available():
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def get(name: str, field: str = "config.game"):
    """The game module named `name`."""
    names = available()
    if name not in names:
        raise UserError(f"{field}={name!r} is unknown; choose one of: {', '.join(names)}.")
    return importlib.import_module(f"{__name__}.{name}")
