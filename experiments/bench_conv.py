"""Single convolution layers of the benchmark nets: forward, input gradient and weight
gradient, gan_jax vs stock flax vs PyTorch, side by side.

    python experiments/bench_conv.py                         # every row, 10 timed rounds
    python experiments/bench_conv.py --rows=dcgan64 --rounds=20 --out=/tmp/conv.md

Where bench_step.py times whole training steps, this splits them into the layers that
dominate them, so a change to `gan_jax/cpu/conv.py` (or a new jaxlib) can be judged
layer by layer: each row is one Conv / ConvTranspose of the nets in bench_step.py, at
the batch its step runs it with (DCGAN and SN-GAN 64, CycleGAN 1), with PyTorch's
padding (the flax side gets the explicit padding that gives the same output).

Passes, each jitted on its own (jax) or called as autograd calls it (PyTorch):
  fwd  y = conv(x, k) + b          (F.conv2d / F.conv_transpose2d)
  dx   the input gradient for a fixed dy   (aten.convolution_backward, input only)
  dk   the kernel and bias gradients       (aten.convolution_backward, weight + bias)
Implementations: gan_jax = the CPU backend's `Conv` / `ConvTranspose` (gan_jax.cpu); flax =
flax.linen.Conv / ConvTranspose on the same parameters; PyTorch with NCHW tensors as
in bench_step.py. Method as bench_step.py: one worker process per implementation,
a round asks each worker for the three passes in turn (order reversed every round,
50 ms pause between workers), each pass timed inside its worker until its result is
ready; medians over rounds. GFLOP/s = 2 x multiply-adds of the layer / median (the
same count for the three passes).
"""
from __future__ import annotations

import argparse
import datetime
import sys
import time

import numpy as np

from bench_step import (ROOT, Worker, finish_table, interleave, load_average, machine,
                        serve_steps, versions)

PASSES = ("fwd", "dx", "dk")
# name: (transposed, batch, input size, C_in, C_out, kernel, stride, padding, output padding)
LAYERS = {
    "dcgan32": [("D1", False, 64, 32, 3, 64, 4, 2, 1, 0),
                ("D2", False, 64, 16, 64, 128, 4, 2, 1, 0),
                ("D3", False, 64, 8, 128, 256, 4, 2, 1, 0),
                ("G1", True, 64, 4, 256, 128, 4, 2, 1, 0),
                ("G2", True, 64, 8, 128, 64, 4, 2, 1, 0),
                ("G3", True, 64, 16, 64, 3, 4, 2, 1, 0)],
    "dcgan64": [("D1", False, 64, 64, 3, 64, 4, 2, 1, 0),
                ("D2", False, 64, 32, 64, 128, 4, 2, 1, 0),
                ("D3", False, 64, 16, 128, 256, 4, 2, 1, 0),
                ("D4", False, 64, 8, 256, 512, 4, 2, 1, 0),
                ("G1", True, 64, 4, 512, 256, 4, 2, 1, 0),
                ("G2", True, 64, 8, 256, 128, 4, 2, 1, 0),
                ("G3", True, 64, 16, 128, 64, 4, 2, 1, 0),
                ("G4", True, 64, 32, 64, 3, 4, 2, 1, 0)],
    "sngan32": [("G-block", False, 64, 32, 256, 256, 3, 1, 1, 0),
                ("D-block", False, 64, 32, 128, 128, 3, 1, 1, 0)],
    "cyclegan128": [("G-stem", False, 1, 134, 3, 64, 7, 1, 0, 0),
                    ("G-down1", False, 1, 128, 64, 128, 3, 2, 1, 0),
                    ("G-down2", False, 1, 64, 128, 256, 3, 2, 1, 0),
                    ("G-res", False, 1, 34, 256, 256, 3, 1, 0, 0),
                    ("G-up1", True, 1, 32, 256, 128, 3, 2, 1, 1),
                    ("G-up2", True, 1, 64, 128, 64, 3, 2, 1, 1),
                    ("G-head", False, 1, 134, 64, 3, 7, 1, 0, 0),
                    ("D1", False, 1, 128, 3, 64, 4, 2, 1, 0),
                    ("D2", False, 1, 64, 64, 128, 4, 2, 1, 0),
                    ("D4", False, 1, 16, 256, 512, 4, 1, 1, 0)],
}


def out_size(spec) -> int:
    _, transposed, _, n, _, _, k, s, p, op = spec
    return (n - 1) * s - 2 * p + k + op if transposed else (n + 2 * p - k) // s + 1


