"""ResNet generator, U-Net and PatchGAN against PyTorch re-implementations of the reference
code (junyanz/pytorch-CycleGAN-and-pix2pix, networks.py): outputs, parameter counts,
shapes at 256/128/32, the 70x70 receptive field and reflection padding."""
import jax
import jax.numpy as jnp
import flax.linen as nn
import ml_collections
import numpy as np
import pytest
from gan_jax.nets import cyclegan, patchgan, unet
from tests.helpers import requires_torch, torch

tnn = torch.nn if torch else None


# ----------------------------------------------------------------------------
# PyTorch reference nets, transcribed from networks.py (ResnetGenerator,
# UnetSkipConnectionBlock, NLayerDiscriminator, PixelDiscriminator).

def torch_resnet(in_nc, out_nc, ngf, n_blocks, norm=None):
    norm = norm or tnn.InstanceNorm2d
    use_bias = norm is tnn.InstanceNorm2d
    m = [tnn.ReflectionPad2d(3), tnn.Conv2d(in_nc, ngf, 7, bias=use_bias), norm(ngf), tnn.ReLU()]
    for i in range(2):
        mult = 2 ** i
        m += [tnn.Conv2d(ngf * mult, ngf * mult * 2, 3, 2, 1, bias=use_bias),
              norm(ngf * mult * 2), tnn.ReLU()]

    class Block(tnn.Module):
        def __init__(self, dim):
            super().__init__()
            self.b = tnn.Sequential(tnn.ReflectionPad2d(1), tnn.Conv2d(dim, dim, 3, bias=use_bias),
                                    norm(dim), tnn.ReLU(), tnn.ReflectionPad2d(1),
                                    tnn.Conv2d(dim, dim, 3, bias=use_bias), norm(dim))

        def forward(self, x):
            return x + self.b(x)

    m += [Block(ngf * 4) for _ in range(n_blocks)]
    for i in range(2):
        mult = 2 ** (2 - i)
        m += [tnn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, 2, 1, output_padding=1,
                                  bias=use_bias), norm(ngf * mult // 2), tnn.ReLU()]
    m += [tnn.ReflectionPad2d(3), tnn.Conv2d(ngf, out_nc, 7), tnn.Tanh()]
    return tnn.Sequential(*m)


def torch_unet(in_nc, out_nc, num_downs, ngf):
    class TorchUnetBlock(tnn.Module):
        def __init__(self, outer, inner, input_nc=None, sub=None, outermost=False, innermost=False,
                     dropout=False):
            super().__init__()
            self.outermost = outermost
            input_nc = input_nc or outer
            down = tnn.Conv2d(input_nc, inner, 4, 2, 1, bias=False)
            if outermost:
                m = [down, sub, tnn.ReLU(), tnn.ConvTranspose2d(inner * 2, outer, 4, 2, 1), tnn.Tanh()]
            elif innermost:
                m = [tnn.LeakyReLU(0.2, True), down, tnn.ReLU(True),
                     tnn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=False), tnn.BatchNorm2d(outer)]
            else:
                m = [tnn.LeakyReLU(0.2, True), down, tnn.BatchNorm2d(inner), sub, tnn.ReLU(True),
                     tnn.ConvTranspose2d(inner * 2, outer, 4, 2, 1, bias=False), tnn.BatchNorm2d(outer)]
                m += [tnn.Dropout(0.5)] if dropout else []
            self.model = tnn.Sequential(*m)

        def forward(self, x):
            return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)

    b = TorchUnetBlock(ngf * 8, ngf * 8, innermost=True)
    for _ in range(num_downs - 5):
        b = TorchUnetBlock(ngf * 8, ngf * 8, sub=b, dropout=True)
    b = TorchUnetBlock(ngf * 4, ngf * 8, sub=b)
    b = TorchUnetBlock(ngf * 2, ngf * 4, sub=b)
    b = TorchUnetBlock(ngf, ngf * 2, sub=b)
    return TorchUnetBlock(out_nc, ngf, input_nc=in_nc, sub=b, outermost=True)


def torch_patchgan(in_nc, ndf, n_layers, norm=None):
    norm = norm or tnn.BatchNorm2d
    use_bias = norm is tnn.InstanceNorm2d
    m = [tnn.Conv2d(in_nc, ndf, 4, 2, 1), tnn.LeakyReLU(0.2)]
    mult = 1
    for n in range(1, n_layers):
        prev, mult = mult, min(2 ** n, 8)
        m += [tnn.Conv2d(ndf * prev, ndf * mult, 4, 2, 1, bias=use_bias), norm(ndf * mult),
              tnn.LeakyReLU(0.2)]
    prev, mult = mult, min(2 ** n_layers, 8)
    m += [tnn.Conv2d(ndf * prev, ndf * mult, 4, 1, 1, bias=use_bias), norm(ndf * mult),
          tnn.LeakyReLU(0.2), tnn.Conv2d(ndf * mult, 1, 4, 1, 1)]
    return tnn.Sequential(*m)


