"""gan_jax/cpu/native.py: convolutions in oneDNN, built here, equal JAX's own.

References: flax.linen.Conv / ConvTranspose differentiated by JAX (lax's convolution
and its transpose rules), for every stride / kernel / padding the nets use, dilated
kernels, second-order derivatives and vmap; the compiled program is checked to
contain the custom call, so a silent fall-back to XLA's formulation fails here.
"""
import importlib.metadata
import shutil

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.cpu import conv as cpu_conv, native

from tests.test_cpu_conv import assert_close


def _installed() -> bool:
    try:
        importlib.metadata.distribution(native.ONEDNN_DIST)
    except importlib.metadata.PackageNotFoundError:
        return False
    return shutil.which("g++") is not None or shutil.which("c++") is not None


needs_native = pytest.mark.skipif(not _installed(), reason="oneDNN wheel or compiler missing")


@needs_native
def test_builds_where_its_prerequisites_are_installed():
    # CI installs the wheel and has g++: a broken build must fail here, not fall back.
    assert native.available(), native.why_unavailable()


def _value_and_grads(module):
    """jit of (y, d params, dx) of sum(sin(module(x))) at (params, x)."""
    def f(p, x):
        y, vjp = jax.vjp(module.apply, p, x)
        return (y,) + vjp(jnp.cos(y))
    return jax.jit(f)


CASES = [(s, k, pad, rhs) for s in (1, 2) for k in (3, 4, 5)
         for pad in ("SAME", "VALID", ((1, 2), (2, 1)), ((0, 0), (3, 3)), ((-1, 2), (1, -1)))
         for rhs in (1, 2) if not (rhs == 2 and k == 5)]


@needs_native
@pytest.mark.parametrize("transpose", [False, True], ids=["conv", "convT"])
def test_outputs_and_gradients_equal_flax_and_run_in_onednn(transpose):
    # Kernel gradients always go to oneDNN; input-dilated convs (ConvTranspose forwards,
    # strided Conv input gradients) too. The compiled program must hold the custom call
    # once per such use: a silent fall-back to XLA's formulation fails here.
    x = jax.random.normal(jax.random.PRNGKey(1), (3, 11, 10, 6))
    fast_cls, ref_cls = ((cpu_conv.ConvTranspose, nn.ConvTranspose) if transpose
                         else (cpu_conv.Conv, nn.Conv))
    for s, k, pad, rhs in CASES:
        opts = dict(features=5, kernel_size=(k, k), strides=(s, s), padding=pad,
                    kernel_dilation=(rhs, rhs))
        fast, ref = _value_and_grads(fast_cls(**opts)), _value_and_grads(ref_cls(**opts))
        params = ref_cls(**opts).init(jax.random.PRNGKey(0), x)
        hlo = fast.lower(params, x).as_text()
        input_dilated = int(s > 1)  # the convT forward or the strided Conv input gradient
        assert hlo.count(f"@{native.TARGET}(") == 1 + input_dilated, (s, k, pad, rhs)
        for got, want in zip(jax.tree.leaves(fast(params, x)), jax.tree.leaves(ref(params, x))):
            assert_close(got, want)


@needs_native
def test_second_order_and_vmap_match_flax():
    x = jax.random.normal(jax.random.PRNGKey(2), (2, 8, 8, 4))
    fast, ref = cpu_conv.Conv(6, (4, 4), strides=(2, 2), padding=1), nn.Conv(6, (4, 4), (2, 2), 1)
    params = ref.init(jax.random.PRNGKey(0), x)

    def grad_norm(module):  # |dL/dk|^2: its derivative goes through the kernel gradient's
        def f(p, x):
            g = jax.grad(lambda p: jnp.sum(jnp.tanh(module.apply(p, x))))(p)
            return jnp.sum(g["params"]["kernel"] ** 2)
        return jax.jit(jax.grad(f, argnums=(0, 1)))
    (gp_fast, gx_fast), (gp_ref, gx_ref) = grad_norm(fast)(params, x), grad_norm(ref)(params, x)
    assert_close(gp_fast["params"]["kernel"], gp_ref["params"]["kernel"], rtol=1e-4)
    assert_close(gx_fast, gx_ref, rtol=1e-4)

    def per_example(module):  # vmap of the kernel gradient over examples
        g = jax.grad(lambda p, xi: jnp.sum(module.apply(p, xi[None]) ** 2))
        return jax.jit(jax.vmap(g, in_axes=(None, 0)))
    assert_close(per_example(fast)(params, x)["params"]["kernel"],
                 per_example(ref)(params, x)["params"]["kernel"])


