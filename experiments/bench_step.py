"""One full G+D training step, gan_jax vs the same architecture in PyTorch, side by side.

    python experiments/bench_step.py                       # all rows, 15 timed steps each
    python experiments/bench_step.py --rows=dcgan32 --steps=20 --out=/tmp/bench.md
    python experiments/bench_step.py --rows=dcgan32 --flax_baseline   # + conv_impl='xla'
    python experiments/bench_step.py --rows=dcgan32 --baseline=/tmp/base  # + another checkout

Rows (batch, loss, optimizer identical on both sides):
  dcgan32 / dcgan64  configs/dcgan.py nets at 32x32x3 / 64x64x3, nf = 64, z = 128,
                     batch 64, non-saturating loss, Adam(2e-4, 0.5, 0.999); the real
                     `gan` game step (guard_nonfinite + parallel.map_step, 1 device).
  sngan32            configs/sngan.py nets (ResNet G 256, SN ResNet D 128), hinge loss,
                     Adam(2e-4, 0, 0.9), batch 64, n_critic = 1 (one D and one G update).
  cyclegan128        gan_jax/nets/cyclegan.py ResNet G (ngf 64, 6 blocks, instance norm)
                     + gan_jax/nets/patchgan.py 70x70 PatchGAN (ndf 64, instance norm),
                     128x128x3, batch 1, least-squares loss, Adam(2e-4, 0.5, 0.999):
                     one D update on (real, G(x).detach) then one G update through D.
The PyTorch side is written below, layer for layer; it follows the PyTorch DCGAN
example (one G forward shared by both updates) and freezes D's parameters in
G's update (no unused D weight gradients). SN-GAN uses
torch.nn.utils.parametrizations.spectral_norm and plain upsample+conv / conv+pool.

Method: each framework runs in its own worker process (so thread pools and peak
memory are separate); after warm-up the parent asks them for steps alternately
(order swapped every round, 50 ms pause between), so load on a shared machine
hits both; each step is timed inside its worker up to the last result being
ready. Reported: median and min step time, ratio gan_jax/PyTorch of medians,
achieved GFLOP/s = analytic FLOPs / median (2 x multiply-adds of every Conv,
ConvTranspose and Linear of the PyTorch nets, counted with forward hooks; a step
is 3 x G's forward + 8 x D's forward: D's update runs D on reals and fakes with a
full backward, G's update one D forward + input gradient and G's backward);
% of peak = that over the machine's practical float32 peak, measured before the rows
(`peak_gflops`: the best of 20 2048x2048 products in jax and in PyTorch and of PyTorch's
fastest conv kernel on this machine); the table's last line turns that peak into the lowest
ratio any implementation of the step's operations could read (every FLOP at the peak;
gan_jax's SN-GAN nets do fewer operations than these for upsample+conv and conv+pool,
and its DCGAN convs by Winograd's algorithm, so they can pass 100%);
median CPU time of the worker process per step (all threads; steadier than wall
time on a shared machine, but it counts spinning threads too),
compile time (gan_jax: first call minus a steady step; PyTorch: first step minus
a steady step) and peak memory (each worker's peak resident set size, and its
growth over the RSS after imports). torch.set_num_threads(2) and XLA on all cores
(--threads=1: both single-threaded). gan_jax's rows use config.conv_impl='auto' (the
CPU backend, gan_jax/cpu/, on a CPU; flax.linen's layers on a GPU or TPU); --flax_baseline
adds a row with conv_impl='xla' (flax.linen's layers on every platform). Each gan_jax
worker makes the process settings gan_jax.main makes (gan_jax.backend.prepare_process:
with the CPU backend glibc keeps freed memory, so XLA's per-step buffers do not fault
their pages in again); PyTorch's runs with glibc's defaults, as its users' scripts do.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROWS = ("dcgan32", "dcgan64", "sngan32", "cyclegan128")


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------- gan_jax
def jax_config(row: str, conv_impl: str = "auto"):
    """The gan_jax config of a row (cyclegan128: only conv_impl is read)."""
    if row == "cyclegan128":
        from configs import cyclegan
        c = cyclegan.get_config()
        c.conv_impl = conv_impl
        return c
    if row.startswith("dcgan"):
        from configs import dcgan
        c = dcgan.get_config()
        c.data.image_size = int(row[5:])
        c.g.width = c.d.width = 64
        c.g.z_dim = 128
        c.loss.name = "nonsaturating"
        c.optim.g_betas = c.optim.d_betas = (0.5, 0.999)
    else:
        from configs import sngan
        c = sngan.get_config()
        c.optim.n_critic = 1
    c.batch_size = 64
    c.optim.name = "adam"
    c.optim.g_lr = c.optim.d_lr = 2e-4
    c.ema.decay = 0.0
    c.conv_impl = conv_impl
    return c


def jax_step(row: str, config):
    """step() running one gan_jax training step on a fixed batch."""
    import functools

    import jax
    from gan_jax import games, parallel, train
    if row == "cyclegan128":
        return jax_cyclegan_step(config)
    size = config.data.image_size
    x = np.random.default_rng(0).uniform(-1, 1, (1, 64, size, size, 3)).astype(np.float32)
    batch = {"x": x}
    game = games.get(config.game)
    state = parallel.replicate(game.init(jax.random.PRNGKey(0), config, batch))
    step_fn = parallel.map_step(train.guard_nonfinite(
        functools.partial(game.train_step, config=config)))
    batch = jax.device_put(batch)
    box = {"state": state}

    def step():
        box["state"], m = step_fn(box["state"], batch)
        jax.block_until_ready((box["state"], m))

    return step


def jax_cyclegan_step(config):
    """One D and one G update of the CycleGAN ResNet G with a 70x70 PatchGAN (LSGAN), built
    with config.conv_impl's conv layers."""
    import jax
    import jax.numpy as jnp
    import ml_collections
    import optax
    from gan_jax import backend, nets
    from gan_jax.games.gan import apply_net
    g_cfg = ml_collections.ConfigDict({"net": "cyclegan", "width": 64, "n_blocks": 6,
                                       "norm": "instance"})
    d_cfg = ml_collections.ConfigDict({"net": "patchgan", "width": 64, "n_layers": 3,
                                       "norm": "instance"})
    shape = (128, 128, 3)
    convs = backend.conv_layers(config)
    g = nets.build("generator", g_cfg, shape, None, convs=convs)
    d = nets.build("discriminator", d_cfg, shape, None, convs=convs)
    rng = np.random.default_rng(0)
    xa, xb = (jnp.asarray(rng.uniform(-1, 1, (1,) + shape).astype(np.float32)) for _ in "ab")
    gp = g.init(jax.random.PRNGKey(0), xa, train=False)["params"]
    dp = d.init(jax.random.PRNGKey(1), xb, train=False)["params"]
    tx = optax.adam(2e-4, 0.5, 0.999)
    mse = lambda out, target: jnp.mean((out - target) ** 2)

    @jax.jit
    def update(gp, dp, g_opt, d_opt, xa, xb):
        fake, g_vjp = jax.vjp(lambda p: apply_net(g, p, {}, xa)[0], gp)

        def d_loss(dp):
            return 0.5 * (mse(apply_net(d, dp, {}, xb)[0], 1.0)
                          + mse(apply_net(d, dp, {}, jax.lax.stop_gradient(fake))[0], 0.0))

        d_l, d_grads = jax.value_and_grad(d_loss)(dp)
        upd, d_opt = tx.update(d_grads, d_opt, dp)
        dp = optax.apply_updates(dp, upd)
        g_l, d_fake = jax.value_and_grad(lambda f: mse(apply_net(d, dp, {}, f)[0], 1.0))(fake)
        (g_grads,) = g_vjp(d_fake)
        upd, g_opt = tx.update(g_grads, g_opt, gp)
        return optax.apply_updates(gp, upd), dp, g_opt, d_opt, d_l + g_l

    box = {"s": (gp, dp, tx.init(gp), tx.init(dp))}

    def step():
        *s, loss = update(*box["s"], xa, xb)
        box["s"] = tuple(s)
        jax.block_until_ready((s, loss))

    return step


