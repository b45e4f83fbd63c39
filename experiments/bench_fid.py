"""Feature-extraction throughput: gan_jax's FID-InceptionV3 vs pytorch-fid, same weights and images.

    python experiments/bench_fid.py --num-images 32 --batch-size 16 --repeats 5

Both nets get the same seeded random FID-Inception weights (pytorch-fid's
format, converted with `inception.convert_state_dict`) and the same uint8
images at --image-size, resized to 299x299 inside each net. The two are timed
alternately (torch, jax, torch, jax, ...) after one warm-up pass each (JAX
compiles there), and the table reports the median images/s over --repeats,
so load from other processes hits both alike. Prints a markdown table and the
largest feature difference (relative to the feature scale) as a sanity check.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from gan_jax.metrics import extract, inception  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-images", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    import torch

    state_dict = inception.random_pytorch_fid_weights(seed=0)
    torch_net = inception.pytorch_fid_net(state_dict)
    run = extract.batched_apply(inception.FIDInceptionV3(),
                                inception.unflatten(inception.convert_state_dict(state_dict)),
                                args.batch_size)
    rng = np.random.default_rng(0)
    uint8 = rng.integers(0, 256, (args.num_images, args.image_size, args.image_size, 3), np.uint8)
    torch_images = torch.from_numpy(uint8.transpose(0, 3, 1, 2).astype(np.float32) / 255.0)
    jax_images = uint8.astype(np.float32) / 127.5 - 1.0

    def torch_features():
        with torch.no_grad():
            return np.concatenate([
                torch_net(torch_images[i:i + args.batch_size])[0][:, :, 0, 0].numpy()
                for i in range(0, args.num_images, args.batch_size)])

    def jax_features():
        return extract.apply_all(run, jax_images, args.batch_size)[0]

    want, got = torch_features(), jax_features()  # warm-up (and JAX compile)
    rel_diff = np.abs(got - want).max() / np.abs(want).max()
    rates = {"pytorch-fid": [], "gan_jax": []}
    load_before = os.getloadavg()[0]
    for _ in range(args.repeats):
        for name, fn in (("pytorch-fid", torch_features), ("gan_jax", jax_features)):
            t = time.perf_counter()
            fn()
            rates[name].append(args.num_images / (time.perf_counter() - t))
    med = {k: float(np.median(v)) for k, v in rates.items()}
    print(f"device: {jax.devices()[0].device_kind} ({jax.local_device_count()} JAX device(s)), "
          f"torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs, load average "
          f"{load_before:.1f} -> {os.getloadavg()[0]:.1f}")
    print(f"{args.num_images} images {args.image_size}x{args.image_size} -> 299, batch "
          f"{args.batch_size}, median of {args.repeats} interleaved runs; max |diff| of pool3 "
          f"features = {rel_diff:.1e} x feature scale\n")
    print("| implementation | images/s (median) | runs (images/s) |")
    print("|---|---|---|")
    for name in ("pytorch-fid", "gan_jax"):
        print(f"| {name} | {med[name]:.2f} | {', '.join(f'{r:.2f}' for r in rates[name])} |")
    print(f"\nratio gan_jax / pytorch-fid: {med['gan_jax'] / med['pytorch-fid']:.2f}x")
    return med


if __name__ == "__main__":
    main()
