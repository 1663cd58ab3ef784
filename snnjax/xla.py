"""XLA compiler options the library picks per backend, and a ``jit`` that applies them.

On XLA:CPU, jaxlib 0.8 and newer hand convolutions to YNNPACK fusions by default. For
the spiking CNNs this library trains, that path computes the kernel gradient of a
convolution slowly (the dominant cost of a BPTT step) and allocates more: the 4-conv
BPTT CNN step (T=4, batch 64, 32×32) took 2.07 s with YNNPACK and 1.87 s without, at
558 instead of 790 MiB, on jax 0.10.2 (2.57 vs 1.86 s on jax 0.12); the ResNet-18 ANN
forward (batch 32) went from 115 to 78 ms (``benchmarks/RESULTS.md``, "XLA:CPU options"). So on CPU every function
the library compiles (training steps, evaluation, calibration) is compiled with the
YNNPACK fusions switched off, where the running jaxlib knows that option (jax 0.7 does
not use YNNPACK and is left as it is). GPU and TPU get no options.

Switch back with one line, before the first compilation:
``SNNJAX_XLA_CPU_DEFAULTS=0`` in the environment, or ``snnjax.xla.use_cpu_defaults(False)``.
Your own ``jax.jit`` gets the same options with ``jax.jit(f, compiler_options=snnjax.xla.compiler_options())``
or ``snnjax.xla.jit(f)``.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable

import jax

__all__ = ["CPU_OPTIONS", "compiler_options", "jit", "use_cpu_defaults"]

#: The XLA:CPU options the library compiles with (those the running jaxlib knows).
CPU_OPTIONS: dict[str, str] = {"xla_cpu_experimental_ynn_fusion_type": ""}

_ENV = "SNNJAX_XLA_CPU_DEFAULTS"
_enabled: bool | None = None  # None: read the environment


def use_cpu_defaults(enabled: bool = True) -> None:
  """Turn the library's XLA:CPU options on or off for functions compiled from now on."""
  global _enabled
  _enabled = bool(enabled)


def _on() -> bool:
  if _enabled is not None:
    return _enabled
  value = os.environ.get(_ENV, "1").strip().lower()
  if value not in ("0", "1", "false", "true", "off", "on", ""):
    raise ValueError(f"{_ENV} must be 0 or 1, got {os.environ[_ENV]!r}.")
  return value not in ("0", "false", "off")


@functools.cache
def _known(option: str, value: str) -> bool:
  try:
    jax.jit(lambda x: x + 1, compiler_options={option: value}).lower(1.0).compile()
    return True
  except Exception:  # noqa: BLE001 — jaxlib raises its own runtime error for unknown options
    return False


@functools.cache
def _backend_options() -> tuple[tuple[str, Any], ...]:
  """The options for the default backend (found once: the backend does not change)."""
  if jax.default_backend() != "cpu":
    return ()
  return tuple((k, v) for k, v in CPU_OPTIONS.items() if _known(k, v))


def compiler_options() -> dict[str, Any]:
  """The options the library compiles with on the default backend now (``{}`` off CPU,
  when switched off, or where jaxlib knows none of them)."""
  return dict(_backend_options()) if _on() else {}


class _Jit:
  """``jax.jit(fun, **kwargs)`` compiled with :func:`compiler_options`, read at each call (not
  at import: the backend must not start before ``jax.distributed.initialize``); one compiled
  function per set of options."""

  def __init__(self, fun: Callable, kwargs: dict):
    functools.update_wrapper(self, fun, updated=())
    self._fun, self._kwargs = fun, kwargs
    self._jitted: dict[tuple, Callable] = {}

  def _get(self):
    key = _backend_options() if _on() else ()  # per call: an env read and a cached tuple
    if key not in self._jitted:
      extra = {"compiler_options": dict(key)} if key else {}
      self._jitted[key] = jax.jit(self._fun, **self._kwargs, **extra)
    return self._jitted[key]

  def __call__(self, *args, **kwargs):
    return self._get()(*args, **kwargs)

  def lower(self, *args, **kwargs):
    return self._get().lower(*args, **kwargs)

  def _cache_size(self) -> int:
    return sum(f._cache_size() for f in self._jitted.values())


def jit(fun: Callable | None = None, **kwargs):
  """``jax.jit`` with the library's compiler options; usable as ``@jit`` or
  ``@functools.partial(jit, static_argnames=...)``."""
  if fun is None:
    return functools.partial(jit, **kwargs)
  return _Jit(fun, kwargs)
