"""Hinge-loss GAN (Lim & Ye 2017; Miyato et al. 2018) on digits, DCGAN nets.

    python -m gan_jax.main --config=configs/hinge.py --workdir=runs/hinge
    python -m gan_jax.main --config=configs/hinge.py:smoke --workdir=/tmp/smoke

D: E[relu(1 - D(x))] + E[relu(1 + D(G(z)))], G: -E[D(G(z))]; Adam 2e-4, betas
(0.5, 0.999), n_critic 1 (SNGAN's setting B, here without spectral norm).
Results: `python experiments/loss_table.py` (README "Loss library").
"""
from configs import dcgan


def get_config(arg: str = ""):
    if arg not in ("", "smoke"):
        raise ValueError(f"configs/hinge.py: unknown variant {arg!r}; use '' or 'smoke'.")
    c = dcgan.get_config(arg)
    c.loss.name = "hinge"
    c.loss.penalty = "none"
    c.optim.g_lr = 2e-4
    c.optim.d_lr = 2e-4
    c.optim.g_betas = (0.5, 0.999)
    c.optim.d_betas = (0.5, 0.999)
    if not arg:
        c.steps = 2000
    return c
