"""The Python blocks of docs/guide.md run, in order, in one namespace."""

import os
import re

import jax

GUIDE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "docs", "guide.md")


def test_guide_code_blocks_run(tmp_path, capsys):
  blocks = re.findall(r"```python\n(.*?)```", open(GUIDE).read(), re.S)
  assert len(blocks) >= 5
  ns = {"workdir_tmp": str(tmp_path)}
  with jax.numpy_dtype_promotion("standard"):
    for code in blocks:
      exec(compile(code, GUIDE, "exec"), ns)
  out = capsys.readouterr().out
  accs = eval(re.search(r"accuracy at T = 1…8: (\[.*\])", out).group(1))
  assert accs[-1] > 0.8, out
  for png in ("raster.png", "rates.png", "membrane.png", "acc.png"):
    assert (tmp_path / png).stat().st_size > 1000
  assert "Spiking" in out
