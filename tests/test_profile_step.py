"""experiments/profile_step.py names each FFI call of a compiled program by its target and
transform kind, read from the compiled HLO: checked on a Winograd conv's forward, whose
program must hold the input (1), output (3) and kernel (5) transforms and the product."""
import os
import sys

import jax
import jax.numpy as jnp

from gan_jax.cpu import conv as cpu_conv, winograd
from tests.test_cpu_native import needs_native

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "experiments"))
import profile_step  # noqa: E402


@needs_native
def test_op_kinds_names_the_winograd_calls_of_a_compiled_program():
    conv = cpu_conv.Conv(16, (4, 4), strides=(2, 2), padding=1)
    x = jnp.ones((16, 16, 16, 16))  # 64 output tiles: on the Winograd path
    params = conv.init(jax.random.PRNGKey(0), x)
    hlo = jax.jit(conv.apply).lower(params, x).compile().as_text()
    kinds = sorted(profile_step.op_kinds(hlo).values())
    target = winograd.native.WINOGRAD_TARGET
    assert kinds == sorted([f"{target} kind=1", f"{target} kind=3", f"{target} kind=5",
                            winograd.native.MATMUL_TARGET]), kinds
