"""ANN forward vs T-step SNN evaluation, both execution ways.

    python -m benchmarks.snn_eval [--quick]

For the small CNN (28×28) and ResNet-18 (CIFAR stem, 32×32): the forward time
of the ANN and of its converted SNN run for T ∈ {1, 4, 16} steps, layer-by-layer
and step-by-step (rolled scan, and unrolled); reports SNN(T) / (T × ANN). Both compiled
with the library's compiler options (:mod:`snnjax.xla`); each row times the ANN and
the SNN in alternating rounds (medians of round medians), so a change of the
machine's load during the run moves both. Writes results/snn_eval.json.
"""

from __future__ import annotations

import argparse

import jax
from flax import nnx

import snnjax.nn as sn
from benchmarks.common import device_name, interleaved_ms, table, write_json
from snnjax import convert, simulate, xla
from snnjax.methods.qcfs import qcfs


def main(argv=None):
  ap = argparse.ArgumentParser()
  ap.add_argument("--quick", action="store_true")
  a = ap.parse_args(argv)
  iters, rounds = (3, 2) if a.quick else (5, 3)
  cases = [("small_cnn", lambda act, norm: sn.small_cnn((28, 28, 1), act=act, norm=norm, rngs=nnx.Rngs(0)),
            (28, 28, 1), 128),
           ("resnet18", lambda act, norm: sn.resnet18(act=act, norm=norm, rngs=nnx.Rngs(0)),
            (32, 32, 3), 8 if a.quick else 32)]
  rows = []
  for name, build, shape, batch in cases:
    x = jax.random.uniform(jax.random.key(0), (batch,) + shape)
    ann_model = build(qcfs(L=4), True)
    ann_model.eval()
    g, s = nnx.split(ann_model)
    ann_fn = xla.jit(lambda s, x: nnx.merge(g, s)(x))
    snn = convert.to_spiking(ann_model)
    gs, ss = nnx.split(snn)
    for T in (1, 4, 16):
      for way, unroll in (("layer", 1), ("step", 1), ("step", True)):
        f = xla.jit(lambda s, x, T=T, way=way, unroll=unroll:
                    simulate.run(nnx.merge(gs, s), x, T=T, way=way, unroll=unroll).outputs)
        way = way + (" unrolled" if unroll is True else "")
        t = interleaved_ms({"ann": lambda: ann_fn(s, x), "snn": lambda: f(ss, x)},
                           iters=iters, rounds=rounds)
        ann_ms, ms = t["ann"], t["snn"]
        rows.append({"model": name, "batch": batch, "T": T, "way": way, "ann_ms": ann_ms, "snn_ms": ms,
                     "ratio_vs_T_ann": ms / (T * ann_ms), "device": device_name()})
        print(f"  {name} T={T:2d} {way:14s} {ms:8.2f} ms  ANN {ann_ms:6.2f} ms  "
              f"ratio {ms / (T * ann_ms):.3f}", flush=True)
  print(table(rows, ["model", "batch", "T", "way", "ann_ms", "snn_ms", "ratio_vs_T_ann"]))
  print("device:", device_name())
  write_json("snn_eval.json", rows)


if __name__ == "__main__":
  main()
