"""Every notebook in colab/ runs top to bottom on a CPU (with the settings it ships with)."""

import glob
import os

import pytest

NOTEBOOKS = sorted(glob.glob(os.path.join(os.path.dirname(os.path.dirname(__file__)), "colab", "*.ipynb")))


def test_there_is_a_notebook_per_method_family():
  names = {os.path.basename(p)[:-6] for p in NOTEBOOKS}
  assert {"quickstart", "noise_t1", "quantized", "bptt", "online", "snn2ann"} <= names


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: os.path.basename(p))
def test_notebook_runs(path, tmp_path):
  nbformat = pytest.importorskip("nbformat")
  nbclient = pytest.importorskip("nbclient")
  nb = nbformat.read(path, as_version=4)
  first = "".join(nb.cells[1].source) if len(nb.cells) > 1 else ""
  assert "REPO =" in first and "pip" in first, "the first code cell installs snnjax"
  client = nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                                   resources={"metadata": {"path": str(tmp_path)}})
  client.execute()
  out = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
  assert "Error" not in out
  if os.path.basename(path) == "quickstart.ipynb":
    import re
    acc = float(re.search(r"converted SNN accuracy at T=8: ([0-9.]+)", out).group(1))
    assert acc > 0.9, out
