"""DCGAN (Radford et al. 2016) on the embedded digits (32x32x1).

    python -m gan_jax.main --config=configs/dcgan.py --workdir=runs/dcgan
    python -m gan_jax.main --config=configs/dcgan.py:smoke --workdir=/tmp/smoke

Adam(2e-4, b1=0.5), batch 64, non-saturating loss. The default budget finishes
in about 5 minutes on a 2-core CPU and gives recognisable digits.
"""
from configs import default


def get_config(arg: str = ""):
    default.check_variant("dcgan", arg)
    c = default.get_config()
    c.game = "gan"
    c.steps = 3000
    c.g.width = 32
    c.d.width = 32
    c.log_every = 100
    c.sample_every = 500
    c.checkpoint_every = 500
    c.eval_every = 1000
    if arg == "smoke":
        default.smoke(c, steps=6, batch_size=16, width=8, every=3, samples=16, eval_samples=64)
        c.log_every = 2
    return c


def with_loss(recipe: str, arg: str, loss: str, penalty: str = "none", lr: float = 2e-4,
              betas=(0.5, 0.999)):
    """configs/dcgan.py's nets and data with another loss: the start of every loss recipe
    (same lr and betas for both players; 2000 steps unless smoke)."""
    default.check_variant(recipe, arg)
    c = get_config(arg)
    c.loss.name = loss
    c.loss.penalty = penalty
    c.optim.g_lr = c.optim.d_lr = lr
    c.optim.g_betas = c.optim.d_betas = tuple(betas)
    if not arg:
        c.steps = 2000
    return c