# --------------------------------------------------------------------------- PyTorch
def torch_nets(row: str):
    """(G, D, z_dim or None, input shape) of the row's PyTorch transcription."""
    import torch
    from torch import nn

    def init_normal(m):
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)

    if row.startswith("dcgan"):
        size, nf, z = int(row[5:]), 64, 128
        n = int(np.log2(size)) - 2
        mults = [min(2 ** i, 8) for i in reversed(range(n))]

        class G(nn.Module):  # gan_jax/nets/dcgan.py Generator
            def __init__(self):
                super().__init__()
                self.c0 = nf * mults[0]
                self.fc = nn.Linear(z, 16 * self.c0, bias=False)
                self.bn0 = nn.BatchNorm2d(self.c0)
                body = []
                for a, b in zip(mults[:-1], mults[1:]):
                    body += [nn.ConvTranspose2d(nf * a, nf * b, 4, 2, 1, bias=False),
                             nn.BatchNorm2d(nf * b), nn.ReLU()]
                body += [nn.ConvTranspose2d(nf * mults[-1], 3, 4, 2, 1), nn.Tanh()]
                self.body = nn.Sequential(*body)

            def forward(self, z_):
                x = self.fc(z_).view(-1, self.c0, 4, 4)
                return self.body(torch.relu(self.bn0(x)))

        layers, c = [], 3
        for i in range(n):  # gan_jax/nets/dcgan.py Discriminator
            f = nf * min(2 ** i, 8)
            layers += [nn.Conv2d(c, f, 4, 2, 1, bias=i == 0)]
            layers += [nn.BatchNorm2d(f)] if i > 0 else []
            layers += [nn.LeakyReLU(0.2)]
            c = f
        d = nn.Sequential(*layers, nn.Flatten(), nn.Linear(16 * c, 1))
        g = G()
        g.apply(init_normal), d.apply(init_normal)
        return g, d, z, (3, size, size)
    if row == "sngan32":
        return torch_sngan() + (128, (3, 32, 32))
    return torch_cyclegan() + (None, (3, 128, 128))


