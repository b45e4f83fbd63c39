"""Optimizers and learning-rate schedules for each player, built from config.optim."""
from __future__ import annotations

import optax

from gan_jax.errors import UserError

OPTIMIZERS = ("adam", "rmsprop", "sgd")
SCHEDULES = ("constant", "linear_decay")


def schedule(optim_config, player: str, total_steps: int):
    """LR of `player` ('g' or 'd') per step: constant, or constant for
    `decay_start` steps then linear to 0 at `total_steps` (CycleGAN, Zhu 2017)."""
    lr = float(optim_config[f"{player}_lr"])
    kind = optim_config.get("schedule", "constant")
    if kind == "constant":
        return optax.constant_schedule(lr)
    if kind == "linear_decay":
        start = int(optim_config.get("decay_start", total_steps // 2))
        return optax.join_schedules(
            [optax.constant_schedule(lr),
             optax.linear_schedule(lr, 0.0, max(total_steps - start, 1))], [start])
    raise UserError(f"config.optim.schedule={kind!r} is unknown; choose one of: {', '.join(SCHEDULES)}.")


def make(optim_config, player: str, total_steps: int, updates_per_step: int = 1):
    """The optax optimizer of `player`: config.optim.name with `{player}_lr`, `{player}_betas`.

    `updates_per_step` > 1 (D with n_critic) makes the schedule advance per step, not per update.
    """
    name = optim_config.get("name", "adam")
    sched = schedule(optim_config, player, total_steps)
    lr = (lambda count: sched(count // updates_per_step)) if updates_per_step > 1 else sched
    betas = tuple(optim_config.get(f"{player}_betas", (0.5, 0.999)))
    if name == "adam":
        tx = optax.adam(lr, b1=betas[0], b2=betas[1], eps=optim_config.get("eps", 1e-8))
    elif name == "rmsprop":
        # PyTorch's RMSprop (WGAN reference): decay 0.99, eps 1e-8 outside the sqrt.
        tx = optax.rmsprop(lr, decay=0.99, eps=1e-8, eps_in_sqrt=False)
    elif name == "sgd":
        tx = optax.sgd(lr, momentum=optim_config.get("momentum", 0.0) or None)
    else:
        raise UserError(f"config.optim.name={name!r} is unknown; choose one of: {', '.join(OPTIMIZERS)}.")
    return tx, sched