def torch_pixelgan(in_nc, ndf):
    return tnn.Sequential(tnn.Conv2d(in_nc, ndf, 1), tnn.LeakyReLU(0.2),
                          tnn.Conv2d(ndf, ndf * 2, 1, bias=False), tnn.BatchNorm2d(ndf * 2),
                          tnn.LeakyReLU(0.2), tnn.Conv2d(ndf * 2, 1, 1, bias=False))


# ----------------------------------------------------------------------------
# Weight transfer: torch layers in module order <-> flax layers in creation order.

def flax_layers(module, x, variables):
    """[(path, params leaf dict)] of the layers holding parameters, in call order."""
    order = []

    def record(next_fun, args, kwargs, context):
        if context.method_name == "__call__" and context.module.path not in order:
            order.append(context.module.path)
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(record):
        jax.eval_shape(lambda v, x: module.apply(v, x, train=False), variables, x)
    params = jax.tree_util.tree_map(np.asarray, variables["params"])
    out = []
    for path in order:
        node = params
        for k in path:
            node = node.get(k, {}) if isinstance(node, dict) else {}
        if node and all(not isinstance(v, dict) for v in node.values()):
            out.append((path, node))
    return params, out


def torch_to_flax(model, module, x, variables):
    """Copies `model`'s weights (and BN running stats) into a copy of flax `variables`."""
    layers = [m for m in model.modules()
              if isinstance(m, (tnn.Conv2d, tnn.ConvTranspose2d, tnn.BatchNorm2d))]
    params, flayers = flax_layers(module, x, variables)
    stats = jax.tree_util.tree_map(np.asarray, variables.get("batch_stats", {}))
    assert len(layers) == len(flayers), (len(layers), [p for p, _ in flayers])
    for m, (path, leaf) in zip(layers, flayers):
        if isinstance(m, tnn.BatchNorm2d):
            leaf["scale"], leaf["bias"] = m.weight.detach().numpy(), m.bias.detach().numpy()
            node = stats
            for k in path:
                node = node[k]
            node["mean"], node["var"] = m.running_mean.numpy(), m.running_var.numpy()
            continue
        w = m.weight.detach().numpy()
        if isinstance(m, tnn.ConvTranspose2d):  # [in, out, kh, kw], applied as a flipped conv
            leaf["kernel"] = w[:, :, ::-1, ::-1].transpose(2, 3, 0, 1).copy()
        else:  # [out, in, kh, kw]
            leaf["kernel"] = w.transpose(2, 3, 1, 0).copy()
        assert ("bias" in leaf) == (m.bias is not None), path
        if m.bias is not None:
            leaf["bias"] = m.bias.detach().numpy()
    out = {"params": params}
    if stats:
        out["batch_stats"] = stats
    return out


def randomize_torch(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (tnn.Conv2d, tnn.ConvTranspose2d)):
                m.weight.normal_(0, 0.2, generator=g)
                if m.bias is not None:
                    m.bias.normal_(0, 0.2, generator=g)
            if isinstance(m, tnn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.normal_(0, 0.2, generator=g)
                m.running_mean.normal_(0, 0.2, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)
    return model


def compare(flax_module, torch_model, shape, train, seed=1, atol=2e-4):
    x = np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)
    # Abstract init: every parameter is then overwritten from the torch model.
    variables = jax.eval_shape(lambda x: flax_module.init(jax.random.PRNGKey(0), x, train=False),
                               x)
    variables = jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype), variables)
    variables = torch_to_flax(randomize_torch(torch_model), flax_module, jnp.asarray(x),
                             variables)
    torch_model.train(train)
    with torch.no_grad():
        ref = torch_model(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy()
    ref = ref.transpose(0, 2, 3, 1)
    mutable = ["batch_stats"] if train and "batch_stats" in variables else False
    apply = jax.jit(lambda v, x: flax_module.apply(v, x, train=train, mutable=mutable))
    out = apply(variables, jnp.asarray(x))
    out = np.asarray(out[0] if mutable else out)
    ref = ref[..., 0] if out.ndim == 3 else ref
    np.testing.assert_allclose(out, ref, atol=atol, rtol=1e-3)


def cfg(**kw):
    return ml_collections.ConfigDict(kw)


def n_params(tree):
    return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(tree))