def macs(spec) -> int:
    _, transposed, b, n, c, f, k, _, _, _ = spec
    positions = n * n if transposed else out_size(spec) ** 2  # where each tap multiplies
    return b * positions * k * k * c * f


def jax_layer(spec, impl: str = "gan_jax", use_bias: bool = True):
    """The row's layer as the CPU backend's `Conv` / `ConvTranspose` or (impl='flax') flax's,
    with PyTorch's padding (and output padding) as explicit flax padding."""
    from gan_jax import cpu
    from gan_jax.nets.layers import FLAX
    _, transposed, _, _, _, f, k, s, p, op = spec
    lib = cpu.conv_layers() if impl == "gan_jax" else FLAX
    if transposed:
        return lib.conv_transpose(f, (k, k), (s, s), ((k - 1 - p, k - 1 - p + op),) * 2,
                                  use_bias=use_bias)
    return lib.conv(f, (k, k), (s, s), ((p, p),) * 2, use_bias=use_bias)


def jax_passes(spec, impl: str):
    """{pass: callable} for gan_jax's or flax's layer; each call blocks on its result."""
    import jax
    import jax.numpy as jnp
    _, _, b, n, c, f, _, _, _, _ = spec
    module = jax_layer(spec, impl)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((b, n, n, c)), jnp.float32)
    params = module.init(jax.random.PRNGKey(0), x)
    m = out_size(spec)
    dy = jnp.asarray(rng.standard_normal((b, m, m, f)), jnp.float32)
    apply = lambda prm, x: module.apply(prm, x)
    fns = {"fwd": jax.jit(apply),
           "dx": jax.jit(lambda prm, x, dy: jax.vjp(lambda x: apply(prm, x), x)[1](dy)[0]),
           "dk": jax.jit(lambda prm, x, dy: jax.vjp(lambda q: apply(q, x), prm)[1](dy)[0])}
    args = {"fwd": (params, x), "dx": (params, x, dy), "dk": (params, x, dy)}
    return {name: (lambda fn=fn, a=args[name]: jax.block_until_ready(fn(*a)))
            for name, fn in fns.items()}


def torch_passes(spec, threads: int):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    _, transposed, b, n, c, f, k, s, p, op = spec
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(b, c, n, n, generator=gen)
    w = torch.randn(*((c, f) if transposed else (f, c)), k, k, generator=gen) * 0.02
    bias = torch.zeros(f)
    m = out_size(spec)
    dy = torch.randn(b, f, m, m, generator=gen)
    if transposed:
        fwd = lambda: F.conv_transpose2d(x, w, bias, s, p, op)
    else:
        fwd = lambda: F.conv2d(x, w, bias, s, p)

    def backward(mask):
        return torch.ops.aten.convolution_backward(dy, x, w, [f], [s, s], [p, p], [1, 1],
                                                   transposed, [op, op], 1, mask)
    return {"fwd": fwd, "dx": lambda: backward([True, False, False]),
            "dk": lambda: backward([False, True, True])}


def check_layer(spec, batch: int = 2):
    """Raises unless gan_jax's layer equals PyTorch's (outputs, dx, dk) on one small batch,
    so that a row times the same function on both sides."""
    import jax
    import jax.numpy as jnp
    import torch
    import torch.nn.functional as F
    name, transposed, _, n, c, f, k, s, p, op = spec
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(batch, c, n, n, generator=gen, requires_grad=True)
    w = torch.randn(*((c, f) if transposed else (f, c)), k, k, generator=gen, requires_grad=True)
    m = out_size(spec)
    dy = torch.randn(batch, f, m, m, generator=gen)
    y = F.conv_transpose2d(x, w, None, s, p, op) if transposed else F.conv2d(x, w, None, s, p)
    dx, dw = torch.autograd.grad(y, (x, w), dy)
    # PyTorch's weight as a flax kernel: ConvTranspose2d's [C, F, k, k] correlates the
    # dilated input with the flipped kernel; Conv2d's is [F, C, k, k].
    as_kernel = lambda t: jnp.asarray((t.detach().flip(2, 3).permute(2, 3, 0, 1) if transposed
                                       else t.detach().permute(2, 3, 1, 0)).numpy())
    module = jax_layer(spec, use_bias=False)
    nhwc = lambda t: jnp.asarray(t.detach().permute(0, 2, 3, 1).numpy())
    params = {"params": {"kernel": as_kernel(w)}}
    yj, vjp = jax.vjp(lambda prm, x: module.apply(prm, x), params, nhwc(x))
    dkj, dxj = vjp(nhwc(dy))
    dkj = dkj["params"]["kernel"]
    for what, a, b in (("output", yj, nhwc(y)), ("dx", dxj, nhwc(dx)), ("dk", dkj, as_kernel(dw))):
        err = float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))
        if not err < 1e-4:
            raise AssertionError(f"layer {name}: gan_jax's {what} differs from PyTorch's "
                                 f"(max error {err:.1e} of the largest value); the row's spec "
                                 f"(padding, output padding) does not describe one layer.")


