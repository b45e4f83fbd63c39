"""Which convolution layers the nets are built with: config.conv_impl.

    'xla'   flax.linen's layers (gan_jax.nets.layers.FLAX): stock XLA convolutions,
            what GPUs and TPUs compile to cuDNN / their own kernels; forward- and
            reverse-mode AD (jax.jvp, jax.hessian work).
    'cpu'   the XLA:CPU backend (gan_jax.cpu): the same parameters, fast exact gradients
            on CPU; reverse-mode AD only.
    'auto'  'cpu' when JAX's default backend is the CPU, else 'xla' (the default).

Both give the same parameter trees, so a checkpoint trained with one restores into the
other. gan_jax.cpu is imported only when chosen.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import pkgutil

import jax

from gan_jax import nets
from gan_jax.errors import UserError
from gan_jax.nets.layers import FLAX, ConvLayers

IMPLS = ("auto", "xla", "cpu")


def check(config) -> str:
    """config.conv_impl, validated."""
    impl = config.get("conv_impl", "auto")
    if impl not in IMPLS:
        raise UserError(f"config.conv_impl={impl!r} is unknown; choose one of: "
                         f"{', '.join(IMPLS)}.")
    return impl


def resolve(config) -> str:
    """'xla' or 'cpu' for this process (initializes JAX's backends for 'auto')."""
    impl = check(config)
    if impl == "auto":
        return "cpu" if jax.default_backend() == "cpu" else "xla"
    return impl


def conv_layers(config) -> ConvLayers:
    """The conv modules config.conv_impl gives the nets."""
    if resolve(config) == "xla":
        return FLAX
    from gan_jax import cpu
    return cpu.conv_layers()


def expects_cpu_backend(config) -> bool:
    """Whether `resolve(config)` will say 'cpu', decided without any JAX call (so before
    jax.distributed.initialize): for 'auto', the first of JAX_PLATFORMS / jax_platforms
    if set, else whether no accelerator plugin (jax_plugins, libtpu) is installed. A
    plugin on a host without its device reads False: only the allocator setting is
    skipped then, the layers still follow `resolve`."""
    impl = check(config)
    if impl != "auto":
        return impl == "cpu"
    platforms = configured_platforms()
    if platforms:
        return platforms.split(",")[0].strip() == "cpu"
    return not accelerator_plugins()


def configured_platforms() -> str:
    """JAX_PLATFORMS / jax_platforms, e.g. 'cuda,cpu'; '' when JAX picks."""
    return jax.config.jax_platforms or ""


def accelerator_plugins() -> list[str]:
    """Installed JAX accelerator plugins (entry points and jax_plugins modules) and libtpu."""
    found = [ep.name for ep in importlib.metadata.entry_points(group="jax_plugins")]
    if importlib.util.find_spec("jax_plugins") is not None:
        import jax_plugins
        found += [m.name for m in pkgutil.iter_modules(jax_plugins.__path__)]
    if importlib.util.find_spec("libtpu") is not None:
        found.append("libtpu")
    return sorted(set(found))


def prepare_process(config) -> bool:
    """Process-wide settings of the chosen backend, before any other JAX call: the CPU
    backend's allocator setting (gan_jax.cpu.keep_freed_memory). True when one was made."""
    if not expects_cpu_backend(config):
        return False
    from gan_jax import cpu
    return cpu.keep_freed_memory()


def build_net(config, kind: str, data_shape, axis_name=None):
    """config.g's generator or config.d's discriminator ('generator' / 'discriminator') for
    data of `data_shape`, built with config.conv_impl's conv layers."""
    player = "g" if kind == "generator" else "d"
    return nets.build(kind, config[player], data_shape, axis_name, f"config.{player}.net",
                      conv_layers(config))
