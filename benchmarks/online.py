"""Memory and time of one training step: BPTT vs OTTT_A/O vs SAF-E/F, same model and batch.

    python -m benchmarks.online [--quick] [--models mlp,cnn4] [--Ts 1,4,16,32]

Memory: XLA's compiled memory analysis of the whole jitted training step
(arguments + outputs + temporaries − aliases) at each T. Time: medians at
T = 6 (the methods' setting), all five steps compiled first, then timed in
interleaved rounds so that machine drift hits all alike. BPTT uses the same
per-step loss as OTTT/SAF and runs the way the library picks for the backend
(step by step, unrolled, on a CPU). Writes results/online.json.
"""

from __future__ import annotations

import argparse
import functools

import jax
import jax.numpy as jnp
import optax
from flax import nnx

import snnjax.nn as sn
from benchmarks.common import device_name, peak_bytes, table, time_trainers, write_json
from snnjax import parallel
from snnjax.methods import bptt, ottt, saf
from snnjax.train.trainer import Trainer

MODELS = {
    "mlp": (lambda act: sn.mlp((28, 28, 1), (256, 256), 10, act=act, ws=True, act_scale=2.74,
                               rngs=nnx.Rngs(0)), (28, 28, 1), 128),
    "cnn4": (lambda act: sn.cnn4((28, 28, 1), 10, act=act, norm=False, ws=True, act_scale=2.74,
                                 rngs=nnx.Rngs(0)), (28, 28, 1), 64),
    "vgg11_ws": (lambda act: sn.vgg11_ws(act=act, rngs=nnx.Rngs(0)), (32, 32, 3), 32),
}


def steps(T, unroll=None):
  """(name, make_step or None, module_loss or None)."""
  yield "bptt", None, functools.partial(bptt.module_loss, T=T, loss="per_step")
  yield "ottt_a", functools.partial(ottt.make_step, T=T, update="A", unroll=unroll), None
  yield "ottt_o", functools.partial(ottt.make_step, T=T, update="O", unroll=unroll), None
  yield "saf_e", functools.partial(saf.make_step, T=T, variant="E", update="O", unroll=unroll), None
  yield "saf_f", functools.partial(saf.make_step, T=T, variant="F", unroll=unroll), None


def trainers(model_name, T, unroll=None):
  build, shape, batch = MODELS[model_name]
  mesh = parallel.make_mesh(1)
  x = jax.random.uniform(jax.random.key(0), (batch,) + shape)
  b = parallel.global_batch({"image": x, "label": jnp.arange(batch, dtype=jnp.int32) % 10}, mesh)
  out = {}
  for name, make, loss in steps(T, unroll):
    out[name] = Trainer(build(ottt.default_act()), loss, optax.sgd(0.1, momentum=0.9), mesh, make_step=make)
  return out, b


def main(argv=None):
  ap = argparse.ArgumentParser()
  ap.add_argument("--quick", action="store_true")
  ap.add_argument("--models", default="mlp,cnn4")
  ap.add_argument("--Ts", default="1,4,16,32")
  ap.add_argument("--unroll", default="scan,loop", help="time loops whose memory to measure: lax.scan "
                  "(the accelerator default) and/or a Python loop (the CPU default); time is measured "
                  "with the library's choice for the backend")
  a = ap.parse_args(argv)
  loops = {"scan": False, "loop": True}
  iters, rounds = (2, 3) if a.quick else (5, 5)
  key = jax.random.key(1)
  rows = []
  for model in a.models.split(","):
    for loop in a.unroll.split(","):
      for T in map(int, a.Ts.split(",")):
        trs, b = trainers(model, T, loops[loop])
        for name, tr in trs.items():
          mem = peak_bytes(tr._step, tr.state, b, key)
          rows.append({"kind": "memory", "model": model, "T": T, "name": name, "loop": loop,
                       "peak_bytes": mem, "device": device_name()})
          print(f"  memory {model:8s} {loop} T={T:2d} {name:7s} {(mem or 0) / 2**20:8.1f} MiB", flush=True)
    trs, b = trainers(model, 6)
    mems = {name: peak_bytes(tr._step, tr.state, b, key) for name, tr in trs.items()}
    times = time_trainers(trs, b, key, iters=iters, rounds=rounds)
    for name, tr in trs.items():
      ms = times[name]
      rows.append({"kind": "time", "model": model, "T": 6, "name": name, "median_ms": ms,
                   "peak_bytes": mems[name], "traces": tr.traces, "device": device_name()})
      print(f"  time   {model:8s} T=6  {name:7s} {ms:8.2f} ms", flush=True)
  print(table([r for r in rows if r["kind"] == "memory"], ["model", "loop", "T", "name", "peak_bytes"]))
  print(table([r for r in rows if r["kind"] == "time"], ["model", "name", "median_ms", "peak_bytes"]))
  print(table(ratios(rows), ["model", "SAF-E/OTTT_O time", "SAF-E/OTTT_O memory", "SAF-F/OTTT_A time",
                             "SAF-F/OTTT_A memory"]))
  print("device:", device_name())
  print("wrote", write_json("online.json", rows))


def ratios(rows):
  out = []
  for model in dict.fromkeys(r["model"] for r in rows):
    t = {r["name"]: r["median_ms"] for r in rows if r["model"] == model and r["kind"] == "time"}
    m = {r["name"]: r["peak_bytes"] for r in rows if r["model"] == model and r["kind"] == "time"}
    out.append({"model": model, "SAF-E/OTTT_O time": t["saf_e"] / t["ottt_o"],
                "SAF-E/OTTT_O memory": m["saf_e"] / m["ottt_o"],
                "SAF-F/OTTT_A time": t["saf_f"] / t["ottt_a"],
                "SAF-F/OTTT_A memory": m["saf_f"] / m["ottt_a"]})
  return out


if __name__ == "__main__":
  main()