def shapes(module, in_shape):
    """(param tree shapes, output shape) by abstract evaluation: no FLOPs, any size."""
    x = jax.ShapeDtypeStruct(in_shape, jnp.float32)
    variables = jax.eval_shape(lambda x: module.init(jax.random.PRNGKey(0), x, train=False), x)
    out = jax.eval_shape(lambda v, x: module.apply(v, x, train=False), variables, x)
    return variables, out.shape


# ----------------------------------------------------------------------------

@requires_torch
def test_resnet_generator_matches_pytorch_reference():
    g = cyclegan.make_generator(cfg(width=4, n_blocks=2), (32, 32, 3))
    compare(g, torch_resnet(3, 3, 4, 2), (2, 32, 32, 3), train=True)


@requires_torch
def test_unet_matches_pytorch_reference_train_and_eval_batchnorm():
    # n_downs 6 at 64x64 has one dropout block; dropout is off in eval, so compare eval
    # mode there and train mode (batch statistics) on the dropout-free 32x32 U-Net.
    compare(unet.make_generator(cfg(width=4), (64, 64, 3)), torch_unet(3, 3, 6, 4),
            (2, 64, 64, 3), train=False)
    compare(unet.make_generator(cfg(width=4), (32, 32, 3)), torch_unet(3, 3, 5, 4),
            (3, 32, 32, 3), train=True)


@requires_torch
@pytest.mark.parametrize("n_layers", [1, 3])
def test_patchgan_matches_pytorch_reference(n_layers):
    d = patchgan.make_discriminator(cfg(width=4, n_layers=n_layers, norm="batch"), (40, 40, 3))
    compare(d, torch_patchgan(3, 4, n_layers), (2, 40, 40, 3), train=True)
    d = patchgan.make_discriminator(cfg(width=4, n_layers=n_layers, norm="instance"), (40, 40, 3))
    compare(d, torch_patchgan(3, 4, n_layers, tnn.InstanceNorm2d), (2, 40, 40, 3), train=True)


@requires_torch
def test_pixelgan_matches_pytorch_reference():
    d = patchgan.make_discriminator(cfg(width=4, n_layers=0, norm="batch"), (8, 8, 3))
    compare(d, torch_pixelgan(3, 4), (2, 8, 8, 3), train=True)


@requires_torch
def test_parameter_counts_match_the_reference_nets():
    # The reference logs 11.378 M (resnet_9blocks), 54.414 M (unet_256), 2.765 M (basic D).
    torch_count = lambda m: sum(p.numel() for p in m.parameters())
    g, _ = shapes(cyclegan.make_generator(cfg(width=64), (256, 256, 3)), (1, 256, 256, 3))
    assert n_params(g["params"]) == torch_count(torch_resnet(3, 3, 64, 9)) == 11_378_179
    u, _ = shapes(unet.make_generator(cfg(width=64), (256, 256, 3)), (1, 256, 256, 3))
    assert n_params(u["params"]) == torch_count(torch_unet(3, 3, 8, 64)) == 54_413_955
    d, _ = shapes(patchgan.make_discriminator(cfg(width=64, norm="instance"), (256, 256, 3)),
                  (1, 256, 256, 3))
    assert n_params(d["params"]) == torch_count(
        torch_patchgan(3, 64, 3, tnn.InstanceNorm2d)) == 2_764_737


@pytest.mark.parametrize("size,blocks,downs,patches", [(256, 9, 8, 30), (128, 6, 7, 14),
                                                        (32, 6, 5, 2)])
def test_output_shapes_at_256_128_32(size, blocks, downs, patches):
    g = cyclegan.make_generator(cfg(width=64), (size, size, 3))
    assert g.n_blocks == blocks
    assert shapes(g, (2, size, size, 3))[1] == (2, size, size, 3)
    u = unet.make_generator(cfg(width=64), (size, size, 3))
    assert u.n_downs == downs
    assert shapes(u, (2, size, size, 3))[1] == (2, size, size, 3)
    d = patchgan.make_discriminator(cfg(width=64, n_layers=3), (size, size, 3))
    assert shapes(d, (2, size, size, 3))[1] == (2, patches, patches)
    pixel = patchgan.make_discriminator(cfg(width=64, n_layers=0), (size, size, 3))
    assert shapes(pixel, (2, size, size, 3))[1] == (2, size, size)


