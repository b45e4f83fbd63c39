"""Shared defaults every recipe starts from (fields a script may rely on:
steps, batch_size, seed, data.name, log_every, checkpoint_every, sample_every)."""
import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.game = "gan"
    c.seed = 0
    c.steps = 2000
    c.batch_size = 64            # global, over all devices and hosts
    c.log_every = 100
    c.checkpoint_every = 500
    c.sample_every = 500
    c.eval_every = 1000          # 0: only at the end; -1: never
    c.keep_checkpoints = 3
    c.max_inflight_steps = 16    # wait on a result at least this often (XLA:CPU deadlock > 32)
    c.nan_policy = "stop"        # stop | skip | off
    c.conv_impl = "auto"         # auto | xla | cpu: conv layers (gan_jax/backend.py)

    c.data = ml_collections.ConfigDict()
    c.data.name = "digits"       # digits | ring | grid | swiss_roll | tfds:<name> | folder:<path>
    c.data.image_size = 32
    c.data.split = "train"
    c.data.tfds_dir = ""
    c.data.image_key = "image"
    c.data.label_key = "label"
    c.data.channels = 3          # folder: 3 (RGB) or 1 (grey)

    c.g = ml_collections.ConfigDict()
    c.g.net = "dcgan"
    c.g.z_dim = 100
    c.g.width = 64

    c.d = ml_collections.ConfigDict()
    c.d.net = "dcgan"
    c.d.width = 64
    c.d.batch_norm = True

    c.loss = ml_collections.ConfigDict()
    c.loss.name = "nonsaturating"
    c.loss.penalty = "none"
    c.loss.penalty_weight = 10.0
    c.loss.clip = 0.0            # WGAN weight clipping of D's params (0: off)

    c.optim = ml_collections.ConfigDict()
    c.optim.name = "adam"
    c.optim.g_lr = 2e-4
    c.optim.d_lr = 2e-4
    c.optim.g_betas = (0.5, 0.999)
    c.optim.d_betas = (0.5, 0.999)
    c.optim.eps = 1e-8
    c.optim.momentum = 0.0       # sgd only
    c.optim.n_critic = 1
    c.optim.schedule = "constant"  # constant | linear_decay
    c.optim.decay_start = 0

    c.ema = ml_collections.ConfigDict()
    c.ema.decay = 0.0            # > 0 keeps an EMA of G for sampling/eval

    c.sample = ml_collections.ConfigDict()
    c.sample.num = 64

    c.eval = ml_collections.ConfigDict()
    c.eval.num_samples = 2500
    c.eval.batch_size = 500
    c.eval.inception_weights = ""  # converted pytorch-fid weights (.npz): true FID/IS/KID
    c.eval.num_real = 10000        # reference examples for the Inception statistics
    c.eval.kid_subsets = 100

    c.distributed = ml_collections.ConfigDict()
    c.distributed.coordinator_address = ""  # e.g. 10.0.0.1:1234; empty = one process
    c.distributed.num_processes = 1
    c.distributed.process_id = 0
    c.distributed.heartbeat_timeout_s = 30
    return c


def check_variant(recipe: str, arg: str, known=("", "smoke")) -> None:
    """Fail with the recipe's name and its variants when `--config=recipe.py:arg` is unknown."""
    if arg not in known:
        choices = ", ".join(repr(k) for k in known)
        raise ValueError(f"configs/{recipe}.py: unknown variant {arg!r}; use one of {choices}.")


def smoke(c, steps=4, batch_size=4, width=4, every=2, samples=4, eval_samples=32):
    """Shrink a recipe to a seconds-long run (what the tests train): tiny nets, a few steps,
    logs/samples/checkpoints every `every` steps, evaluation only through explicit calls."""
    c.steps = steps
    c.batch_size = batch_size
    c.g.width = width
    c.d.width = width
    c.log_every = every
    c.sample_every = every
    c.checkpoint_every = every
    c.eval_every = 0
    c.sample.num = samples
    c.eval.num_samples = eval_samples
    return c
