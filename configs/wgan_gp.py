"""WGAN-GP (Gulrajani et al. 2017) on digits, DCGAN nets without batch norm in the critic.

    python -m gan_jax.main --config=configs/wgan_gp.py --workdir=runs/wgan_gp
    python -m gan_jax.main --config=configs/wgan_gp.py:smoke --workdir=/tmp/smoke

Algorithm 1's settings: Adam lr 1e-4, betas (0, 0.9), lambda = 10, n_critic 5,
batch 64; no batch norm in the critic (the penalty is per example).
Results: `python experiments/loss_table.py` (docs/results.md, "Loss table on digits").
"""
from configs import dcgan


def get_config(arg: str = ""):
    c = dcgan.with_loss("wgan_gp", arg, "wasserstein", penalty="gp", lr=1e-4, betas=(0.0, 0.9))
    c.loss.penalty_weight = 10.0
    c.loss.gp_target = 1.0
    c.d.batch_norm = False
    c.optim.n_critic = 5
    return c
