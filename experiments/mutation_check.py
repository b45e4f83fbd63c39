"""Mutation check: does the test suite catch small, real bugs in the math?

Each mutant below is one hand-written bug of a kind that slips past weak tests: a swapped
weight or direction, a wrong update rule, a dropped numerical guard, a constant off by a
little, a term a default hides. For each mutant the script copies the checkout (tracked
files and untracked ones git does not ignore) into a temporary directory, applies the one
edit, and runs the tests that guard that module (`tests`: the files a developer would run
after touching it, all in the default suite) with `pytest -x -n 0`. A mutant is killed
when those tests fail and survives when they pass.

    python experiments/mutation_check.py                       # all mutants, 2 at a time
    python experiments/mutation_check.py --only=losses,fid.py --jobs=1
    python experiments/mutation_check.py --list
    python experiments/mutation_check.py --out=/tmp/mutants.md  # also write the table

It prints a table per module (mutants, killed, survived) and each survivor; the last
result is in docs/architecture.md ("Mutation check"). Run it before a release; it is not
part of the default suite (about 21 minutes on 2 cores).
"""
from __future__ import annotations

import argparse
import collections
import concurrent.futures
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import NamedTuple, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Mutant(NamedTuple):
    name: str
    path: str        # relative to the repository root
    old: str         # must occur exactly once in the file
    new: str
    tests: tuple     # pytest paths / node ids that guard it


T_LOSSES = ("tests/test_losses.py",)
T_GAME = ("tests/test_gan_game.py",)
T_PLAYER = ("tests/test_player.py", "tests/test_gan_game.py")
T_OPTIM = ("tests/test_optim.py",) + T_PLAYER
T_TRANSLATION = ("tests/test_translation_games.py", "tests/test_player.py")
T_FID = ("tests/test_fid.py",)
T_SCORES = ("tests/test_scores.py",)
T_MODES = ("tests/test_modes.py",)
T_DCGAN = ("tests/test_dcgan_nets.py",)
T_TRAIN = ("tests/test_train.py", "tests/test_reliability.py")

