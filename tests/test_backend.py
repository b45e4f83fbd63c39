"""gan_jax/backend.py: config.conv_impl picks the nets' conv layers; off the CPU backend
the train step is what flax.linen's layers give, and nothing of gan_jax.cpu is loaded.

References: every recipe's train step with its nets built from flax.linen's layers
(nn.Conv, nn.ConvTranspose, and the SN-GAN fusions as nearest upsampling + nn.Conv and
nn.Conv + avg_pool), lowered for cuda, tpu and cpu (StableHLO op counts); the transpose
identity <u, J t> = <J^T u, t> for jax.jvp; the loaded shared objects of a fresh process.
"""
import json
import os
import stat
import sys
import textwrap

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import backend
from gan_jax.nets import layers
from gan_jax.nets.layers import ConvLayers
from tests import helpers

sys.path.insert(0, os.path.join(helpers.ROOT, "experiments"))
import lowered_ops  # noqa: E402

RECIPES = helpers.recipe_names()


class _FusionReference(nn.Module):
    """The fields of layers.UpsampleConv / ConvPool, and their flax.linen.Conv."""
    features: int
    kernel_size: tuple
    factor: int = 2
    padding: object = "SAME"
    kernel_init: object = nn.initializers.lecun_normal()

    def conv(self):
        return nn.Conv(self.features, self.kernel_size, padding=self.padding,
                       kernel_init=self.kernel_init)


class UpsampleThenConv(_FusionReference):
    """layers.UpsampleConv's function from flax.linen: nearest upsampling, then nn.Conv."""

    @nn.compact
    def __call__(self, x):
        return self.conv()(jnp.repeat(jnp.repeat(x, self.factor, axis=1), self.factor, axis=2))


class ConvThenPool(_FusionReference):
    """layers.ConvPool's function from flax.linen: nn.Conv, then average pooling."""

    @nn.compact
    def __call__(self, x):
        return nn.avg_pool(self.conv()(x), (self.factor,) * 2, (self.factor,) * 2)


FLAX_REFERENCE = ConvLayers(nn.Conv, nn.ConvTranspose, UpsampleThenConv, ConvThenPool)


def lowered_counts(name: str, platforms, **overrides) -> dict:
    """{platform: op counts} of one train step of configs/<name>.py:smoke."""
    return lowered_ops.lowered_counts(helpers.recipe(name, **overrides), platforms)


@pytest.mark.parametrize("name", RECIPES)
def test_the_xla_step_lowers_to_flax_linen_ops_on_gpu_tpu_and_cpu(name, monkeypatch):
    """conv_impl='xla' is what 'auto' gives on a GPU or TPU host (next tests)."""
    monkeypatch.setattr(backend, "conv_layers", lambda config: FLAX_REFERENCE)
    want = lowered_counts(name, ("cuda", "tpu", "cpu"))
    monkeypatch.undo()
    got = lowered_counts(name, ("cuda", "tpu", "cpu"), conv_impl="xla")
    assert want["cuda"]["convolution"] > 0 or name in ("grid", "pacgan", "ring", "unrolled")
    for platform in ("cuda", "tpu", "cpu"):
        assert got[platform]["custom_call"] == 0, (platform, got)
        assert got[platform] == want[platform], (platform, got, want)


def test_the_cpu_backend_lowers_to_other_ops():
    """The check above can fail: the CPU backend's step has custom calls on CPU and other
    op counts on cuda."""
    got = lowered_counts("dcgan", ("cuda", "cpu"), conv_impl="cpu")
    want = lowered_counts("dcgan", ("cuda", "cpu"), conv_impl="xla")
    assert got["cpu"]["custom_call"] > 0 and got["cuda"] != want["cuda"], (got, want)


def test_auto_is_the_cpu_backend_only_on_a_cpu(monkeypatch):
    config = helpers.recipe("dcgan")
    assert config.conv_impl == "auto"
    assert backend.resolve(config) == "cpu"  # the tests run on XLA:CPU
    for platform in ("gpu", "tpu"):
        monkeypatch.setattr(jax, "default_backend", lambda: platform)
        assert backend.resolve(config) == "xla"
        assert backend.conv_layers(config) is layers.FLAX
    config.conv_impl = "cpu"
    assert backend.resolve(config) == "cpu"
    config.conv_impl = "cuda"
    with pytest.raises(ValueError, match=r"config.conv_impl='cuda' is unknown; choose one of: "
                                         r"auto, xla, cpu"):
        backend.resolve(config)


def test_expects_cpu_backend_reads_platforms_and_plugins_without_jax_calls(monkeypatch):
    config = helpers.recipe("dcgan")
    monkeypatch.setattr(backend, "configured_platforms", lambda: "cuda,cpu")
    assert not backend.expects_cpu_backend(config)
    monkeypatch.setattr(backend, "configured_platforms", lambda: "cpu")
    assert backend.expects_cpu_backend(config)
    monkeypatch.setattr(backend, "configured_platforms", lambda: "")
    monkeypatch.setattr(backend, "accelerator_plugins", lambda: ["cuda13"])
    assert not backend.expects_cpu_backend(config)
    monkeypatch.setattr(backend, "accelerator_plugins", lambda: [])
    assert backend.expects_cpu_backend(config)
    config.conv_impl = "xla"
    assert not backend.expects_cpu_backend(config) and not backend.prepare_process(config)


