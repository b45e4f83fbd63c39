"""Plain Flax modules, no platform code. Each net file `nets/<name>.py` exports
`make_generator(net_config, data_shape, axis_name, convs)` and/or
`make_discriminator(net_config, data_shape, axis_name, convs)`; config.g.net and
config.d.net pick the file by name. `convs` (layers.ConvLayers, flax.linen's by default)
are the conv modules the net is built with (gan_jax.backend picks them from
config.conv_impl).
"""
from __future__ import annotations

import importlib
import pkgutil

from gan_jax.errors import UserError
from gan_jax.nets.layers import FLAX


def available(kind: str):
    fn = f"make_{kind}"
    names = []
    for m in pkgutil.iter_modules(__path__):
        if m.name in ("layers",):
            continue
        if hasattr(importlib.import_module(f"{__name__}.{m.name}"), fn):
            names.append(m.name)
    return sorted(names)


def build(kind: str, net_config, data_shape, axis_name=None, field: str = "", convs=FLAX):
    """The `kind` ('generator' or 'discriminator') module named by net_config.net, built
    with the conv modules `convs`."""
    name = net_config.net
    names = available(kind)
    if name not in names:
        raise UserError(f"{field or 'config.net'}={name!r} is not a known {kind}; "
                         f"choose one of: {', '.join(names)}.")
    module = importlib.import_module(f"{__name__}.{name}")
    return getattr(module, f"make_{kind}")(net_config, tuple(data_shape), axis_name, convs)
