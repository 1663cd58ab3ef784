"""Scanned LIF layer: forward and forward+backward time for T ∈ {4, 16, 64}.

    python -m benchmarks.lif_layer [--batch 64] [--features 2048]

Prints a table of medians (ms) after warm-up; writes results/lif_layer.json.
"""

from __future__ import annotations

import argparse

import jax

import snnjax as sj
from snnjax import xla
from benchmarks.common import device_name, median_ms, table, write_json


def main(argv=None):
  ap = argparse.ArgumentParser()
  ap.add_argument("--batch", type=int, default=64)
  ap.add_argument("--features", type=int, default=2048)
  ap.add_argument("--iters", type=int, default=10)
  ap.add_argument("--quick", action="store_true", help="3 iterations, small layer")
  a = ap.parse_args(argv)
  if a.quick:
    a.iters, a.features = 3, min(a.features, 256)
  p = sj.lif_neuron(2.0, surrogate="sigmoid")
  rows = []
  for T in (4, 16, 64):
    xs = jax.random.uniform(jax.random.key(0), (T, a.batch, a.features))
    st = sj.init_state(p, (a.batch, a.features))
    fwd = xla.jit(lambda xs: sj.run(p, st, xs)[1])
    grad = xla.jit(jax.grad(lambda xs: sj.run(p, st, xs)[1].sum()))
    f_ms, g_ms = median_ms(fwd, xs, iters=a.iters), median_ms(grad, xs, iters=a.iters)
    rows.append({"T": T, "batch": a.batch, "features": a.features, "forward_ms": f_ms,
                 "fwd_bwd_ms": g_ms, "fwd_ms_per_step": f_ms / T, "fwd_bwd_ms_per_step": g_ms / T,
                 "device": device_name()})
  print(table(rows, ["T", "forward_ms", "fwd_bwd_ms", "fwd_ms_per_step", "fwd_bwd_ms_per_step"]))
  print("device:", device_name())
  write_json("lif_layer.json", rows)


if __name__ == "__main__":
  main()
