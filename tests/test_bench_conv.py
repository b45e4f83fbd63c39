"""experiments/bench_conv.py times the same function on both sides: gan_jax's Conv /
ConvTranspose equal PyTorch's F.conv2d / F.conv_transpose2d (outputs and both gradients)
on every layer shape it benchmarks, and its check fails when they differ."""
import os
import sys

import pytest

torch = pytest.importorskip("torch")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "experiments"))
import bench_conv  # noqa: E402

SPECS = [(row, spec) for row, specs in bench_conv.LAYERS.items() for spec in specs]


@pytest.mark.parametrize("row,spec", SPECS, ids=[f"{r}-{s[0]}" for r, s in SPECS])
def test_gan_jax_layer_equals_pytorch(row, spec):
    bench_conv.check_layer(spec, batch=1 if row == "sngan32" else 2)


def test_out_size_and_macs_match_pytorch():
    """Against the PyTorch modules: their output size, and bench_step's forward-hook count of
    their multiply-adds (one example, times the batch)."""
    import bench_step
    for _, spec in SPECS:
        _, transposed, b, n, c, f, k, s, p, op = spec
        conv = (torch.nn.ConvTranspose2d(c, f, k, s, p, op) if transposed
                else torch.nn.Conv2d(c, f, k, s, p))
        macs, y = bench_step.torch_macs(conv, torch.zeros(1, c, n, n))
        assert y.shape[-2:] == (bench_conv.out_size(spec),) * 2
        assert bench_conv.macs(spec) == b * macs


def test_check_fails_when_the_layers_differ(monkeypatch):
    conv2d = torch.nn.functional.conv2d
    monkeypatch.setattr(torch.nn.functional, "conv2d",
                        lambda *a, **kw: conv2d(*a, **kw) * 1.001)
    with pytest.raises(AssertionError, match="layer D2: gan_jax's output differs"):
        bench_conv.check_layer(bench_conv.LAYERS["dcgan32"][1])