def torch_sngan(gw: int = 256, dw: int = 128):
    """gan_jax/nets/resnet.py in PyTorch, computed the usual way (upsample+conv, conv+pool)."""
    import torch
    from torch import nn
    from torch.nn.functional import avg_pool2d, interpolate, relu
    from torch.nn.utils.parametrizations import spectral_norm as sn

    up = lambda x: interpolate(x, scale_factor=2, mode="nearest")

    class UpBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.b1, self.b2 = nn.BatchNorm2d(gw), nn.BatchNorm2d(gw)
            self.c1, self.c2 = nn.Conv2d(gw, gw, 3, 1, 1), nn.Conv2d(gw, gw, 3, 1, 1)
            self.sc = nn.Conv2d(gw, gw, 1)

        def forward(self, x):
            h = self.c2(relu(self.b2(self.c1(up(relu(self.b1(x)))))))
            return h + self.sc(up(x))

    class G(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(128, 16 * gw)
            self.blocks = nn.Sequential(UpBlock(), UpBlock(), UpBlock())
            self.bn, self.out = nn.BatchNorm2d(gw), nn.Conv2d(gw, 3, 3, 1, 1)

        def forward(self, z):
            x = self.blocks(self.fc(z).view(-1, gw, 4, 4))
            return torch.tanh(self.out(relu(self.bn(x))))

    class DBlock(nn.Module):
        def __init__(self, cin, down, first):
            super().__init__()
            self.down, self.first = down, first
            self.c1, self.c2 = sn(nn.Conv2d(cin, dw, 3, 1, 1)), sn(nn.Conv2d(dw, dw, 3, 1, 1))
            self.sc = sn(nn.Conv2d(cin, dw, 1)) if down or cin != dw else None

        def forward(self, x):
            h = self.c2(relu(self.c1(x if self.first else relu(x))))
            if self.down:
                h = avg_pool2d(h, 2)
            if self.sc is None:
                return h + x
            s = self.sc(avg_pool2d(x, 2)) if self.first else self.sc(x)
            return h + (avg_pool2d(s, 2) if self.down and not self.first else s)

    class D(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.Sequential(DBlock(3, True, True), DBlock(dw, True, False),
                                        DBlock(dw, False, False), DBlock(dw, False, False))
            self.fc = sn(nn.Linear(dw, 1))

        def forward(self, x):
            return self.fc(relu(self.blocks(x)).sum(dim=(2, 3)))

    return G(), D()


def torch_cyclegan(ngf: int = 64, ndf: int = 64, n_blocks: int = 6):
    """The reference ResnetGenerator (reflect pad, instance norm) and 70x70 NLayerDiscriminator."""
    from torch import nn
    norm = lambda c: nn.InstanceNorm2d(c)

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.f = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), norm(c), nn.ReLU(True),
                                   nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), norm(c))

        def forward(self, x):
            return x + self.f(x)

    g = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7), norm(ngf), nn.ReLU(True)]
    for i in range(2):
        c = ngf * 2 ** i
        g += [nn.Conv2d(c, 2 * c, 3, 2, 1), norm(2 * c), nn.ReLU(True)]
    g += [Block(4 * ngf) for _ in range(n_blocks)]
    for i in range(2):
        c = ngf * 2 ** (2 - i)
        g += [nn.ConvTranspose2d(c, c // 2, 3, 2, 1, output_padding=1), norm(c // 2), nn.ReLU(True)]
    g += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
    d = [nn.Conv2d(3, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
    c = ndf
    for i in range(1, 4):
        f = ndf * min(2 ** i, 8)
        d += [nn.Conv2d(c, f, 4, 2 if i < 3 else 1, 1), norm(f), nn.LeakyReLU(0.2, True)]
        c = f
    d += [nn.Conv2d(c, 1, 4, 1, 1)]
    return nn.Sequential(*g), nn.Sequential(*d)


def torch_macs(module, x) -> int:
    """Multiply-adds of every Conv2d / ConvTranspose2d / Linear in one forward of `module`."""
    import torch
    from torch import nn
    total = [0]

    def hook(m, inputs, out):
        if isinstance(m, nn.Conv2d):
            total[0] += out.numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.ConvTranspose2d):
            total[0] += inputs[0].numel() * m.out_channels * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.Linear):
            total[0] += out.numel() * m.in_features

    handles = [m.register_forward_hook(hook) for m in module.modules()]
    with torch.no_grad():
        out = module(x)
    for h in handles:
        h.remove()
    return total[0], out


def torch_step(row: str, threads: int):
    """(step(), flops) of the row's PyTorch training step."""
    import torch
    from torch.nn.functional import mse_loss, relu, softplus
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    g, d, z_dim, shape = torch_nets(row)
    batch = 1 if row == "cyclegan128" else 64
    rng = np.random.default_rng(0)
    real = torch.from_numpy(rng.uniform(-1, 1, (batch,) + shape).astype(np.float32))
    source = torch.from_numpy(rng.uniform(-1, 1, (batch,) + shape).astype(np.float32))
    betas = (0.0, 0.9) if row == "sngan32" else (0.5, 0.999)
    opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas)
    opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas)
    g_in = (lambda: torch.randn(batch, z_dim)) if z_dim else (lambda: source)
    macs_g, fake = torch_macs(g, g_in())
    macs_d, _ = torch_macs(d, fake)
    if row.startswith("dcgan"):
        d_loss = lambda r, f: softplus(-r).mean() + softplus(f).mean()
        g_loss = lambda f: softplus(-f).mean()
    elif row == "sngan32":
        d_loss = lambda r, f: relu(1 - r).mean() + relu(1 + f).mean()
        g_loss = lambda f: -f.mean()
    else:
        d_loss = lambda r, f: 0.5 * (mse_loss(r, torch.ones_like(r)) + mse_loss(f, torch.zeros_like(f)))
        g_loss = lambda f: mse_loss(f, torch.ones_like(f))
    g.train(), d.train()

    def step():
        fake = g(g_in())
        opt_d.zero_grad(set_to_none=True)
        d_loss(d(real), d(fake.detach())).backward()
        opt_d.step()
        d.requires_grad_(False)
        opt_g.zero_grad(set_to_none=True)
        g_loss(d(fake)).backward()
        opt_g.step()
        d.requires_grad_(True)

    return step, 2 * (3 * macs_g + 8 * macs_d)


