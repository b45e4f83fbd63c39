"""Input pipelines: determinism, host slicing, tfds (mocked offline), folders, errors."""
import os

import numpy as np
import pytest
from PIL import Image

from gan_jax import data
from tests.helpers import recipe


def test_digits_are_32x32_in_range_with_labels():
    src = data.build_source(recipe("dcgan").data)
    assert len(src) == 1797
    b = src.read(np.arange(10))
    assert b["x"].shape == (10, 32, 32, 1) and b["x"].dtype == np.float32
    assert b["x"].min() >= -1.0 and b["x"].max() <= 1.0
    assert b["x"].min() == -1.0 and b["x"].max() > 0.9  # background black, strokes bright
    assert set(np.unique(src.labels)) == set(range(10))


def test_digits_at_their_own_8x8_size_are_the_16_grey_levels_mapped_exactly_to_minus1_1():
    """sklearn's digits hold integers 0..16; at image_size 8 (no resampling) each pixel must
    be exactly v / 8 - 1, so 0 -> -1, 8 -> 0 and 16 -> 1 (a /15 or a missing shift fails)."""
    from sklearn.datasets import load_digits

    from gan_jax.data import embedded

    raw = load_digits()
    images, labels = embedded.load_digits_images(8)
    assert images.shape == (1797, 8, 8, 1) and images.dtype == np.float32
    np.testing.assert_array_equal(images[..., 0], raw.images / 8.0 - 1.0)
    np.testing.assert_array_equal(labels, raw.target)
    assert images.min() == -1.0 and images.max() == 1.0
    assert set(np.unique(images).tolist()) == {v / 8.0 - 1.0 for v in range(17)}


def test_batches_are_a_pure_function_of_seed_and_step():
    cfg = recipe("dcgan")
    p1 = data.build(cfg, local_devices=1)
    p2 = data.build(cfg, local_devices=1)
    np.testing.assert_array_equal(p1.batch(7)["x"], p2.batch(7)["x"])
    assert not np.array_equal(p1.batch(7)["x"], p1.batch(8)["x"])


def test_each_epoch_visits_every_example_once():
    cfg = recipe("dcgan", batch_size=1797 // 3 * 3)
    p = data.build(cfg, local_devices=1)
    idx = np.concatenate([p.global_batch_indices(s) for s in range(1)])
    assert len(np.unique(idx)) == len(idx)


def test_process_slices_tile_the_global_batch():
    cfg = recipe("dcgan", batch_size=16)
    whole = data.build(cfg, local_devices=4).host_batch(5)["x"]
    parts = [data.build(cfg, local_devices=2, process_index=i, process_count=2).host_batch(5)["x"]
             for i in range(2)]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    sharded = data.build(cfg, local_devices=4).batch(5)["x"]
    assert sharded.shape == (4, 4, 32, 32, 1)
    np.testing.assert_array_equal(sharded.reshape(whole.shape), whole)


def test_sampled_toy_batches_do_not_depend_on_process_count():
    cfg = recipe("dcgan", **{"data.name": "ring", "batch_size": 8})
    whole = data.build(cfg, 2).host_batch(3)["x"]
    parts = [data.build(cfg, 1, i, 2).host_batch(3)["x"] for i in range(2)]
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_prefetch_iterator_yields_the_same_batches_as_direct_calls():
    p = data.build(recipe("dcgan"), local_devices=1)
    it = p.iterate(start_step=3)
    for s in (3, 4, 5):
        np.testing.assert_array_equal(next(it)["x"], p.batch(s)["x"])


def test_unknown_dataset_names_the_field_and_choices():
    with pytest.raises(ValueError, match=r"config\.data\.name='digitz' is unknown.*digits"):
        data.build_source(recipe("dcgan", **{"data.name": "digitz"}).data)


def test_batch_not_divisible_by_devices_is_rejected():
    with pytest.raises(ValueError, match=r"config\.batch_size=10 is not divisible .*8"):
        data.build(recipe("dcgan", batch_size=10), local_devices=8)
    with pytest.raises(ValueError, match=r"config\.batch_size=4 is not divisible"):
        data.build(recipe("dcgan", batch_size=4), local_devices=8)


def test_folder_source_reads_resizes_and_errors(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    cfg = recipe("dcgan", **{"data.name": f"folder:{tmp_path}", "data.image_size": 16})
    src = data.build_source(cfg.data)
    b = src.read([0, 2])["x"]
    assert b.shape == (2, 16, 16, 3) and -1 <= b.min() and b.max() <= 1
    with pytest.raises(ValueError, match="does not exist"):
        data.build_source(recipe("dcgan", **{"data.name": f"folder:{tmp_path}/nope"}).data)
    empty = tmp_path / "empty"
    os.makedirs(empty)
    with pytest.raises(ValueError, match="holds no images"):
        data.build_source(recipe("dcgan", **{"data.name": f"folder:{empty}"}).data)


def test_tfds_mnist_through_data_source_offline():
    tfds = pytest.importorskip("tensorflow_datasets")
    cfg = recipe("dcgan", **{"data.name": "tfds:mnist", "data.image_size": 32})
    with tfds.testing.mock_data(num_examples=20):
        src = data.build_source(cfg.data)
        assert len(src) == 20
        b = data.Pipeline(src, 8, 0, 2).batch(1)
    assert b["x"].shape == (2, 4, 32, 32, 1)
    assert b["label"].shape == (2, 4)
    assert -1.0 <= b["x"].min() and b["x"].max() <= 1.0


def test_unprepared_tfds_dataset_says_how_to_prepare(tmp_path):
    cfg = recipe("dcgan", **{"data.name": "tfds:mnist", "data.tfds_dir": str(tmp_path)})
    with pytest.raises(ValueError, match=r"(?s)not prepared locally.*tfds build mnist"):
        data.build_source(cfg.data)
