"""The one training loop: data -> step -> log / sample / checkpoint / evaluate.

It knows no specific GAN: the game module (config.game) supplies init,
train_step and sample. The loop waits on a result at least every
config.max_inflight_steps steps: on XLA:CPU, dispatching more than ~32 steps
with cross-device collectives without waiting deadlocks.
"""
from __future__ import annotations

import functools
import json
import os
import signal
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from gan_jax import checkpoint, data, games, metrics, parallel, viz
from gan_jax.errors import UserError
from gan_jax.writer import Writer

SAMPLE_KEY = 0x5A3B1E  # folded into the root key: fixed latents for comparable grids
EVAL_KEY = 0xE7A1


class NonFiniteError(UserError, FloatingPointError):
    """A loss or gradient became NaN/Inf during training (config.nan_policy='stop')."""


def guard_nonfinite(step_fn):
    """Wraps a step so a non-finite metric leaves the state as it was (step still advances).

    Metrics carry every loss term and each player's gradient/update norm, so any
    NaN/Inf in a loss or gradient trips it; 'nonfinite' = 1 marks the skipped step.
    """
    def guarded(state, batch):
        new, m = step_fn(state, batch)
        ok = jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in jax.tree_util.tree_leaves(m)]))
        kept = jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), new,
                                      state.replace(step=new.step))
        m = dict(m, nonfinite=1.0 - ok.astype(jnp.float32))
        return kept, m
    return guarded


def _nonfinite_terms(row: dict):
    return sorted(k for k, v in row.items() if k != "nonfinite" and not np.all(np.isfinite(v)))


def _player(term: str) -> str:
    return {"g": "generator", "d": "discriminator"}.get(term.split("_")[0], "both")


def save_config(config, workdir: str) -> None:
    """Writes config.json; on resume prints the fields that differ from the saved run."""
    path = os.path.join(workdir, "config.json")
    new = json.loads(config.to_json_best_effort(sort_keys=True))
    if os.path.exists(path):
        with open(path) as f:
            old = json.load(f)
        flat = lambda d, p="": (
            {k2: v2 for k, v in d.items() for k2, v2 in flat(v, f"{p}{k}.").items()}
            if isinstance(d, dict) else {p[:-1]: d})
        fo, fn = flat(old), flat(new)
        for k in sorted(set(fo) | set(fn)):
            if fo.get(k, "<absent>") != fn.get(k, "<absent>"):
                logging.warning("config.%s changed on resume: %r -> %r", k, fo.get(k, "<absent>"),
                                fn.get(k, "<absent>"))
    with open(path, "w") as f:
        json.dump(new, f, indent=2, sort_keys=True)


class _StopFlag:
    """Set by SIGTERM/SIGINT: the loop checkpoints at the current step and returns."""

    def __init__(self):
        self.signal = None
        self.previous = {}

    def install(self):
        if threading.current_thread() is not threading.main_thread():
            return self
        for s in (signal.SIGTERM, signal.SIGINT):
            self.previous[s] = signal.signal(s, self._set)
        return self

    def _set(self, signum, frame):
        self.signal = signum

    def uninstall(self):
        for s, h in self.previous.items():
            signal.signal(s, h)


def train_and_evaluate(config, workdir: str):
    """Trains config.game on config.data for config.steps; returns (final state, last eval)."""
    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise UserError(f"--workdir={workdir!r} is a file, not a directory; pass a new or "
                        f"existing run directory.")
    try:
        os.makedirs(workdir, exist_ok=True)
    except OSError as e:
        raise UserError(f"--workdir={workdir!r} cannot be created ({e.strerror}); pass a "
                        f"directory you can write to.") from None
    lock = checkpoint.WorkdirLock(workdir) if parallel.is_main_process() else None
    try:
        return _train(config, workdir)
    finally:
        if lock:
            lock.release()