def peak_gflops(framework: str, threads: int, repeats: int = 20) -> float:
    """The machine's practical float32 peak as the framework reaches it: GFLOP/s of its best
    (of `repeats`) 2048x2048 matrix product, and for PyTorch also of its channels-last
    forward of dcgan64's D4 conv (64x8x8x256 -> 512, 4x4 stride 2), the fastest kernel
    measured on the benchmark machine (oneDNN's, above its products there)."""
    def best(fn, flop):
        fn()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return flop / min(times) / 1e9

    n = 2048
    if framework != "torch":
        import jax
        import jax.numpy as jnp
        a = jnp.asarray(np.random.default_rng(0).random((n, n), np.float32))
        f = jax.jit(lambda a: a @ a)
        return best(lambda: f(a).block_until_ready(), 2 * n ** 3)
    import torch
    torch.set_num_threads(threads)
    a = torch.rand(n, n)
    x = torch.randn(64, 256, 8, 8).contiguous(memory_format=torch.channels_last)
    w = torch.randn(512, 256, 4, 4).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        conv = best(lambda: torch.nn.functional.conv2d(x, w, None, 2, 1), 2 * 64 * 16 * 512 * 4096)
    return max(best(lambda: a @ a, 2 * n ** 3), conv)


# --------------------------------------------------------------------------- workers
def serve_steps(step, warmup: int, info: dict):
    """Worker side: times the first call and `warmup` more, prints `info` + those as JSON,
    then runs and times one step per 'step' line on stdin; 'done' prints peak memory.
    A step that returns a list of times (its parts, timed by itself) reports that list
    as its time instead of the wall time of the whole call."""
    t = time.perf_counter()
    step()
    first = time.perf_counter() - t
    warm = []
    for _ in range(warmup):
        t = time.perf_counter()
        step()
        warm.append(time.perf_counter() - t)
    print(json.dumps(dict(info, first_s=first, warm_s=float(np.median(warm or [first])))),
          flush=True)
    for line in sys.stdin:
        if line.strip() != "step":
            break
        t, c = time.perf_counter(), time.process_time()
        parts = step()
        elapsed = time.perf_counter() - t
        print(json.dumps({"t": elapsed if parts is None else parts,
                          "cpu": time.process_time() - c}), flush=True)
    print(json.dumps({"peak_rss_mb": peak_rss_mb()}), flush=True)