MUTANTS = [
    # --- losses.py: signs, margins, swapped arguments, dropped guards --------------------
    Mutant("minimax_d real/fake signs swapped", "gan_jax/losses.py",
           "return jnp.mean(softplus(-real_logits)) + jnp.mean(softplus(fake_logits))",
           "return jnp.mean(softplus(real_logits)) + jnp.mean(softplus(-fake_logits))", T_LOSSES),
    Mutant("nonsaturating_g sign", "gan_jax/losses.py",
           "return jnp.mean(softplus(-fake_logits))", "return jnp.mean(softplus(fake_logits))",
           T_LOSSES),
    Mutant("least_squares_pearson c = 1 instead of 0", "gan_jax/losses.py",
           '"least_squares_pearson": _least_squares(-1.0, 1.0, 0.0)',
           '"least_squares_pearson": _least_squares(-1.0, 1.0, 1.0)', T_LOSSES),
    Mutant("least_squares_d a and b swapped", "gan_jax/losses.py",
           "jnp.square(real_out - b)) + 0.5 * jnp.mean(jnp.square(fake_out - a))",
           "jnp.square(real_out - a)) + 0.5 * jnp.mean(jnp.square(fake_out - b))", T_LOSSES),
    Mutant("hinge_d fake margin 0.5", "gan_jax/losses.py",
           "jnp.mean(relu(1.0 + fake_out))", "jnp.mean(relu(0.5 + fake_out))", T_LOSSES),
    Mutant("relativistic_average_d centres fakes on the fake mean", "gan_jax/losses.py",
           "fake_rel = fake_out - jnp.mean(real_out)", "fake_rel = fake_out - jnp.mean(fake_out)",
           T_LOSSES),
    Mutant("relativistic_g is D's loss", "gan_jax/losses.py",
           "return jnp.mean(softplus(real_out - fake_out))",
           "return jnp.mean(softplus(fake_out - real_out))", T_LOSSES),
    Mutant("feature_matching sums instead of averaging", "gan_jax/losses.py",
           "return jnp.mean(jnp.square(diff))", "return jnp.sum(jnp.square(diff))",
           T_LOSSES + T_GAME),
    Mutant("began_d drops k", "gan_jax/losses.py",
           "return real_loss - k * fake_loss", "return real_loss - fake_loss", T_LOSSES),
    Mutant("began_k_update lambda_k and gamma swapped", "gan_jax/losses.py",
           "jnp.clip(k + lambda_k * (gamma * real_loss - fake_loss), 0.0, 1.0)",
           "jnp.clip(k + gamma * (lambda_k * real_loss - fake_loss), 0.0, 1.0)", T_LOSSES),
    Mutant("began_k_update clips at -1", "gan_jax/losses.py",
           "jnp.clip(k + lambda_k * (gamma * real_loss - fake_loss), 0.0, 1.0)",
           "jnp.clip(k + lambda_k * (gamma * real_loss - fake_loss), -1.0, 1.0)", T_LOSSES),
    Mutant("began_convergence drops gamma", "gan_jax/losses.py",
           "return real_loss + jnp.abs(gamma * real_loss - fake_loss)",
           "return real_loss + jnp.abs(real_loss - fake_loss)", T_LOSSES),
    Mutant("gradient norm without its zero guard", "gan_jax/losses.py",
           "return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)",
           "return jnp.sqrt(sq)", T_LOSSES),
    Mutant("gradient penalty interpolates with eps on both ends", "gan_jax/losses.py",
           "x_hat = eps * real + (1.0 - eps) * fake", "x_hat = eps * real + eps * fake", T_LOSSES),
    Mutant("dragan std without the mean", "gan_jax/losses.py",
           "std = jnp.sqrt(jnp.maximum(mean_sq - jnp.square(mean), 0.0))",
           "std = jnp.sqrt(jnp.maximum(mean_sq, 0.0))", T_LOSSES),
    Mutant("dragan std without its zero-variance guard", "gan_jax/losses.py",
           "std = jnp.sqrt(jnp.maximum(mean_sq - jnp.square(mean), 0.0))",
           "std = jnp.sqrt(mean_sq - jnp.square(mean))", T_LOSSES),
    Mutant("dragan drops alpha", "gan_jax/losses.py",
           "return real + alpha * scale * std * u", "return real + scale * std * u", T_LOSSES),
    Mutant("r1 registry without the 1/2", "gan_jax/losses.py",
           "cfg: 0.5 * r1_penalty(critic_fn, real)", "cfg: 1.0 * r1_penalty(critic_fn, real)",
           T_LOSSES + T_GAME),
    Mutant("gp ignores config.loss.gp_target", "gan_jax/losses.py",
           'critic_fn, real, fake, key, _option(cfg, "gp_target", 1.0)),',
           "critic_fn, real, fake, key, 1.0),", T_LOSSES + T_GAME),
    Mutant("dragan ignores config.loss.dragan_scale", "gan_jax/losses.py",
           '_option(cfg, "dragan_scale", 0.5)', "0.5", T_LOSSES + T_GAME),
    Mutant("clip_weights upper bound 2c", "gan_jax/losses.py",
           "jnp.clip(p, -c, c)", "jnp.clip(p, -c, 2 * c)", T_LOSSES + T_GAME),

    # --- games/gan.py -----------------------------------------------------------------
    Mutant("critic minibatches split contiguously", "gan_jax/games/gan.py",
           "return jnp.swapaxes(real_all.reshape((per, n_critic) + real_all.shape[1:]), 0, 1)",
           "return real_all.reshape((n_critic, per) + real_all.shape[1:])", T_GAME),
    Mutant("penalty weight dropped", "gan_jax/games/gan.py",
           "return d_loss + config.loss.penalty_weight * pen, (bs, metrics)",
           "return d_loss + pen, (bs, metrics)", T_GAME),
    Mutant("one critic iteration too few", "gan_jax/games/gan.py",
           "for i in range(reals.shape[0] - 1):", "for i in range(max(reals.shape[0] - 2, 0)):",
           T_GAME),
    Mutant("gan samples from G's params, not the EMA", "gan_jax/games/gan.py",
           "return apply_net(g, state.sampling_params(), state.g_batch_stats, z, train=False)[0]",
           "return apply_net(g, state.g_params, state.g_batch_stats, z, train=False)[0]",
           T_PLAYER),

    # --- state.py, games/_player.py, optim.py --------------------------------------------
    Mutant("EMA with decay and 1 - decay swapped", "gan_jax/state.py",
           "optax.incremental_update(self.g_params, self.g_ema, 1.0 - decay)",
           "optax.incremental_update(self.g_params, self.g_ema, decay)", T_PLAYER),
    Mutant("update norm of the gradients", "gan_jax/state.py",
           "global_norm(updates))", "global_norm(grads))", T_PLAYER),
    Mutant("weight clipping applied to G", "gan_jax/games/_player.py",
           'if player == "d" and clip > 0:', 'if player == "g" and clip > 0:', T_PLAYER),
    Mutant("lr metric of G for both players", "gan_jax/games/_player.py",
           'learning_rate(config, player, state.step)})', 'learning_rate(config, "g", state.step)})',
           T_PLAYER),
    Mutant("param norm of G for both players", "gan_jax/games/_player.py",
           'global_norm(getattr(state, f"{player}_params"))', "global_norm(state.g_params)",
           T_PLAYER),
    Mutant("both players use G's learning rate", "gan_jax/optim.py",
           'lr = float(optim_config[f"{player}_lr"])', 'lr = float(optim_config["g_lr"])',
           T_OPTIM),
    Mutant("sgd ignores config.optim.momentum", "gan_jax/optim.py",
           'momentum=optim_config.get("momentum", 0.0) or None', "momentum=None",
           T_OPTIM),
    Mutant("adam eps inside the square root", "gan_jax/optim.py",
           'eps=optim_config.get("eps", 1e-8))', 'eps=0.0, eps_root=optim_config.get("eps", 1e-8))',
           T_OPTIM),
    Mutant("both players use G's betas", "gan_jax/optim.py",
           'optim_config.get(f"{player}_betas", (0.5, 0.999))',
           'optim_config.get("g_betas", (0.5, 0.999))', T_OPTIM),
    Mutant("D's schedule advances per critic update", "gan_jax/optim.py",
           "(lambda count: sched(count // updates_per_step))", "(lambda count: sched(count))",
           T_OPTIM),
    Mutant("linear decay over all steps", "gan_jax/optim.py",
           "optax.linear_schedule(lr, 0.0, max(total_steps - start, 1))",
           "optax.linear_schedule(lr, 0.0, max(total_steps, 1))",
           T_OPTIM),
    Mutant("rmsprop decay 0.9", "gan_jax/optim.py",
           "optax.rmsprop(lr, decay=0.99,", "optax.rmsprop(lr, decay=0.9,",
           T_OPTIM),

    # --- games/began.py ------------------------------------------------------------------
    Mutant("began D gradient with +k", "gan_jax/games/began.py",
           "rec_vjp(jnp.stack([1.0, -k]))", "rec_vjp(jnp.stack([1.0, k]))", T_GAME),
    Mutant("began k update with gamma and lambda_k swapped", "gan_jax/games/began.py",
           "losses.began_k_update(k, real_loss, fake_loss, cfg.gamma, cfg.lambda_k)",
           "losses.began_k_update(k, real_loss, fake_loss, cfg.lambda_k, cfg.gamma)", T_GAME),
    Mutant("began logs the next k", "gan_jax/games/began.py",
           '"began_k": k,', '"began_k": new_k,', T_GAME),

    # --- translation games -----------------------------------------------------------------
    Mutant("cyclegan cycle weights swapped", "gan_jax/games/cyclegan.py",
           'cc.lambda_a * l1(gen("ba", fake_b), a) + cc.lambda_b * l1(gen("ab", fake_a), b)',
           'cc.lambda_b * l1(gen("ba", fake_b), a) + cc.lambda_a * l1(gen("ab", fake_a), b)',
           T_TRANSLATION),
    Mutant("cyclegan identity weights swapped", "gan_jax/games/cyclegan.py",
           'cc.lambda_identity * (cc.lambda_b * l1(gen("ab", b), b)',
           'cc.lambda_identity * (cc.lambda_a * l1(gen("ab", b), b)', T_TRANSLATION),
    Mutant("cyclegan D weight dropped", "gan_jax/games/cyclegan.py",
           'total = config.loss.d_weight * (outs["a"][0] + outs["b"][0])',
           'total = (outs["a"][0] + outs["b"][0])', T_TRANSLATION),
    Mutant("cyclegan G's adversarial weight dropped", "gan_jax/games/cyclegan.py",
           "total = config.loss.g_weight * gan + cycle + identity",
           "total = gan + cycle + identity", T_TRANSLATION),
    Mutant("pix2pix G's adversarial weight dropped", "gan_jax/games/pix2pix.py",
           "total = config.loss.g_weight * gan + config.pix2pix.lambda_l1 * distance",
           "total = gan + config.pix2pix.lambda_l1 * distance", T_TRANSLATION),
    Mutant("pix2pix D sees (b, a) for real pairs", "gan_jax/games/pix2pix.py",
           "real_out, stats = apply_net(d, d_params, state.d_batch_stats,\n"
           "                                        jnp.concatenate([a, b], -1))",
           "real_out, stats = apply_net(d, d_params, state.d_batch_stats,\n"
           "                                        jnp.concatenate([b, a], -1))", T_TRANSLATION),
    Mutant("dtn alpha and beta swapped", "gan_jax/games/dtn.py",
           "total = gan + dc.alpha * const + dc.beta * tid + dc.gamma * tv",
           "total = gan + dc.beta * const + dc.alpha * tid + dc.gamma * tv", T_TRANSLATION),
    Mutant("dtn fake labels swapped", "gan_jax/games/dtn.py",
           "class_loss(out_s, FAKE_SOURCE) + class_loss(out_t, FAKE_TARGET)",
           "class_loss(out_s, FAKE_TARGET) + class_loss(out_t, FAKE_SOURCE)", T_TRANSLATION),
    Mutant("dtn total variation vertical twice", "gan_jax/games/dtn.py",
           "+ jnp.mean(jnp.square(x[:, :, 1:] - x[:, :, :-1])))",
           "+ jnp.mean(jnp.square(x[:, 1:] - x[:, :-1])))", T_TRANSLATION),
    Mutant("image pool swaps with probability 0.4", "gan_jax/image_pool.py",
           "(jax.random.uniform(k_coin) > 0.5)", "(jax.random.uniform(k_coin) > 0.6)",
           ("tests/test_image_pool.py",)),
    Mutant("image pool keeps the old image on a swap", "gan_jax/image_pool.py",
           "stored = jnp.where(full & ~swap, old, image)", "stored = jnp.where(full, old, image)",
           ("tests/test_image_pool.py",)),

    # --- games/unrolled.py ---------------------------------------------------------------------
    Mutant("unrolled: first_order inverted", "gan_jax/games/unrolled.py",
           "    if first_order:\n", "    if not first_order:\n", ("tests/test_unrolled.py",)),
    Mutant("unrolled D skips clipping", "gan_jax/games/unrolled.py",
           'if config.loss.get("clip", 0.0) > 0:', "if False:", ("tests/test_unrolled.py",)),

    # --- metrics ---------------------------------------------------------------------------
    Mutant("FD trace term without the 2", "gan_jax/metrics/fid.py",
           "- 2.0 * tr_covmean)", "- tr_covmean)", T_FID),
    Mutant("FD fallback offsets only sigma1", "gan_jax/metrics/fid.py",
           "covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))",
           "covmean = linalg.sqrtm((sigma1 + offset) @ sigma2)", T_FID),
    Mutant("FD fallback never taken", "gan_jax/metrics/fid.py",
           "if not np.isfinite(covmean).all():", "if False:", T_FID),
    Mutant("FD keeps large imaginary parts", "gan_jax/metrics/fid.py",
           "if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):", "if False:", T_FID),
    Mutant("FD eigh: negative rounding not clipped", "gan_jax/metrics/fid.py",
           "return np.sum(np.sqrt(np.clip(lam, 0.0, None)))", "return np.sum(np.sqrt(lam))",
           T_FID),
    Mutant("streaming moments: cross term n_b / n", "gan_jax/metrics/fid.py",
           "np.outer(d, d) * (m.n * nb / n)", "np.outer(d, d) * (nb / n)", T_FID),
    Mutant("covariance divides by n", "gan_jax/metrics/fid.py",
           "return m.mean, m.m2 / (m.n - 1)", "return m.mean, m.m2 / m.n", T_FID),
    Mutant("IS: log p(y) without the log-zero guard", "gan_jax/metrics/inception_score.py",
           "np.log(py, out=np.zeros_like(py), where=py > 0)", "np.log(py)", T_SCORES),
    Mutant("PRDC: distances without the rounding guard", "gan_jax/metrics/prdc.py",
           "np.sqrt(np.maximum(d2, 0.0))", "np.sqrt(d2)", T_SCORES),
    Mutant("KID: biased diagonal", "gan_jax/metrics/kid.py",
           "off = lambda k: (k.sum() - np.trace(k)) / (m * (m - 1))",
           "off = lambda k: k.sum() / (m * m)", T_SCORES),
    Mutant("KID kernel without the 1/d", "gan_jax/metrics/kid.py",
           "base = x @ y.T / x.shape[1] + coef0", "base = x @ y.T + coef0", T_SCORES),
    Mutant("KID kernel degree 4", "gan_jax/metrics/kid.py",
           "for _ in range(degree - 1):", "for _ in range(degree):", T_SCORES),
    Mutant("IS: mean of exp", "gan_jax/metrics/inception_score.py",
           "scores.append(np.exp(kl.mean()))", "scores.append(np.exp(kl).mean())", T_SCORES),
    Mutant("PRDC: radius of the (k-1)-th neighbour", "gan_jax/metrics/prdc.py",
           "return np.partition(d, k, axis=1)[:, k]", "return np.partition(d, k - 1, axis=1)[:, k - 1]",
           T_SCORES),
    Mutant("PRDC: density divides by k + 1", "gan_jax/metrics/prdc.py",
           "inside_real.sum(axis=0).mean() / k)", "inside_real.sum(axis=0).mean() / (k + 1))",
           T_SCORES),
    Mutant("PSNR on [-1, 1] images", "gan_jax/metrics/translation.py",
           "np.asarray(target, np.float64)) / 2.0", "np.asarray(target, np.float64))",
           ("tests/test_translation_games.py",)),
    Mutant("modes: HQ radius 2.5 std", "gan_jax/metrics/modes.py",
           "HQ_STDS = 3.0", "HQ_STDS = 2.5", T_MODES),
    Mutant("modes: reverse KL against the captured modes", "gan_jax/metrics/modes.py",
           "np.log(q * len(counts))", "np.log(q * np.sum(counts > 0))", T_MODES),

    # --- data ---------------------------------------------------------------------------------
    Mutant("grid spacing off by 1%", "gan_jax/data/toys.py",
           "ax = (np.arange(side) - (side - 1) / 2) * spacing",
           "ax = (np.arange(side) - (side - 1) / 2) * spacing * 1.01", T_MODES),
    Mutant("ring angles over num_modes + 1", "gan_jax/data/toys.py",
           "t = 2 * np.pi * np.arange(num_modes) / num_modes",
           "t = 2 * np.pi * np.arange(num_modes) / (num_modes + 1)", T_MODES),
    Mutant("unrolled protocol ring std 0.025", "gan_jax/data/toys.py",
           '"unrolled": {"radius": 2.0, "ring_std": 0.02,',
           '"unrolled": {"radius": 2.0, "ring_std": 0.025,', T_MODES),
    Mutant("digits scaled by 1/15", "gan_jax/data/embedded.py",
           "images = d.images[..., None] / 16.0", "images = d.images[..., None] / 15.0",
           ("tests/test_data.py",)),

    # --- nets -------------------------------------------------------------------------------
    Mutant("DCGAN D's LeakyReLU slope 0.25", "gan_jax/nets/dcgan.py",
           "x = nn.leaky_relu(x, 0.2)", "x = nn.leaky_relu(x, 0.25)", T_DCGAN),
    Mutant("DCGAN G's BN momentum 0.95", "gan_jax/nets/dcgan.py",
           "bn = lambda: nn.BatchNorm(use_running_average=not train, momentum=0.9,",
           "bn = lambda: nn.BatchNorm(use_running_average=not train, momentum=0.95,", T_DCGAN),
    Mutant("DCGAN D's BN epsilon 1e-3", "gan_jax/nets/dcgan.py",
           "x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,",
           "x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-3,", T_DCGAN),
    Mutant("PacGAN G's BN momentum 0.9", "gan_jax/nets/mlp.py",
           "nn.BatchNorm(use_running_average=not train, momentum=0.95, epsilon=1e-4,",
           "nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-4,",
           ("tests/test_pacgan.py",)),
    Mutant("PacGAN G's BN epsilon 1e-5", "gan_jax/nets/mlp.py",
           "nn.BatchNorm(use_running_average=not train, momentum=0.95, epsilon=1e-4,",
           "nn.BatchNorm(use_running_average=not train, momentum=0.95, epsilon=1e-5,",
           ("tests/test_pacgan.py",)),
    Mutant("U-Net dropout 0.4", "gan_jax/nets/unet.py",
           'dropout=float(cfg.get("dropout", 0.5))', 'dropout=float(cfg.get("dropout", 0.4))',
           ("tests/test_translation_nets.py",)),
    Mutant("U-Net dropout one level too many", "gan_jax/nets/unet.py",
           "if self.dropout > 0 and 4 <= i < n - 1:", "if self.dropout > 0 and 3 <= i < n - 1:",
           ("tests/test_translation_nets.py",)),
    Mutant("init std 0.025", "gan_jax/nets/layers.py",
           "normal_002 = nn.initializers.normal(0.02)", "normal_002 = nn.initializers.normal(0.025)",
           T_DCGAN),
    Mutant("spectral norm never updates u", "gan_jax/nets/resnet.py",
           "nn.SpectralNorm(layer)(inputs, update_stats=train)",
           "nn.SpectralNorm(layer)(inputs, update_stats=False)", ("tests/test_resnet.py",)),

    # --- train.py: the loop's bookkeeping ------------------------------------------------------
    Mutant("log row is the last step, not the interval mean", "gan_jax/train.py",
           "row = {k: float(np.mean([r[k] for r in good])) for k in good[0]} if good else {}",
           "row = {k: float(good[-1][k]) for k in good[0]} if good else {}", T_TRAIN),
    Mutant("partial log interval not restored", "gan_jax/train.py",
           'for row in meta.get("pending", [])]', "for row in []]", T_TRAIN),
    Mutant("non-finite guard keeps the bad step", "gan_jax/train.py",
           "lambda a, b: jnp.where(ok, a, b), new,", "lambda a, b: jnp.where(ok, a, a), new,",
           ("tests/test_train.py",)),
]


