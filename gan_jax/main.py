"""Entry point: `python -m gan_jax.main --config=configs/dcgan.py --workdir=runs/dcgan`.

Override any config field on the command line: `--config.batch_size=32`,
`--config.optim.g_lr=1e-4`, or pick a config variant: `--config=configs/dcgan.py:smoke`.
`--mode=summary` prints the nets' parameter counts and exits.
"""
from __future__ import annotations

import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "Recipe file (configs/*.py).",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory: metrics, samples, checkpoints.")
_MODE = flags.DEFINE_enum("mode", "train", ["train", "summary"],
                          "train: train and evaluate (resumes from --workdir); "
                          "summary: print parameter counts.")
flags.mark_flags_as_required(["config"])


def quiet_library_logs():
    """Keeps orbax's per-save INFO chatter out of the console (warnings still show)."""
    handler = logging.get_absl_handler()
    handler.addFilter(lambda r: r.levelno >= 30 or "/orbax/" not in r.pathname)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    config = _CONFIG.value
    from gan_jax import backend
    backend.prepare_process(config)  # CPU backend only: before XLA's threads allocate
    # Multi-host: must come before any other JAX call.
    from gan_jax import parallel
    parallel.initialize(config.get("distributed", {}))
    from gan_jax import config_check, summary, train

    config_check.validate(config)
    if _MODE.value == "summary":
        print(summary.parameter_table(config))
        return
    if not _WORKDIR.value:
        raise app.UsageError("--workdir is required to train (e.g. --workdir=runs/dcgan).")
    logging.set_verbosity(logging.INFO)
    quiet_library_logs()
    train.train_and_evaluate(config, _WORKDIR.value)


def _load_recipe(argv):
    """The recipe named by --config=PATH[:ARG], loaded without overrides."""
    import importlib.util
    import sys

    spec = next(a.split("=", 1)[1] for a in argv if a.startswith("--config="))
    path, _, arg = spec.partition(":")
    sys.path.insert(0, os.getcwd())
    module_spec = importlib.util.spec_from_file_location("_recipe", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.get_config(arg) if arg else module.get_config()


def _unknown_override(argv):
    """A message for the first --config.FIELD override that names no field, or None."""
    try:
        config = _load_recipe(argv)
    except Exception:
        return None
    for a in argv:
        if not a.startswith("--config."):
            continue
        field = a[len("--config."):].split("=", 1)[0]
        node = config
        for i, part in enumerate(field.split(".")):
            if not hasattr(node, "keys") or part not in node:
                parent = ".".join(["config"] + field.split(".")[:i])
                known = ", ".join(sorted(node.keys())) if hasattr(node, "keys") else "(a leaf)"
                return (f"config.{field} is not a field of this recipe: {parent} has no "
                        f"{part!r}. Fields of {parent}: {known}.")
            node = node[part]
    return None


def parse_flags(argv):
    """absl flag parsing that names the config field of a bad --config.X override."""
    try:
        return flags.FLAGS(argv)
    except Exception as e:
        message = _unknown_override(argv) or f"{type(e).__name__}: {e}"
        print(f"FATAL: {message}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