def _vdot(a, b):
    return sum(jnp.vdot(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


NETS = {"dcgan": ("dcgan", (8, 8, 1), {}), "cyclegan": ("cyclegan", (12, 12, 3), {"g.n_blocks": 2}),
        "sngan": ("sngan", (8, 8, 3), {})}


@pytest.mark.parametrize("name", sorted(NETS))
def test_jvp_through_g_and_d_with_xla_is_the_transpose_of_the_vjp(name):
    """jax.jvp works through both nets, and <u, J t> = <J^T u, t> (J w.r.t. params and
    input together, random t and u), which a wrong tangent would break."""
    recipe, shape, fields = NETS[name]
    config = helpers.recipe(recipe, conv_impl="xla", **{"g.width": 8, "d.width": 8, **fields})
    g_in = (2, config.g.z_dim) if config.game == "gan" else (2,) + shape
    for i, (kind, in_shape) in enumerate((("generator", g_in), ("discriminator", (2,) + shape))):
        net = backend.build_net(config, kind, shape)
        x = jax.random.normal(jax.random.PRNGKey(10 + i), in_shape)
        variables = net.init(jax.random.PRNGKey(i), x, train=False)
        params, rest = variables["params"], {k: v for k, v in variables.items() if k != "params"}
        f = lambda p, x: net.apply({"params": p, **rest}, x, train=False)
        keys = iter(jax.random.split(jax.random.PRNGKey(20 + i), 64))
        t = jax.tree.map(lambda a: jax.random.normal(next(keys), a.shape), (params, x))
        u = jax.random.normal(next(keys), jax.eval_shape(f, params, x).shape)

        @jax.jit
        def both_sides(params, x, t, u):
            _, jt = jax.jvp(f, (params, x), t)
            return jnp.vdot(u, jt), _vdot(jax.vjp(f, params, x)[1](u), t)
        lhs, rhs = map(float, both_sides(params, x, t, u))
        assert abs(lhs) > 1e-3 and abs(lhs - rhs) <= 1e-4 * max(abs(lhs), 1.0), (kind, lhs, rhs)
    with pytest.raises(TypeError, match="forward-mode"):  # the CPU backend: reverse mode only
        cpu_net = backend.build_net(helpers.recipe(recipe, conv_impl="cpu"), "discriminator",
                                    shape)
        v = cpu_net.init(jax.random.PRNGKey(0), x, train=False)
        jax.jvp(lambda x: cpu_net.apply(v, x, train=False), (x,), (x,))


def test_both_backends_make_the_same_parameters():
    """A checkpoint trained with one conv_impl restores into the other: the same trees of
    parameters and batch statistics, the same initial values."""
    for recipe in ("dcgan", "sngan", "cyclegan", "pix2pix"):
        trees = []
        for impl in ("xla", "cpu"):
            config = helpers.recipe(recipe, conv_impl=impl)
            game, batch = lowered_ops.game_and_batch(config)
            state = game.init(jax.random.PRNGKey(3), config, batch)
            trees.append((state.g_params, state.d_params, state.g_batch_stats,
                          state.d_batch_stats))
        assert jax.tree.structure(trees[0]) == jax.tree.structure(trees[1]), recipe
        for a, b in zip(jax.tree.leaves(trees[0]), jax.tree.leaves(trees[1])):
            np.testing.assert_array_equal(a, b)


STEP = textwrap.dedent("""
    import functools, json, sys
    from tests.helpers import recipe
    from gan_jax import backend
    config = recipe("dcgan", conv_impl=sys.argv[1])
    prepared = backend.prepare_process(config)
    import jax
    from gan_jax import parallel
    sys.path.insert(0, "experiments")
    import lowered_ops
    game, batch = lowered_ops.game_and_batch(config)
    state = parallel.replicate(game.init(jax.random.PRNGKey(0), config, batch))
    step = parallel.map_step(functools.partial(game.train_step, config=config))
    jax.block_until_ready(step(state, batch))
    with open("/proc/self/maps") as f:
        libdnnl = any("libdnnl" in line for line in f)
    print(json.dumps({"prepared": prepared, "libdnnl": libdnnl, "cpu_modules":
                      sorted(m for m in sys.modules if m.startswith("gan_jax.cpu"))}))
""")


def _stand_in(path, body):
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def _run_step(impl, tmp_path, cxx_body):
    bin_dir, calls = tmp_path / "bin", tmp_path / "compiler_calls"
    bin_dir.mkdir(exist_ok=True)
    for name in ("g++", "c++", "cc", "gcc", "clang++"):
        _stand_in(bin_dir / name, f'echo "$@" >> {calls}\n' + cxx_body)
    env = helpers.subprocess_env()
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", CXX=str(bin_dir / "g++"),
               GAN_JAX_CACHE_DIR=str(tmp_path / "cache"))
    proc = helpers.subprocess.run([helpers.sys.executable, "-c", STEP, impl], env=env,
                                  cwd=helpers.ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), calls.exists()


def test_an_xla_step_never_compiles_loads_onednn_or_sets_the_allocator(tmp_path):
    result, compiled = _run_step("xla", tmp_path, "exit 1")
    assert not compiled, "a C++ compiler was invoked"
    assert result == {"prepared": False, "libdnnl": False, "cpu_modules": []}, result


def test_a_cpu_step_compiles_and_loads_onednn(tmp_path):
    """The check above can fail: the CPU backend's step runs the (recording) compiler,
    loads libdnnl and sets the allocator."""
    from tests.test_cpu_native import _installed
    if not _installed():
        pytest.skip("oneDNN wheel or compiler missing")
    real = helpers.shutil_which("g++") or helpers.shutil_which("c++")
    result, compiled = _run_step("cpu", tmp_path, f'exec {real} "$@"')
    assert compiled and result["libdnnl"] and result["prepared"], result
    assert "gan_jax.cpu.conv" in result["cpu_modules"], result
