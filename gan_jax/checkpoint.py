"""Checkpoints of the whole GANState through orbax, plus loop metadata.

The data position is the step number (batches are a pure function of the step),
so a checkpoint at step s resumes the stream exactly. Orbax writes to a temporary
directory and renames it when complete, so a kill during a save leaves the
previous checkpoint intact; a checkpoint that still fails to restore is reported
and the one before it is used. When a workdir holds checkpoints and none of them
restores, the run stops with a UserError naming them: it never starts again from
step 0 over them.
"""
from __future__ import annotations

import fcntl
import os

import jax
import orbax.checkpoint as ocp
from absl import logging

from gan_jax.errors import UserError


class CheckpointMismatchError(UserError):
    """The checkpoint's arrays do not fit the state the config builds."""


def _path_str(path) -> str:
    parts = []
    for k in path:
        for attr in ("name", "key", "idx"):
            if hasattr(k, attr):
                parts.append(str(getattr(k, attr)))
                break
    return "/".join(parts)


def flat_shapes(tree) -> dict:
    """{'g_params/Dense_0/kernel': shape, ...} for a pytree of arrays or array metadata."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {_path_str(p): tuple(getattr(x, "shape", ())) for p, x in leaves}


def shape_mismatches(saved: dict, expected: dict) -> list:
    """Lines naming each array whose presence or shape differs between saved and expected."""
    lines = []
    for k in sorted(set(saved) | set(expected)):
        if k not in saved:
            lines.append(f"  {k}: expected {expected[k]}, not in the checkpoint")
        elif k not in expected:
            lines.append(f"  {k}: {saved[k]} in the checkpoint, not built by this config")
        elif saved[k] != expected[k]:
            lines.append(f"  {k}: checkpoint {saved[k]} vs config {expected[k]}")
    return lines


class WorkdirLock:
    """An exclusive lock on <workdir>/.lock for the run's lifetime (freed by the OS on death)."""

    def __init__(self, workdir: str):
        self.path = os.path.join(workdir, ".lock")
        try:
            self.file = open(self.path, "a+")
        except OSError as e:
            raise UserError(f"--workdir={workdir!r}: cannot write {self.path!r} "
                            f"({e.strerror}); pass a directory you can write to.") from None
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.seek(0)
            owner = self.file.read().strip() or "unknown"
            self.file.close()
            raise UserError(
                f"--workdir={workdir!r} is in use by another run (pid {owner}); wait for it to "
                f"finish, stop it, or pass a different --workdir.") from None
        self.file.seek(0)
        self.file.truncate()
        self.file.write(str(os.getpid()))
        self.file.flush()

    def release(self):
        if not self.file.closed:
            fcntl.flock(self.file, fcntl.LOCK_UN)
            self.file.close()


class Checkpointer:
    def __init__(self, workdir: str, keep: int = 3, async_save: bool = True):
        self.directory = os.path.abspath(os.path.join(workdir, "checkpoints"))
        self.manager = ocp.CheckpointManager(
            self.directory,
            item_handlers={"state": ocp.StandardCheckpointHandler(),
                           "meta": ocp.JsonCheckpointHandler()},
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                                 cleanup_tmp_directories=True,
                                                 enable_async_checkpointing=async_save))

    def steps(self):
        return sorted(self.manager.all_steps())

    def save(self, step: int, state, meta: dict | None = None) -> None:
        """Saves host copies of the (replicated) state: one copy, written by the primary process
        of a multi-host run, independent of the device layout it is restored onto."""
        self.manager.save(int(step), args=ocp.args.Composite(
            state=ocp.args.StandardSave(jax.device_get(state)), meta=ocp.args.JsonSave(meta or {})))

    def restore(self, step: int, target):
        """(state as host numpy arrays shaped like `target`, meta) of checkpoint `step`."""
        abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, jax.device_get(target))
        out = self.manager.restore(int(step), args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
        return out["state"], dict(out["meta"] or {})

    def check_compatible(self, step: int, target) -> None:
        """Raises CheckpointMismatchError listing arrays whose shapes differ from `target`."""
        metadata = self.manager.item_metadata(int(step))["state"]
        if metadata is None:
            raise OSError(f"no readable array metadata in checkpoint {step}")
        saved = flat_shapes(metadata)
        lines = shape_mismatches(saved, flat_shapes(target))
        if lines:
            shown = "; ".join(line.strip() for line in lines[:3])
            more = f"; and {len(lines) - 3} more" if len(lines) > 3 else ""
            raise CheckpointMismatchError(
                f"the checkpoint at step {step} in {self.directory} does not match the config "
                f"({len(lines)} arrays differ: {shown}{more}); resume with the config the run "
                f"was started with (config.json in the workdir), or start a new run in another "
                f"--workdir.")

    def restore_latest(self, target):
        """(state, meta, step) of the newest checkpoint that restores; (target, {}, 0) if none.

        A checkpoint that fails to read (corrupt, truncated) is reported and the previous one
        is tried; one whose shapes do not fit the config raises CheckpointMismatchError. When
        there are checkpoints and none restores, raises UserError naming them (they are left
        as they are): a run never silently starts again from step 0 over a workdir's history.
        """
        steps, failed = self.steps(), []
        for step in reversed(steps):
            try:
                self.check_compatible(step, target)
                state, meta = self.restore(step, target)
                return state, meta, step
            except CheckpointMismatchError:
                raise
            except Exception as e:  # corrupt or truncated: fall back to the previous one
                reason = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                failed.append(f"{step} ({reason[:200]})")
                logging.error("Checkpoint at step %d in %s failed to restore (%s); trying the "
                              "previous one.", step, self.directory, reason)
        if failed:
            raise UserError(
                f"no checkpoint in {self.directory} restores (steps {', '.join(failed)}); they "
                f"were left untouched. Move that directory aside to start again from step 0, "
                f"or pass another --workdir.")
        return target, {}, 0

    def wait(self):
        self.manager.wait_until_finished()

    def close(self):
        self.manager.wait_until_finished()
        self.manager.close()
