"""Timing and memory helpers: medians after warm-up, XLA's compiled memory analysis."""

from __future__ import annotations

import json
import os
import statistics
import time
from typing import Any, Callable

import jax

RESULTS_DIR = os.path.join(os.path.dirname(__file__), "results")


def results_dir() -> str:
  """Where ``write_json`` writes: ``$SNNJAX_BENCH_RESULTS`` when set (the GPU run collects
  every benchmark's rows there), else ``benchmarks/results``."""
  return os.environ.get("SNNJAX_BENCH_RESULTS") or RESULTS_DIR


def median_ms(fn: Callable, *args, warmup: int = 2, iters: int = 10) -> float:
  """Median wall time of ``fn(*args)`` in ms, after ``warmup`` calls, with block_until_ready."""
  for _ in range(warmup):
    jax.block_until_ready(fn(*args))
  times = []
  for _ in range(iters):
    t = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append((time.perf_counter() - t) * 1e3)
  return statistics.median(times)


def peak_bytes(jitted, *args) -> int | None:
  """Arguments + outputs + temporaries − aliased bytes of the compiled executable."""
  try:
    ma = jitted.lower(*args).compile().memory_analysis()
  except Exception:  # noqa: BLE001 — some backends do not report it
    return None
  if ma is None:
    return None
  return int(ma.argument_size_in_bytes + ma.output_size_in_bytes + ma.temp_size_in_bytes
             - ma.alias_size_in_bytes)


def device_name() -> str:
  d = jax.devices()[0]
  return f"{d.platform}:{getattr(d, 'device_kind', '')} x{len(jax.devices())}"


def write_json(name: str, records) -> str:
  os.makedirs(results_dir(), exist_ok=True)
  path = os.path.join(results_dir(), name)
  with open(path, "w") as f:
    json.dump(records, f, indent=1)
  return path


def table(rows: list[dict], cols: list[str]) -> str:
  widths = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in cols}
  out = ["  ".join(c.rjust(widths[c]) for c in cols)]
  out += ["  ".join(_fmt(r.get(c)).rjust(widths[c]) for c in cols) for r in rows]
  return "\n".join(out)


def _fmt(v):
  if isinstance(v, float):
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
  return "" if v is None else str(v)


def interleaved_ms(calls: dict[str, Callable[[], Any]], *, iters: int, rounds: int) -> dict[str, float]:
  """Median ms of each zero-argument call: all called once first (compilation), then timed in
  interleaved rounds (``rounds`` rounds of ``iters`` calls each) so that machine drift hits every
  one alike; the median over rounds of each round's median."""
  for f in calls.values():
    jax.block_until_ready(f())
  samples = {name: [] for name in calls}
  for _ in range(rounds):
    for name, f in calls.items():
      samples[name].append(median_ms(f, warmup=1, iters=iters))
  return {name: statistics.median(v) for name, v in samples.items()}


def time_trainers(trainers: dict, batch, key, *, iters: int, rounds: int) -> dict[str, float]:
  """:func:`interleaved_ms` of each trainer's step on ``batch``."""
  return interleaved_ms({name: (lambda tr=tr: tr.step(batch, key)["loss"]) for name, tr in trainers.items()},
                        iters=iters, rounds=rounds)
