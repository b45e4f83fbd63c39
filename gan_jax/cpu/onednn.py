"""Convolutions on XLA:CPU through the oneDNN kernels that jaxlib already links.

jaxlib's XLA:CPU carries oneDNN's convolution primitives and a runtime for the
custom call `__onednn$convolution` (XLA's own oneDNN rewriter emits it; in the
jaxlib builds on PyPI that rewriter does not run, and no XLA flag turns it on).
`conv` below emits that custom call for a channels-last convolution, so XLA:CPU
runs it with oneDNN's JIT kernels: 395-448 GFLOP/s for the DCGAN and SN-GAN
convolutions on a 2-core AVX-512 EPYC, where XLA's own (YNNPACK / Eigen) reached
227-301 (whole steps: docs/performance.md).

The custom call and its backend config (`xla.cpu.BackendConfig.onednn_conv_config`,
JSON) are internal to XLA and have changed between versions, and a config that
oneDNN rejects aborts the process rather than raising. So the path is used only
on the jaxlib versions it was tested with (`TESTED_JAXLIB`), only for float32,
and only where oneDNN takes the case (no input dilation, padding >= 0); every
other case, every other platform (its lowering there is lax's convolution) and
`GAN_JAX_ONEDNN=0` in the environment use `jax.lax.conv_general_dilated` (the
variable is read when a convolution is traced; set it before the first step).
tests/test_cpu_conv.py checks that the custom call is in the compiled program and
agrees with lax.
"""
from __future__ import annotations

import functools
import json
import os

import jax
import jax.numpy as jnp
import jaxlib
from jax import lax
from jax.extend.core import Primitive
from jax.interpreters import batching, mlir

TESTED_JAXLIB = ("0.10.2",)
_NHWC = ("NHWC", "HWIO", "NHWC")


def enabled() -> bool:
    """True when convolutions go to oneDNN on CPU (tested jaxlib, not switched off)."""
    return (jaxlib.__version__ in TESTED_JAXLIB
            and os.environ.get("GAN_JAX_ONEDNN", "1") not in ("0", "false", "False"))


def supported(x, k, strides, pads, lhs_dil, rhs_dil) -> bool:
    """Whether `conv` takes this case to oneDNN (else it is lax's convolution)."""
    return (enabled() and x.dtype == jnp.float32 and k.dtype == jnp.float32
            and x.ndim == 4 and max(lhs_dil) == 1 and min(min(p) for p in pads) >= 0)


def _lax_conv(x, k, *, strides, pads, rhs_dil, out_shape, swap_io=False):
    del out_shape
    k = jnp.swapaxes(k, 2, 3) if swap_io else k
    return lax.conv_general_dilated(x, k, strides, pads, None, rhs_dil, _NHWC)


_conv_p = Primitive("gan_jax_onednn_conv")
_conv_p.def_impl(_lax_conv)
_conv_p.def_abstract_eval(
    lambda x, k, *, out_shape, **_: jax.core.ShapedArray(out_shape, x.dtype))


def _config(strides, pads, rhs_dil, swap_io=False) -> str:
    """XLA:CPU's onednn_conv_config for NHWC * HWIO -> NHWC, or NHWC * HWOI -> NHWC when
    `swap_io` (dimension indices as XLA 0.10's onednn_convolution.cc reads them; dilations
    stored XLA-style, 1 = none)."""
    data = {"batch_dim": 0, "feature_dim": 3, "spatial_dims": [1, 2]}
    return json.dumps({"onednn_conv_config": {
        "dims": 4, "feature_groups": 1,
        "input": {"data": data},
        "kernel": {"filter": {"input_feature_dim": 3 if swap_io else 2,
                              "output_feature_dim": 2 if swap_io else 3,
                              "spatial_dims": [0, 1]}},
        "output": {"data": data},
        "window": {"pad_left": [lo for lo, _ in pads], "pad_right": [hi for _, hi in pads],
                   "strides": list(strides), "window_dilations": list(rhs_dil)}}})


def _cpu_lowering(ctx, x, k, *, strides, pads, rhs_dil, out_shape, swap_io=False):
    # jax's custom_call with a backend config is private; imported only when lowering, which
    # happens only on the tested jax/jaxlib (enabled()).
    from jax._src.interpreters import mlir as mlir_internal
    del out_shape
    out_type = mlir.aval_to_ir_type(ctx.module_context, ctx.avals_out[0])
    call = mlir_internal.custom_call(
        "__onednn$convolution", result_types=[out_type], operands=[x, k],
        backend_config=_config(strides, pads, rhs_dil, swap_io), api_version=1)
    return call.results


mlir.register_lowering(_conv_p, mlir.lower_fun(_lax_conv, multiple_results=False))
mlir.register_lowering(_conv_p, _cpu_lowering, platform="cpu")


def _batch_rule(args, dims, **params):
    # Fold a vmapped axis of x into the batch; a vmapped kernel takes lax's path.
    (x, k), (bx, bk) = args, dims
    if bk is not None:
        return jax.vmap(lambda x, k: _lax_conv(x, k, **params),
                        in_axes=(bx, bk))(x, k), 0
    x = jnp.moveaxis(x, bx, 0)
    n, b = x.shape[:2]
    out_shape = (n * b,) + params["out_shape"][1:]
    y = _conv_p.bind(x.reshape((n * b,) + x.shape[2:]), k, **dict(params, out_shape=out_shape))
    return y.reshape((n, b) + y.shape[1:]), 0


batching.primitive_batchers[_conv_p] = _batch_rule


def conv(x, k, strides, pads, rhs_dil=(1, 1), swap_io=False):
    """lax.conv_general_dilated(x, k, strides, pads, None, rhs_dil, NHWC/HWIO/NHWC), run by
    oneDNN on CPU; with `swap_io` the kernel is read as HWOI (k's last two axes swapped),
    which saves materializing that transpose. Its derivatives are lax's convolutions
    (conv.py's custom VJP supplies the fast first-order ones; these serve higher orders)."""
    strides, rhs_dil = tuple(int(s) for s in strides), tuple(int(d) for d in rhs_dil)
    pads = tuple((int(lo), int(hi)) for lo, hi in pads)
    return _conv(x, k, strides, pads, rhs_dil, bool(swap_io))


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4, 5))
def _conv(x, k, strides, pads, rhs_dil, swap_io):
    params = dict(strides=strides, pads=pads, rhs_dil=rhs_dil, swap_io=swap_io)
    out = jax.eval_shape(lambda x, k: _lax_conv(x, k, out_shape=None, **params), x, k)
    return _conv_p.bind(x, k, out_shape=tuple(out.shape), **params)


@_conv.defjvp
def _conv_jvp(strides, pads, rhs_dil, swap_io, primals, tangents):
    (x, k), (dx, dk) = primals, tangents
    lin = functools.partial(_lax_conv, strides=strides, pads=pads, rhs_dil=rhs_dil,
                            out_shape=None, swap_io=swap_io)
    return _conv(x, k, strides, pads, rhs_dil, swap_io), lin(dx, k) + lin(x, dk)
