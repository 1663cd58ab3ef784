"""The notebook is valid JSON and its code cells (shell lines aside) compile."""

import json
import os

NB = os.path.join(os.path.dirname(os.path.dirname(__file__)), "colab", "quickstart.ipynb")


def test_notebook_cells_compile():
  nb = json.load(open(NB))
  code = [c for c in nb["cells"] if c["cell_type"] == "code"]
  assert code
  for c in code:
    src = "".join(line for line in c["source"] if not line.lstrip().startswith("!"))
    compile(src, NB, "exec")
