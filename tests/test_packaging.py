"""The wheel holds only snnjax; installed into a fresh venv that already has Colab's JAX stack,
it keeps those versions and its CLI runs the README's main job."""

import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLAB = {"jax": "0.7.2", "jaxlib": "0.7.2", "flax": "0.11.2", "orbax-checkpoint": "0.12.4"}


def _run(cmd, **kw):
  out = subprocess.run(cmd, capture_output=True, text=True, **kw)
  assert out.returncode == 0, f"{cmd}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
  return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
  dist = tmp_path_factory.mktemp("dist")
  _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), ROOT])
  (whl,) = [p for p in os.listdir(dist) if p.endswith(".whl")]
  return os.path.join(dist, whl)


@pytest.mark.slow
def test_wheel_holds_only_the_library(wheel):
  names = zipfile.ZipFile(wheel).namelist()
  tops = {n.split("/")[0] for n in names}
  assert tops == {"snnjax", next(t for t in tops if t.endswith(".dist-info"))}, tops
  assert "snnjax/train/configs/noise_t1.py" in names  # configs ship, addressable by name
  meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
  assert "License-Expression: Apache-2.0" in meta and "Project-URL" in meta
  entry = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
  assert "snnjax-train = snnjax.train.main:run" in entry


@pytest.mark.slow
def test_fresh_venv_with_colab_versions_keeps_them_and_runs_the_main_job(wheel, tmp_path):
  venv = tmp_path / "venv"
  _run([sys.executable, "-m", "venv", str(venv)])
  py = str(venv / "bin" / "python")
  env = {k: v for k, v in os.environ.items() if k not in ("PIP_CONSTRAINT", "PYTHONPATH")}
  env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
  _run([py, "-m", "pip", "install", "-q"] + [f"{k}=={v}" for k, v in COLAB.items()], env=env)
  _run([py, "-m", "pip", "install", "-q", f"{wheel}[train]"], env=env)
  versions = json.loads(_run([py, "-c", "import json, importlib.metadata as m; print(json.dumps("
                              f"{{k: m.version(k) for k in {sorted(COLAB)!r}}}))"], env=env).stdout)
  assert versions == COLAB  # installing snnjax upgraded nothing
  work = tmp_path / "elsewhere"  # not the clone: only the installed wheel is importable
  work.mkdir()
  out = _run([py, "-m", "snnjax.train", "--config", "noise_t1", "--workdir", "runs/noise_t1",
              "--config.plots=False"], cwd=work, env=env, timeout=900)
  assert "noise_t1 → SNN" in out.stdout
  r = json.load(open(work / "runs" / "noise_t1" / "results.json"))
  assert r["snn_accuracy"]["8"] > 0.9
  script = shutil.which("snnjax-train", path=str(venv / "bin"))
  assert script is not None
  _run([script, "--config", "qcfs:tiny", "--workdir", "tiny", "--config.num_steps=5"], cwd=work, env=env,
       timeout=900)


def test_version_matches_pyproject():
  import re

  import snnjax
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  with open(os.path.join(root, "pyproject.toml")) as f:
    declared = re.search(r'^version = "([^"]+)"', f.read(), re.M).group(1)
  assert snnjax.__version__ == declared
