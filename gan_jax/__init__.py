"""gan_jax: generative adversarial networks as pure JAX functions.

A GAN is two pure functions (G and D), a pair of loss terms and a step that
plays one round of the game; `gan_jax.train` is the one loop that runs any game.
"""

__version__ = "0.1.0"
