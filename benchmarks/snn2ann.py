"""SNN2ANN vs BPTT on the same model and batch: step time, compiled memory at several T.

    python -m benchmarks.snn2ann [--quick] [--models snn2ann_small] [--Ts 2,4,8,16]

Both train the same SNN2ANN network (BatchNorm, max-pooling of currents): SNN2ANN with
its two-branch step, BPTT with LIF neurons (τ = 2, sigmoid surrogate) through T steps
(the way the library picks for the backend). Memory: XLA's compiled memory analysis of
the jitted step at each T; time: medians at T = 4 (SNN2ANN's VGG setting) in
interleaved rounds. Writes results/snn2ann.json. Spikes per image come from the
trained runs of the report (benchmarks/report.py).
"""

from __future__ import annotations

import argparse
import functools

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from benchmarks.common import device_name, peak_bytes, table, time_trainers, write_json
from snnjax import parallel
from snnjax.methods import bptt, snn2ann
from snnjax.train.trainer import Trainer

MODELS = {"snn2ann_small": ((28, 28, 1), 64), "snn2ann_vgg13": ((32, 32, 3), 16),
          "resnet17": ((32, 32, 3), 16)}


def trainers(model, T):
  shape, batch = MODELS[model]
  build = snn2ann.MODELS[model]
  mesh = parallel.make_mesh(1)
  x = jax.random.uniform(jax.random.key(0), (batch,) + shape)
  b = parallel.global_batch({"image": x, "label": jnp.arange(batch, dtype=jnp.int32) % 10}, mesh)
  tx = optax.adam(1e-3)
  s2a = Trainer(build(shape, act=snn2ann.SMUSpec(), rngs=nnx.Rngs(0)), None, tx, mesh,
                make_step=functools.partial(snn2ann.make_step, T=T))
  bp = Trainer(build(shape, act=bptt.default_act(), rngs=nnx.Rngs(0)),
               functools.partial(bptt.module_loss, T=T), tx, mesh)
  return {"snn2ann": s2a, "bptt": bp}, b


def main(argv=None):
  ap = argparse.ArgumentParser()
  ap.add_argument("--quick", action="store_true")
  ap.add_argument("--models", default="snn2ann_small")
  ap.add_argument("--Ts", default="2,4,8,16")
  a = ap.parse_args(argv)
  iters, rounds = (2, 3) if a.quick else (5, 5)
  key = jax.random.key(1)
  rows = []
  for model in a.models.split(","):
    for T in map(int, a.Ts.split(",")):
      trs, b = trainers(model, T)
      for name, tr in trs.items():
        mem = peak_bytes(tr._step, tr.state, b, key)
        rows.append({"kind": "memory", "model": model, "T": T, "name": name, "peak_bytes": mem,
                     "device": device_name()})
        print(f"  memory {model} T={T:2d} {name:8s} {(mem or 0) / 2**20:8.1f} MiB", flush=True)
    trs, b = trainers(model, 4)
    times = time_trainers(trs, b, key, iters=iters, rounds=rounds)
    for name, tr in trs.items():
      ms = times[name]
      rows.append({"kind": "time", "model": model, "T": 4, "name": name, "median_ms": ms,
                   "traces": tr.traces, "device": device_name()})
      print(f"  time   {model} T=4  {name:8s} {ms:8.2f} ms", flush=True)
  print(table([r for r in rows if r["kind"] == "memory"], ["model", "T", "name", "peak_bytes"]))
  print(table([r for r in rows if r["kind"] == "time"], ["model", "name", "median_ms"]))
  print("device:", device_name())
  print("wrote", write_json("snn2ann.json", rows))


if __name__ == "__main__":
  main()
