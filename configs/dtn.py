"""Domain Transfer Network (Taigman et al. 2017) on the built-in digits domains, offline.

    python -m gan_jax.main --config=configs/dtn.py --workdir=runs/dtn
    python -m gan_jax.main --config=configs/dtn.py:smoke --workdir=/tmp/smoke

Source A = grey digits, target B = T(other digits) (`gan_jax/data/translation.py`).
f = the shipped digits classifier's 64-d features (fixed), g = the DCGAN generator on
them, D = a 3-way PatchGAN (3 layers: every patch sees the whole 32x32 image).
Paper weights alpha = beta = 15, gamma = 0, Adam; eval scores G(a) against T(a).
"""
import ml_collections

from configs import default


def get_config(arg: str = ""):
    c = default.get_config()
    c.game = "dtn"
    c.data.name = "digits_domains"
    c.data.image_size = 32
    c.data.load_size = 32
    c.data.flip = False

    c.g.net = "dcgan"              # g: features [N, 64] -> images
    c.g.z_dim = 64                 # the digits classifier's feature size
    c.g.width = 32
    c.d.net = "patchgan"
    c.d.width = 16
    c.d.n_layers = 3
    c.d.norm = "batch"
    c.d.classes = 3                # G(source), G(target), real target

    c.dtn = ml_collections.ConfigDict()
    c.dtn.alpha = 15.0             # f-constancy
    c.dtn.beta = 15.0              # identity on target samples
    c.dtn.gamma = 0.0              # total variation

    c.optim.g_lr = 2e-4
    c.optim.d_lr = 2e-4
    c.batch_size = 16
    c.steps = 1500
    c.log_every = 100
    c.sample_every = 500
    c.checkpoint_every = 1000
    c.eval_every = 500
    c.sample.num = 16
    c.eval.num_samples = 297

    default.check_variant("dtn", arg)
    if arg == "smoke":
        default.smoke(c)
        c.g.width = 8
    return c
