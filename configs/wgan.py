"""WGAN with weight clipping (Arjovsky, Chintala & Bottou 2017) on digits, DCGAN nets.

    python -m gan_jax.main --config=configs/wgan.py --workdir=runs/wgan
    python -m gan_jax.main --config=configs/wgan.py:smoke --workdir=/tmp/smoke

Algorithm 1's settings: RMSProp lr 5e-5 for both players, n_critic 5, clipping
c = 0.01, batch 64; the critic keeps DCGAN's batch norm, as in the paper. (The
paper's 100 critic iterations for the first 25 G steps are not reproduced.)
Results: `python experiments/loss_table.py` (README "Loss library").
"""
from configs import dcgan


def get_config(arg: str = ""):
    if arg not in ("", "smoke"):
        raise ValueError(f"configs/wgan.py: unknown variant {arg!r}; use '' or 'smoke'.")
    c = dcgan.get_config(arg)
    c.loss.name = "wasserstein"
    c.loss.penalty = "none"
    c.loss.clip = 0.01
    c.optim.name = "rmsprop"
    c.optim.g_lr = 5e-5
    c.optim.d_lr = 5e-5
    c.optim.n_critic = 5
    if not arg:
        c.steps = 2000
        c.batch_size = 64
    return c
