"""The shipped digits feature net (gan_jax/metrics/digits_net.py), batched/pmapped extraction
(extract.py) and the image branch of metrics.evaluate."""
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from configs import dcgan
from gan_jax import data, metrics
from gan_jax.data.embedded import load_digits_images
from gan_jax.metrics import digits_net

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "experiments"))


@pytest.fixture(scope="module")
def digits():
    return load_digits_images(32)


def test_shipped_classifier_accuracy_on_held_out_digits(digits):
    images, labels = digits
    _, test_idx = digits_net.held_out_split(len(images))
    _, logits = digits_net.features_and_logits(images[test_idx])
    acc = np.mean(np.argmax(logits, 1) == labels[test_idx])
    assert acc >= 0.97
    assert acc == pytest.approx(digits_net.metadata()["held_out_accuracy"], abs=2 / len(test_idx))
    assert os.path.getsize(digits_net.WEIGHTS) < 1_000_000


def test_features_shapes_units_alive_and_rgb_is_channel_mean(digits):
    images, _ = digits
    feats, logits = digits_net.features_and_logits(images)
    assert feats.shape == (len(images), 64) and logits.shape == (len(images), 10)
    assert np.all(feats.std(0) > 1e-3)  # no dead unit: the covariance of FD-digits is full rank
    rng = np.random.default_rng(0)
    rgb = np.clip(images[:20] + rng.normal(0, 0.2, (20, 32, 32, 3)), -1, 1).astype(np.float32)
    got = digits_net.features_and_logits(rgb)
    want = digits_net.features_and_logits(rgb.mean(-1, keepdims=True))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def test_batch_size_does_not_change_outputs(digits):
    images, _ = digits
    a = digits_net.features_and_logits(images[:53], batch_size=500)
    b = digits_net.features_and_logits(images[:53], batch_size=8)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-5)


def test_pmapped_extraction_on_four_devices_equals_one_device(digits, tmp_path):
    images, _ = digits
    np.save(tmp_path / "x.npy", images[:37])
    script = textwrap.dedent(f"""
        import jax
        jax.config.update("jax_num_cpu_devices", 4)
        import numpy as np
        from gan_jax.metrics import digits_net
        assert jax.local_device_count() == 4
        f, l = digits_net.features_and_logits(np.load("{tmp_path}/x.npy"), batch_size=10)
        np.save("{tmp_path}/f.npy", f)
    """)
    subprocess.run([sys.executable, "-c", script], check=True, cwd=ROOT,
                   env=dict(os.environ, JAX_PLATFORMS="cpu"))
    want, _ = digits_net.features_and_logits(images[:37])
    np.testing.assert_allclose(np.load(tmp_path / "f.npy"), want, rtol=1e-5, atol=1e-5)


def test_training_script_is_reproducible():
    import train_digits_classifier as script

    (p1, a1), (p2, a2) = script.train(steps=5), script.train(steps=5)
    assert a1 == a2
    for x, y in zip(jax.tree_util.tree_leaves(p1), jax.tree_util.tree_leaves(p2)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_class_coverage_counts_classes_above_a_quarter_of_the_uniform_share():
    labels = np.concatenate([np.zeros(50), np.ones(40), np.full(9, 2), np.full(1, 3)]).astype(int)
    logits = np.eye(10)[labels]  # shares 0.5, 0.4, 0.09, 0.01: the last is below 0.025
    assert metrics.class_coverage(logits) == pytest.approx(0.3)


class CountingSource:
    """Wraps a source and counts reads (to see the reference statistics are cached)."""

    def __init__(self, source):
        self.source, self.reads = source, 0

    def __len__(self):
        return len(self.source)

    def read(self, indices, seeds=None):
        self.reads += 1
        return self.source.read(indices, seeds)


def test_evaluate_digits_metrics_separate_real_from_noise_and_cache_reference(digits):
    config = dcgan.get_config("smoke")
    with config.unlocked():
        config.eval.num_samples = 1000
    pipeline = data.build(config, jax.local_device_count())
    pipeline.source = CountingSource(pipeline.source)
    images, _ = digits
    rng = np.random.default_rng(0)
    real = lambda n: images[rng.permutation(len(images))[:n]]
    noise = lambda n: rng.uniform(-1, 1, (n, 32, 32, 1)).astype(np.float32)
    metrics._REFERENCE_CACHE.clear()
    good = metrics.evaluate(config, real, pipeline)
    reads = pipeline.source.reads
    bad = metrics.evaluate(config, noise, pipeline)
    assert pipeline.source.reads == reads > 0
    assert set(good) == {"fd_digits", "is_digits", "class_coverage", "precision", "recall",
                         "density", "coverage"}
    assert good["fd_digits"] < 2.0 < 100.0 < bad["fd_digits"]
    assert good["class_coverage"] == 1.0 and good["is_digits"] > 8.0
    assert good["precision"] == 1.0 and good["recall"] > 0.8 and good["coverage"] > 0.8
    assert bad["precision"] < 0.05 and bad["is_digits"] < 2.0
