"""Checkpoints of the whole GANState through orbax, plus loop metadata.

The data position is the step number (batches are a pure function of the step),
so a checkpoint at step s resumes the stream exactly. Orbax writes to a temporary
directory and renames it when complete, so a kill during a save leaves the
previous checkpoint intact; a checkpoint that still fails to restore is reported
and the one before it is used.
"""
from __future__ import annotations

import os

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging


class Checkpointer:
    def __init__(self, workdir: str, keep: int = 3, async_save: bool = True):
        self.directory = os.path.abspath(os.path.join(workdir, "checkpoints"))
        self.manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                                 enable_async_checkpointing=async_save))

    def steps(self):
        return sorted(self.manager.all_steps())

    def save(self, step: int, state, meta: dict | None = None) -> None:
        self.manager.save(int(step), args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta or {})))

    def restore(self, step: int, target):
        abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, target)
        out = self.manager.restore(int(step), args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
        return out["state"], dict(out["meta"] or {})

    def restore_latest(self, target):
        """(state, meta, step) of the newest checkpoint that restores; (target, {}, 0) if none."""
        for step in reversed(self.steps()):
            try:
                state, meta = self.restore(step, target)
                return state, meta, step
            except Exception as e:  # corrupt or truncated: fall back to the previous one
                logging.error("Checkpoint at step %d in %s failed to restore (%s: %s); "
                              "trying the previous one.", step, self.directory, type(e).__name__, e)
        return target, {}, 0

    def wait(self):
        self.manager.wait_until_finished()

    def close(self):
        self.manager.wait_until_finished()
        self.manager.close()
