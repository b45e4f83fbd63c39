"""Flax modules only. Each net file `nets/<name>.py` exports
`make_generator(net_config, data_shape, axis_name)` and/or
`make_discriminator(net_config, data_shape, axis_name)`; config.g.net and
config.d.net pick the file by name.
"""
from __future__ import annotations

import importlib
import pkgutil


def available(kind: str):
    fn = f"make_{kind}"
    names = []
    for m in pkgutil.iter_modules(__path__):
        if m.name in ("layers",):
            continue
        if hasattr(importlib.import_module(f"{__name__}.{m.name}"), fn):
            names.append(m.name)
    return sorted(names)


def build(kind: str, net_config, data_shape, axis_name=None, field: str = ""):
    """The `kind` ('generator' or 'discriminator') module named by net_config.net."""
    name = net_config.net
    names = available(kind)
    if name not in names:
        raise ValueError(f"{field or 'config.net'}={name!r} is not a known {kind}; "
                         f"choose one of: {', '.join(names)}.")
    module = importlib.import_module(f"{__name__}.{name}")
    return getattr(module, f"make_{kind}")(net_config, tuple(data_shape), axis_name)
