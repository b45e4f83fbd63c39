"""One small writer for scalars and images: metrics.jsonl, TensorBoard, PNG.

Needs no TensorFlow (TensorBoard events through tensorboardX). Only the main
process writes; the others get a writer that does nothing.
"""
from __future__ import annotations

import json
import os

import numpy as np

from gan_jax import viz


def truncate_jsonl(path: str, last_step: int) -> None:
    """Drops lines with step > last_step (written after the checkpoint we resume from)."""
    if not os.path.exists(path):
        return
    with open(path) as f:
        lines = [l for l in f if l.strip()]
    kept = [l for l in lines if json.loads(l).get("step", 0) <= last_step]
    if len(kept) != len(lines):
        with open(path + ".tmp", "w") as f:
            f.writelines(kept)
        os.replace(path + ".tmp", path)


class Writer:
    def __init__(self, workdir: str, start_step: int = 0, enabled: bool = True):
        self.enabled = enabled
        self.workdir = workdir
        self.jsonl = os.path.join(workdir, "metrics.jsonl")
        self.tb = None
        if not enabled:
            return
        os.makedirs(os.path.join(workdir, "samples"), exist_ok=True)
        truncate_jsonl(self.jsonl, start_step)
        try:
            from tensorboardX import SummaryWriter
            self.tb = SummaryWriter(os.path.join(workdir, "tensorboard"), purge_step=start_step + 1)
        except ImportError:  # TensorBoard events are optional; metrics.jsonl is not.
            self.tb = None

    def scalars(self, step: int, values: dict) -> None:
        if not self.enabled:
            return
        row = {"step": int(step)}
        row.update({k: float(v) for k, v in values.items()})
        with open(self.jsonl, "a") as f:
            f.write(json.dumps(row) + "\n")
        if self.tb is not None:
            for k, v in values.items():
                self.tb.add_scalar(k, float(v), int(step))

    def image(self, step: int, name: str, image: np.ndarray) -> str | None:
        """Writes a uint8 HWC image as samples/<name>_<step>.png and to TensorBoard."""
        if not self.enabled:
            return None
        path = os.path.join(self.workdir, "samples", f"{name}_{int(step):07d}.png")
        viz.save_png(path, image)
        if self.tb is not None:
            self.tb.add_image(name, np.asarray(image), int(step), dataformats="HWC")
        return path

    def flush(self):
        if self.tb is not None:
            self.tb.flush()

    def close(self):
        if self.tb is not None:
            self.tb.close()
