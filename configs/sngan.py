"""SN-GAN (Miyato et al. 2018): ResNet G and spectrally normalised ResNet D, hinge loss.

    python -m gan_jax.main --config=configs/sngan.py --workdir=runs/sngan
    python -m gan_jax.main --config=configs/sngan.py --workdir=runs/sngan_cifar \
        --config.data.name=tfds:cifar10
    python -m gan_jax.main --config=configs/sngan.py:smoke --workdir=/tmp/smoke

The paper's CIFAR-10 ResNet setting (Table 3, "SN-GANs" with hinge loss):
Adam lr 2e-4, betas (0, 0.9), n_dis = 5 D updates per G update, batch 64,
z ~ N(0, I_128), G width 256, D width 128, 50k G updates; the paper reports
Inception score 8.22 and FID 21.7 on CIFAR-10 (not reproduced here: a 2-core
CPU runs about one G update per second at this size). The default dataset is
the embedded digits (no network); CIFAR-10 needs tfds and a download.
"""
from configs import default


def get_config(arg: str = ""):
    default.check_variant("sngan", arg)
    c = default.get_config()
    c.game = "gan"
    c.steps = 50000
    c.batch_size = 64
    c.data.image_size = 32
    c.g.net = "resnet"
    c.g.width = 256
    c.g.z_dim = 128
    c.d.net = "resnet"
    c.d.width = 128
    c.d.spectral_norm = True
    c.loss.name = "hinge"
    c.loss.penalty = "none"
    c.optim.name = "adam"
    c.optim.g_lr = 2e-4
    c.optim.d_lr = 2e-4
    c.optim.g_betas = (0.0, 0.9)
    c.optim.d_betas = (0.0, 0.9)
    c.optim.n_critic = 5
    c.log_every = 100
    c.sample_every = 1000
    c.checkpoint_every = 1000
    c.eval_every = 5000
    if arg == "smoke":
        default.smoke(c, batch_size=8, width=16, samples=16, eval_samples=64)
        c.optim.n_critic = 2
    return c
