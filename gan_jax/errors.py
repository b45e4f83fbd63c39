"""The one error type for a user's mistake.

`UserError` carries a message of one line that names the config field, flag or
file and says how to fix it, e.g. ``config.loss.name='hnge' is unknown; choose
one of: ...``. `gan_jax.main` prints it as that one line and exits with status 2,
without a traceback. Anything else that escapes is a bug and keeps its traceback.
It subclasses ValueError, so code that catches ValueError keeps working.
"""
from __future__ import annotations


class UserError(ValueError):
    """A mistake in the config, the flags or the files they name; the message says the fix."""
