"""gan_jax/cpu/conv.py: the fast convolutions equal flax/lax to float rounding.

References: flax.linen.ConvTranspose / flax.linen.Conv (lax.conv_general_dilated and
JAX's own autodiff of it), nearest upsampling / average pooling composed with
flax.linen.Conv, and numerical derivatives (jax.test_util.check_grads).
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from gan_jax.cpu import conv as cpu_conv, onednn
from tests.helpers import assert_close, assert_module_matches, assert_modules_match
from tests.test_layers import check_conv_pool, check_upsample_conv

# The paddings the nets use: DCGAN k4 s2 'SAME'; the CycleGAN generator k3 s2
# ((1, 2), (1, 2)) (PyTorch padding 1, output_padding 1); the U-Net k4 s2 PyTorch
# padding 1 = ((2, 2), (2, 2)); and SAME / VALID / explicit for kernels 3, 4, 5 at strides 1, 2.
PADDINGS = ("SAME", "VALID", ((1, 2), (1, 2)), ((2, 2), (2, 2)))
NET_CASES = [(4, 2, "SAME"), (3, 2, ((1, 2), (1, 2))), (4, 2, ((2, 2), (2, 2))),
             (5, 1, "SAME"), (3, 1, "VALID"), (5, 2, "VALID"), (4, 1, ((1, 2), (1, 2))),
             (3, 2, "SAME")]


def conv_transpose_pairs(cases):
    kws = [dict(features=4, kernel_size=(k, k), strides=(s, s), padding=p) for k, s, p in cases]
    return [(cpu_conv.ConvTranspose(**kw), nn.ConvTranspose(**kw)) for kw in kws]


def test_conv_transpose_matches_flax_conv_transpose():
    x = jax.random.normal(jax.random.PRNGKey(3), (2, 5, 6, 3))
    assert_modules_match(conv_transpose_pairs(NET_CASES), x)


@pytest.mark.slow
@pytest.mark.parametrize("kernel", [3, 4, 5])
def test_conv_transpose_matches_flax_conv_transpose_full_grid(kernel):
    x = jax.random.normal(jax.random.PRNGKey(3), (2, 5, 6, 3))
    cases = [(kernel, s, p) for s in (1, 2) for p in PADDINGS]
    assert_modules_match(conv_transpose_pairs(cases), x)


def test_conv_transpose_options_match_flax():
    x = jax.random.normal(jax.random.PRNGKey(4), (2, 5, 6, 3))
    kws = [dict(transpose_kernel=True, padding="SAME", strides=(2, 2)),
           dict(use_bias=False, padding=((0, 3), (-1, 1)), strides=(3, 2)),
           dict(kernel_dilation=(2, 1), padding="SAME", strides=(2, 2)),
           dict(padding="CIRCULAR", strides=(2, 2)),
           dict(padding=2, strides=(2, 2), transpose_kernel=True)]
    args = [dict(features=4, kernel_size=(4, 3), **kw) for kw in kws]
    assert_modules_match([(cpu_conv.ConvTranspose(**a), nn.ConvTranspose(**a)) for a in args], x)


def test_conv_transpose_1d_and_extra_batch_dims_match_flax():
    x = jax.random.normal(jax.random.PRNGKey(5), (2, 3, 7, 2))  # batch dims (2, 3), length 7
    kw = dict(features=3, kernel_size=(4,), strides=(2,), padding="SAME")
    assert_module_matches(cpu_conv.ConvTranspose(**kw), nn.ConvTranspose(**kw), x)


def test_conv_transpose_params_are_flax_params():
    x = jnp.zeros((1, 4, 4, 3))
    kw = dict(features=5, kernel_size=(4, 4), strides=(2, 2))
    fast = cpu_conv.ConvTranspose(**kw).init(jax.random.PRNGKey(0), x)
    ref = nn.ConvTranspose(**kw).init(jax.random.PRNGKey(0), x)
    assert jax.tree_util.tree_structure(fast) == jax.tree_util.tree_structure(ref)
    for a, b in zip(jax.tree_util.tree_leaves(fast), jax.tree_util.tree_leaves(ref)):
        np.testing.assert_array_equal(a, b)


def test_conv_matches_flax_conv():
    x = jax.random.normal(jax.random.PRNGKey(6), (2, 9, 8, 3))
    kws = [dict(kernel_size=(3, 3), strides=1, padding="SAME"),
           dict(kernel_size=(4, 4), strides=2, padding=((1, 1), (1, 1))),
           dict(kernel_size=(3, 3), strides=2, padding="SAME"),
           dict(kernel_size=(5, 5), strides=1, padding="VALID"),
           dict(kernel_size=(3, 2), strides=(2, 1), padding="SAME", kernel_dilation=(1, 2)),
           dict(kernel_size=(3, 3), strides=2, padding=((1, 2), (0, 1)), input_dilation=2),
           dict(kernel_size=(3, 3), strides=1, padding="CIRCULAR", use_bias=False)]
    assert_modules_match([(cpu_conv.Conv(4, **kw), nn.Conv(4, **kw)) for kw in kws], x)


@pytest.mark.parametrize("features", [1, 3])
def test_thin_output_conv_matches_flax_conv(features):
    """Image heads (<= THIN_OUTPUT features, stride 1) take the matmul path; same function."""
    x = jax.random.normal(jax.random.PRNGKey(9), (2, 11, 9, 5))
    kws = [dict(kernel_size=(7, 7), padding="VALID"),
           dict(kernel_size=(3, 3), padding="SAME"),
           dict(kernel_size=(4, 4), padding=((1, 2), (0, 1)), use_bias=False),
           dict(kernel_size=(3, 3), padding="CIRCULAR")]
    assert_modules_match([(cpu_conv.Conv(features, **kw), nn.Conv(features, **kw)) for kw in kws],
                         x)


def test_thin_output_conv_takes_the_matmul_path_and_has_second_order_grads():
    dn = ("NHWC", "HWIO", "NHWC")
    conv = lambda x, k: cpu_conv.conv_general_dilated(x, k, (1, 1), ((1, 1), (0, 2)), None, None,
                                                    dn)
    with jax.enable_x64():
        x = jax.random.normal(jax.random.PRNGKey(7), (2, 5, 4, 3), jnp.float64)
        k = jax.random.normal(jax.random.PRNGKey(8), (3, 2, 3, cpu_conv.THIN_OUTPUT), jnp.float64)
        jaxpr = str(jax.make_jaxpr(jax.grad(lambda x, k: conv(x, k).sum(), (0, 1)))(x, k))
        assert "conv_general_dilated" not in jaxpr and "dot_general" in jaxpr
        check_grads(jax.jit(conv), (x, k), order=2, modes=["rev"], atol=1e-6, rtol=1e-6)
        wide = jnp.concatenate([k, k], axis=-1)  # more features: the general path
        assert "conv_general_dilated" in str(jax.make_jaxpr(conv)(x, wide))


def check_custom_vjp(order):
    with jax.enable_x64():
        x = jax.random.normal(jax.random.PRNGKey(7), (1, 3, 3, 2), jnp.float64)
        k = jax.random.normal(jax.random.PRNGKey(8), (4, 4, 2, 2), jnp.float64)
        dn = ("NHWC", "HWIO", "NHWC")
        transposed = lambda x, k: cpu_conv.conv_general_dilated(x, k, (1, 1), ((2, 2), (2, 2)),
                                                              (2, 2), None, dn)
        strided = lambda x, k: cpu_conv.conv_general_dilated(x, k, (2, 2), "SAME", None, None, dn)
        for f in (transposed, strided):
            check_grads(jax.jit(f), (x, k), order=order, modes=["rev"], atol=1e-6, rtol=1e-6)


def test_custom_vjp_check_grads():
    """The custom VJP against numerical derivatives (float64)."""
    check_custom_vjp(order=1)


@pytest.mark.slow
def test_custom_vjp_check_grads_second_order():
    check_custom_vjp(order=2)


def test_input_gradient_penalty_grad_matches_lax():
    """d/dk |d<dy, conv(x, k)>/dx|^2 (a gradient penalty's term) equals lax's."""
    x = jax.random.normal(jax.random.PRNGKey(9), (2, 8, 8, 3))
    k = jax.random.normal(jax.random.PRNGKey(10), (4, 4, 3, 5))
    dn = ("NHWC", "HWIO", "NHWC")
    fast = lambda x, k: cpu_conv.conv_general_dilated(x, k, (2, 2), ((1, 1), (1, 1)), None,
                                                      None, dn)
    ref = lambda x, k: jax.lax.conv_general_dilated(x, k, (2, 2), ((1, 1), (1, 1)),
                                                    dimension_numbers=dn)

    def penalty_grad(conv):
        def penalty(k):
            dx = jax.grad(lambda x: jnp.sum(jnp.tanh(conv(x, k))))(x)
            return jnp.sum(dx ** 2)
        return jax.jit(jax.grad(penalty))(k)

    assert_close(penalty_grad(fast), penalty_grad(ref), rtol=1e-4)


def test_upsample_conv_matches_flax_conv_of_nearest_upsampling():
    check_upsample_conv(cpu_conv.UpsampleConv)


def test_conv_pool_matches_avg_pool_of_flax_conv():
    check_conv_pool(cpu_conv.ConvPool)


@pytest.mark.parametrize("thin", [0, 10 ** 6])
def test_kernel_gradient_per_tap_and_im2col_paths_match_flax(thin, monkeypatch):
    """Both kernel-gradient forms (one matmul per tap; one im2col matmul) equal flax's."""
    monkeypatch.setattr(cpu_conv, "THIN_CHANNELS", thin)
    x = jax.random.normal(jax.random.PRNGKey(13), (2, 6, 5, 3))
    ct = dict(features=4, kernel_size=(4, 4), strides=(2, 2), padding="SAME")
    cv = dict(features=4, kernel_size=(3, 3), strides=(2, 2), padding="SAME")
    assert_modules_match([(cpu_conv.ConvTranspose(**ct), nn.ConvTranspose(**ct)),
                          (cpu_conv.Conv(**cv), nn.Conv(**cv))], x)


# oneDNN path (gan_jax/nets/onednn.py): XLA:CPU's __onednn$convolution custom call.
needs_onednn = pytest.mark.skipif(not onednn.enabled(),
                                  reason="oneDNN path is off (untested jaxlib or GAN_JAX_ONEDNN=0)")
ONEDNN_CASES = [((1, 1), ((1, 1), (1, 1)), (1, 1)),     # 3x3 SAME
                ((2, 2), ((1, 2), (0, 1)), (1, 1)),     # strided, uneven padding
                ((1, 2), ((2, 2), (0, 3)), (2, 1)),     # mixed strides, kernel dilation
                ((1, 1), ((0, 0), (0, 0)), (1, 1))]     # VALID


def lax_conv(x, k, strides, pads, rhs_dil=(1, 1)):
    return jax.lax.conv_general_dilated(x, k, strides, pads, None, rhs_dil,
                                        ("NHWC", "HWIO", "NHWC"), precision="highest")


@needs_onednn
@pytest.mark.parametrize("strides,pads,rhs_dil", ONEDNN_CASES)
def test_onednn_conv_matches_lax_and_runs_the_custom_call(strides, pads, rhs_dil):
    x = jax.random.normal(jax.random.PRNGKey(0), (3, 11, 10, 6))
    k = jax.random.normal(jax.random.PRNGKey(1), (3, 4, 6, 7))
    f = jax.jit(lambda x, k: onednn.conv(x, k, strides, pads, rhs_dil))
    assert_close(f(x, k), lax_conv(x, k, strides, pads, rhs_dil), rtol=1e-5)
    assert "__onednn$convolution" in f.lower(x, k).compile().as_text()
    # derivatives (lax's, through the custom JVP), first and second order
    loss = lambda fn: lambda x, k: jnp.sum(jnp.sin(fn(x, k, strides, pads, rhs_dil)))
    for argnums in (0, 1):
        assert_close(jax.grad(loss(onednn.conv), argnums)(x, k),
                     jax.grad(loss(lax_conv), argnums)(x, k), rtol=1e-5)
    gp = lambda fn: lambda k: jnp.sum(jax.grad(loss(fn))(x, k) ** 2)
    assert_close(jax.grad(gp(onednn.conv))(k), jax.grad(gp(lax_conv))(k), rtol=1e-4)


@needs_onednn
@pytest.mark.parametrize("strides,pads,rhs_dil", ONEDNN_CASES)
def test_onednn_conv_reads_a_hwoi_kernel(strides, pads, rhs_dil):
    # swap_io: the kernel's last two axes are (out, in); no transpose is materialized.
    x = jax.random.normal(jax.random.PRNGKey(0), (3, 11, 10, 6))
    k = jax.random.normal(jax.random.PRNGKey(1), (3, 4, 7, 6))
    f = jax.jit(lambda x, k: onednn.conv(x, k, strides, pads, rhs_dil, swap_io=True))
    ref = lambda x, k: lax_conv(x, jnp.swapaxes(k, 2, 3), strides, pads, rhs_dil)
    assert_close(f(x, k), ref(x, k), rtol=1e-5)
    hlo = f.lower(x, k).compile().as_text()
    assert "__onednn$convolution" in hlo and "transpose" not in hlo
    loss = lambda fn: lambda x, k: jnp.sum(jnp.sin(fn(x, k)))
    for got, want in zip(jax.grad(loss(f), (0, 1))(x, k), jax.grad(loss(ref), (0, 1))(x, k)):
        assert_close(got, want, rtol=1e-5)


@needs_onednn
def test_onednn_conv_vmap_and_other_platforms_lower_to_lax():
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 3, 8, 8, 4))
    k = jax.random.normal(jax.random.PRNGKey(1), (3, 3, 4, 5))
    pads = ((1, 1), (1, 1))
    conv = lambda x, k: onednn.conv(x, k, (1, 1), pads)
    ref = jax.vmap(lambda x: lax_conv(x, k, (1, 1), pads))(x)
    assert_close(jax.jit(jax.vmap(lambda x: conv(x, k)))(x), ref, rtol=1e-5)
    ks = jnp.stack([k, -k])   # a batched kernel takes lax's convolution
    assert_close(jax.vmap(conv)(x, ks)[1], -ref[1], rtol=1e-5)
    traced = jax.jit(conv).trace(x[0], k)
    assert "__onednn$convolution" in traced.lower(lowering_platforms=("cpu",)).as_text()
    gpu = traced.lower(lowering_platforms=("cuda",)).as_text()
    assert "__onednn" not in gpu and "convolution" in gpu


