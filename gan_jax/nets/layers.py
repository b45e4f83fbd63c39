"""Layers shared by the nets: initializers and the transposed convolution."""
from __future__ import annotations

import flax.linen as nn

# Weight init N(0, 0.02) of DCGAN (Radford 2016) and pix2pix/CycleGAN (Isola 2017).
normal_002 = nn.initializers.normal(0.02)


def bn_scale_init(key, shape, dtype=None):
    """BatchNorm scale ~ N(1, 0.02) as in the DCGAN reference code."""
    return 1.0 + 0.02 * nn.initializers.normal(1.0)(key, shape, dtype or "float32")


# Same parameters and semantics as flax.linen.ConvTranspose.
ConvTranspose = nn.ConvTranspose
