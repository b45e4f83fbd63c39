"""Unrolled GAN (Metz et al. 2017) on the 2-D ring / grid.

    python -m gan_jax.main --config=configs/unrolled.py --workdir=runs/unrolled_ring
    python -m gan_jax.main --config=configs/unrolled.py:grid --workdir=runs/unrolled_grid

Variants (comma-separated): 'ring' (default) or 'grid'; 'first_order' (treat the
unrolled D as a constant); 'k<N>' (unroll N steps, default 5); 'smoke'.
Setup of the public demo of the paper's toy experiment (poolio/unrolled_gan,
"Unrolled GAN demo.ipynb", whose values the VEEGAN and GDPP toy code reuse):
ring radius 2, std 0.02 (grid: {-4..4 step 2}^2, std 0.05); z ~ N(0, I_256);
G and D = 2 x 128 tanh, orthogonal init (gain 1.4), zero biases; minimax loss
(G maximizes D's loss); Adam b1 0.5, eps 1e-8, lr 1e-4 (D) and 1e-3 (G);
batch 512; 25000 steps; k = 5 unrolled steps of D's Adam. Published (VEEGAN,
Srivastava 2017, Table 1; 2500 samples): ring 7.6 modes / 35.6 % HQ; grid
23.6 modes / 16 % HQ.
"""
import ml_collections

from configs import ring


def get_config(arg: str = ""):
    variants = [v for v in arg.split(",") if v]
    known = {"ring", "grid", "first_order", "smoke"}
    bad = [v for v in variants if v not in known and not (v[0] == "k" and v[1:].isdigit())]
    if bad or ("ring" in variants and "grid" in variants):
        raise ValueError(f"configs/unrolled.py: unknown variant(s) {bad or variants}; use "
                         f"ring|grid, first_order, k<N>, smoke (comma-separated).")
    dataset = "grid" if "grid" in variants else "ring"
    c = ring.toy_config(dataset)
    c.game = "unrolled"
    c.data.protocol = "unrolled"
    c.unroll = ml_collections.ConfigDict()
    c.unroll.steps = 5
    c.unroll.first_order = "first_order" in variants
    for v in variants:
        if v[0] == "k" and v[1:].isdigit():
            c.unroll.steps = int(v[1:])
    c.g.z_dim = 256
    for net in (c.g, c.d):
        net.width, net.depth, net.activation = 128, 2, "tanh"
        net.weight_init, net.weight_scale = "orthogonal", 1.4
    c.loss.name = "minimax"
    c.optim.d_lr, c.optim.g_lr = 1e-4, 1e-3
    c.optim.g_betas = c.optim.d_betas = (0.5, 0.999)
    c.batch_size = 512
    c.steps = 25000
    c.log_every = 1000
    c.sample_every = c.checkpoint_every = 5000
    if "smoke" in variants:
        ring.smoke(c)
        c.g.z_dim = 4
        c.unroll.steps = min(c.unroll.steps, 2)
    return c
