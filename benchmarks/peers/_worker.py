"""The worker side of the peer harness: one library, one workload, one process.

A worker builds its step once, runs it until warm, then answers the driver's
lines on stdin: ``run N`` times N calls and prints ``{"ms": [...]}``,
``info`` prints ``{"memory_bytes", "memory_kind", "rss_growth_bytes", "version"}``,
``quit`` ends it. Each library's module defines ``build(workload: dict)``
returning a :class:`Built`.
"""

from __future__ import annotations

import dataclasses
import json
import resource
import sys
import time
from typing import Callable


@dataclasses.dataclass
class Built:
  step: Callable[[], object]  # one training step; returns something to block on
  block: Callable[[object], None]  # waits for the step's result
  version: str
  memory_bytes: int | None = None  # None → measured here as peak-RSS growth
  memory_kind: str = "peak RSS growth"


def rss_peak_bytes() -> int:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def serve(build: Callable[[dict], Built], workload: dict, warmup: int = 2,
          preload: tuple[str, ...] = ()) -> None:
  import contextlib
  import importlib
  for name in preload:  # imported before the baseline: RSS growth counts the workload, not imports
    importlib.import_module(name)
  rss0 = rss_peak_bytes()
  with contextlib.redirect_stdout(sys.stderr):  # stdout carries the protocol only
    b = build(workload)
    for _ in range(warmup):
      b.block(b.step())
  rss_growth = rss_peak_bytes() - rss0
  if b.memory_bytes is None:
    b.memory_bytes = rss_growth
  print(json.dumps({"ready": True}), flush=True)
  for line in sys.stdin:
    cmd = line.split()
    if not cmd or cmd[0] == "quit":
      break
    if cmd[0] == "run":
      ms = []
      for _ in range(int(cmd[1])):
        t = time.perf_counter()
        b.block(b.step())
        ms.append((time.perf_counter() - t) * 1e3)
      print(json.dumps({"ms": ms}), flush=True)
    elif cmd[0] == "info":
      print(json.dumps({"memory_bytes": b.memory_bytes, "memory_kind": b.memory_kind,
                        "rss_growth_bytes": rss_growth, "version": b.version}), flush=True)


def main(build: Callable[[dict], Built], preload: tuple[str, ...] = ()) -> None:
  serve(build, json.loads(sys.argv[1]), preload=preload)
