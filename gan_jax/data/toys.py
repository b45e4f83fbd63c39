"""2-D toy mixtures used to study mode collapse (sampled, never finite)."""
from __future__ import annotations

import numpy as np


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


def _get(data_config, field, default):
    return data_config.get(field, default) if hasattr(data_config, "get") else default


def ring(data_config):
    """Built-in `ring`: data.num_modes Gaussians on a circle (PacGAN: radius 1, std 0.01)."""
    means = ring_means(_get(data_config, "num_modes", 8), _get(data_config, "radius", 1.0))
    return MixtureSource(means, _get(data_config, "mode_std", 0.01))


def grid(data_config):
    """Built-in `grid`: 25 Gaussians at {-4,-2,0,2,4}^2 with std 0.05 (PacGAN/VEEGAN)."""
    return MixtureSource(grid_means(5, 2.0), _get(data_config, "mode_std", 0.05))


def swiss_roll(data_config):
    return SwissRollSource(_get(data_config, "mode_std", 0.05))


def mixture_means(data_config) -> np.ndarray:
    """The component means of the toy named by data_config.name."""
    src = {"ring": ring, "grid": grid}[data_config.name](data_config)
    return src.means, src.std


DATASETS = {"ring": ring, "grid": grid, "swiss_roll": swiss_roll}
