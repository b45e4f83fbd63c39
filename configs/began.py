"""BEGAN (Berthelot, Schumm & Metz 2017) on digits: autoencoder D, k_t control.

    python -m gan_jax.main --config=configs/began.py --workdir=runs/began
    python -m gan_jax.main --config=configs/began.py:smoke --workdir=/tmp/smoke

The paper's settings: gamma 0.5, lambda_k 0.001, k_0 = 0, embedding h = z_dim = 64,
Adam 1e-4 (betas 0.5, 0.999), batch 16; n = 16 filters here (64 in the paper) to
keep digits cheap. z ~ N(0, I) (the paper draws U[-1, 1]). Watch began_M fall.
Results: `python experiments/loss_table.py` (docs/results.md, "Loss table on digits").
"""
import ml_collections

from configs import dcgan, default


def get_config(arg: str = ""):
    default.check_variant("began", arg)
    c = dcgan.get_config(arg)
    c.game = "began"
    del c.loss  # BEGAN's loss is fixed; its knobs are config.began.*
    c.began = ml_collections.ConfigDict()
    c.began.gamma = 0.5
    c.began.lambda_k = 1e-3
    c.began.k_init = 0.0
    c.g.net = "began"
    c.d.net = "began"
    c.g.z_dim = 64
    c.d.embedding = 64
    c.g.width = 16
    c.d.width = 16
    c.optim.g_lr = 1e-4
    c.optim.d_lr = 1e-4
    c.optim.g_betas = (0.5, 0.999)
    c.optim.d_betas = (0.5, 0.999)
    c.optim.n_critic = 1
    if arg == "smoke":
        c.g.width = 4
        c.d.width = 4
        c.g.z_dim = 8
        c.d.embedding = 8
    else:
        c.steps = 2000
        c.batch_size = 16
    return c
