"""Two local processes (4 virtual CPU devices each, JAX's distributed runtime over loopback) train
and evaluate like one process with 8 devices, and a killed two-process run resumes exactly."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--config", "ann:tiny", "--config.num_steps=12", "--config.checkpoint_every=4",
        "--config.log_every=1", "--config.epoch_eval_examples=0", "--config.eval_T=(1,2,4)"]


def _port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _env(devices):
  env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_NUM_CPU_DEVICES")}
  env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
  env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
  return env


def _one(workdir, *extra):
  out = subprocess.run([sys.executable, "-m", "snnjax.train", *TINY, "--workdir", str(workdir), *extra],
                       cwd=ROOT, env=_env(8), capture_output=True, text=True, timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  return out


def _two(workdir, *extra, module=("-m", "snnjax.train"), args=None):
  port = _port()
  procs = []
  for pid in range(2):
    cmd = [sys.executable, *module] + (args if args is not None else [*TINY, "--workdir", str(workdir), *extra])
    cmd += ["--config.multihost=True", f"--config.coordinator_address=127.0.0.1:{port}",
            "--config.num_processes=2", f"--config.process_id={pid}"] if args is None else [str(port), str(pid)]
    procs.append(subprocess.Popen(cmd, cwd=ROOT, env=_env(4), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True))
  outs = [p.communicate(timeout=600) for p in procs]
  for p, (o, e) in zip(procs, outs):
    assert p.returncode == 0, e[-3000:]
  return outs


def _final(workdir):
  r = json.load(open(os.path.join(workdir, "results.json")))
  return r, np.asarray([h["loss"] for h in r["history"]])


def _params(workdir):
  env = _env(1)
  code = ("import json, jax, numpy as np; from flax import nnx; from snnjax.train import trainer;"
          f"m, _ = trainer.load_model({str(workdir)!r});"
          "print(json.dumps([np.asarray(v).ravel().tolist() for v in jax.tree.leaves(nnx.state(m, nnx.Param))]))")
  out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  return [np.asarray(a) for a in json.loads(out.stdout.strip().splitlines()[-1])]


@pytest.mark.slow
def test_two_processes_equal_one_process_of_eight_devices(tmp_path):
  _one(tmp_path / "one")
  _two(tmp_path / "two")
  (r1, l1), (r2, l2) = _final(tmp_path / "one"), _final(tmp_path / "two")
  np.testing.assert_allclose(l2, l1, rtol=1e-5, atol=1e-5)
  for a, b in zip(_params(tmp_path / "one"), _params(tmp_path / "two")):
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)
  assert r2["run"]["device"]["processes"] == 2 and r2["run"]["device"]["count"] == 8


@pytest.mark.slow
def test_distributed_evaluation_counts_are_exact(tmp_path):
  _one(tmp_path / "one")
  script = tmp_path / "eval.py"
  script.write_text(
      "import json, sys\n"
      "from snnjax import parallel\n"
      "if len(sys.argv) > 2:\n"
      "  parallel.initialize(f'127.0.0.1:{sys.argv[1]}', 2, int(sys.argv[2]))\n"
      "from snnjax import data, simulate\n"
      "from snnjax.train import trainer\n"
      f"m, c = trainer.load_model({str(tmp_path / 'one')!r})\n"
      "ds = data.load(c.dataset)\n"
      "snn = trainer.to_snn(m, trainer.recipe_for(c), c, ds)\n"
      "r = simulate.evaluate(snn, ds.test.images, ds.test.labels, T=4, batch_size=50, distributed=True)\n"
      "print('RESULT', json.dumps(r))\n")
  single = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=_env(1), capture_output=True,
                          text=True, timeout=600)
  assert single.returncode == 0, single.stderr[-3000:]
  pick = lambda out: json.loads(next(l for l in out.splitlines() if l.startswith("RESULT"))[7:])
  ref = pick(single.stdout)
  for out, _ in _two(None, module=(str(script),), args=[]):
    got = pick(out)
    assert got["accuracy"] == ref["accuracy"]
    np.testing.assert_allclose(list(got["firing_rates"].values()), list(ref["firing_rates"].values()), rtol=1e-6)
    assert got["sops_per_image"] == pytest.approx(ref["sops_per_image"], rel=1e-6)


@pytest.mark.slow
def test_two_process_kill_and_resume(tmp_path):
  _two(tmp_path / "full")
  _two(tmp_path / "killed", "--config.stop_after=8")
  outs = _two(tmp_path / "killed", "--resume")
  assert "resumed from step 8" in outs[0][0] + outs[0][1]
  (_, lf), (_, lk) = _final(tmp_path / "full"), _final(tmp_path / "killed")
  np.testing.assert_allclose(lk, lf, rtol=1e-6, atol=1e-7)
  for a, b in zip(_params(tmp_path / "full"), _params(tmp_path / "killed")):
    np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)