def worker(impl: str, row: str, layer: str, warmup: int, threads: int):
    """Serves timed rounds of the three passes of one layer (bench_step's worker protocol;
    a round reports the three pass times)."""
    sys.path.insert(0, ROOT)
    spec = next(sp for sp in LAYERS[row] if sp[0] == layer)
    passes = torch_passes(spec, threads) if impl == "PyTorch" else jax_passes(spec, impl)

    def round_of_passes():
        times = []
        for name in PASSES:
            t = time.perf_counter()
            passes[name]()
            times.append(time.perf_counter() - t)
        return times

    serve_steps(round_of_passes, warmup, {})


def bench_layer(row, spec, rounds, warmup, threads):
    workers = {impl: Worker(__file__, [f"--worker={impl}", f"--rows={row}", f"--layer={spec[0]}",
                                       f"--warmup={warmup}", f"--threads={threads}"])
               for impl in ("gan_jax", "flax", "PyTorch")}
    interleave(workers, rounds)
    med = {impl: np.median(np.array(w.times), axis=0) for impl, w in workers.items()}
    _, transposed, b, n, c, f, k, s, p, op = spec
    shape = (f"{'convT' if transposed else 'conv'} {k}x{k}/{s} {n}x{n}x{c} -> "
             f"{out_size(spec)}x{out_size(spec)}x{f}, batch {b}")
    flop = 2 * macs(spec)
    lines = []
    for i, name in enumerate(PASSES):
        jx, fx, pt = (med[impl][i] for impl in ("gan_jax", "flax", "PyTorch"))
        lines.append(f"| {row} {spec[0]} | {shape} | {name} | {jx * 1e3:.2f} | {fx * 1e3:.2f} | "
                     f"{pt * 1e3:.2f} | {jx / pt:.2f} | {flop / jx / 1e9:.0f} | {flop / pt / 1e9:.0f} |")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default=",".join(LAYERS))
    parser.add_argument("--layers", default="", help="only these layer names, e.g. D2,G3")
    parser.add_argument("--rounds", type=int, default=10, help="timed rounds per layer")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="PyTorch threads")
    parser.add_argument("--out", default="", help="also write the markdown table here")
    parser.add_argument("--worker", default="", help=argparse.SUPPRESS)
    parser.add_argument("--layer", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.rows, args.layer, args.warmup, args.threads)
    rows = [r for r in args.rows.split(",") if r]
    for r in rows:
        if r not in LAYERS:
            raise ValueError(f"--rows: {r!r} is unknown; choose from {', '.join(LAYERS)}.")
    wanted = {name for name in args.layers.split(",") if name}
    known = {sp[0] for r in rows for sp in LAYERS[r]}
    if wanted - known:
        raise ValueError(f"--layers: {', '.join(sorted(wanted - known))} not in rows "
                         f"{', '.join(rows)}; choose from {', '.join(sorted(known))}.")
    head = [f"Convolution benchmark, {datetime.datetime.now().isoformat(timespec='minutes')}; "
            f"{machine()}; {versions()}; load average at start {load_average()}",
            "", f"`python experiments/bench_conv.py --rows={','.join(rows)} --rounds={args.rounds}"
            + (f" --layers={args.layers}" if args.layers else "") + "`", "",
            "| layer | shape | pass | gan_jax ms | flax ms | PyTorch ms | gan_jax/PyTorch | "
            "gan_jax GFLOP/s | PyTorch GFLOP/s |", "|---|---|---|---|---|---|---|---|---|"]
    print("\n".join(head), flush=True)
    body = []
    for r in rows:
        for spec in LAYERS[r]:
            if wanted and spec[0] not in wanted:
                continue
            check_layer(spec)
            lines = bench_layer(r, spec, args.rounds, args.warmup, args.threads)
            print("\n".join(lines), flush=True)
            body += lines
    finish_table(head, body, ["", f"Load average at end {load_average()}."], args.out)


if __name__ == "__main__":
    main()
