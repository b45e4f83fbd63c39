"""2-D toy mixtures used to study mode collapse (sampled, never finite)."""
from __future__ import annotations

import numpy as np

from gan_jax.errors import UserError


def ring_means(num_modes: int = 8, radius: float = 1.0) -> np.ndarray:
    """[num_modes, 2] means evenly spaced on a circle of `radius`."""
    t = 2 * np.pi * np.arange(num_modes) / num_modes
    return radius * np.stack([np.cos(t), np.sin(t)], axis=1)


def grid_means(side: int = 5, spacing: float = 2.0) -> np.ndarray:
    """[side^2, 2] means on the grid {-4,-2,0,2,4}^2 for side 5, spacing 2."""
    ax = (np.arange(side) - (side - 1) / 2) * spacing
    return np.stack(np.meshgrid(ax, ax, indexing="ij"), -1).reshape(-1, 2)


class MixtureSource:
    """An equal-weight isotropic Gaussian mixture in 2-D."""

    def __init__(self, means: np.ndarray, std: float):
        self.means = np.asarray(means, np.float32)
        self.std = float(std)
        self.data_shape = (2,)

    def sample(self, rng: np.random.Generator, n: int):
        k = rng.integers(0, len(self.means), size=n)
        x = self.means[k] + self.std * rng.standard_normal((n, 2)).astype(np.float32)
        return {"x": x.astype(np.float32), "label": k.astype(np.int32)}


class SwissRollSource:
    """The 2-D swiss roll (scaled to about [-1, 1]) with small noise."""

    data_shape = (2,)

    def __init__(self, std: float = 0.05):
        self.std = std

    def sample(self, rng, n):
        t = 1.5 * np.pi * (1 + 2 * rng.random(n))
        x = np.stack([t * np.cos(t), t * np.sin(t)], 1) / 15.0
        x = x + self.std * rng.standard_normal((n, 2))
        return {"x": x.astype(np.float32)}


# Each paper's toy mixtures: (ring radius, ring mode std, grid mode std).
# PacGAN (Lin 2018, fjxmlzn/PacGAN configs): ring radius 1, std 0.01; grid std 0.05.
# Unrolled GAN (Metz 2017) and VEEGAN (Srivastava 2017): ring radius 2, std 0.02;
# grid std 0.05 (VEEGAN). Both grids have means {-4,-2,0,2,4}^2. The two rings are
# the same problem up to a factor 2 in scale, so the mode metrics (whose HQ radius
# is 3 std) are directly comparable between protocols.
PROTOCOLS = {
    "pacgan": {"radius": 1.0, "ring_std": 0.01, "grid_std": 0.05},
    "unrolled": {"radius": 2.0, "ring_std": 0.02, "grid_std": 0.05},
}


def _get(data_config, field, default):
    return data_config.get(field, default) if hasattr(data_config, "get") else default


def protocol(data_config) -> dict:
    """The values of config.data.protocol ('pacgan' by default)."""
    name = _get(data_config, "protocol", "pacgan")
    if name not in PROTOCOLS:
        raise UserError(f"config.data.protocol={name!r} is unknown; choose one of: "
                         f"{', '.join(sorted(PROTOCOLS))}.")
    return PROTOCOLS[name]


def _value(data_config, field, default):
    """config.data.<field> when set (> 0), else the protocol's value."""
    value = _get(data_config, field, 0.0) or 0.0
    return float(value) if value > 0 else float(default)


def ring(data_config):
    """Built-in `ring`: data.num_modes (8) Gaussians on a circle.

    Radius and std come from config.data.protocol (pacgan: 1, 0.01; unrolled: 2,
    0.02) unless config.data.radius / config.data.mode_std are set (> 0).
    """
    p = protocol(data_config)
    means = ring_means(int(_get(data_config, "num_modes", 8) or 8),
                       _value(data_config, "radius", p["radius"]))
    return MixtureSource(means, _value(data_config, "mode_std", p["ring_std"]))


def grid(data_config):
    """Built-in `grid`: 25 Gaussians at {-4,-2,0,2,4}^2, std 0.05 (PacGAN/VEEGAN)."""
    p = protocol(data_config)
    return MixtureSource(grid_means(5, 2.0), _value(data_config, "mode_std", p["grid_std"]))


def swiss_roll(data_config):
    return SwissRollSource(_get(data_config, "mode_std", 0.05) or 0.05)


DATASETS = {"ring": ring, "grid": grid, "swiss_roll": swiss_roll}
SHAPES = {name: lambda data_config: {"x": (2,)} for name in DATASETS}
