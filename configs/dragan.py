"""DRAGAN (Kodali et al. 2017) on digits, DCGAN nets without batch norm in D.

    python -m gan_jax.main --config=configs/dragan.py --workdir=runs/dragan
    python -m gan_jax.main --config=configs/dragan.py:smoke --workdir=/tmp/smoke

Non-saturating loss + lambda (||grad D(x_p)|| - 1)^2 around perturbed reals
x_p = x + alpha 0.5 std(x) u (the authors' code); lambda = 10, Adam 1e-4,
betas (0.5, 0.9). Batch norm is off in D so the penalty is per example.
Results: `python experiments/loss_table.py` (docs/results.md, "Loss table on digits").
"""
from configs import dcgan


def get_config(arg: str = ""):
    c = dcgan.with_loss("dragan", arg, "nonsaturating", penalty="dragan", lr=1e-4,
                        betas=(0.5, 0.9))
    c.loss.penalty_weight = 10.0
    c.loss.dragan_scale = 0.5
    c.loss.gp_target = 1.0
    c.d.batch_norm = False
    return c
