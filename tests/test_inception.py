"""FID-InceptionV3 (gan_jax/metrics/inception.py) against pytorch-fid's network.

pytorch-fid's weights cannot be downloaded here, so its InceptionV3 is built
with seeded random weights (its weight loader patched), BatchNorm statistics
calibrated on a random image so activations neither vanish nor explode
(`inception.random_pytorch_fid_weights`), and those weights converted by our
converter CLI.
"""
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pfi = pytest.importorskip("pytorch_fid.inception")
import torch.nn.functional as F  # noqa: E402
import torchvision.models.inception as tvi  # noqa: E402

from configs import dcgan  # noqa: E402
from gan_jax import data, metrics  # noqa: E402
from gan_jax.data.embedded import load_digits_images  # noqa: E402
from gan_jax.metrics import extract, fid, inception  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def randomize_batch_norm(module, seed):
    """Seeded random BN affine parameters and running statistics (all BN layers of module)."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            c = m.num_features
            m.weight.data = torch.rand(c, generator=g) + 0.5
            m.bias.data = torch.rand(c, generator=g) * 0.4 - 0.1
            m.running_mean.data = torch.randn(c, generator=g) * 0.1
            m.running_var.data = torch.rand(c, generator=g) * 1.5 + 0.5
    return module


@pytest.fixture(scope="module")
def random_fid_weights():
    """Seeded FID-Inception weights (pytorch-fid names, 1008 classes), BN calibrated at 299x299."""
    return inception.random_pytorch_fid_weights(seed=0)


def to_nhwc(x):
    return np.ascontiguousarray(x.numpy().transpose(0, 2, 3, 1))


@pytest.mark.parametrize("h,w", [(32, 32), (400, 350), (299, 17)])
def test_resize_matches_torch_interpolate_bilinear(h, w):
    x = torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(0))
    want = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    got = np.asarray(inception.resize_bilinear(to_nhwc(x), 299))
    np.testing.assert_allclose(got, to_nhwc(want), atol=2e-6)


BLOCKS = [  # (torch block, flax block, input channels, spatial size)
    (lambda: pfi.FIDInceptionA(192, pool_features=32), lambda: inception.InceptionA(32), 192, 7),
    (lambda: tvi.InceptionB(288), lambda: inception.InceptionB(), 288, 9),
    (lambda: pfi.FIDInceptionC(768, channels_7x7=128), lambda: inception.InceptionC(128), 768, 5),
    (lambda: tvi.InceptionD(768), lambda: inception.InceptionD(), 768, 9),
    (lambda: pfi.FIDInceptionE_1(1280), lambda: inception.InceptionE("avg"), 1280, 4),
    (lambda: pfi.FIDInceptionE_2(2048), lambda: inception.InceptionE("max"), 2048, 4),
]


@pytest.mark.parametrize("i", range(len(BLOCKS)),
                         ids=["A_5b", "B_6a", "C_6b", "D_7a", "E1_7b", "E2_7c_maxpool"])
def test_block_matches_pytorch_fid_block(i):
    make_torch, make_flax, c, s = BLOCKS[i]
    torch.manual_seed(i)
    block = randomize_batch_norm(make_torch().eval(), seed=i)
    x = torch.randn(2, c, s, s, generator=torch.Generator().manual_seed(10 + i))
    with torch.no_grad():
        want = to_nhwc(block(x))
    flat, unknown = inception.torch_to_flat(block.state_dict())
    assert not unknown
    got = np.asarray(make_flax().apply(inception.unflatten(flat), to_nhwc(x)))
    assert got.shape == want.shape
    assert np.abs(want).max() > 0.1  # the comparison is not vacuous
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()


def test_converter_rejects_torchvision_imagenet_inception():
    net = pfi._inception_v3(num_classes=1000, aux_logits=False, weights=None)
    with pytest.raises(ValueError, match="not pytorch-fid's FID-InceptionV3"):
        inception.convert_state_dict(net.state_dict())


def test_load_names_the_config_field_for_a_missing_file(tmp_path):
    with pytest.raises(ValueError, match="config.eval.inception_weights"):
        inception.load(str(tmp_path / "missing.npz"))


def test_full_network_matches_pytorch_fid_after_cli_conversion(random_fid_weights, tmp_path):
    """pool3 features and 1008 logits of 2 images; weights through the converter CLI."""
    pth, out = tmp_path / "w.pth", tmp_path / "w.npz"
    torch.save(random_fid_weights, pth)
    subprocess.run([sys.executable, "-m", "gan_jax.metrics.inception", "convert",
                    "--pth", str(pth), "--out", str(out)], check=True, cwd=ROOT,
                   env=dict(os.environ, JAX_PLATFORMS="cpu"))
    images = torch.rand(2, 3, 48, 40, generator=torch.Generator().manual_seed(3))
    ref = inception.pytorch_fid_net(random_fid_weights)
    with torch.no_grad():
        pool3 = ref(images)[0][:, :, 0, 0]
        logits = F.linear(pool3, random_fid_weights["fc.weight"], random_fid_weights["fc.bias"])
    run = extract.batched_apply(*inception.load(str(out)), batch_size=2,
                                devices=jax.devices("cpu"))
    got_pool3, got_logits = extract.apply_all(run, to_nhwc(images) * 2 - 1, 2)
    for got, want in ((got_pool3, pool3.numpy()), (got_logits, logits.numpy())):
        scale = np.abs(want).max()
        assert scale > 1.0 and np.std(want) > 0.02 * scale  # healthy, not collapsed activations
        assert np.abs(got - want).max() <= 1e-4 * scale


def write_rgb_pngs(folder, seed, n=10, size=32):
    from PIL import Image

    os.makedirs(folder)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(
            os.path.join(folder, f"{i}.png"))


@pytest.mark.slow
def test_fid_cli_with_weights_matches_pytorch_fid_end_to_end(random_fid_weights, tmp_path, capsys,
                                                            monkeypatch):
    """Same folders, same weights: our CLI's FID vs pytorch-fid's calculate_fid_given_paths."""
    fid_score = pytest.importorskip("pytorch_fid.fid_score")
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    write_rgb_pngs(a, 0)
    write_rgb_pngs(b, 1)
    weights = str(tmp_path / "w.npz")
    np.savez(weights, **inception.convert_state_dict(random_fid_weights))
    monkeypatch.setattr(pfi, "load_state_dict_from_url", lambda *a, **k: random_fid_weights)
    want = fid_score.calculate_fid_given_paths([a, b], 5, "cpu", 2048, num_workers=0)
    fid.main([a, b, "--weights", weights, "--batch-size", "5"])
    out = capsys.readouterr().out
    assert out.startswith("FID:")
    assert float(out.split()[-1]) == pytest.approx(want, rel=1e-3)


@pytest.mark.slow
def test_evaluate_with_inception_weights_reports_fid_is_kid(random_fid_weights, tmp_path):
    weights = str(tmp_path / "w.npz")
    np.savez(weights, **inception.convert_state_dict(random_fid_weights))
    config = dcgan.get_config("smoke")
    with config.unlocked():
        config.eval.update(inception_weights=weights, num_samples=20, num_real=20,
                           batch_size=10, kid_subsets=5)
    pipeline = data.build(config, jax.local_device_count())
    images, _ = load_digits_images(32)
    out = metrics.evaluate(config, lambda n: images[-n:], pipeline)
    assert set(out) == {"fid", "is", "is_std", "kid", "kid_std", "precision", "recall",
                        "density", "coverage"}
    assert all(np.isfinite(v) for v in out.values())
    reference = metrics._REFERENCE_CACHE[next(k for k in metrics._REFERENCE_CACHE
                                              if k[0] == f"inception:{weights}")]
    feats, _ = extract.apply_all(inception.runner(weights, 10), images[-20:], 10)
    want = fid.frechet_distance(reference["mu"], reference["sigma"], *fid.statistics(feats),
                                method="eigh")  # 20 samples in 2048-d: sqrtm gives complex roots
    assert out["fid"] == pytest.approx(want, rel=1e-6) and out["fid"] > 0
    assert 1.0 <= out["is"] <= 1008


def test_load_rejects_a_weights_file_of_the_wrong_shape(tmp_path):
    path = tmp_path / "wrong.npz"
    np.savez(path, **{"Conv2d_1a_3x3/conv/kernel": np.zeros((3, 3, 3, 8), np.float32)})
    with pytest.raises(ValueError, match=r"config\.eval\.inception_weights=.*does not hold converted"):
        inception.load(str(path))