@needs_onednn
def test_layers_conv_uses_onednn_and_can_be_switched_off(monkeypatch):
    module = cpu_conv.Conv(12, (4, 4), (2, 2), padding=((1, 1), (1, 1)))
    reference = nn.Conv(12, (4, 4), (2, 2), padding=((1, 1), (1, 1)))

    def check(batch, expect_onednn):
        # GAN_JAX_ONEDNN is read when a convolution is traced, and traces are cached
        # per shape: a new batch size (and a new function) traces afresh.
        x = jax.random.normal(jax.random.PRNGKey(0), (batch, 16, 16, 8))
        params = reference.init(jax.random.PRNGKey(1), x)

        def grads(m):  # the forward and the input gradient are plain convolutions
            return lambda p, x: jax.grad(lambda p, x: jnp.sum(m.apply(p, x) ** 2), (0, 1))(p, x)

        fast = jax.jit(grads(module))
        assert ("__onednn$convolution" in fast.lower(params, x).compile().as_text()) \
            == expect_onednn
        for a, b in zip(jax.tree.leaves(fast(params, x)),
                        jax.tree.leaves(grads(reference)(params, x))):
            assert_close(a, b, rtol=1e-5)

    check(2, True)
    monkeypatch.setenv("GAN_JAX_ONEDNN", "0")
    assert not onednn.enabled()
    check(3, False)


def test_onednn_is_used_only_on_tested_jaxlib_and_float32(monkeypatch):
    x, k = jnp.zeros((1, 4, 4, 2)), jnp.zeros((3, 3, 2, 2))
    case = ((1, 1), ((1, 1), (1, 1)), (1, 1), (1, 1))
    monkeypatch.setattr(onednn.jaxlib, "__version__", "0.0.0")
    assert not onednn.enabled() and not onednn.supported(x, k, *case)
    monkeypatch.setattr(onednn.jaxlib, "__version__", onednn.TESTED_JAXLIB[0])
    monkeypatch.delenv("GAN_JAX_ONEDNN", raising=False)
    assert onednn.supported(x, k, *case)
    assert not onednn.supported(x.astype(jnp.bfloat16), k, *case)
    assert not onednn.supported(x, k, (1, 1), ((1, 1), (1, 1)), (2, 2), (1, 1))  # input dilation
    assert not onednn.supported(x, k, (1, 1), ((-1, 1), (1, 1)), (1, 1), (1, 1))  # negative pad