def copy_tree(dest: str) -> None:
    """The checkout's tracked and untracked-but-not-ignored files, as they are now, under dest."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for f in filter(None, files):
        src = os.path.join(ROOT, f)
        if not os.path.isfile(src):
            continue
        os.makedirs(os.path.dirname(os.path.join(dest, f)), exist_ok=True)
        shutil.copy2(src, os.path.join(dest, f))


def apply(mutant: Mutant, tree: str) -> None:
    path = os.path.join(tree, mutant.path)
    with open(path) as f:
        text = f.read()
    if text.count(mutant.old) != 1:
        raise SystemExit(f"mutant {mutant.name!r}: its text occurs {text.count(mutant.old)} "
                         f"times in {mutant.path}; update MUTANTS to the current code")
    with open(path, "w") as f:
        f.write(text.replace(mutant.old, mutant.new))


def run_mutant(mutant: Mutant, snapshot: str, timeout: int) -> tuple:
    """(status 'killed' | 'survived' | 'error', seconds, last output lines)."""
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="gan_jax_mutant_") as tree:
        shutil.copytree(snapshot, tree, dirs_exist_ok=True)
        apply(mutant, tree)
        env = dict(os.environ, PYTHONPATH=tree, PYTHONDONTWRITEBYTECODE="1")
        tests = [t for t in mutant.tests if os.path.exists(os.path.join(tree, t.split("::")[0]))]
        if not tests:  # e.g. an older checkout: nothing guards the module
            return "survived", time.time() - t0, f"none of {' '.join(mutant.tests)} exists"
        cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-n", "0", "-p", "no:cacheprovider",
               *tests]
        try:
            proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            return "error", time.time() - t0, "timed out"
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
        status = {0: "survived", 1: "killed"}.get(proc.returncode, "error")
        return status, time.time() - t0, tail


def check_imports_itself(tree: str) -> None:
    """A copy's own gan_jax must be the one imported (not the editable install)."""
    out = subprocess.run([sys.executable, "-c", "import gan_jax; print(gan_jax.__file__)"],
                         cwd=tree, env=dict(os.environ, PYTHONPATH=tree, PYTHONDONTWRITEBYTECODE="1"),
                         capture_output=True, text=True, check=True).stdout.strip()
    if not os.path.realpath(out).startswith(os.path.realpath(tree)):
        raise SystemExit(f"a copy imports gan_jax from {out}, not from itself")


