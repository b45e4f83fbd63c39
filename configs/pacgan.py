"""PacGAN (Lin et al. 2018) on the 2-D ring / grid, with the paper's setup.

    python -m gan_jax.main --config=configs/pacgan.py:ring2 --workdir=runs/pacgan_ring2
    python -m gan_jax.main --config=configs/pacgan.py:grid4 --workdir=runs/pacgan_grid4

Variant '<data><m>' (ring1..ring4, grid1..grid4; default ring2): D sees m packed
samples (config.d.pack = m); m = 1 is the plain GAN of PacGAN's Table 1. Add
',smoke' for tiny sizes. Setup of the authors' code (fjxmlzn/PacGAN,
synthetic_data_experiments/2D{Ring,Grid}_GAN&PacGAN): G = 4 x 400 Dense ->
BatchNorm -> ReLU, z ~ N(0, I_2); D = 3 x 200 maxout (5 pieces), linear output;
weights N(0, 0.02), biases 0; non-saturating loss; Adam(1e-4, b1 = 0.8) for
both; 100 packs per step (100 m points); 400 epochs of 100000 packs = 400000
steps. Table 1 (10 runs, 2500 samples): ring GAN 6.3 modes / 98.2 % HQ / rev-KL
0.45, PacGAN2 7.9 / 95.6 / 0.07; grid GAN 17.3 / 94.8 / 0.70, PacGAN4 24.8 /
93.6 / 0.04. The default `steps` here (20000) is 5 % of the paper's budget.
"""
from configs import ring


def get_config(arg: str = ""):
    variants = [v for v in arg.split(",") if v]
    packs = [v for v in variants if v[:4] in ("ring", "grid") and v[4:].isdigit()]
    rest = [v for v in variants if v not in packs]
    if len(packs) > 1 or any(v != "smoke" for v in rest):
        raise ValueError(f"configs/pacgan.py: unknown variant {arg!r}; use ring<m> or grid<m> "
                         f"(m = 1..4, e.g. grid4), optionally followed by ',smoke'.")
    data_pack = packs[0] if packs else "ring2"
    dataset, m = data_pack[:4], int(data_pack[4:])
    if m < 1:
        raise ValueError(f"configs/pacgan.py: pack m={m} must be >= 1.")
    c = ring.toy_config(dataset)
    c.data.protocol = "pacgan"
    c.g.z_dim = 2
    c.g.width, c.g.depth, c.g.activation, c.g.batch_norm = 400, 4, "relu", True
    c.d.width, c.d.depth, c.d.activation, c.d.maxout_pieces = 200, 3, "maxout", 5
    for net in (c.g, c.d):
        net.weight_init, net.weight_scale = "normal", 0.02
    c.d.pack = m
    c.batch_size = 100 * m
    c.loss.name = "nonsaturating"
    c.optim.g_lr = c.optim.d_lr = 1e-4
    c.optim.g_betas = c.optim.d_betas = (0.8, 0.999)
    c.steps = 20000
    c.log_every = 1000
    c.sample_every = c.checkpoint_every = 5000
    return ring.smoke(c) if "smoke" in rest else c
