"""The speed tooling runs: the one-accelerator script (tiny sizes, on the CPU) and the
peer harness with snnjax alone (the peers are not installed in CI)."""

import json
import os
import subprocess
import sys

import jax

import pytest

from benchmarks import gpu
from benchmarks.peers import __main__ as peers


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="checks the refusal on a CPU")
def test_gpu_script_refuses_a_cpu_without_the_flag():
  with pytest.raises(SystemExit, match="found no GPU"):
    gpu.main(["--sections", "linear_lif"])


def test_gpu_script_writes_one_json_and_skips_past_its_budget(tmp_path):
  out = tmp_path / "gpu.json"
  gpu.main(["--allow-cpu", "--smoke", "--sections", "linear_lif,bptt_cnn", "--out", str(out)])
  d = json.loads(out.read_text())
  lin = d["sections"]["linear_lif"]["rows"]
  assert {(r["dtype"], r["unroll"]) for r in lin} == {("float32", 1), ("float32", 8), ("bfloat16", 1),
                                                      ("bfloat16", 8)}
  assert all(r["median_ms"] > 0 and r["peak_bytes"] > 0 for r in lin)
  assert {(r["T"], r["way"]) for r in d["sections"]["bptt_cnn"]["rows"]} == {(2, "layer"), (2, "step")}
  gpu.main(["--allow-cpu", "--smoke", "--sections", "linear_lif,bptt_cnn", "--budget-s", "0",
            "--out", str(out)])
  d = json.loads(out.read_text())
  assert "rows" in d["sections"]["linear_lif"] and "skipped" in d["sections"]["bptt_cnn"]


def test_peer_harness_runs_snnjax_in_its_own_process(tmp_path, capsys):
  peers.main(["--libs", "snnjax", "--workloads", "linear_64", "--linear-T", "5", "--rounds", "2",
              "--iters", "1", "--out", str(tmp_path / "peers.json")])
  rows = json.loads((tmp_path / "peers.json").read_text())
  assert len(rows) == 1 and rows[0]["library"] == "snnjax" and rows[0]["time_vs_snnjax"] == 1.0
  assert len(rows[0]["round_medians_ms"]) == 2 and rows[0]["memory_kind"] == "XLA compiled memory"
  with pytest.raises(SystemExit, match="unknown library"):
    peers.main(["--libs", "pytorch"])


def test_peer_worker_answers_its_protocol():
  w = json.dumps({"name": "linear", "n": 32, "T": 3, "batch": 2})
  p = subprocess.run([sys.executable, "-m", "benchmarks.peers.snnjax_worker", w], input="run 2\ninfo\nquit\n",
                     capture_output=True, text=True, timeout=300, check=True, cwd=ROOT)
  lines = [json.loads(l) for l in p.stdout.splitlines()]
  assert lines[0] == {"ready": True} and len(lines[1]["ms"]) == 2 and lines[2]["version"].startswith("snnjax")
