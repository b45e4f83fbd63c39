"""pix2pix (U-Net + PatchGAN + 100 x L1) vs the same U-Net trained with L1 only, paired digits.

    python experiments/pix2pix_vs_l1.py --out=runs/pix2pix_vs_l1
    python experiments/pix2pix_vs_l1.py --out=/tmp/p2p --steps=300 --seeds=0

Trains configs/pix2pix.py (GAN + L1) and configs/pix2pix.py:l1 (L1 only, D never
trained) with the same budget and seeds, each into --out/<variant>_seed<k>/, and
writes --out/pix2pix_vs_l1.md: per run the held-out L1 / PSNR / FD-digits of G(a)
against the true T(a) (297 held-out digits), the identity baseline, and wall time;
and --out/pix2pix_vs_l1.png: rows of held-out a, T(a), pix2pix G(a), L1-only G(a).
Finished runs are reused when the command is repeated.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from configs import pix2pix as recipe  # noqa: E402
from gan_jax import checkpoint, data, games, train, viz  # noqa: E402
from gan_jax.games._translation import translate  # noqa: E402

VARIANTS = {"pix2pix": "", "l1_only": "l1"}
COLUMNS = ("l1_ab", "psnr_ab", "fd_digits_ab", "identity_l1_ab", "identity_psnr_ab",
           "identity_fd_digits_ab")


def load_config(variant: str, seed: int, steps: int | None):
    config = recipe.get_config(VARIANTS[variant])
    config.seed = seed
    if steps:
        config.steps = steps
        config.optim.decay_start = steps // 2
    config.eval_every = 0
    config.sample_every = config.steps
    return config


def final_eval(workdir: str) -> dict:
    path = os.path.join(workdir, "metrics.jsonl")
    rows = [json.loads(l) for l in open(path)] if os.path.exists(path) else []
    evals = [r for r in rows if "eval/l1_ab" in r]
    return {k[len("eval/"):]: v for k, v in evals[-1].items() if k.startswith("eval/")} \
        if evals else {}


def trained_state(config, workdir):
    """The final state: restored from the run's last checkpoint."""
    game = games.get(config.game)
    pipeline = data.build(config, jax.local_device_count())
    state = game.init(jax.random.PRNGKey(config.seed), config, pipeline.batch(0))
    ckpt = checkpoint.Checkpointer(workdir, config.keep_checkpoints)
    state, _, _ = ckpt.restore_latest(state)
    ckpt.close()
    return game, pipeline, state


def markdown(rows) -> str:
    """One row per run, then per variant the mean +- std over seeds."""
    cols = ("variant", "seed", "steps") + COLUMNS + ("minutes",)
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r.get(c, "-")) for c in cols) + " |" for r in rows]
    for variant in VARIANTS:
        runs = [r for r in rows if r["variant"] == variant]
        if len(runs) > 1:
            stat = lambda c: (f"{np.mean([r[c] for r in runs]):.4g} +- "
                              f"{np.std([r[c] for r in runs], ddof=1):.2g}")
            lines.append("| " + " | ".join([f"**{variant} mean**", f"{len(runs)} seeds",
                                            str(runs[0]["steps"])]
                                           + [stat(c) for c in COLUMNS + ("minutes",)]) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/pix2pix_vs_l1")
    parser.add_argument("--steps", type=int, default=0, help="0: the recipe's budget")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--num-images", type=int, default=8)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    times_path = os.path.join(args.out, "times.json")
    times = json.load(open(times_path)) if os.path.exists(times_path) else {}
    rows, outputs = [], {}
    for seed in [int(s) for s in args.seeds.split(",")]:
        for variant in VARIANTS:
            config = load_config(variant, seed, args.steps)
            name = f"{variant}_seed{seed}"
            workdir = os.path.join(args.out, name)
            if not final_eval(workdir):
                start = time.time()
                train.train_and_evaluate(config, workdir)
                times[name] = time.time() - start
                with open(times_path, "w") as f:
                    json.dump(times, f, indent=1)
            rows.append({"variant": variant, "seed": seed, "steps": config.steps,
                         "minutes": times.get(name, float("nan")) / 60, **final_eval(workdir)})
            print(json.dumps(rows[-1]), flush=True)
            if seed == int(args.seeds.split(",")[0]):
                game, pipeline, state = trained_state(config, workdir)
                held = pipeline.source.heldout(args.num_images)
                g, _ = game.make_nets(config, held["a"].shape[1:], held["b"].shape[1:], None)
                outputs["a"], outputs["target"] = held["a"], held["b"]
                outputs[variant] = translate(g, state.sampling_params(), state.g_batch_stats,
                                             held["a"])
    figure = np.concatenate([outputs[k] for k in ("a", "target", *VARIANTS)])
    viz.save_png(os.path.join(args.out, "pix2pix_vs_l1.png"), viz.grid(figure, args.num_images))
    header = (f"Paired digits (a -> T(a)), held-out L1 / PSNR (dB) / FD-digits of G(a) vs T(a); "
              f"`python experiments/pix2pix_vs_l1.py --out={args.out} --seeds={args.seeds}"
              f"{f' --steps={args.steps}' if args.steps else ''}`. Figure rows: a, T(a), "
              f"pix2pix, L1 only.\n\n")
    with open(os.path.join(args.out, "pix2pix_vs_l1.md"), "w") as f:
        f.write(header + markdown(rows))
    print(header + markdown(rows))


if __name__ == "__main__":
    main()
