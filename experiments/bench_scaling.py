"""Throughput of the `gan` game's step with 1, 2, 4, 8 devices at a fixed global batch.

    python experiments/bench_scaling.py                      # devices 1,2,4,8, 10 timed steps
    python experiments/bench_scaling.py --devices=1,8 --steps=20 --out=/tmp/scaling.md

Each device count runs in its own process with
XLA_FLAGS=--xla_force_host_platform_device_count=N (virtual CPU devices), the
real step of configs/dcgan.py (guard_nonfinite + parallel.map_step, i.e. pmap
with pmean'd gradients and sync batch norm) on real batches of the embedded
digits from the data pipeline, shaped [N, 64 / N, 32, 32, 1]. The processes are
stepped alternately (as in bench_step.py) so machine load hits all of them.
On one host the N virtual devices share the same cores, so ideal scaling is a
flat line: the table shows what the parallel path costs (collectives, per-device
dispatch, smaller per-device matmuls). On a machine with N real accelerators,
the same script measures real scaling.
"""
from __future__ import annotations

import argparse
import datetime
import functools
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_step import (ROOT, Worker, interleave, load_average, machine, serve_steps,  # noqa: E402
                        versions)


def scaling_worker(batch_size: int, warmup: int, width: int):
    """Serves timed steps of the DCGAN step on all local (virtual) devices."""
    sys.path.insert(0, ROOT)
    import jax
    from configs import dcgan
    from gan_jax import data, games, parallel, train
    config = dcgan.get_config()
    config.batch_size = batch_size
    config.g.width = config.d.width = width
    devices = jax.local_device_count()
    pipeline = data.build(config, devices)
    game = games.get(config.game)
    state = parallel.replicate(game.init(jax.random.PRNGKey(0), config, pipeline.batch(0)))
    step_fn = parallel.map_step(train.guard_nonfinite(
        functools.partial(game.train_step, config=config)))
    batches = [pipeline.batch(s) for s in range(8)]
    box = {"state": state, "i": 0}

    def step():
        box["state"], m = step_fn(box["state"], batches[box["i"] % len(batches)])
        box["i"] += 1
        jax.block_until_ready((box["state"], m))

    serve_steps(step, warmup, {"devices": devices})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", default="1,2,4,8")
    parser.add_argument("--batch_size", type=int, default=64, help="global batch")
    parser.add_argument("--width", type=int, default=32, help="config.g.width = config.d.width")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--out", default="")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return scaling_worker(args.batch_size, args.warmup, args.width)
    counts = [int(n) for n in args.devices.split(",")]
    for n in counts:
        if n < 1 or args.batch_size % n:
            raise ValueError(f"--devices: {n} does not divide --batch_size={args.batch_size}.")
    workers = {}
    for n in counts:
        env = dict(os.environ)
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "")
                            + f" --xla_force_host_platform_device_count={n}").strip()
        workers[n] = Worker(__file__, ["--worker", f"--batch_size={args.batch_size}",
                                       f"--warmup={args.warmup}", f"--width={args.width}"], env)
        assert workers[n].info["devices"] == n, workers[n].info
    interleave(workers, args.steps)
    base = float(np.median(workers[counts[0]].times))
    lines = [f"Scaling benchmark, {datetime.datetime.now().isoformat(timespec='minutes')}; "
             f"{machine()}; {versions()}; load average at end {load_average()}", "",
             f"`python experiments/bench_scaling.py --devices={args.devices} "
             f"--batch_size={args.batch_size} --width={args.width} --steps={args.steps}` "
             f"(configs/dcgan.py, digits 32x32x1, global batch {args.batch_size})", "",
             "| devices | per-device batch | median step ms | min ms | examples/s | "
             f"relative to {counts[0]} device(s) | compile s |", "|---|---|---|---|---|---|---|"]
    for n, w in workers.items():
        med = float(np.median(w.times))
        lines.append(f"| {n} | {args.batch_size // n} | {med * 1e3:.1f} | {min(w.times) * 1e3:.1f} "
                     f"| {args.batch_size / med:.0f} | {base / med:.2f} | "
                     f"{max(w.info['first_s'] - med, 0.0):.1f} |")
    print("\n".join(lines))
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
