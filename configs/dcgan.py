"""DCGAN (Radford et al. 2016) on the embedded digits (32x32x1).

    python -m gan_jax.main --config=configs/dcgan.py --workdir=runs/dcgan
    python -m gan_jax.main --config=configs/dcgan.py:smoke --workdir=/tmp/smoke

Adam(2e-4, b1=0.5), batch 64, non-saturating loss. The default budget finishes
in about 5 minutes on a 2-core CPU and gives recognisable digits.
"""
from configs import default


def get_config(arg: str = ""):
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
        c.steps = 6
        c.batch_size = 16
        c.g.width = 8
        c.d.width = 8
        c.log_every = 2
        c.sample_every = 3
        c.checkpoint_every = 3
        c.eval_every = 0
        c.sample.num = 16
        c.eval.num_samples = 64
    elif arg:
        raise ValueError(f"configs/dcgan.py: unknown variant {arg!r}; use '' or 'smoke'.")
    return c
