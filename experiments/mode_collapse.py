"""Mode collapse on the 2-D ring (8 modes) and grid (25 modes): GAN, WGAN-GP,
Unrolled GAN and PacGAN2/3/4, several seeds each, beside the published numbers.

    python experiments/mode_collapse.py --out=runs/mode_collapse

writes `table.md` (mean +- standard error over seeds of modes captured, % high-
quality samples and reverse KL, on 2500 samples, `gan_jax.metrics.modes`),
`results.json` (every seed), and scatter plots of the final samples of the first
seed (`<method>_<data>.png`, `samples.png` for all). Each method runs with its
paper's architecture and optimizer, through its recipe in configs/:

- GAN, PacGAN2/3/4: configs/pacgan.py:<data><m> (Lin 2018, authors' code): G 4 x 400
  BN-ReLU, z in R^2; D 3 x 200 maxout-5 on m packed samples; N(0, 0.02) init;
  non-saturating loss; Adam(1e-4, b1 0.8); 100 packs per step; paper: 400000 steps.
  Data: ring radius 1, std 0.01; grid std 0.05.
- WGAN-GP: configs/{ring,grid}.py:wgan_gp (Gulrajani 2017, gan_toy.py): G and D 3 x 512
  ReLU, z in R^2; penalty weight 0.1; 5 critic steps; Adam(1e-4, b 0.5/0.9);
  batch 256; paper: 100000 G steps. Data as PacGAN's. No published row.
- Unrolled GAN: configs/unrolled.py:<data> (Metz 2017, public demo notebook): G and D
  2 x 128 tanh, z in R^256; minimax loss; k = 5 unrolled steps of D's Adam,
  second order; Adam b1 0.5, lr 1e-4 (D) / 1e-3 (G); batch 512; paper: 25000
  steps. Data: ring radius 2, std 0.02 (the PacGAN ring scaled by 2: the metrics,
  whose HQ radius is 3 std, are scale-free, so the rows are comparable).

All seeds of one method train at once: the game's train_step, mapped over a
device axis of size 1 (as the training loop's pmap does) and vmapped over the
seeds' stacked states; seed s gets the same init, data and noise as
`python -m gan_jax.main --config=... --config.seed=s`. The step budget
(STEP_BUDGET, x --steps_scale) is far below the papers' so that the whole run
finishes in under an hour on a quiet 2-core CPU; the table header says so.
"""
from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from gan_jax import data, games, losses, parallel, viz  # noqa: E402
from gan_jax.metrics import modes  # noqa: E402
from gan_jax.train import EVAL_KEY, guard_nonfinite  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATASETS = ("ring", "grid")
# name -> (recipe file, config arg per dataset, the paper's step budget)
METHODS = {
    "GAN": ("configs/pacgan.py", "{data}1", 400000),
    "PacGAN2": ("configs/pacgan.py", "{data}2", 400000),
    "PacGAN3": ("configs/pacgan.py", "{data}3", 400000),
    "PacGAN4": ("configs/pacgan.py", "{data}4", 400000),
    "WGAN-GP": ("configs/{data}.py", "wgan_gp", 100000),
    "Unrolled GAN": ("configs/unrolled.py", "{data}", 25000),
}
# Steps run here (same for ring and grid), chosen so the whole run fits in an hour.
# Measured CPU cost for 5 seeds: ~0.2-0.3 CPU-s per PacGAN step, ~0.33 per Unrolled
# step (k = 5), ~2 per WGAN-GP step (5 critic steps on 3 x 512 nets), + ~40 per compile.
STEP_BUDGET = {"GAN": 1500, "PacGAN2": 1500, "PacGAN3": 1500, "PacGAN4": 1500,
               "WGAN-GP": 200, "Unrolled GAN": 1500}
# Published (modes, % HQ, reverse KL): PacGAN Table 1 (Lin 2018, 10 runs) and the
# Unrolled GAN rows of VEEGAN Table 1 (Srivastava 2017; also GDPP's table).
PUBLISHED = {
    ("GAN", "ring"): (6.3, 98.2, 0.45), ("PacGAN2", "ring"): (7.9, 95.6, 0.07),
    ("GAN", "grid"): (17.3, 94.8, 0.70), ("PacGAN4", "grid"): (24.8, 93.6, 0.04),
    ("Unrolled GAN", "ring"): (7.6, 35.6, None), ("Unrolled GAN", "grid"): (23.6, 16.0, None),
}


