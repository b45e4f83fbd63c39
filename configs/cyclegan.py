"""CycleGAN (Zhu et al. 2017) on the built-in digits domains, offline.

    python -m gan_jax.main --config=configs/cyclegan.py --workdir=runs/cyclegan
    python -m gan_jax.main --config=configs/cyclegan.py:smoke --workdir=/tmp/smoke
    python -m gan_jax.main --config=configs/cyclegan.py:horse2zebra --workdir=runs/h2z

Default: A = grey digits, B = T(other digits) with T = stroke thickening + inversion
+ blue-on-cream tint (`gan_jax/data/translation.py`), 32x32x3. The reference
losses and weights (least squares, cycle 10, identity 0.5, pools of 50, Adam 2e-4
b1 0.5, linear decay over the second half) with small nets (ngf 16, 6 blocks,
a 34x34 PatchGAN with ndf 32) and batch 8 so that it runs in about 10-15 minutes
on a 2-core CPU; samples are A -> B -> A strips; eval reports L1/PSNR of G_AB(a)
vs T(a) and G_BA(b) vs a on 297 held-out digits, with the identity baseline.

`:horse2zebra` is the paper's setting on tfds cycle_gan/horse2zebra: 256x256 crops of
286x286 resizes with flips, ngf = ndf = 64, 9 residual blocks, 70x70 PatchGAN,
batch 1, 200 epochs of max(|A|, |B|) = 1334 steps, LR decaying linearly to 0
over the last 100. Prepare the data once with network:
`tfds build cycle_gan/horse2zebra --file_format=array_record`.
"""
import ml_collections

from configs import default

HORSE2ZEBRA_STEPS_PER_EPOCH = 1334  # max(trainA = 1067 horses, trainB = 1334 zebras)


def get_config(arg: str = ""):
    c = default.get_config()
    c.game = "cyclegan"
    c.data.name = "digits_domains"
    c.data.image_size = 32
    c.data.load_size = 32          # resize to this, then random image_size crops (paper: 286)
    c.data.flip = False            # random horizontal flips (paper: on; digits are not symmetric)

    c.g.net = "cyclegan"
    c.g.width = 16                 # ngf (paper: 64)
    c.g.n_blocks = 6               # 0: 9 at 256x256, 6 below (paper)
    c.g.norm = "instance"
    c.g.dropout = 0.0
    c.d.net = "patchgan"
    c.d.width = 32                 # ndf (paper: 64)
    c.d.n_layers = 2               # 34x34 patches (paper: 3, 70x70 at 256x256)
    c.d.norm = "instance"

    c.loss.name = "least_squares"
    c.loss.g_weight = 2.0          # reference G term MSE(D(G(x)), 1) = 2 x least_squares_g
    c.loss.d_weight = 1.0          # reference D term 1/2 (MSE real + MSE fake) = least_squares_d

    c.cyclegan = ml_collections.ConfigDict()
    c.cyclegan.lambda_a = 10.0     # cycle A -> B -> A
    c.cyclegan.lambda_b = 10.0     # cycle B -> A -> B
    c.cyclegan.lambda_identity = 0.5  # x lambda; 0 turns the identity loss off
    c.cyclegan.pool_size = 50

    c.optim.g_lr = 2e-4
    c.optim.d_lr = 2e-4
    c.optim.g_betas = (0.5, 0.999)
    c.optim.d_betas = (0.5, 0.999)
    c.optim.schedule = "linear_decay"

    c.batch_size = 8
    c.steps = 2000
    c.optim.decay_start = 1000
    c.log_every = 100
    c.sample_every = 500
    c.checkpoint_every = 500
    c.eval_every = 500
    c.sample.num = 16
    c.eval.num_samples = 297

    default.check_variant("cyclegan", arg, ("", "smoke", "horse2zebra"))
    if arg == "smoke":
        default.smoke(c)
        c.optim.decay_start = 2
        c.g.n_blocks = 1
        c.cyclegan.pool_size = 6
    elif arg == "horse2zebra":
        c.data.name = "tfds_pair:cycle_gan/horse2zebra"
        c.data.image_size = 256
        c.data.load_size = 286
        c.data.flip = True
        c.g.width = 64
        c.g.n_blocks = 9
        c.d.width = 64
        c.d.n_layers = 3
        c.batch_size = 1
        c.steps = 200 * HORSE2ZEBRA_STEPS_PER_EPOCH
        c.optim.decay_start = 100 * HORSE2ZEBRA_STEPS_PER_EPOCH
        c.log_every = 100
        c.sample_every = 5000
        c.checkpoint_every = 5000
        c.eval_every = 20000
        c.sample.num = 4
        c.eval.num_samples = 120
    return c
