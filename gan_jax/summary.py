"""Parameter counts of a config's nets (`python -m gan_jax.main --mode=summary`)."""
from __future__ import annotations

import jax
import numpy as np

from gan_jax import data, games


def count(tree) -> int:
    return int(sum(np.prod(x.shape) for x in jax.tree_util.tree_leaves(tree)))


def parameter_table(config) -> str:
    game = games.get(config.game)
    pipe = data.build(config, 1)
    state = game.init(jax.random.PRNGKey(config.seed), config, pipe.batch(0))
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
