"""Peer harness: the same workloads in snnjax, SpikingJelly, snnTorch, Norse and Spyx.

    python -m benchmarks.peers [--workloads cnn_T4,cnn_T16,linear_1024,linear_4096]
                               [--libs snnjax,spikingjelly,snntorch,norse,spyx]
                               [--rounds 5] [--iters 3] [--threads N]

Workloads:
  cnn_T{4,16}: one BPTT training step (SGD, momentum 0.9) of a 4-conv spiking CNN —
    conv3×3 3→64→128→256→256, each followed by BatchNorm and a LIF (τ=2, θ=1, soft
    reset, reset detached, sigmoid surrogate α=4), 2×2 average pooling after convs 2 and 4,
    a linear read-out, cross-entropy of the time-mean output; batch 64 of 32×32×3, direct
    input (``--pools 1111`` pools after every conv).
  linear_{n}: the open-neuromorphic library benchmark's layer: Linear n→n + LIF, batch 16,
    T=500 steps (``--linear-T``), forward + backward of the spike sum.

Each library runs in its own process (``benchmarks/peers/<library>_worker.py``), built and
warmed up once; then, round after round, each process in turn times ``--iters`` steps
while the others wait, so all see the same machine load; the order rotates every round.
Reported: the median over rounds of each round's median, the ratio to snnjax's time, and
memory (XLA's compiled memory analysis for the JAX libraries, peak-RSS growth for torch).
A library that is not installed is skipped. Torch runs with ``OMP_WAIT_POLICY=PASSIVE``
(spinning OpenMP threads slow everything else on a shared machine) and ``--threads``
threads (all cores by default). Writes ``benchmarks/results/peers.json``.

The torch peers install on a CPU-only machine with ``pip install torch --index-url
https://download.pytorch.org/whl/cpu``, then ``pip install -e '.[peers]'`` (snnTorch, Norse
without its torchvision extra, Spyx) and ``pip install --no-deps spikingjelly`` (its
declared dependencies pull CUDA wheels; it runs with numpy alone).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys

from benchmarks.common import table, write_json

LIBS = ("snnjax", "spikingjelly", "snntorch", "norse", "spyx")
LINEAR_ONLY = ("norse", "spyx")  # libraries that run only the Linear + LIF workload


def workload(name: str, a) -> dict:
  if name.startswith("cnn_T"):
    return {"name": "cnn", "T": int(name[5:]), "batch": 64, "size": 32, "channels": [64, 128, 256, 256],
            "pools": [int(c) for c in a.pools], "classes": 10, "way": a.way}
  if name.startswith("linear_"):
    return {"name": "linear", "n": int(name[7:]), "T": a.linear_T, "batch": 16}
  raise SystemExit(f"unknown workload {name!r}: use cnn_T<steps> or linear_<features>.")


class Worker:
  def __init__(self, lib: str, w: dict, threads: int, env: dict | None = None):
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", PEER_THREADS=str(threads), **(env or {}))
    self.lib = lib
    self.proc = subprocess.Popen([sys.executable, "-m", f"benchmarks.peers.{lib}_worker", json.dumps(w)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                 cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    self.ok = self._read() is not None

  def _read(self):
    line = self.proc.stdout.readline()
    return json.loads(line) if line.strip() else None

  def ask(self, cmd: str):
    self.proc.stdin.write(cmd + "\n")
    self.proc.stdin.flush()
    return self._read()

  def close(self):
    if self.proc.poll() is None:
      try:
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout=60)
      except (BrokenPipeError, subprocess.TimeoutExpired):
        self.proc.kill()
    self.proc.wait()


def run_workload(name: str, libs, a) -> list[dict]:
  w = workload(name, a)
  workers, started = [], []
  try:
    for lib in libs:
      if w["name"] == "cnn" and lib in LINEAR_ONLY:
        continue
      wk = Worker(lib, w, a.threads)  # built one at a time: compile times do not overlap
      started.append(wk)
      if wk.ok:
        workers.append(wk)
      else:
        print(f"  {lib}: failed to build {name} (see its error above)", flush=True)
    if not workers:
      return []
    samples = {wk.lib: [] for wk in workers}
    for r in range(a.rounds):
      for wk in workers[r % len(workers):] + workers[:r % len(workers)]:
        reply = wk.ask(f"run {a.iters}")
        if reply is None:
          raise RuntimeError(f"the {wk.lib} worker stopped during {name} (see its error above)")
        samples[wk.lib].append(statistics.median(reply["ms"]))
    infos = {wk.lib: wk.ask("info") for wk in workers}
  finally:
    for wk in started:
      wk.close()
  rows = []
  for wk in workers:
    info = infos[wk.lib]
    rows.append({"workload": name, "library": wk.lib, "median_ms": statistics.median(samples[wk.lib]),
                 "round_medians_ms": samples[wk.lib], "memory_bytes": info["memory_bytes"],
                 "memory_kind": info["memory_kind"],
                 "rss_growth_MiB": info["rss_growth_bytes"] / 2**20, "version": info["version"], **w})
  base = next((r["median_ms"] for r in rows if r["library"] == "snnjax"), None)
  base_rss = next((r["rss_growth_MiB"] for r in rows if r["library"] == "snnjax"), None)
  for r in rows:
    r["time_vs_snnjax"] = r["median_ms"] / base if base else None
    r["rss_growth_vs_snnjax"] = r["rss_growth_MiB"] / base_rss if base_rss else None  # same kind only
    r["memory_MiB"] = r["memory_bytes"] / 2**20 if r["memory_bytes"] else None
    print(f"  {name:12s} {r['library']:13s} {r['median_ms']:9.1f} ms  ×{r['time_vs_snnjax'] or 0:5.2f}  "
          f"{r['memory_MiB'] or 0:8.0f} MiB", flush=True)
  return rows


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("--workloads", default="cnn_T4,cnn_T16,linear_1024,linear_4096")
  ap.add_argument("--libs", default=",".join(LIBS))
  ap.add_argument("--rounds", type=int, default=5)
  ap.add_argument("--iters", type=int, default=3)
  ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
  ap.add_argument("--pools", default="0101", help="per conv, 1 if a 2×2 average pool follows it")
  ap.add_argument("--linear-T", type=int, default=500)
  ap.add_argument("--way", default="auto", choices=("auto", "step", "layer"),
                  help="snnjax's BPTT execution way for the CNN (auto: the library's default)")
  ap.add_argument("--out", default="peers.json")
  a = ap.parse_args(argv)
  libs = [l for l in a.libs.split(",") if l]
  for lib in libs:
    if lib not in LIBS:
      raise SystemExit(f"unknown library {lib!r}: choose from {', '.join(LIBS)}.")
  missing = [l for l in libs if importlib.util.find_spec(l) is None]
  if missing:
    print("not installed, skipped:", ", ".join(missing))
  libs = [l for l in libs if l not in missing]
  rows = []
  for name in a.workloads.split(","):
    rows += run_workload(name, libs, a)
  print(table(rows, ["workload", "library", "median_ms", "time_vs_snnjax", "memory_MiB", "memory_kind",
                   "rss_growth_MiB"]))
  for v in dict.fromkeys(r["version"] for r in rows):
    print("  ", v)
  print("wrote", write_json(a.out, rows))


if __name__ == "__main__":
  main()