def load_config(path: str, arg: str):
    """configs/<recipe>.py:get_config(arg), loaded as `main --config=path:arg` would."""
    spec = importlib.util.spec_from_file_location("_recipe", os.path.join(ROOT, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(arg)


def seeds_step(game, config):
    """step(states, batches) for stacked states [S, ...] and batches [S, 1, B, ...]."""
    step = guard_nonfinite(functools.partial(game.train_step, config=config))
    on_one_device = jax.vmap(step, in_axes=(None, 0), axis_name=parallel.AXIS)
    first = lambda tree: jax.tree_util.tree_map(lambda a: a[0], tree)
    return jax.vmap(lambda s, b: first(on_one_device(s, b)))


def train_seeds(config, seeds, steps, chunk=250):
    """Trains config on each seed for `steps`.

    Yields (steps done, stacked states, skipped steps [S], game, first batch) after
    every `chunk` steps; the last item is the final state.
    """
    game = games.get(config.game)
    per_step = (game.examples_per_step(config) if hasattr(game, "examples_per_step")
                else config.batch_size)
    source = data.build_source(config.data)
    pipes = [data.Pipeline(source, per_step, s, 1) for s in seeds]
    batch0 = pipes[0].batch(0)
    # One init per seed, then stacked: a vmapped init would batch the orthogonal
    # initializer's LAPACK QR, which deadlocks XLA:CPU's 2-thread pool on a 2-core machine.
    inits = [game.init(jax.random.PRNGKey(s), config, batch0) for s in seeds]
    treedef = jax.tree_util.tree_structure(inits[0])
    states = treedef.unflatten([jnp.stack(leaves) for leaves in
                                zip(*[jax.tree_util.tree_leaves(s) for s in inits])])
    step = seeds_step(game, config)

    @jax.jit
    def run_chunk(states, xs):
        def body(s, x):
            s, m = step(s, {"x": x})
            return s, m["nonfinite"]
        return jax.lax.scan(body, states, xs)

    skipped = np.zeros(len(seeds))
    for start in range(0, steps, chunk):
        n = min(chunk, steps - start)
        xs = np.stack([np.stack([p.batch(t)["x"] for p in pipes]) for t in range(start, start + n)])
        states, nonfinite = run_chunk(states, xs)
        skipped += np.asarray(nonfinite).sum(0)
        yield start + n, states, skipped, game, batch0


def evaluate_seeds(game, config, states, batch0, seeds, steps, num=2500):
    """Samples [S, num, 2] drawn as the training loop's final evaluation draws them."""
    keys = jnp.stack([jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(
        jax.random.PRNGKey(s), EVAL_KEY), steps), 0) for s in seeds])
    draw = jax.jit(jax.vmap(lambda st, k: game.sample(st, config, batch0, k, num)))
    return np.asarray(draw(states, keys))


def mean_se(values):
    v = np.asarray(values, np.float64)
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0


def cell(values, scale=1.0, digits=1, published=None):
    """'mean ± standard error (published)'; seeds with an infinite value are counted aside."""
    v = np.asarray(values, np.float64) * scale
    finite = v[np.isfinite(v)]
    text = "—" if not len(finite) else "{:.{d}f} ± {:.{d}f}".format(*mean_se(finite), d=digits)
    if len(finite) < len(v):
        text += f" [{len(v) - len(finite)} seed(s) inf]"
    return text + (f" ({published})" if published is not None else "")


