"""Training-step time and compiled memory of every method, same model, same batch, one run.

    python -m benchmarks.train_step [--quick] [--models mlp6,small_cnn] [--batch 128]

Records (``benchmarks/results/train_step.json``): ``name`` (ann, noise_t1,
noise_t1_exact / _uniform / _none (noise generator ablations), bptt_T{2,4,8}_{layer,step},
qcfs, noise_adaptor), ``model``, ``batch``, ``median_ms``, ``peak_bytes``
(XLA compiled memory analysis: arguments + outputs + temporaries − aliases).
Each step is the full optimizer step (value_and_grad + Adam), jit-compiled.
All steps are compiled first and then timed interleaved, round after round;
``median_ms`` is the median over rounds of each round's median.
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
from snnjax.methods import ann, bptt, noise_adaptor, noise_t1, qcfs
from snnjax.train.trainer import Trainer

MODELS = {
    "mlp6": lambda act: sn.mlp((28, 28, 1), (256,) * 6, 10, act=act, norm=True, rngs=nnx.Rngs(0)),
    "small_cnn": lambda act: sn.small_cnn((28, 28, 1), 10, act=act, norm=True, rngs=nnx.Rngs(0)),
}


def methods(Ts=(2, 4, 8)):
  yield "ann", sn.relu(), ann.module_loss
  yield "noise_t1", noise_t1.noisy_spike(), noise_t1.module_loss
  yield "noise_t1_exact", noise_t1.noisy_spike(rng="exact"), noise_t1.module_loss
  yield "noise_t1_uniform", noise_t1.noisy_spike(noise="uniform"), noise_t1.module_loss
  yield "noise_t1_none", noise_t1.noisy_spike(noise="none"), noise_t1.module_loss
  for T in Ts:
    for way in ("layer", "step"):
      loss = functools.partial(bptt.module_loss, T=T, way=way, unroll=True if way == "step" else 1)
      yield f"bptt_T{T}_{way}", bptt.default_act(), loss
  yield "qcfs", qcfs.qcfs(L=4), ann.module_loss
  yield "noise_adaptor", noise_adaptor.noisy_quant(levels=4), noise_adaptor.module_loss


def measure(model_name, batch, iters, rounds):
  """Compile every method's step, then time them interleaved: ``rounds`` rounds of
  ``iters`` calls each, so machine drift affects all methods alike."""
  mesh = parallel.make_mesh(1)
  x = jax.random.uniform(jax.random.key(0), (batch, 28, 28, 1))
  b = parallel.global_batch({"image": x, "label": jnp.arange(batch, dtype=jnp.int32) % 10}, mesh)
  key = jax.random.key(1)
  trainers, mems = {}, {}
  for name, act, loss in methods():
    tr = Trainer(MODELS[model_name](act), loss, optax.adam(1e-3), mesh)
    mems[name] = peak_bytes(tr._step, tr.state, b, key)
    trainers[name] = tr
  times = time_trainers(trainers, b, key, iters=iters, rounds=rounds)
  rows = []
  for name, tr in trainers.items():
    ms, mem = times[name], mems[name]
    rows.append({"name": name, "model": model_name, "batch": batch, "median_ms": ms,
                 "peak_bytes": mem, "traces": tr.traces, "device": device_name()})
    print(f"  {model_name:9s} {name:18s} {ms:8.2f} ms  {mem / 2**20 if mem else float('nan'):7.1f} MiB",
          flush=True)
  return rows


def ratios(rows):
  out = []
  for model in dict.fromkeys(r["model"] for r in rows):
    r = {x["name"]: x for x in rows if x["model"] == model}
    bptt4 = min((r["bptt_T4_layer"], r["bptt_T4_step"]), key=lambda x: x["median_ms"])
    out.append({"model": model,
                "T1/ANN": r["noise_t1"]["median_ms"] / r["ann"]["median_ms"],
                "T1(exact normal)/ANN": r["noise_t1_exact"]["median_ms"] / r["ann"]["median_ms"],
                "T1/BPTT4": r["noise_t1"]["median_ms"] / bptt4["median_ms"],
                "BPTT4 way": bptt4["name"].split("_")[-1],
                "mem T1/BPTT4": (r["noise_t1"]["peak_bytes"] or 0) / (bptt4["peak_bytes"] or 1),
                "NA/QCFS": r["noise_adaptor"]["median_ms"] / r["qcfs"]["median_ms"]})
  return out


def main(argv=None):
  ap = argparse.ArgumentParser()
  ap.add_argument("--quick", action="store_true", help="fewer iterations (≈1–2 min on a CPU)")
  ap.add_argument("--models", default="mlp6,small_cnn")
  ap.add_argument("--batch", type=int, default=128)
  a = ap.parse_args(argv)
  iters, rounds = (3, 3) if a.quick else (5, 7)
  rows = []
  for m in a.models.split(","):
    rows += measure(m, a.batch, iters, rounds)
  print(table(rows, ["model", "name", "median_ms", "peak_bytes"]))
  print()
  print(table(ratios(rows), ["model", "T1/ANN", "T1(exact normal)/ANN", "T1/BPTT4", "BPTT4 way",
                             "mem T1/BPTT4", "NA/QCFS"]))
  print("device:", device_name())
  print("wrote", write_json("train_step.json", rows))


if __name__ == "__main__":
  main()
