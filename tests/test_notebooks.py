"""Every notebook under notebooks/ runs top to bottom (its cells assert what they show)."""
import glob
import json
import os

import pytest

from tests.helpers import ROOT

NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb")))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs(path):
    cells = json.load(open(path))["cells"]
    namespace = {"__name__": "__notebook__"}
    for i, cell in enumerate(c for c in cells if c["cell_type"] == "code"):
        source = "".join(cell["source"])
        exec(compile(source, f"{os.path.basename(path)}[cell {i}]", "exec"), namespace)