def worker(framework: str, row: str, flax_baseline: bool, warmup: int, threads: int):
    """Builds the row's step for `framework` ('jax' or 'torch') and serves timed steps."""
    sys.path.insert(0, ROOT)
    if row == "peak":
        print(json.dumps({"peak_gflops": peak_gflops(framework, threads)}), flush=True)
        return
    flops = None
    if framework == "torch":
        import torch  # noqa: F401
        base_rss = rss_mb()
        step, flops = torch_step(row, threads)
    else:
        from gan_jax import backend
        config = jax_config(row, "xla" if flax_baseline else "auto")
        backend.prepare_process(config)  # as gan_jax.main does, before XLA's threads allocate
        import jax  # noqa: F401
        base_rss = rss_mb()
        step = jax_step(row, config)
    serve_steps(step, warmup, {"flops": flops, "base_rss_mb": base_rss})


def measure_peak(threads: int) -> dict:
    """{framework: peak_gflops}, measured one process at a time."""
    peaks = {}
    for fw in ("jax", "torch"):
        args = [f"--worker={fw}", "--rows=peak", f"--threads={threads}"]
        p = subprocess.run([sys.executable, os.path.abspath(__file__)] + args, cwd=ROOT,
                           env=worker_env(fw, threads), capture_output=True, text=True, check=True)
        peaks[fw] = json.loads(p.stdout.strip().splitlines()[-1])["peak_gflops"]
    return peaks


