"""Trains the digits feature net shipped in gan_jax/assets/digits_classifier.npz.

    python experiments/train_digits_classifier.py            # writes the asset, prints accuracy
    python experiments/train_digits_classifier.py --out /tmp/d.npz --steps 50

Data: scikit-learn's 1797 digits upsampled to 32x32x1 in [-1, 1]
(`gan_jax.data.embedded.load_digits_images(32)`), split 80/20 by
`digits_net.held_out_split` (seed 0). Training: Adam with cosine decay,
batch 64, random shifts of up to 2 pixels (edge padding); everything is seeded,
so a rerun on the same software writes the same weights. The held-out accuracy
is printed and stored in the file as `held_out_accuracy`.
"""
from __future__ import annotations

import argparse
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from gan_jax.data.embedded import load_digits_images  # noqa: E402
from gan_jax.metrics import digits_net  # noqa: E402


def random_shifts(rng: np.random.Generator, images: np.ndarray, max_shift: int) -> np.ndarray:
    """Each image translated by (dy, dx) in [-max_shift, max_shift]^2, edges repeated."""
    n, h, w, _ = images.shape
    p = max_shift
    padded = np.pad(images, ((0, 0), (p, p), (p, p), (0, 0)), mode="edge")
    dy, dx = rng.integers(0, 2 * p + 1, size=(2, n))
    return np.stack([padded[i, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])


def accuracy(params, images, labels) -> float:
    module = digits_net.DigitsClassifier()
    _, logits = jax.jit(module.apply)({"params": params}, images)
    return float(np.mean(np.argmax(np.asarray(logits), -1) == labels))


def train(steps: int = 1500, batch_size: int = 64, lr: float = 3e-3, seed: int = 0,
          max_shift: int = 2):
    """Returns (params, held-out accuracy) of a seeded training run."""
    images, labels = load_digits_images(digits_net.IMAGE_SIZE)
    train_idx, test_idx = digits_net.held_out_split(len(images))
    module = digits_net.DigitsClassifier()
    params = module.init(jax.random.PRNGKey(seed), images[:1])["params"]
    tx = optax.adamw(optax.cosine_decay_schedule(lr, steps), weight_decay=1e-4)
    opt = tx.init(params)

    @jax.jit
    def step(params, opt, x, y):
        def loss_fn(p):
            _, logits = module.apply({"params": p}, x)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt = tx.update(grads, opt, params)
        return optax.apply_updates(params, updates), opt, loss

    rng = np.random.default_rng(seed)
    for s in range(steps):
        idx = rng.choice(train_idx, batch_size, replace=False)
        x = random_shifts(rng, images[idx], max_shift)
        params, opt, loss = step(params, opt, jnp.asarray(x), jnp.asarray(labels[idx]))
        if (s + 1) % 250 == 0:
            print(f"step {s + 1}/{steps}  loss {float(loss):.4f}")
    return params, accuracy(params, images[test_idx], labels[test_idx])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=digits_net.WEIGHTS)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    params, acc = train(steps=args.steps, seed=args.seed)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    digits_net.save(args.out, params, held_out_accuracy=acc, steps=args.steps, seed=args.seed)
    print(f"held-out accuracy {acc:.4f} ({int(round(len(load_digits_images(32)[1]) * 0.2))} "
          f"images); wrote {args.out}")
    return acc


if __name__ == "__main__":
    main()