@pytest.mark.parametrize("n_layers,field", [(0, 1), (1, 16), (2, 34), (3, 70)])
def test_patchgan_receptive_field_from_gradient_support(n_layers, field):
    """One output's gradient w.r.t. the input is nonzero on exactly a field x field square."""
    assert patchgan.receptive_field(n_layers) == field
    size = 96
    d = patchgan.make_discriminator(cfg(width=2, n_layers=n_layers, norm="batch"),
                                    (size, size, 1))
    x = jax.random.normal(jax.random.PRNGKey(0), (1, size, size, 1))
    # Equal positive weights so no path cancels; eval-mode BN is a per-pixel affine map.
    v = jax.eval_shape(lambda x: d.init(jax.random.PRNGKey(1), x, train=False), x)
    v = {"params": jax.tree_util.tree_map(lambda s: jnp.full(s.shape, 0.05), v["params"]),
         "batch_stats": jax.tree_util.tree_map(lambda s: jnp.ones(s.shape), v["batch_stats"])}
    out_shape = jax.eval_shape(lambda x: d.apply(v, x, train=False), x).shape
    i, j = out_shape[1] // 2, out_shape[2] // 2
    grad = jax.jit(jax.grad(lambda x: d.apply(v, x, train=False)[0, i, j]))(x)[0, :, :, 0]
    rows, cols = np.nonzero(np.asarray(grad))
    assert rows.max() - rows.min() + 1 == field and cols.max() - cols.min() + 1 == field
    assert len(rows) == field * field


@requires_torch
def test_reflect_pad_matches_torch_reflectionpad2d():
    x = np.arange(2 * 5 * 6 * 3, dtype=np.float32).reshape(2, 5, 6, 3)
    ref = tnn.ReflectionPad2d(3)(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy()
    np.testing.assert_array_equal(np.asarray(cyclegan.reflect_pad(jnp.asarray(x), 3)),
                                  ref.transpose(0, 2, 3, 1))


def test_residual_blocks_pad_by_reflection_not_zeros():
    """A block on a constant image: reflection keeps it constant at the border, zeros would not."""
    block = cyclegan.ResidualBlock(4, norm="none")
    x = jnp.ones((1, 8, 8, 4))
    v = jax.jit(block.init)(jax.random.PRNGKey(0), x)
    y = np.asarray(jax.jit(block.apply)(v, x))
    np.testing.assert_allclose(y, y[:, 4:5, 4:5, :] * np.ones_like(y), rtol=1e-5, atol=1e-6)


def test_unknown_norm_and_bad_sizes_name_the_field():
    with pytest.raises(ValueError, match="config.d.norm='layer'"):
        patchgan.make_discriminator(cfg(width=4, norm="layer"), (32, 32, 3))
    with pytest.raises(ValueError, match="config.d.n_layers=4 needs images of at least 48"):
        patchgan.make_discriminator(cfg(width=4, n_layers=4), (32, 32, 3))
    with pytest.raises(ValueError, match="config.g.n_downs=8 needs image sides divisible by 256"):
        unet.make_generator(cfg(width=4, n_downs=8), (32, 32, 3))
    with pytest.raises(ValueError, match="config.data.image_size=30"):
        cyclegan.make_generator(cfg(width=4), (30, 30, 3))


def test_unet_dropout_is_rate_half_on_the_middle_decoder_level_in_train_mode():
    """pix2pix's dropout 0.5 (the default, which a test at rate 0 would hide): at 64x64 the
    one middle decoder level's dropout keeps each unit with p = 1/2 (5 standard errors) and
    scales it by exactly 1 / (1 - 0.5) = 2; it is the only dropout, and off in eval mode.
    Checked against a rate of 0.4 and against dropout on one level too many."""
    g = unet.make_generator(cfg(width=4), (64, 64, 3))
    x = jax.random.uniform(jax.random.PRNGKey(0), (4, 64, 64, 3), minval=-1, maxval=1)
    variables = g.init(jax.random.PRNGKey(1), x, train=False)
    capture = lambda mdl, _: isinstance(mdl, (nn.Dropout, nn.BatchNorm))
    _, mut = g.apply(variables, x, train=True, rngs={"dropout": jax.random.PRNGKey(2)},
                     mutable=["batch_stats", "intermediates"], capture_intermediates=capture)
    inter = mut["intermediates"]
    drops = [k for k in inter if k.startswith("Dropout")]
    assert drops == ["Dropout_0"]
    before = np.asarray(inter["up4_norm"]["__call__"][0])
    after = np.asarray(inter["Dropout_0"]["__call__"][0])
    kept = after != 0
    np.testing.assert_array_equal(after[kept], 2.0 * before[kept])
    assert (before[~kept] != 0).all()  # zeros are dropped units, not zero inputs
    n = kept.size
    assert abs(kept.mean() - 0.5) < 5 * np.sqrt(0.25 / n), (kept.mean(), n)
    _, mut = g.apply(variables, x, train=False, mutable=["intermediates"],
                     capture_intermediates=capture)
    inter = mut["intermediates"]
    np.testing.assert_array_equal(inter["Dropout_0"]["__call__"][0], inter["up4_norm"]["__call__"][0])