def worker_env(framework: str, threads: int) -> dict:
    env = dict(os.environ)
    if framework == "jax" and threads == 1:
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
                            " intra_op_parallelism_threads=1").strip()
    return env


class Worker:
    """Parent side of a worker process (`script --worker=... args`): one timed step per call."""

    def __init__(self, script: str, args, env=None):
        cmd = [sys.executable, os.path.abspath(script)] + list(args)
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  cwd=ROOT, env=env)
        self.info = self.read()
        self.times, self.cpu = [], []

    def read(self):
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.p.args} died (exit {self.p.wait()})")
        return json.loads(line)

    def step(self):
        self.p.stdin.write("step\n")
        self.p.stdin.flush()
        r = self.read()
        self.times.append(r["t"])
        self.cpu.append(r["cpu"])

    def finish(self):
        self.p.stdin.write("done\n")
        self.p.stdin.flush()
        self.info.update(self.read())
        self.p.wait()


def interleave(workers: dict, steps: int):
    """`steps` timed steps per worker, alternating workers (order reversed every round)."""
    order = list(workers)
    for i in range(steps):
        for name in (order if i % 2 == 0 else order[::-1]):
            time.sleep(0.05)  # let the previous worker's threads go idle
            workers[name].step()
    for w in workers.values():
        w.finish()


