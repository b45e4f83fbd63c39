"""gan_jax/nets/layers.py: the plain-Flax fusions equal what they fuse.

References: flax.linen.Conv of the nearest-upsampled input (UpsampleConv) and average
pooling of flax.linen.Conv (ConvPool), outputs and gradients; box_kernel's closed form.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.nets import layers
from tests.helpers import assert_modules_match


class NearestUpsampleThenConv(nn.Module):
    """The reference: flax.linen.Conv of the nearest-upsampled input."""
    kernel: int
    factor: int
    padding: object

    @nn.compact
    def __call__(self, x):
        x = jnp.repeat(jnp.repeat(x, self.factor, axis=1), self.factor, axis=2)
        return nn.Conv(4, (self.kernel, self.kernel), padding=self.padding, name="inner")(x)


class ConvThenAvgPool(nn.Module):
    """The reference: average pooling of flax.linen.Conv."""
    kernel: int
    factor: int
    padding: object

    @nn.compact
    def __call__(self, x):
        y = nn.Conv(4, (self.kernel, self.kernel), padding=self.padding, name="inner")(x)
        return nn.avg_pool(y, (self.factor, self.factor), (self.factor, self.factor))


class Named(nn.Module):
    """layer(4, (kernel, kernel), factor, padding) under the reference's parameter name."""
    layer: object
    kernel: int
    factor: int
    padding: object

    @nn.compact
    def __call__(self, x):
        return self.layer(4, (self.kernel, self.kernel), self.factor, self.padding,
                          name="inner")(x)


UPSAMPLE_CASES = [(3, 2, "SAME"), (1, 2, "SAME"), (5, 3, ((1, 0), (0, 2)))]
POOL_CASES = [(3, 2, "SAME"), (1, 2, "SAME"), (3, 3, ((1, 0), (2, 1)))]


def check_upsample_conv(layer):
    x = jax.random.normal(jax.random.PRNGKey(11), (2, 5, 4, 3))
    assert_modules_match([(Named(layer, *c), NearestUpsampleThenConv(*c))
                          for c in UPSAMPLE_CASES], x)


def check_conv_pool(layer):
    x = jax.random.normal(jax.random.PRNGKey(12), (2, 9, 8, 3))
    assert_modules_match([(Named(layer, *c), ConvThenAvgPool(*c)) for c in POOL_CASES], x)


def test_upsample_conv_matches_flax_conv_of_nearest_upsampling():
    check_upsample_conv(layers.UpsampleConv)


def test_conv_pool_matches_avg_pool_of_flax_conv():
    check_conv_pool(layers.ConvPool)


def test_box_kernel_closed_form():
    """1-D: box_kernel([a, b, c], 2) = [a, a + b, b + c, c]."""
    k = jnp.arange(1.0, 4.0).reshape(3, 1, 1)
    np.testing.assert_array_equal(layers.box_kernel(k, 2)[:, 0, 0], [1.0, 3.0, 5.0, 3.0])


def test_the_default_layers_are_flax_linen():
    assert layers.FLAX.conv is nn.Conv and layers.FLAX.conv_transpose is nn.ConvTranspose
    assert layers.FLAX.upsample_conv.conv_general_dilated is jax.lax.conv_general_dilated
    assert layers.FLAX.conv_pool.conv_general_dilated is jax.lax.conv_general_dilated
