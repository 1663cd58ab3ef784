"""Every speed benchmark on one accelerator, in one run, into one JSON.

    python -m benchmarks.gpu [--out benchmarks/results/gpu.json] [--budget-s 450]

Sections, in order (each row keeps the device name; sections that would start after
``--budget-s`` seconds are recorded as skipped, so the whole run stays under 8 minutes):

  linear_lif   Linear 16384→16384 + LIF, batch 16, T=500, gradient of the spike sum
               (the open-neuromorphic library benchmark's largest layer), float32 and
               bfloat16 matmuls (float32 accumulation, float32 membranes), the time
               scan rolled and unrolled by 8.
  bptt_cnn     the peer harness's 4-conv spiking CNN, one BPTT training step, T=4 and 16,
               both execution ways.
  train_step   every method's training step on the same models (``benchmarks.train_step``).
  online       OTTT / SAF against BPTT over T (``benchmarks.online --quick``).
  snn2ann      SNN2ANN against BPTT over T (``benchmarks.snn2ann --quick``).
  snn_eval     ANN forward vs T-step SNN evaluation (``benchmarks.snn_eval``).
  lif_layer    the scanned LIF layer alone (``benchmarks.lif_layer``).

Medians after warm-up with ``block_until_ready``; memory from XLA's compiled memory
analysis. On a CPU it refuses to run unless ``--allow-cpu`` (``--smoke`` shrinks every
size, for checking the script itself).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from unittest import mock

import jax

from benchmarks.common import device_name, median_ms, table

GOALS_MS = {"float32": 40.0, "bfloat16": 20.0}  # the 16k layer on an H100


def linear_lif(smoke: bool) -> list[dict]:
  from benchmarks.peers import snnjax_worker
  n, T, B = (256, 20, 4) if smoke else (16384, 500, 16)
  rows = []
  for dtype, unroll in (("float32", 1), ("float32", 8), ("bfloat16", 1), ("bfloat16", 8)):
    w = {"name": "linear", "n": n, "T": T, "batch": B, "dtype": dtype, "unroll": unroll}
    built = snnjax_worker.build(w)
    ms = median_ms(built.step, warmup=2, iters=3 if smoke else 20)
    flops = 2 * 2 * T * B * n * n  # forward matmul and the weight gradient
    rows.append({**w, "median_ms": ms, "matmul_tflops": flops / ms / 1e9, "peak_bytes": built.memory_bytes,
                 "goal_ms_h100": GOALS_MS[dtype], "device": device_name()})
  return rows


def bptt_cnn(smoke: bool) -> list[dict]:
  from benchmarks.peers import snnjax_worker
  rows = []
  for T in ((2,) if smoke else (4, 16)):
    for way in ("layer", "step"):
      w = {"name": "cnn", "T": T, "batch": 4 if smoke else 64, "size": 32,
           "channels": [8, 8, 8, 8] if smoke else [64, 128, 256, 256], "pools": [0, 1, 0, 1],
           "classes": 10, "way": way}
      built = snnjax_worker.build(w)
      ms = median_ms(built.step, warmup=2, iters=3 if smoke else 10)
      rows.append({**w, "median_ms": ms, "peak_bytes": built.memory_bytes, "device": device_name()})
  return rows


def _module(name: str, argv: list[str]):
  def run(smoke: bool) -> list[dict]:
    import importlib
    mod = importlib.import_module(f"benchmarks.{name}")
    with tempfile.TemporaryDirectory() as d, mock.patch.dict(os.environ, {"SNNJAX_BENCH_RESULTS": d}):
      mod.main(argv + (["--quick"] if smoke and "--quick" not in argv else []))
      rows = []
      for f in sorted(os.listdir(d)):
        with open(os.path.join(d, f)) as fh:
          rows += json.load(fh)
    return rows
  return run


SECTIONS = {
    "linear_lif": linear_lif,
    "bptt_cnn": bptt_cnn,
    "train_step": _module("train_step", ["--quick"]),
    "online": _module("online", ["--quick"]),
    "snn2ann": _module("snn2ann", ["--quick"]),
    "snn_eval": _module("snn_eval", []),
    "lif_layer": _module("lif_layer", ["--iters", "20"]),
}


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "gpu.json"))
  ap.add_argument("--budget-s", type=float, default=450.0,
                  help="start no section after this many seconds (the whole run is meant to take "
                       "under 8 minutes)")
  ap.add_argument("--sections", default=",".join(SECTIONS))
  ap.add_argument("--allow-cpu", action="store_true", help="run on a CPU too (for checking the script)")
  ap.add_argument("--smoke", action="store_true", help="tiny sizes (for checking the script)")
  a = ap.parse_args(argv)
  if jax.default_backend() == "cpu" and not a.allow_cpu:
    raise SystemExit("benchmarks.gpu found no GPU (jax.default_backend() is 'cpu'); install jax with "
                     "CUDA (pip install 'jax[cuda12]') or pass --allow-cpu to run it on the CPU anyway.")
  unknown = set(a.sections.split(",")) - set(SECTIONS)
  if unknown:
    raise SystemExit(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}.")
  t0 = time.perf_counter()
  out = {"device": device_name(), "jax": jax.__version__, "python": platform.python_version(),
         "budget_s": a.budget_s, "sections": {}}
  for name in a.sections.split(","):
    start = time.perf_counter() - t0
    if out["sections"] and start > a.budget_s:  # the first section always runs
      out["sections"][name] = {"skipped": f"budget of {a.budget_s:.0f} s spent ({start:.0f} s)"}
      print(f"== {name}: skipped, {start:.0f} s spent", flush=True)
      continue
    print(f"== {name} (at {start:.0f} s)", flush=True)
    rows = SECTIONS[name](a.smoke)
    out["sections"][name] = {"rows": rows, "wall_s": time.perf_counter() - t0 - start}
  out["wall_s"] = time.perf_counter() - t0
  lin = out["sections"].get("linear_lif", {}).get("rows", [])
  if lin:
    print(table(lin, ["n", "T", "batch", "dtype", "unroll", "median_ms", "matmul_tflops", "goal_ms_h100"]))
  os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
  with open(a.out, "w") as f:
    json.dump(out, f, indent=1)
  print(f"wrote {a.out} in {out['wall_s']:.0f} s on {out['device']}")


if __name__ == "__main__":
  main()