def machine() -> str:
    """'N CPUs (model, widest AVX)' from /proc/cpuinfo (read once; its first CPU's lines)."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    flags = fields.get("flags", "").split()
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else ""
    model = fields.get("model name") or platform.processor() or "unknown"
    return f"{os.cpu_count()} CPUs ({model}{', ' + isa if isa else ''})"


def versions() -> str:
    import importlib.metadata as md
    names = ("jax", "jaxlib", "flax", "optax", "torch")
    return ", ".join(f"{n} {md.version(n)}" for n in names) + f", Python {platform.python_version()}"


def bench_row(row, steps, warmup, flax_baseline, threads, peak, baseline=""):
    kinds = [("gan_jax", "jax", False, __file__), ("PyTorch", "torch", False, __file__)]
    if flax_baseline:
        kinds.append(("gan_jax, conv_impl='xla'", "jax", True, __file__))
    if baseline:  # another checkout's gan_jax step: its own bench_step imports its own package
        kinds.append((f"gan_jax @ {os.path.basename(os.path.normpath(baseline))}", "jax", False,
                      os.path.join(baseline, "experiments", "bench_step.py")))
    workers = {}
    for name, fw, fb, script in kinds:
        args = [f"--worker={fw}", f"--rows={row}", f"--warmup={warmup}", f"--threads={threads}"]
        workers[name] = Worker(script, args + (["--flax_baseline"] if fb else []),
                               worker_env(fw, threads))
    interleave(workers, steps)
    flops = workers["PyTorch"].info["flops"]
    ref = float(np.median(workers["PyTorch"].times))
    lines = []
    for name, w in workers.items():
        med = float(np.median(w.times))
        compile_s = max(w.info["first_s"] - med, 0.0)
        cpu = float(np.median(w.cpu))
        lines.append(f"| {row} | {name} | {med * 1e3:.1f} | {min(w.times) * 1e3:.1f} | "
                     f"{med / ref:.2f} | {flops / med / 1e9:.1f} | {flops / med / 1e9 / peak:.0%} | "
                     f"{cpu * 1e3:.0f} | {compile_s:.1f} | "
                     f"{w.info['peak_rss_mb']:.0f} (+{w.info['peak_rss_mb'] - w.info['base_rss_mb']:.0f}) |")
    at_peak = flops / peak / 1e9
    note = (f"{row} {flops / 1e9:.2f} GFLOP per step, every FLOP at the peak "
            f"{at_peak * 1e3:.1f} ms = ratio {at_peak / ref:.2f}")
    return lines, note


def load_average() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def finish_table(head, body, tail, out: str):
    """Prints the tail lines and, with --out, writes the whole markdown table there."""
    print("\n".join(tail))
    if out:
        with open(out, "w") as f:
            f.write("\n".join(head + body + tail) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--steps", type=int, default=15, help="timed steps per framework")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps after the first")
    parser.add_argument("--flax_baseline", action="store_true",
                        help="also time gan_jax with conv_impl='xla' (flax.linen's layers; "
                             "slow on CPU)")
    parser.add_argument("--threads", type=int, default=2,
                        help="PyTorch threads; 1 also makes XLA single-threaded (a diagnostic "
                             "on a busy machine: CPU time then holds no spinning)")
    parser.add_argument("--baseline", default="",
                        help="also time the gan_jax step of another checkout, e.g. "
                             "`git worktree add /tmp/base HEAD~1` then --baseline=/tmp/base")
    parser.add_argument("--out", default="", help="also write the markdown table here")
    parser.add_argument("--worker", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline and not os.path.isfile(os.path.join(args.baseline, "experiments",
                                                         "bench_step.py")):
        raise ValueError(f"--baseline={args.baseline!r} holds no experiments/bench_step.py; "
                         f"give the root of a gan_jax checkout (e.g. a git worktree).")
    if args.worker:
        return worker(args.worker, args.rows, args.flax_baseline, args.warmup, args.threads)
    rows = [r for r in args.rows.split(",") if r]
    for r in rows:
        if r not in ROWS:
            raise ValueError(f"--rows: {r!r} is unknown; choose from {', '.join(ROWS)}.")
    head = [f"Step benchmark, {datetime.datetime.now().isoformat(timespec='minutes')}; "
            f"{machine()}; {versions()}; load average at start {load_average()}",
            "", f"`python experiments/bench_step.py --rows={','.join(rows)} --steps={args.steps}"
            + (" --flax_baseline" if args.flax_baseline else "")
            + (f" --baseline={args.baseline}" if args.baseline else "")
            + (f" --threads={args.threads}" if args.threads != 2 else "") + "`", "",
            "| row | implementation | median ms | min ms | ratio vs PyTorch | GFLOP/s | "
            "% of peak | CPU ms | compile s | peak RSS MiB (+ over imports) |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    print("\n".join(head), flush=True)
    peaks = measure_peak(args.threads)
    peak = max(peaks.values())
    body, notes = [], []
    for r in rows:
        lines, note = bench_row(r, args.steps, args.warmup, args.flax_baseline, args.threads,
                                peak, args.baseline)
        notes.append(note)
        print("\n".join(lines), flush=True)
        body += lines
    tail = ["", f"Peak (measured before the rows, see `peak_gflops`): {peak:.0f} GFLOP/s (jax "
            f"{peaks['jax']:.0f}, PyTorch {peaks['torch']:.0f}). "
            "FLOPs (analytic, PyTorch nets) and the lowest ratio they allow: " + "; ".join(notes)
            + ". Load average at end " + load_average() + "."]
    finish_table(head, body, tail, args.out)


if __name__ == "__main__":
    main()
