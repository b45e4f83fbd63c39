"""WGAN with weight clipping (Arjovsky, Chintala & Bottou 2017) on digits, DCGAN nets.

    python -m gan_jax.main --config=configs/wgan.py --workdir=runs/wgan
    python -m gan_jax.main --config=configs/wgan.py:smoke --workdir=/tmp/smoke

Algorithm 1's settings: RMSProp lr 5e-5 for both players, n_critic 5, clipping
c = 0.01, batch 64; the critic keeps DCGAN's batch norm, as in the paper. (The
paper's 100 critic iterations for the first 25 G steps are not reproduced.)
Results: `python experiments/loss_table.py` (docs/results.md, "Loss table on digits").
"""
from configs import dcgan


def get_config(arg: str = ""):
    c = dcgan.with_loss("wgan", arg, "wasserstein", lr=5e-5)
    c.loss.clip = 0.01
    c.optim.name = "rmsprop"
    c.optim.n_critic = 5
    return c
