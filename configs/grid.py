"""MLP GANs on the grid of 25 Gaussians at {-4,-2,0,2,4}^2, std 0.05 (PacGAN/VEEGAN).

    python -m gan_jax.main --config=configs/grid.py --workdir=runs/grid
    python -m gan_jax.main --config=configs/grid.py:wgan_gp --workdir=runs/grid_wgan_gp

Same recipe and variants ('smoke', 'wgan_gp') as configs/ring.py, on the grid.
"""
from configs import ring


def get_config(arg: str = ""):
    return ring.toy_config("grid", arg)