def _train(config, workdir: str):
    game = games.get(config.game)
    per_step = (game.examples_per_step(config) if hasattr(game, "examples_per_step")
                else config.batch_size)
    pipeline = data.build(config, jax.local_device_count(), jax.process_index(),
                          jax.process_count(), per_step)
    root = jax.random.PRNGKey(config.seed)
    state = game.init(root, config, pipeline.batch(0))
    ckpt = checkpoint.Checkpointer(workdir, config.keep_checkpoints)
    try:
        state, meta, start = ckpt.restore_latest(state)
    except UserError:
        ckpt.close()
        raise
    is_main = parallel.is_main_process()
    if start >= config.steps:
        ckpt.close()
        if is_main:
            logging.info("gan_jax: %s is already at step %d (config.steps=%d): nothing to train. "
                         "To continue it, raise --config.steps (e.g. --config.steps=%d).",
                         workdir, start, config.steps, 2 * start)
        return state, {}
    if start:
        logging.info("Resumed from the checkpoint at step %d in %s.", start, ckpt.directory)
    state = parallel.replicate(state)
    if is_main:
        save_config(config, workdir)
    writer = Writer(workdir, start, is_main)

    step_fn = parallel.map_step(guard_nonfinite(functools.partial(game.train_step, config=config)))
    fixed_batch = pipeline.host_batch(0)
    sample_fn = jax.jit(lambda s, b, k, n: game.sample(s, config, b, k, n), static_argnums=3)
    sample_key = jax.random.fold_in(root, SAMPLE_KEY)
    reference = getattr(pipeline.source, "means", None)

    written = {}

    def write_samples(step):
        images = np.asarray(sample_fn(state, fixed_batch, sample_key, config.sample.num))
        path = writer.image(step, "samples", viz.render(images, reference))
        if path:
            written["samples"] = path
            logging.info("step %d: wrote %s", step, path)

    def run_eval(step):
        key = jax.random.fold_in(jax.random.fold_in(root, EVAL_KEY), step)
        chunk = config.eval.get("batch_size", 500)

        def samples(n):
            outs = [np.asarray(sample_fn(state, fixed_batch, jax.random.fold_in(key, i), chunk))
                    for i in range((n + chunk - 1) // chunk)]
            return np.concatenate(outs)[:n]

        if hasattr(game, "evaluate"):  # games with their own measures (e.g. translation)
            values = game.evaluate(state, config, pipeline, key)
        else:
            values = metrics.evaluate(config, samples, pipeline)
        if values:
            writer.scalars(step, {f"eval/{k}": v for k, v in values.items()})
            logging.info("step %d eval: %s", step,
                         "  ".join(f"{k}={v:.4g}" for k, v in values.items()))
        return values

    every = lambda n, done: n > 0 and done % n == 0
    pending = [{k: np.float64(v) for k, v in row.items()} for row in meta.get("pending", [])]
    inflight = []
    stop = _StopFlag().install()
    t_log, steps_since, last_eval, last_logged = time.time(), 0, {}, {}
    batches = pipeline.iterate(start)
    if is_main:
        logging.info("Compiling the train step (the first step waits for it) ...")
    t_compile = time.time()
    try:
        for step in range(start, config.steps):
            state, m = step_fn(state, next(batches))
            if step == start and is_main:
                logging.info("Train step compiled in %.1f s; training from step %d.",
                             time.time() - t_compile, start)
            inflight.append(m)
            done, steps_since = step + 1, steps_since + 1
            last = done == config.steps
            log = every(config.log_every, done) or last
            # Read the flag once per step: a signal that lands later in this step (e.g. while
            # waiting on metrics) is acted on after the next step, which then saves and stops.
            stopping = stop.signal is not None
            save = every(config.checkpoint_every, done) or last or stopping
            sample = every(config.sample_every, done) or last
            evaluate = every(config.eval_every, done) or (last and config.eval_every >= 0)
            if len(inflight) >= config.max_inflight_steps or log or save or sample or evaluate:
                # float64 on the host: checkpointed partial-interval sums replay exactly.
                rows = [{k: np.float64(v) for k, v in r.items()} for r in jax.device_get(inflight)]
                inflight = []
                for i, row in enumerate(rows):
                    if row["nonfinite"] > 0:
                        at = done - len(rows) + i + 1
                        terms = _nonfinite_terms(row)
                        msg = (f"step {at}: non-finite {', '.join(terms)} "
                               f"({', '.join(sorted({_player(t) for t in terms}))})")
                        if config.nan_policy == "stop":
                            raise NonFiniteError(
                                f"{msg}; stopped (config.nan_policy='stop'). The state was not "
                                f"updated by that step; the last good checkpoint is step "
                                f"{max(ckpt.steps(), default=0)} in {ckpt.directory}. Lower "
                                f"the learning rates or set config.nan_policy='skip'.")
                        logging.warning("%s; step skipped (config.nan_policy='skip').", msg)
                pending.extend(rows)
            if log:
                good = [r for r in pending if r["nonfinite"] == 0]
                row = {k: float(np.mean([r[k] for r in good])) for k in good[0]} if good else {}
                row.pop("nonfinite", None)
                row["skipped_steps"] = float(len(pending) - len(good))
                last_logged = row
                writer.scalars(done, row)
                pending = []
                dt = time.time() - t_log
                rate = steps_since / max(dt, 1e-9)
                eta = (config.steps - done) / max(rate, 1e-9)
                if is_main:
                    logging.info("step %d/%d  %.2f steps/s  ETA %dm%02ds  %s", done, config.steps,
                                 rate, eta // 60, eta % 60,
                                 "  ".join(f"{k}={row[k]:.4g}" for k in
                                           ("d_loss", "g_loss", "d_real", "d_fake") if k in row))
            if sample:
                write_samples(done)
            if evaluate:
                last_eval = run_eval(done)
            if save:
                ckpt.save(done, state, {"pending": [
                    {k: float(v) for k, v in r.items()} for r in pending]})
            if log or sample or evaluate:
                t_log, steps_since = time.time(), 0
                writer.flush()
            if stopping:
                logging.warning("Signal %d: checkpointed at step %d in %s; exiting. Re-run with "
                                "the same --workdir to resume.", stop.signal, done, ckpt.directory)
                break
    finally:
        stop.uninstall()
        ckpt.close()
        writer.close()
    if is_main and stop.signal is None:
        logging.info("%s", closing_line(config, last_eval, last_logged, written.get("samples"),
                                        ckpt.directory, config.steps))
    return state, last_eval


def closing_line(config, last_eval: dict, last_row: dict, samples: str | None,
                 checkpoints: str, step: int) -> str:
    """The run's last line: the final step, the headline metric, the last grid and checkpoint.

    The headline is the first evaluation measure (e.g. fd_digits), else the last logged
    losses when evaluation is off.
    """
    if last_eval:
        name, value = next(iter(last_eval.items()))
        headline = f"{name}={value:.4g}"
    else:
        headline = "  ".join(f"{k}={last_row[k]:.4g}" for k in ("d_loss", "g_loss")
                             if k in last_row) or "no metrics"
    return (f"gan_jax: done at step {step}/{config.steps}: {headline}; last samples "
            f"{samples or '(none written)'}; checkpoint {os.path.join(checkpoints, str(step))}")
