"""Relativistic standard GAN, RSGAN (Jolicoeur-Martineau 2018) on digits, DCGAN nets.

    python -m gan_jax.main --config=configs/rsgan.py --workdir=runs/rsgan
    python -m gan_jax.main --config=configs/rsgan.py:smoke --workdir=/tmp/smoke

D: -E[log sigmoid(C(x_r) - C(x_f))], G: -E[log sigmoid(C(x_f) - C(x_r))] (G's loss
reads D on real data); --config.loss.name=relativistic_average gives RaSGAN.
Adam 2e-4, betas (0.5, 0.999), n_D = 1 (the paper's setup I).
Results: `python experiments/loss_table.py` (docs/results.md, "Loss table on digits").
"""
from configs import dcgan


def get_config(arg: str = ""):
    return dcgan.with_loss("rsgan", arg, "relativistic")
