"""Entry point: `python -m gan_jax.main --config=configs/dcgan.py --workdir=runs/dcgan`.

Override any config field on the command line: `--config.batch_size=32`,
`--config.optim.g_lr=1e-4`, or pick a config variant: `--config=configs/dcgan.py:smoke`.
`--mode=summary` prints the nets' parameter counts and exits (no data, no train step).

A user's mistake (gan_jax.errors.UserError, a bad flag or recipe file) is printed as
ONE line, `gan_jax: error: <what is wrong and the fix>`, and exits with status 2;
any other exception is a bug and keeps its traceback.
"""
from __future__ import annotations

import importlib.util
import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from gan_jax.errors import UserError

_CONFIG = config_flags.DEFINE_config_file("config", None, "Recipe file (configs/*.py).",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory: metrics, samples, checkpoints.")
_MODE = flags.DEFINE_enum("mode", "train", ["train", "summary"],
                          "train: train and evaluate (resumes from --workdir); "
                          "summary: print parameter counts.")

EXIT_USER_ERROR = 2


def fail(message: str):
    """Prints a user's mistake as one line on stderr and exits with status 2."""
    one_line = " ".join(part.strip() for part in str(message).splitlines() if part.strip())
    print(f"gan_jax: error: {one_line}", file=sys.stderr, flush=True)
    sys.exit(EXIT_USER_ERROR)


def quiet_library_logs():
    """Keeps orbax's per-save INFO chatter out of the console (warnings still show)."""
    handler = logging.get_absl_handler()
    handler.addFilter(lambda r: r.levelno >= 30 or "/orbax/" not in r.pathname)


def start_backends():
    """jax.devices(), with the INFO lines that starting the backends logs about what is
    absent (e.g. "Unable to initialize backend 'tpu'") kept out of the console: they are
    not news to a user, and they would come before our first line."""
    import logging as std_logging

    import jax

    bridge = std_logging.getLogger("jax._src.xla_bridge")
    level = bridge.level
    bridge.setLevel(std_logging.WARNING)
    try:
        return jax.devices()
    finally:
        bridge.setLevel(level)


def describe_run(config, config_spec: str, workdir: str) -> str:
    """The run's first line: what is trained, on what devices, where the outputs go."""
    import jax

    devices = jax.devices()
    hosts = f" on {jax.process_count()} hosts" if jax.process_count() > 1 else ""
    nets = "/".join(str(config[p].get("net", "?")) for p in ("g", "d") if p in config)
    return (f"gan_jax: training {config.game} ({nets}) from {config_spec} on "
            f"{config.data.name} for {config.steps} steps, batch {config.batch_size}, on "
            f"{len(devices)} {devices[0].platform} device(s){hosts}; outputs in "
            f"{os.path.abspath(workdir)}")


def main(argv):
    if len(argv) > 1:
        fail(f"unexpected arguments {argv[1:]}; pass settings as --config.FIELD=VALUE.")
    try:
        run(_CONFIG.value, _config_spec(sys.argv), _WORKDIR.value, _MODE.value)
    except UserError as e:
        fail(e)


def run(config, config_spec: str, workdir: str | None, mode: str):
    from gan_jax import backend
    backend.prepare_process(config)  # CPU backend only: before XLA's threads allocate
    # Multi-host: must come before any other JAX call.
    from gan_jax import parallel
    parallel.initialize(config.get("distributed", {}))
    start_backends()
    from gan_jax import config_check, summary, train

    config_check.validate(config)
    if mode == "summary":
        print(summary.parameter_table(config))
        return
    if not workdir:
        raise UserError("--workdir is required to train; give a run directory, e.g. "
                        "--workdir=runs/dcgan.")
    first = describe_run(config, config_spec, workdir)
    logging.set_verbosity(logging.INFO)
    quiet_library_logs()
    if parallel.is_main_process():
        logging.info("%s", first)
    train.train_and_evaluate(config, workdir)


def _config_spec(argv) -> str:
    """The PATH[:ARG] of --config=PATH[:ARG] (or --config PATH[:ARG]) in argv, or ''."""
    for i, a in enumerate(argv):
        if a.startswith("--config="):
            return a.split("=", 1)[1]
        if a == "--config" and i + 1 < len(argv):
            return argv[i + 1]
    return ""


def _load_recipe(spec: str):
    """get_config(ARG) of the recipe file PATH named by PATH[:ARG], without overrides.

    A missing file, a file without get_config, or a variant the recipe rejects (it
    raises ValueError) is a UserError; any other exception in the recipe is its bug.
    """
    path, _, arg = spec.partition(":")
    if not os.path.isfile(path):
        raise UserError(f"--config={spec}: {path!r} is not a file; give a recipe file, e.g. "
                        f"--config=configs/dcgan.py (recipes are configs/*.py).")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module_spec = importlib.util.spec_from_file_location("_recipe", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    if not callable(getattr(module, "get_config", None)):
        raise UserError(f"--config={spec}: {path!r} defines no get_config(); a recipe file "
                        f"defines get_config(arg='') returning an ml_collections.ConfigDict.")
    try:
        return module.get_config(arg) if arg else module.get_config()
    except (ValueError, TypeError) as e:
        raise UserError(f"--config={spec}: {e}") from None


def _unknown_override(config, argv):
    """A message for the first --config.FIELD override that names no field, or None."""
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
    """absl flag parsing whose errors are one line naming the flag, file or config field."""
    if any(a.split("=")[0] in ("--help", "-h", "--helpfull", "--helpshort") for a in argv):
        return flags.FLAGS(argv)
    spec = _config_spec(argv)
    if not spec:
        fail("--config is required: give a recipe file, e.g. --config=configs/dcgan.py "
             "(recipes are configs/*.py).")
    try:
        recipe = _load_recipe(spec)
    except UserError as e:
        fail(e)
    message = _unknown_override(recipe, argv)
    if message:
        fail(message)
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        fail(e)


if __name__ == "__main__":
    app.run(main, flags_parser=parse_flags)
