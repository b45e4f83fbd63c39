"""LSGAN (Mao et al. 2017) on digits, DCGAN nets.

    python -m gan_jax.main --config=configs/lsgan.py --workdir=runs/lsgan
    python -m gan_jax.main --config=configs/lsgan.py:smoke --workdir=/tmp/smoke

Least-squares loss with the 0-1 coding (a, b, c) = (0, 1, 1) (loss.name
'least_squares'; 'least_squares_pearson' is the (-1, 1, 0) coding); Adam 2e-4,
betas (0.5, 0.999), batch 64, as the paper's scene experiments.
Results: `python experiments/loss_table.py` (README "Loss library").
"""
from configs import dcgan


def get_config(arg: str = ""):
    if arg not in ("", "smoke"):
        raise ValueError(f"configs/lsgan.py: unknown variant {arg!r}; use '' or 'smoke'.")
    c = dcgan.get_config(arg)
    c.loss.name = "least_squares"
    c.loss.penalty = "none"
    c.optim.g_lr = 2e-4
    c.optim.d_lr = 2e-4
    c.optim.g_betas = (0.5, 0.999)
    c.optim.d_betas = (0.5, 0.999)
    if not arg:
        c.steps = 2000
    return c
