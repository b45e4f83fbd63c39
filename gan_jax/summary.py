"""Parameter counts of a config's nets (`python -m gan_jax.main --mode=summary`).

The state is built abstractly (`jax.eval_shape` of the game's init on zeros shaped
like config.data's batches): no data is read and nothing is compiled.
"""
from __future__ import annotations

import jax
import numpy as np

from gan_jax import data, games


def count(tree) -> int:
    return int(sum(np.prod(x.shape) for x in jax.tree_util.tree_leaves(tree)))


def abstract_state(config):
    """The game's GANState as shapes (jax.ShapeDtypeStruct leaves), from the config alone."""
    game = games.get(config.game)
    per_step = (game.examples_per_step(config) if hasattr(game, "examples_per_step")
                else config.batch_size)
    batch = {k: np.zeros((1, per_step) + tuple(shape), np.float32)
             for k, shape in data.example_shapes(config.data).items()}
    return jax.eval_shape(lambda key: game.init(key, config, batch),
                          jax.random.PRNGKey(config.seed))


def parameter_table(config) -> str:
    state = abstract_state(config)
    rows = []
    for player in ("g", "d"):
        params = getattr(state, f"{player}_params")
        groups = params if isinstance(params, dict) and all(
            isinstance(v, dict) and not set(v) <= {"kernel", "bias", "scale"} for v in params.values()) \
            and len(params) <= 4 else {"": params}
        for name, sub in groups.items():
            rows.append((f"{player}{'.' + name if name else ''}", count(sub)))
    width = max(len(r[0]) for r in rows)
    lines = [f"{'net':<{width}}  parameters", "-" * (width + 12)]
    lines += [f"{n:<{width}}  {c:>10,d}" for n, c in rows]
    return "\n".join(lines)
