"""pix2pix (Isola et al. 2017) on the built-in paired digits task, offline.

    python -m gan_jax.main --config=configs/pix2pix.py --workdir=runs/pix2pix
    python -m gan_jax.main --config=configs/pix2pix.py:l1 --workdir=runs/unet_l1
    python -m gan_jax.main --config=configs/pix2pix.py:smoke --workdir=/tmp/smoke

Pairs (a, T(a)): a = grey digit, T = stroke thickening + inversion + tint
(`gan_jax/data/translation.py`), 32x32x3. Reference losses and weights (vanilla GAN
+ 100 x L1, D's loss halved, Adam 2e-4 b1 0.5, batch norm); a 32x32 U-Net (5 levels,
ngf 16) and a 34x34 conditional PatchGAN (ndf 32) so that it runs in a few minutes
on a 2-core CPU. `:l1` is the same U-Net trained with L1 only (the paper's
"L1" row); `experiments/pix2pix_vs_l1.py` compares the two. At 256x256 the nets
are the paper's with `--config.data.image_size=256 --config.g.width=64
--config.d.width=64 --config.d.n_layers=3` (8 U-Net levels, 70x70 PatchGAN).
"""
import ml_collections

from configs import default


def get_config(arg: str = ""):
    c = default.get_config()
    c.game = "pix2pix"
    c.data.name = "digits_pairs"
    c.data.image_size = 32
    c.data.load_size = 32
    c.data.flip = False

    c.g.net = "unet"
    c.g.width = 16                 # ngf (paper: 64)
    c.g.n_downs = 0                # 0: log2(image size), 8 at 256x256 (paper)
    c.g.norm = "batch"
    c.g.dropout = 0.5              # in the middle levels only (none at 32x32)
    c.d.net = "patchgan"
    c.d.width = 32                 # ndf (paper: 64)
    c.d.n_layers = 2               # 34x34 patches (paper: 3, 70x70)
    c.d.norm = "batch"

    c.loss.name = "nonsaturating"  # BCE with logits, the reference 'vanilla' GAN loss
    c.loss.g_weight = 1.0
    c.loss.d_weight = 0.5          # the reference halves D's loss
    c.pix2pix = ml_collections.ConfigDict()
    c.pix2pix.lambda_l1 = 100.0

    c.optim.g_lr = 2e-4
    c.optim.d_lr = 2e-4
    c.optim.schedule = "linear_decay"
    c.batch_size = 8
    c.steps = 2000
    c.optim.decay_start = 1000
    c.log_every = 100
    c.sample_every = 500
    c.checkpoint_every = 1000
    c.eval_every = 500
    c.sample.num = 16
    c.eval.num_samples = 297

    default.check_variant("pix2pix", arg, ("", "l1", "smoke", "l1,smoke"))
    if arg.startswith("l1"):
        c.loss.g_weight = 0.0
    if arg.endswith("smoke"):
        default.smoke(c)
        c.optim.decay_start = 2
    return c
