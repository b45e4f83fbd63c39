"""LSGAN (Mao et al. 2017) on digits, DCGAN nets.

    python -m gan_jax.main --config=configs/lsgan.py --workdir=runs/lsgan
    python -m gan_jax.main --config=configs/lsgan.py:smoke --workdir=/tmp/smoke

Least-squares loss with the 0-1 coding (a, b, c) = (0, 1, 1) (loss.name
'least_squares'; 'least_squares_pearson' is the (-1, 1, 0) coding); Adam 2e-4,
betas (0.5, 0.999), batch 64, as the paper's scene experiments.
Results: `python experiments/loss_table.py` (docs/results.md, "Loss table on digits").
"""
from configs import dcgan


def get_config(arg: str = ""):
    return dcgan.with_loss("lsgan", arg, "least_squares")
