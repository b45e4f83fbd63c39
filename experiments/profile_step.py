"""Where a gan_jax training step's time goes: a jax.profiler trace of bench_step's step,
summed per kind of operation.

    python experiments/profile_step.py --row=dcgan32 --steps=10

Runs bench_step.py's gan_jax step for the row (warm-up excluded) under jax.profiler with a
Perfetto trace, reads the compiled program XLA dumps beside it, and prints ms per step of:
each FFI target (the oneDNN handler and Winograd transforms by `kind`), XLA's own oneDNN
convolutions, and the fusions by name; then the share of time during which 0, 1, 2, ...
operations ran at once (XLA:CPU runs independent operations concurrently). Op times are
wall times of each operation, so with overlap they sum to more than the step.
"""
from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import os
import re
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def op_kinds(hlo: str) -> dict:
    """{instruction name: 'target kind=K'} of the custom calls in compiled HLO text."""
    kinds = {}
    for m in re.finditer(r"%([\w.\-]+) = [^\n]*custom_call_target=\"([\w$]+)\"([^\n]*)", hlo):
        kind = re.search(r"kind = (\d+)", m.group(3))
        kinds[m.group(1)] = m.group(2) + (f" kind={kind.group(1)}" if kind else "")
    return kinds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--row", default="dcgan32")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="gan_jax_profile_")
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + f" --xla_dump_to={work}/hlo").strip()
    sys.path.insert(0, ROOT)
    sys.path.insert(0, os.path.join(ROOT, "experiments"))
    import bench_step
    from gan_jax import backend
    config = bench_step.jax_config(args.row)
    backend.prepare_process(config)  # as gan_jax.main and bench_step's gan_jax worker do
    import jax
    step = bench_step.jax_step(args.row, config)
    for _ in range(4):
        step()
    t0 = time.perf_counter()
    with jax.profiler.trace(f"{work}/trace", create_perfetto_trace=True):
        for _ in range(args.steps):
            step()
    wall = (time.perf_counter() - t0) / args.steps * 1e3
    trace = json.load(gzip.open(glob.glob(f"{work}/trace/**/*.json.gz", recursive=True)[0]))
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in events
               if e.get("ph") == "M" and e.get("name") == "thread_name"}
    ops = [e for e in events if e.get("ph") == "X" and "XLAEigen" in threads.get(
        (e["pid"], e["tid"]), "") and not e["name"].startswith(("end:", "$"))
           and "Execute" not in e["name"]]
    hlo_files = glob.glob(f"{work}/hlo/*after_optimizations.txt")
    kinds = op_kinds(open(max(hlo_files, key=os.path.getsize)).read()) if hlo_files else {}
    per_kind, calls = collections.Counter(), collections.Counter()
    for e in ops:
        name = e["name"]
        key = (kinds.get(name) or ("XLA's oneDNN convolution" if "onednn$convolution" in name
                                   else re.sub(r"\.\d+$", "", name)))
        per_kind[key] += e["dur"] / 1e3 / args.steps
        calls[key] += 1 / args.steps
    print(f"`python experiments/profile_step.py --row={args.row} --steps={args.steps}`: "
          f"{wall:.1f} ms per step under the profiler; operations summed "
          f"{sum(per_kind.values()):.1f} ms per step\n")
    print("| operation | ms per step | calls per step |\n|---|---|---|")
    for key, ms in per_kind.most_common(args.top):
        print(f"| {key} | {ms:.2f} | {calls[key]:.0f} |")
    edges = sorted([(e["ts"], 1) for e in ops] + [(e["ts"] + e["dur"], -1) for e in ops])
    running, last, share = 0, None, collections.Counter()
    for ts, d in edges:
        if last is not None:
            share[running] += ts - last
        running, last = running + d, ts
    total = sum(share.values()) or 1
    print("\noperations running at once, share of the traced span: " + ", ".join(
        f"{k}: {100 * v / total:.1f}%" for k, v in sorted(share.items())))


if __name__ == "__main__":
    main()
