"""Steps/s of the training loop (train.train_and_evaluate) vs a bare loop of the same step.

    python experiments/bench_loop.py                         # configs/dcgan.py, 600 steps, 2 rounds
    python experiments/bench_loop.py --steps=1000 --rounds=3 --out=/tmp/loop.md

Three ways to run the same pmapped step (guard_nonfinite(gan.train_step) through
parallel.map_step) of configs/dcgan.py (its log/sample/checkpoint intervals;
evaluation off, config.eval_every = -1):
  loop           gan_jax.train.train_and_evaluate into a fresh workdir: data
                 pipeline, metric fetches every max_inflight_steps, logs,
                 sample grids, async checkpoints;
  bare+pipeline  for each step: state, m = step(state, next(pipeline.iterate(0)));
                 a device_get of the metrics every max_inflight_steps;
  bare           the same on one batch already on the device (bench_step.py's step).
Wall and CPU time count from the return of the first step call (compilation excluded) to the
end of the last step (the loop: to train_and_evaluate's return, including its
final checkpoint and samples). Modes alternate within each round; one process,
with JAX's persistent compilation cache so that recompiling the same step is cheap.
"""
from __future__ import annotations

import argparse
import datetime
import functools
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_step import ROOT, load_average, machine, versions  # noqa: E402

sys.path.insert(0, ROOT)
from configs import dcgan  # noqa: E402
from gan_jax import backend  # noqa: E402

backend.prepare_process(dcgan.get_config())  # as gan_jax.main does, before any JAX call
import jax  # noqa: E402

from configs import dcgan  # noqa: E402
from gan_jax import data, games, parallel, train  # noqa: E402


def timed_map_step(clock: dict):
    """parallel.map_step whose mapped step records when its first call returned."""
    original = parallel.map_step

    def map_step(step_fn, devices=None):
        mapped = original(step_fn, devices)

        def call(*args):
            out = mapped(*args)
            if "first" not in clock:
                clock["first"], clock["first_cpu"] = time.perf_counter(), time.process_time()
            clock["calls"] = clock.get("calls", 0) + 1
            return out
        return call
    return map_step


def run_loop(config, workdir: str):
    clock = {}
    original = parallel.map_step
    parallel.map_step = timed_map_step(clock)
    try:
        train.train_and_evaluate(config, workdir)
        end, end_cpu = time.perf_counter(), time.process_time()
    finally:
        parallel.map_step = original
    steps = clock["calls"] - 1
    return (end - clock["first"]) / steps, (end_cpu - clock["first_cpu"]) / steps


def run_bare(config, pipeline_batches: bool):
    game = games.get(config.game)
    pipeline = data.build(config, jax.local_device_count())
    state = parallel.replicate(game.init(jax.random.PRNGKey(config.seed), config, pipeline.batch(0)))
    step_fn = parallel.map_step(train.guard_nonfinite(
        functools.partial(game.train_step, config=config)))
    if pipeline_batches:
        batches = pipeline.iterate(0)
    else:
        fixed = jax.device_put(pipeline.batch(0))
        batches = iter(lambda: fixed, None)
    state, m = step_fn(state, next(batches))
    start, start_cpu, inflight = time.perf_counter(), time.process_time(), []
    for _ in range(config.steps - 1):
        state, m = step_fn(state, next(batches))
        inflight.append(m)
        if len(inflight) >= config.max_inflight_steps:
            jax.device_get(inflight)
            inflight = []
    jax.block_until_ready((state, m))
    steps = config.steps - 1
    return (time.perf_counter() - start) / steps, (time.process_time() - start_cpu) / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    cache = tempfile.mkdtemp(prefix="bench_loop_cache_")
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    config = dcgan.get_config()
    config.steps = args.steps
    config.eval_every = -1
    results = {"loop": [], "bare+pipeline": [], "bare": []}
    for r in range(args.rounds):
        for mode in (list(results) if r % 2 == 0 else list(results)[::-1]):
            if mode == "loop":
                with tempfile.TemporaryDirectory(prefix="bench_loop_") as workdir:
                    results[mode].append(run_loop(config, workdir))
            else:
                results[mode].append(run_bare(config, mode == "bare+pipeline"))
            print(f"round {r} {mode}: {results[mode][-1][0] * 1e3:.1f} ms/step", flush=True)
    bare = float(np.median([t for t, _ in results["bare"]]))
    lines = [f"Loop benchmark, {datetime.datetime.now().isoformat(timespec='minutes')}; "
             f"{machine()}; {versions()}; load average at end {load_average()}", "",
             f"`python experiments/bench_loop.py --steps={args.steps} --rounds={args.rounds}` "
             f"(configs/dcgan.py: batch {config.batch_size}, log every {config.log_every}, samples "
             f"every {config.sample_every}, checkpoints every {config.checkpoint_every}, "
             f"eval off)", "",
             "| mode | median ms/step | steps/s | CPU ms/step | time vs bare |",
             "|---|---|---|---|---|"]
    for mode, runs in results.items():
        t = float(np.median([x for x, _ in runs]))
        cpu = float(np.median([x for _, x in runs]))
        lines.append(f"| {mode} | {t * 1e3:.1f} | {1 / t:.2f} | {cpu * 1e3:.0f} | {t / bare:.3f} |")
    print("\n".join(lines))
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