@needs_native
def test_other_platforms_and_the_switch_use_xla(monkeypatch):
    x, dy = jnp.ones((2, 8, 8, 3)), jnp.ones((2, 4, 4, 5))
    args = ((4, 4, 3, 5), (2, 2), ((1, 1), (1, 1)), (1, 1))
    xla = lambda x, dy: cpu_conv._kernel_grad_xla(x, dy, *args[:3], (1, 1), (1, 1), None)
    f = jax.jit(lambda x, dy: native.kernel_grad(x, dy, *args, xla))
    traced = f.trace(x, dy)
    assert native.TARGET in traced.lower(lowering_platforms=("cpu",)).as_text()
    assert native.TARGET not in traced.lower(lowering_platforms=("cuda",)).as_text()
    assert_close(f(x, dy), xla(x, dy))
    monkeypatch.setenv("GAN_JAX_NATIVE", "0")
    assert not native.available() and not native.supported(x, dy)
    conv = cpu_conv.Conv(5, (4, 4), strides=(2, 2), padding=1)
    params = conv.init(jax.random.PRNGKey(0), x)
    grad = jax.jit(jax.grad(lambda p: jnp.sum(conv.apply(p, x))))
    assert native.TARGET not in grad.lower(params).as_text()


@needs_native
def test_a_build_error_names_the_cause(monkeypatch, tmp_path):
    broken = tmp_path / "onednn_conv.cc"
    broken.write_text("#include <cstdint>\nthis is not C++;\n")
    monkeypatch.setattr(native, "SOURCES", [broken] + native.SOURCES[1:])
    with pytest.raises(RuntimeError, match="onednn_conv.cc.*failed"):
        native.build(str(tmp_path / "cache"))
    monkeypatch.setattr(native, "ONEDNN_DIST", "no-such-onednn-dist")
    with pytest.raises(LookupError, match="no-such-onednn-dist is not installed"):
        native.build(str(tmp_path / "cache"))


FAKE_CXX = """#!/bin/sh
# a stand-in compiler: writes its arguments to the -o file; rejects -march=native when
# $REJECT_MARCH is set
case " $* " in *" --version "*) echo fake-cxx 1.0; exit 0;; esac
case " $* " in *" -march=native "*) [ -n "$REJECT_MARCH" ] && exit 1;; esac
args="$*"
while [ $# -gt 0 ]; do [ "$1" = "-o" ] && echo "$args" > "$2"; shift; done
exit 0
"""


@needs_native
def test_the_library_is_built_for_this_cpu_and_cached_per_kind_of_cpu(monkeypatch, tmp_path):
    cxx = tmp_path / "cxx"
    cxx.write_text(FAKE_CXX)
    cxx.chmod(0o755)
    monkeypatch.setenv("CXX", str(cxx))
    here = native.build(str(tmp_path / "a"))
    assert "-march=native" in here.read_text()
    monkeypatch.setattr(native, "_cpu", lambda: "x86_64 sse sse2")  # a machine sharing the cache
    other = native.build(str(tmp_path / "a"))
    assert other != here and here.exists()
    monkeypatch.setenv("REJECT_MARCH", "1")  # a compiler without -march=native: the baseline
    baseline = native.build(str(tmp_path / "b"))
    assert "-fopenmp" in baseline.read_text() and "-march" not in baseline.read_text()


def test_a_half_precision_or_3d_input_keeps_xla():
    x = np.ones((2, 8, 8, 3))
    assert not native.supported(jnp.asarray(x, jnp.float16), jnp.ones((2, 4, 4, 5)))
    assert not native.supported(jnp.ones((2, 8, 8, 8, 3)), jnp.ones((2, 4, 4, 4, 5)))
