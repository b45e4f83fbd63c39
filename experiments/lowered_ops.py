"""What one train step of every recipe runs on a GPU / TPU: StableHLO op counts per backend.

    python experiments/lowered_ops.py                       # every recipe, cuda
    python experiments/lowered_ops.py --recipes=dcgan,cyclegan --platforms=cuda,tpu,cpu

For each recipe (configs/<name>.py:smoke) the loop's mapped train step is traced once per
config.conv_impl ('xla': flax.linen's layers; 'cpu': the XLA:CPU backend) and lowered for
each platform with `lowering_platforms` (no device needed: this runs on a CPU jaxlib);
the table counts `convolution`, `dot_general` and `custom_call` ops in the StableHLO text.
"""
from __future__ import annotations

import argparse
import functools
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from configs import recipes  # noqa: E402  (the recipe list: every configs/*.py but default)

OPS = ("convolution", "dot_general", "custom_call")


def op_counts(text: str) -> dict:
    return {op: len(re.findall(rf"stablehlo\.{op}\b", text)) for op in OPS}


def game_and_batch(config):
    """The config's game module and the first batch of its pipeline, as the loop makes it."""
    from gan_jax import data, games
    game = games.get(config.game)
    per_step = getattr(game, "examples_per_step", lambda c: c.batch_size)(config)
    return game, data.build(config, 1, examples_per_step=per_step).batch(0)


def lowered_counts(config, platforms) -> dict:
    """{platform: op counts} of one train step of `config` (mapped as the loop maps it)."""
    import jax
    from gan_jax import parallel
    game, batch = game_and_batch(config)
    state = game.init(jax.random.PRNGKey(0), config, batch)
    step = parallel.map_step(functools.partial(game.train_step, config=config))
    traced = jax.jit(step).trace(state, batch)
    return {p: op_counts(traced.lower(lowering_platforms=(p,)).as_text()) for p in platforms}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipes", default=",".join(recipes()))
    parser.add_argument("--platforms", default="cuda")
    args = parser.parse_args()
    import importlib
    platforms = args.platforms.split(",")
    print(f"`python experiments/lowered_ops.py{''.join(' ' + a for a in sys.argv[1:])}`"
          "\n\n| recipe | platform | conv_impl='xla': convolution / dot_general / custom_call | "
          "conv_impl='cpu': convolution / dot_general / custom_call |\n|---|---|---|---|")
    for name in args.recipes.split(","):
        counts = {}
        for impl in ("xla", "cpu"):
            config = importlib.import_module(f"configs.{name}").get_config("smoke")
            config.conv_impl = impl
            counts[impl] = lowered_counts(config, platforms)
        for p in platforms:
            cells = [" / ".join(str(counts[i][p][op]) for op in OPS) for i in ("xla", "cpu")]
            print(f"| {name} | {p} | {cells[0]} | {cells[1]} |", flush=True)


if __name__ == "__main__":
    main()