def table(results: Sequence[tuple]) -> str:
    by_module = collections.OrderedDict()
    for mutant, status, _, _ in results:
        by_module.setdefault(mutant.path, collections.Counter())[status] += 1
    lines = ["| module | mutants | killed | survived | error |", "|---|---|---|---|---|"]
    for path, c in by_module.items():
        lines.append(f"| `{path}` | {sum(c.values())} | {c['killed']} | {c['survived']} | "
                     f"{c['error']} |")
    total = collections.Counter(s for _, s, _, _ in results)
    n = len(results)
    lines.append(f"| **all** | **{n}** | **{total['killed']}** | **{total['survived']}** "
                 f"({100.0 * total['survived'] / max(n, 1):.1f}%) | **{total['error']}** |")
    others = [(m, s, tail) for m, s, _, tail in results if s != "killed"]
    if others:
        lines += ["", "Not killed:"]
        lines += [f"- {s}: {m.name} (`{m.path}`): {tail.splitlines()[-1] if tail else ''}"
                  for m, s, tail in others]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="",
                        help="run the mutants whose path or name contains one of these "
                             "comma-separated strings")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=int, default=1200, help="seconds per mutant")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--out", default="", help="also write the table to this file")
    args = parser.parse_args(argv)
    wanted = args.only.split(",")
    chosen = [m for m in MUTANTS if any(w in m.path or w in m.name for w in wanted)]
    if args.list:
        for m in chosen:
            print(f"{m.path}: {m.name}  [{' '.join(m.tests)}]")
        return
    for m in chosen:  # every mutant's text must still be in the code
        with open(os.path.join(ROOT, m.path)) as f:
            if f.read().count(m.old) != 1:
                raise SystemExit(f"mutant {m.name!r}: its text is not (once) in {m.path}")
    t0 = time.time()
    results = []
    # One snapshot of the tree at the start: edits made while the check runs do not leak in.
    with tempfile.TemporaryDirectory(prefix="gan_jax_snapshot_") as snapshot, \
            concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        copy_tree(snapshot)
        check_imports_itself(snapshot)
        futures = {pool.submit(run_mutant, m, snapshot, args.timeout): m for m in chosen}
        for fut in concurrent.futures.as_completed(futures):
            m = futures[fut]
            status, seconds, tail = fut.result()
            results.append((m, status, seconds, tail))
            print(f"[{len(results)}/{len(chosen)}] {status:8s} {seconds:6.0f} s  {m.path}: {m.name}",
                  flush=True)
    results.sort(key=lambda r: MUTANTS.index(r[0]))
    text = (f"{len(chosen)} mutants, {time.time() - t0:.0f} s, --jobs={args.jobs}\n\n"
            + table(results))
    print("\n" + text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
