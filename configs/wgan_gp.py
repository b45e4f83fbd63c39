"""WGAN-GP (Gulrajani et al. 2017) on digits, DCGAN nets without batch norm in the critic.

    python -m gan_jax.main --config=configs/wgan_gp.py --workdir=runs/wgan_gp
    python -m gan_jax.main --config=configs/wgan_gp.py:smoke --workdir=/tmp/smoke

Algorithm 1's settings: Adam lr 1e-4, betas (0, 0.9), lambda = 10, n_critic 5,
batch 64; no batch norm in the critic (the penalty is per example).
Results: `python experiments/loss_table.py` (README "Loss library").
"""
from configs import dcgan


def get_config(arg: str = ""):
    if arg not in ("", "smoke"):
        raise ValueError(f"configs/wgan_gp.py: unknown variant {arg!r}; use '' or 'smoke'.")
    c = dcgan.get_config(arg)
    c.loss.name = "wasserstein"
    c.loss.penalty = "gp"
    c.loss.penalty_weight = 10.0
    c.loss.gp_target = 1.0
    c.loss.clip = 0.0
    c.d.batch_norm = False
    c.optim.name = "adam"
    c.optim.g_lr = 1e-4
    c.optim.d_lr = 1e-4
    c.optim.g_betas = (0.0, 0.9)
    c.optim.d_betas = (0.0, 0.9)
    c.optim.n_critic = 5
    if not arg:
        c.steps = 2000
        c.batch_size = 64
    return c
