"""Hinge-loss GAN (Lim & Ye 2017; Miyato et al. 2018) on digits, DCGAN nets.

    python -m gan_jax.main --config=configs/hinge.py --workdir=runs/hinge
    python -m gan_jax.main --config=configs/hinge.py:smoke --workdir=/tmp/smoke

D: E[relu(1 - D(x))] + E[relu(1 + D(G(z)))], G: -E[D(G(z))]; Adam 2e-4, betas
(0.5, 0.999), n_critic 1 (SNGAN's setting B, here without spectral norm).
Results: `python experiments/loss_table.py` (docs/results.md, "Loss table on digits").
"""
from configs import dcgan


def get_config(arg: str = ""):
    return dcgan.with_loss("hinge", arg, "hinge")
