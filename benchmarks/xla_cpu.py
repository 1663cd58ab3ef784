"""What XLA:CPU options do to the BPTT CNN step: each option set in its own process,
timed in interleaved rounds.

    python -m benchmarks.xla_cpu [--rounds 3] [--iters 2] [--T 4] [--pools 0101]

The workload is the peer harness's 4-conv spiking CNN (``benchmarks.peers``, batch 64,
32×32×3). Every variant starts from jaxlib's own defaults (``SNNJAX_XLA_CPU_DEFAULTS=0``)
and adds its flags (``XLA_FLAGS``), environment or execution way; ``snnjax default`` is the
library's choice (:mod:`snnjax.xla`). Flags this jaxlib does not know are reported as
such. Then times the forward, input-gradient and kernel-gradient convolutions of the
CNN's layers alone (where the step's time goes). Writes ``results/xla_cpu_options.json``
and ``results/xla_cpu_conv_parts.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics

import jax

from benchmarks.common import table, write_json
from benchmarks.peers.__main__ import Worker

OFF = {"SNNJAX_XLA_CPU_DEFAULTS": "0"}
YNN_OFF = "--xla_cpu_experimental_ynn_fusion_type="
VARIANTS = [
    ("jaxlib defaults", OFF, "step"),
    ("snnjax default (YNNPACK fusions off)", {}, "step"),
    ("YNNPACK off + oneDNN conv fusion",
     {**OFF, "XLA_FLAGS": YNN_OFF + " --xla_cpu_experimental_onednn_fusion_type=individual_convolution"}, "step"),
    ("oneDNN custom calls", {**OFF, "XLA_FLAGS": "--xla_cpu_experimental_onednn_custom_call=true"}, "step"),
    ("XNNPACK graph fusion (greedy)",
     {**OFF, "XLA_FLAGS": "--xla_cpu_experimental_xnn_graph_fusion_mode=XNN_GRAPH_FUSION_MODE_GREEDY"}, "step"),
    ("XNNPACK conv fusion", {**OFF, "XLA_FLAGS": "--xla_cpu_experimental_xnn_fusion_type=individual_convolution"},
     "step"),
    ("xla_cpu_use_xnnpack", {**OFF, "XLA_FLAGS": "--xla_cpu_use_xnnpack=true"}, "step"),
    ("fast math", {**OFF, "XLA_FLAGS": "--xla_cpu_enable_fast_math=true"}, "step"),
    ("snnjax default + huge pages for malloc (GLIBC_TUNABLES)", {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}, "step"),
    ("layer-by-layer, jaxlib defaults", OFF, "layer"),
    ("layer-by-layer, snnjax default", {}, "layer"),
    ("layer-by-layer, snnjax default + huge pages", {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}, "layer"),
]


SHAPES = [(32, 64, 128), (16, 128, 256), (16, 256, 256)]  # (side, in, out) of convs 2–4


def conv_parts(batch: int = 64, iters: int = 5) -> list[dict]:
  """Where a conv layer's training time goes: forward, input gradient and kernel gradient of
  each of the CNN's 3×3 convs (after the first) at the step's batch, with jaxlib's defaults
  and with the library's options, in GFLOP/s."""
  import jax.numpy as jnp

  from benchmarks.common import median_ms
  from snnjax import xla

  def conv(x, w):
    return jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))

  parts = {"forward": lambda x, w, g: conv(x, w),
           "input gradient": lambda x, w, g: jax.vjp(lambda x: conv(x, w), x)[1](g)[0],
           "kernel gradient": lambda x, w, g: jax.vjp(lambda w: conv(x, w), w)[1](g)[0]}
  rows = []
  for side, cin, cout in SHAPES:
    kx, kw, kg = jax.random.split(jax.random.key(0), 3)
    x = (jax.random.uniform(kx, (batch, side, side, cin)) > 0.8).astype(jnp.float32)  # spikes
    w = jax.random.normal(kw, (3, 3, cin, cout)) * 0.02
    g = jax.random.normal(kg, (batch, side, side, cout))
    gflop = 2 * batch * side * side * 9 * cin * cout / 1e9
    for options in ("jaxlib defaults", "snnjax default"):
      for part, f in parts.items():
        fn = jax.jit(f) if options == "jaxlib defaults" else xla.jit(f)
        ms = median_ms(fn, x, w, g, iters=iters)
        rows.append({"conv": f"{side}×{side} {cin}→{cout}", "options": options, "part": part, "median_ms": ms,
                     "gflops": gflop / ms * 1e3, "batch": batch, "jax": jax.__version__})
  return rows


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("--rounds", type=int, default=3)
  ap.add_argument("--iters", type=int, default=2)
  ap.add_argument("--T", type=int, default=4)
  ap.add_argument("--pools", default="0101")
  ap.add_argument("--only", default="", help="comma-separated indices of VARIANTS to run")
  a = ap.parse_args(argv)
  chosen = [VARIANTS[int(i)] for i in a.only.split(",")] if a.only else VARIANTS
  workers = []
  for name, env, way in chosen:
    w = {"name": "cnn", "T": a.T, "batch": 64, "size": 32, "channels": [64, 128, 256, 256],
         "pools": [int(c) for c in a.pools], "classes": 10, "way": way}
    wk = Worker("snnjax", w, os.cpu_count() or 1, env=env)
    print(f"  {name}: {'built' if wk.ok else 'failed (the flag is unknown to this jaxlib?)'}", flush=True)
    workers.append((name, env, way, wk))
  live = [x for x in workers if x[3].ok]
  if not live:
    raise SystemExit("no variant built.")
  samples = {x[0]: [] for x in live}
  for r in range(a.rounds):
    for name, _, _, wk in live[r % len(live):] + live[:r % len(live)]:
      samples[name].append(statistics.median(wk.ask(f"run {a.iters}")["ms"]))
  rows = []
  base = statistics.median(samples[live[0][0]])  # the first variant that built
  for name, env, way, wk in workers:
    row = {"variant": name, "way": way, "env": env, "T": a.T, "pools": a.pools, "jax": jax.__version__}
    if wk.ok:
      info = wk.ask("info")
      wk.close()
      ms = statistics.median(samples[name])
      row.update(median_ms=ms, vs_first=ms / base, peak_MiB=info["memory_bytes"] / 2**20,
                 round_medians_ms=samples[name])
    else:
      row["failed"] = True
      wk.close()
    rows.append(row)
  print(table(rows, ["variant", "way", "median_ms", "vs_first", "peak_MiB"]))
  print("wrote", write_json("xla_cpu_options.json", rows))
  parts = conv_parts()
  print(table(parts, ["conv", "options", "part", "median_ms", "gflops"]))
  print("wrote", write_json("xla_cpu_conv_parts.json", parts))


if __name__ == "__main__":
  main()
