"""Checks a config before anything is built; each error names the field and the fix."""
from __future__ import annotations

from gan_jax import backend, data, games, losses, optim
from gan_jax.errors import UserError

NAN_POLICIES = ("stop", "skip", "off")


def _positive_int(config, field, minimum=1):
    value = config
    for part in field.split("."):
        value = value[part]
    if not isinstance(value, int) or value < minimum:
        raise UserError(f"config.{field}={value!r} must be an integer >= {minimum}.")


def validate(config) -> None:
    games.get(config.game)
    backend.check(config)
    name = config.data.name
    if not any(name.startswith(p) for p in data.PREFIXES) and name not in data.BUILTIN:
        data.build_source(config.data)  # raises the unknown-name error
    if "loss" in config:
        losses.get(config.loss.name)
        if config.loss.get("penalty", "none") not in losses.PENALTIES:
            raise UserError(f"config.loss.penalty={config.loss.penalty!r} is unknown; choose one "
                             f"of: {', '.join(sorted(losses.PENALTIES))}.")
    for field in ("steps", "batch_size"):
        _positive_int(config, field)
    for field in ("log_every", "checkpoint_every", "sample_every", "keep_checkpoints"):
        _positive_int(config, field, 0)
    _positive_int(config, "max_inflight_steps")
    if config.max_inflight_steps > 32:
        raise UserError(f"config.max_inflight_steps={config.max_inflight_steps} is above 32, "
                         "where XLA:CPU collectives can deadlock; use 32 or less.")
    if config.nan_policy not in NAN_POLICIES:
        raise UserError(f"config.nan_policy={config.nan_policy!r} is unknown; choose one of: "
                         f"{', '.join(NAN_POLICIES)}.")
    if "optim" in config:
        _positive_int(config, "optim.n_critic")
        optim.make(config.optim, "g", config.steps)  # the unknown-optimizer/schedule errors
    weights = config.get("eval", {}).get("inception_weights", "")
    if weights:
        from gan_jax.metrics import inception
        inception.load_variables(weights)  # missing, not converted, or wrong shapes
