"""MLP GANs on the ring of 8 Gaussians (PacGAN protocol: radius 1, std 0.01).

    python -m gan_jax.main --config=configs/ring.py --workdir=runs/ring
    python -m gan_jax.main --config=configs/ring.py:wgan_gp --workdir=runs/ring_wgan_gp

Default: a small non-saturating GAN (G and D 2 x 128 ReLU, z in R^2, Adam 1e-3,
b1 0.5, batch 256, 2500 steps); it covers >= 6 of the 8 modes at seed 0 in about
10 s on a 2-core CPU (tests/test_ring.py), evaluated on 2500 samples at the end
(eval/modes, eval/hq_fraction, eval/reverse_kl in metrics.jsonl).

Variants (config arg, comma-separated): 'wgan_gp' = the toy setup of Gulrajani
et al. (2017, gan_toy.py): G and D 3 x 512 ReLU, z in R^2, Wasserstein loss with
gradient penalty weight 0.1, 5 critic updates per G update, Adam(1e-4, b=(0.5,
0.9)), batch 256, 100000 G steps; 'smoke' = tiny sizes and steps;
'unrolled_data' = radius 2, std 0.02 (Metz 2017 / VEEGAN).
"""
import ml_collections

from configs import default

VARIANTS = ("smoke", "wgan_gp", "unrolled_data")


def toy_config(dataset: str, arg: str = ""):
    """The shared toy recipe on `dataset` ('ring' or 'grid') with the variants in `arg`."""
    variants = [v for v in arg.split(",") if v]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"configs/{dataset}.py: unknown variant(s) {unknown}; choose from "
                         f"{', '.join(VARIANTS)} (comma-separated).")
    c = default.get_config()
    c.game = "gan"
    c.data.name = dataset
    c.data.protocol = "unrolled" if "unrolled_data" in variants else "pacgan"
    c.data.radius = 0.0          # > 0 overrides the protocol's ring radius
    c.data.mode_std = 0.0        # > 0 overrides the protocol's mode std
    c.data.num_modes = 8         # ring only

    c.steps = 2500
    c.batch_size = 256
    c.log_every = 500
    c.sample_every = 2500
    c.checkpoint_every = 2500
    c.eval_every = 0             # evaluate at the end only
    c.keep_checkpoints = 1
    c.max_inflight_steps = 32

    for net in (c.g, c.d):
        net.net = "mlp"
        net.width = 128
        net.depth = 2
        net.activation = "relu"
        net.weight_init = "lecun"
        net.weight_scale = 1.0
        net.maxout_pieces = 5
        net.batch_norm = False
    c.g.z_dim = 2
    c.d.pack = 1

    c.optim.g_lr = 1e-3
    c.optim.d_lr = 1e-3
    c.optim.g_betas = (0.5, 0.999)
    c.optim.d_betas = (0.5, 0.999)

    c.sample.num = 1000
    c.eval.num_samples = 2500
    c.eval.batch_size = 2500

    if "wgan_gp" in variants:
        for net in (c.g, c.d):
            net.width = 512
            net.depth = 3
        c.loss.name = "wasserstein"
        c.loss.penalty = "gp"
        c.loss.penalty_weight = 0.1
        c.optim.n_critic = 5
        c.optim.g_lr = c.optim.d_lr = 1e-4
        c.optim.g_betas = c.optim.d_betas = (0.5, 0.9)
        c.steps = 100000
        c.log_every = 1000
        c.sample_every = c.checkpoint_every = 10000
    if "smoke" in variants:
        smoke(c)
    return c


def smoke(c):
    """Tiny sizes and 6 steps (tests run each toy recipe's smoke variant)."""
    c.steps = 6
    c.batch_size = 8 * c.d.pack
    c.g.width = c.d.width = 8
    c.log_every, c.sample_every, c.checkpoint_every = 2, 3, 3
    c.sample.num = 64
    c.eval.num_samples = c.eval.batch_size = 64
    return c


def get_config(arg: str = "") -> ml_collections.ConfigDict:
    return toy_config("ring", arg)
