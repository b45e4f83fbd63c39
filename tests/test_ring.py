"""Foundation acceptance: a ring-of-8 MLP GAN (configs/ring.py, seeded) trains through the
training loop to cover at least 6 of the 8 modes, measured by gan_jax.metrics.modes on
2500 samples (eval/modes in metrics.jsonl). About 15 s on a quiet 2-core CPU."""
import json

from gan_jax import train
from tests.helpers import recipe


def test_ring_gan_covers_at_least_6_of_8_modes(tmp_path):
    config = recipe("ring", "")
    assert (config.data.name, config.steps, config.seed, config.eval.num_samples) == (
        "ring", 2500, 0, 2500)
    train.train_and_evaluate(config, str(tmp_path))
    rows = [json.loads(l) for l in open(tmp_path / "metrics.jsonl")]
    final = [r for r in rows if "eval/modes" in r][-1]
    assert final["step"] == 2500
    assert final["eval/modes"] >= 6, final
    assert final["eval/reverse_kl"] < 0.5, final
