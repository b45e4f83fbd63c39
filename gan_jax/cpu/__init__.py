"""The XLA:CPU backend: what makes training fast on a CPU, and only there.

Chosen by config.conv_impl ('cpu', or 'auto' when JAX's default backend is the CPU;
gan_jax/backend.py decides). Nothing outside this package imports its modules: the
trainer takes `conv_layers()` (drop-in replacements of the nets' conv modules, the same
parameters) and `keep_freed_memory()`. On another backend this package is never imported,
so nothing of it is compiled or loaded there. The nets themselves are plain Flax
(gan_jax/nets/).

What each piece buys (the figures are why it exists; whole-step A/Bs per piece and the
current step benchmark are in docs/performance.md):

- conv.py: `conv_general_dilated` with a custom VJP (lax's function): kernel gradients as
  per-tap matmuls, transposed convs as sub-pixel stride-1 convs, image heads as matmuls.
  XLA:CPU's own kernel gradient of a transposed conv ran ~20x its forward. Reverse-mode
  AD of any order; not forward mode (jax.jvp): use conv_impl='xla' for that.
- onednn.py: plain convolutions through XLA:CPU's own `__onednn$convolution` custom call
  (1.4-2x XLA's kernels); the private jax._src custom_call import, behind the tested
  jaxlib check (TESTED_JAXLIB).
- native.py + csrc/onednn_conv.cc: an FFI handler, compiled on first use with the C++
  compiler against the oneDNN wheel, for oneDNN's backward-data / backward-weights kernels
  (kernel gradients 1.5-3x, transposed convs 1.3-2x).
- winograd.py + csrc/winograd.cc: DCGAN's 4x4 stride-2 convs by Winograd F(4x4, 2x2)
  after space-to-depth (2.56x fewer multiply-adds).
- hostmem.py: glibc keeps freed memory so XLA:CPU's per-step buffers stop faulting pages
  in (1-5% on CycleGAN and dcgan64); process-wide, so called only for this backend.

Overrides for A/B measurements, read when a convolution is traced (set them before the
first step): GAN_JAX_ONEDNN=0, GAN_JAX_NATIVE=0, GAN_JAX_WINOGRAD=0 turn the respective
piece off; GAN_JAX_KEEP_FREED_MEMORY=0 skips hostmem.
"""
from __future__ import annotations

from gan_jax.nets.layers import ConvLayers


def conv_layers() -> ConvLayers:
    """The nets' conv modules with XLA:CPU's fast exact gradients (conv.py)."""
    from gan_jax.cpu import conv
    return conv.LAYERS


def keep_freed_memory() -> bool:
    """glibc keeps freed memory in the process (hostmem.py); True when applied."""
    from gan_jax.cpu import hostmem
    return hostmem.keep_freed_memory()
