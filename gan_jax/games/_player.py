"""A player of a game: its net applied with batch statistics threaded through, and the
one parameter update every game uses for G and for D.

`update` is where the shared options are honoured, the same way in every game:
gradients (and the metrics of that update) averaged over devices, the optimizer step,
weight clipping of D (config.loss.clip), the EMA of G (config.ema.decay), and the
metrics {p}_grad_norm, {p}_update_norm, {p}_param_norm, {p}_lr. (The non-finite guard,
which skips a step whose metrics are not finite, wraps every game's whole step:
`train.guard_nonfinite`.)
"""
from __future__ import annotations

from gan_jax import losses, optim, parallel
from gan_jax.state import global_norm


def apply_net(module, params, batch_stats, x, train=True, **kwargs):
    """module(x) with batch statistics threaded through; returns (out, new batch_stats)."""
    variables = {"params": params}
    if batch_stats:
        variables["batch_stats"] = batch_stats
        if train:
            out, mut = module.apply(variables, x, train=True, mutable=["batch_stats"], **kwargs)
            return out, mut["batch_stats"]
    return module.apply(variables, x, train=train, **kwargs), batch_stats


def keeps_ema(config) -> bool:
    """Whether the state keeps an EMA of G (config.ema.decay > 0)."""
    return config.ema.decay > 0


def learning_rate(config, player: str, step):
    """`player`'s learning rate at step `step` (config.optim's schedule)."""
    return optim.schedule(config.optim, player, config.steps)(step)


def update(state, player: str, grads, config, metrics=None):
    """One optimizer step of `player` ('g' or 'd'); returns (state, metrics).

    grads, metrics <- pmean over devices; params <- params + optimizer(grads); then for
    D, params <- clip(params, -c, c) when c = config.loss.clip > 0 (Arjovsky 2017), and
    for G, g_ema <- decay g_ema + (1 - decay) g_params with decay = config.ema.decay
    (when the state keeps an EMA). The returned metrics are the averaged `metrics` plus
    {p}_grad_norm (averaged gradients), {p}_update_norm (the optimizer's update),
    {p}_param_norm (after this update) and {p}_lr (the learning rate of the step being
    taken: call before the game advances state.step).
    """
    grads, metrics = parallel.pmean((grads, dict(metrics or {})))
    state, update_norm = state.apply_gradients(player, grads)
    clip = config.get("loss", {}).get("clip", 0.0)  # BEGAN's config has no loss section
    if player == "d" and clip > 0:
        state = state.replace(d_params=losses.clip_weights(state.d_params, clip))
    if player == "g":
        state = state.update_ema(config.ema.decay)
    metrics.update({
        f"{player}_grad_norm": global_norm(grads),
        f"{player}_update_norm": update_norm,
        f"{player}_param_norm": global_norm(getattr(state, f"{player}_params")),
        f"{player}_lr": learning_rate(config, player, state.step)})
    return state, metrics
