"""Loss table: every loss config trained on digits through the one loop, final eval metrics.

    python experiments/loss_table.py --out=runs/loss_table
    python experiments/loss_table.py --out=/tmp/lt --configs=wgan,hinge --steps=300

Runs configs/<name>.py (default: dcgan as the non-saturating baseline, then wgan,
wgan_gp, lsgan, hinge, dragan, rsgan, began) for --steps steps each (2000 by
default), evaluating once at the end, into --out/<name>/, then writes
--out/loss_table.md: per config its loss, penalty, the loop's final `eval/*`
metrics (from <name>/metrics.jsonl), the last logged D/G losses, skipped
(non-finite) steps and wall time. A finished run is not repeated: re-running the
command resumes or reuses each run directory, so an interrupted table continues.
"""
from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from gan_jax import train  # noqa: E402

CONFIGS = ("dcgan", "wgan", "wgan_gp", "lsgan", "hinge", "dragan", "rsgan", "began")
METRIC_ORDER = ("fd_digits", "is_digits", "class_coverage", "precision", "recall", "density",
                "coverage")


def load_config(name: str, steps: int):
    """configs/<name>.py at --steps, evaluated once at the end."""
    config = importlib.import_module(f"configs.{name}").get_config()
    config.steps = steps
    config.eval_every = 0
    config.checkpoint_every = 500  # an interrupted table resumes from here
    config.sample_every = steps
    config.nan_policy = "stop"
    return config


def read_rows(workdir: str):
    path = os.path.join(workdir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def summarize(name: str, config, rows, seconds) -> dict:
    """The table row of one run: final eval/* metrics and the last logged losses."""
    evals = [r for r in rows if any(k.startswith("eval/") for k in r)]
    logs = [r for r in rows if "d_loss" in r]
    loss = config.get("loss", None)
    row = {"config": name,
           "loss": loss.name if loss is not None else config.game,
           "penalty": loss.penalty if loss is not None else "-",
           "steps": logs[-1]["step"] if logs else 0,
           "skipped": int(sum(r.get("skipped_steps", 0) for r in logs)),
           "d_loss": logs[-1]["d_loss"] if logs else math.nan,
           "g_loss": logs[-1]["g_loss"] if logs else math.nan,
           "minutes": seconds / 60.0 if seconds is not None else math.nan}
    if evals:
        row.update({k[len("eval/"):]: v for k, v in evals[-1].items() if k.startswith("eval/")})
    return row


def markdown(rows) -> str:
    fixed = ["config", "loss", "penalty", "steps"]
    found = {k for r in rows for k in r} - set(fixed) - {"skipped", "d_loss", "g_loss", "minutes"}
    metric_keys = [k for k in METRIC_ORDER if k in found] + sorted(found - set(METRIC_ORDER))
    cols = fixed + metric_keys + ["d_loss", "g_loss", "skipped", "minutes"]
    fmt = lambda v: (f"{v:.4g}" if isinstance(v, float) else str(v)) if v is not None else "-"
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/loss_table")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    times_path = os.path.join(args.out, "times.json")
    times = json.load(open(times_path)) if os.path.exists(times_path) else {}
    rows = []
    for name in args.configs.split(","):
        config = load_config(name, args.steps)
        workdir = os.path.join(args.out, name)
        done = [r for r in read_rows(workdir) if "d_loss" in r and r["step"] == args.steps]
        if not done:
            start = time.time()
            train.train_and_evaluate(config, workdir)
            times[name] = times.get(name, 0.0) + time.time() - start  # every segment counts
            with open(times_path, "w") as f:
                json.dump(times, f, indent=1)
            last = max((r["step"] for r in read_rows(workdir) if "d_loss" in r), default=0)
            if last < args.steps:  # stopped early (SIGTERM/SIGINT): rerun to resume it
                sys.exit(f"{name} stopped at step {last} of {args.steps}; rerun the same "
                         f"command to resume it (finished runs are reused).")
        rows.append(summarize(name, config, read_rows(workdir), times.get(name)))
        print(f"{name}: {json.dumps(rows[-1])}", flush=True)
    table = markdown(rows)
    subset = "" if args.configs == ",".join(CONFIGS) else f" --configs={args.configs}"
    header = (f"Digits, {args.steps} steps per config, final evaluation of the loop "
              f"(`python experiments/loss_table.py --out={args.out} --steps={args.steps}"
              f"{subset}`); minutes = wall time of each run on this machine (summed over "
              f"resumed segments).\n\n")
    with open(os.path.join(args.out, "loss_table.md"), "w") as f:
        f.write(header + table)
    print(header + table)


if __name__ == "__main__":
    main()
