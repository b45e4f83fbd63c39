"""One recipe per file: `configs/<name>.py` defines get_config(arg='') -> ConfigDict.

`default.py` holds the shared defaults every recipe starts from; it is not a recipe.
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def recipes() -> list:
    """The recipe names: every configs/*.py but default.py and files starting with '_'."""
    return sorted(f[:-3] for f in os.listdir(HERE)
                  if f.endswith(".py") and not f.startswith("_") and f != "default.py")