def markdown_table(results, seeds, budgets, wall_minutes, cpu_minutes):
    head = (f"Mode collapse on 2-D mixtures: mean ± standard error over {len(seeds)} seeds, "
            f"2500 samples each, (published value) in brackets. Step budgets are far BELOW "
            f"the papers' ({', '.join(f'{k} {budgets[k]} vs {METHODS[k][2]}' for k in budgets)}"
            f" steps), chosen to finish in under an hour on a quiet 2-core CPU; this run took "
            f"{wall_minutes:.0f} min wall and {cpu_minutes:.0f} CPU-minutes.\n\n")
    cols = ["Method"] + [f"{d} {c}" for d in DATASETS for c in
                         (f"modes (of {8 if d == 'ring' else 25})", "% HQ", "rev-KL")]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for name in results:
        row = [name]
        for d in DATASETS:
            r = results[name].get(d)
            if r is None:
                row += ["—"] * 3
                continue
            pub = PUBLISHED.get((name, d), (None, None, None))
            row += [cell(r["modes"], 1, 1, pub[0]), cell(r["hq_fraction"], 100, 1, pub[1]),
                    cell(r["reverse_kl"], 1, 2, pub[2])]
        lines.append("| " + " | ".join(row) + " |")
    return head + "\n".join(lines) + "\n"


def overview(images, names):
    """One PNG: a row per method, a column per dataset, the method name above each row."""
    size, label = 256, 18
    rows = [n for n in names if any((n, d) in images for d in DATASETS)]
    out = Image.new("RGB", (size * len(DATASETS), (size + label) * len(rows)), "white")
    draw = ImageDraw.Draw(out)
    for i, n in enumerate(rows):
        for j, d in enumerate(DATASETS):
            if (n, d) in images:
                im = Image.fromarray(images[(n, d)]).resize((size, size))
                out.paste(im, (j * size, i * (size + label) + label))
            draw.text((j * size + 4, i * (size + label) + 3), f"{n} / {d}", fill=(0, 0, 0))
    return np.asarray(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="runs/mode_collapse")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset")
    p.add_argument("--datasets", default=",".join(DATASETS))
    p.add_argument("--steps_scale", type=float, default=1.0,
                   help="multiplies every STEP_BUDGET entry (e.g. 0.01 for a quick check)")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    seeds = list(range(args.seeds))
    names = [n for n in args.methods.split(",") if n]
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise ValueError(f"--methods: unknown {unknown}; choose from {', '.join(METHODS)}.")
    datasets = [d for d in args.datasets.split(",") if d]
    if "WGAN-GP" in names and not ("wasserstein" in losses.LOSSES and "gp" in losses.PENALTIES):
        print("WGAN-GP skipped: losses.py has no 'wasserstein' loss / 'gp' penalty yet.")
        names.remove("WGAN-GP")

    budgets = {n: max(1, int(STEP_BUDGET[n] * args.steps_scale)) for n in names}
    results, images, t0, cpu0 = {n: {} for n in names}, {}, time.time(), time.process_time()
    for name in names:
        path, arg, _ = METHODS[name]
        for d in datasets:
            config = load_config(path.format(data=d), arg.format(data=d))
            steps = budgets[name]
            config.steps = steps
            t = time.time()
            *_, (_, states, skipped, game, batch0) = train_seeds(config, seeds, steps)
            samples = evaluate_seeds(game, config, states, batch0, seeds, steps)
            source = data.build_source(config.data)
            per_seed = [modes.mode_metrics(x, source.means, source.std) for x in samples]
            results[name][d] = {k: [m[k] for m in per_seed] for k in per_seed[0]}
            results[name][d].update(steps=steps, skipped_steps=skipped.tolist(),
                                    seconds=time.time() - t)
            images[(name, d)] = viz.scatter(samples[0], source.means)
            viz.save_png(os.path.join(args.out, f"{name.replace(' ', '_')}_{d}.png"),
                         images[(name, d)])
            print(f"{name:>12} {d}: {steps} steps x {len(seeds)} seeds in {time.time() - t:.0f} s;"
                  f" modes {results[name][d]['modes']}  HQ "
                  f"{np.round(results[name][d]['hq_fraction'], 3).tolist()}  rev-KL "
                  f"{np.round(results[name][d]['reverse_kl'], 2).tolist()}", flush=True)
    minutes, cpu_minutes = (time.time() - t0) / 60, (time.process_time() - cpu0) / 60
    table = markdown_table(results, seeds, budgets, minutes, cpu_minutes)
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(table)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    viz.save_png(os.path.join(args.out, "samples.png"), overview(images, names))
    print(table)
    print(f"total {minutes:.1f} min wall, {cpu_minutes:.1f} CPU-min; wrote {args.out}/table.md, results.json, samples.png")


if __name__ == "__main__":
    main()
