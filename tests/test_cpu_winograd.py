"""gan_jax/cpu/winograd.py: DCGAN's 4x4 stride-2 convolutions by Winograd F(4x4, 2x2).

References: flax.linen.Conv / ConvTranspose differentiated by JAX (lax's convolution and
its transpose rules) on the same parameters: outputs, input and parameter gradients, second
order and vmap, for the paddings the nets use, asymmetric ones and odd sizes; the compiled
program must hold the Winograd calls (a silent fall-back fails), and shapes outside the rule
must not. The 1-D transform identity is checked on its own.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.cpu import conv as cpu_conv, winograd

from tests.test_cpu_conv import assert_close
from tests.test_cpu_native import needs_native


def test_the_transforms_compute_a_correlation():
    at, g, bt = winograd.matrices()
    rng = np.random.default_rng(0)
    d, k = rng.standard_normal(winograd.A), rng.standard_normal(2)
    want = np.array([d[i] * k[0] + d[i + 1] * k[1] for i in range(winograd.M)])
    np.testing.assert_allclose(at @ ((g @ k) * (bt @ d)), want, rtol=1e-5, atol=1e-5)


@pytest.fixture
def any_batch(monkeypatch):
    """The rule's tile minimum off: the exactness tests run small batches."""
    monkeypatch.setattr(winograd, "MIN_TILES", 1)


def _value_and_grads(module):
    def f(p, x):
        y, vjp = jax.vjp(module.apply, p, x)
        return (y,) + vjp(jnp.cos(y))
    return jax.jit(f)


CASES = [  # (module, input shape, padding)
    ("conv", (3, 16, 16, 24), 1), ("conv", (2, 9, 11, 16), ((1, 2), (0, 1))),
    ("conv", (2, 8, 8, 32), "SAME"), ("conv", (2, 30, 30, 16), 1),
    ("convT", (3, 4, 4, 32), "SAME"), ("convT", (2, 5, 7, 16), ((2, 2), (1, 2))),
    ("convT", (2, 8, 8, 24), ((1, 2), (2, 1))),
]


@needs_native
@pytest.mark.parametrize("kind,shape,pad", CASES)
def test_outputs_and_gradients_equal_flax_and_run_winograd(kind, shape, pad, any_batch):
    x = jax.random.normal(jax.random.PRNGKey(1), shape)
    fast_cls, ref_cls = ((cpu_conv.ConvTranspose, nn.ConvTranspose) if kind == "convT"
                         else (cpu_conv.Conv, nn.Conv))
    opts = dict(features=20, kernel_size=(4, 4), strides=(2, 2), padding=pad)
    fast, ref = _value_and_grads(fast_cls(**opts)), _value_and_grads(ref_cls(**opts))
    params = ref_cls(**opts).init(jax.random.PRNGKey(0), x)
    hlo = fast.lower(params, x).as_text()
    # forward, input gradient and kernel gradient: one batched product each
    assert hlo.count(f"@{winograd.native.MATMUL_TARGET}(") == 3, (kind, shape, pad)
    for got, want in zip(jax.tree.leaves(fast(params, x)), jax.tree.leaves(ref(params, x))):
        assert_close(got, want)


@needs_native
def test_second_order_and_vmap_match_flax(any_batch):
    x = jax.random.normal(jax.random.PRNGKey(2), (2, 8, 8, 16))
    fast, ref = cpu_conv.Conv(16, (4, 4), (2, 2), 1), nn.Conv(16, (4, 4), (2, 2), 1)
    params = ref.init(jax.random.PRNGKey(0), x)

    def grad_norm(module):  # |dL/dk|^2 differentiated again: a gradient penalty's pattern
        def f(p, x):
            g = jax.grad(lambda p: jnp.sum(jnp.sin(module.apply(p, x))))(p)
            return sum(jnp.sum(v ** 2) for v in jax.tree.leaves(g))
        return jax.jit(jax.grad(f, argnums=(0, 1)))
    for got, want in zip(jax.tree.leaves(grad_norm(fast)(params, x)),
                         jax.tree.leaves(grad_norm(ref)(params, x))):
        assert_close(got, want)
    xs = jnp.stack([x, 2 * x])
    batched = jax.vmap(lambda x: fast.apply(params, x))(xs)
    assert_close(batched, jax.vmap(lambda x: ref.apply(params, x))(xs))


@needs_native
def test_the_rule_keeps_other_shapes_direct(monkeypatch):
    ok = dict(x_shape=(16, 16, 16, 16), k_shape=(4, 4, 16, 16), strides=(2, 2), lhs_dil=(1, 1),
              rhs_dil=(1, 1), pads=((1, 1), (1, 1)), dtype=jnp.float32)
    assert winograd.applies(**ok)
    for change in (dict(k_shape=(4, 4, 3, 16)), dict(k_shape=(4, 4, 16, 3)),  # image layers
                   dict(k_shape=(3, 3, 16, 16)), dict(strides=(1, 1)), dict(rhs_dil=(2, 2)),
                   dict(x_shape=(2, 64, 64, 16)),  # 32x32 outputs: above the rule's 256
                   dict(x_shape=(15, 16, 16, 16)),  # 60 tiles of 4x4: below the rule's 64
                   dict(pads=((-1, 1), (1, 1))), dict(dtype=jnp.float16)):
        assert not winograd.applies(**dict(ok, **change)), change
    d4 = ((64, 8, 8, 256), (4, 4, 256, 512), (2, 2))  # dcgan64's D4: U 13M floats
    assert winograd.applies_kernel_grad(*d4, (1, 1), ((1, 1), (1, 1)))
    wide = ((64, 8, 8, 512), (4, 4, 512, 1024), (2, 2))  # U 52M floats: too large for dk
    assert winograd.applies(*wide, (1, 1), (1, 1), ((1, 1), (1, 1)), jnp.float32)
    assert not winograd.applies_kernel_grad(*wide, (1, 1), ((1, 1), (1, 1)))
    monkeypatch.setenv("GAN_JAX_WINOGRAD", "0")
    assert not winograd.applies(**ok)
    conv = cpu_conv.Conv(16, (4, 4), strides=(2, 2), padding=1)
    x = jnp.ones((16, 16, 16, 16))
    params = conv.init(jax.random.PRNGKey(0), x)
    grad = jax.jit(jax.grad(lambda p: jnp.sum(conv.apply(p, x))))
    assert winograd.native.WINOGRAD_TARGET not in grad.lower(params).as_text()
