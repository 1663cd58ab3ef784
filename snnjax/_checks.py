"""Input validation helpers shared by the library (errors name the fix)."""

from __future__ import annotations

import jax
import numpy as np


def is_concrete(x) -> bool:
  """True when ``x`` holds a value now (not a tracer under jit/grad/vmap)."""
  return not isinstance(x, jax.core.Tracer)


def check_threshold(theta, where: str = "threshold") -> None:
  """Raise if a concrete threshold is not strictly positive.

  A tracer (a threshold being trained under jit) cannot be inspected; it is
  left to the caller's parameterisation to keep it positive.
  """
  if theta is None:
    raise ValueError(
        f"{where} is missing: pass a positive firing threshold (e.g. 1.0) or "
        "convert a model that carries one (QCFS λ, noisy-spike θ, quantizer "
        "scale s).")
  if is_concrete(theta):
    arr = np.asarray(theta)
    if arr.size and not np.all(arr > 0):
      raise ValueError(
          f"{where} must be > 0 everywhere, got min {arr.min()!r}; a spiking "
          "neuron with θ ≤ 0 fires on every input. Use a positive threshold.")


def check_time_steps(T, where: str = "T") -> int:
  """Validate a number of time steps; returns it as an int."""
  if isinstance(T, bool) or not isinstance(T, (int, np.integer)):
    raise ValueError(f"{where} must be a positive Python int, got {T!r}.")
  if T < 1:
    raise ValueError(
        f"{where} must be ≥ 1 (number of simulation steps), got {T}. "
        "Use T=1 for a single-step network.")
  return int(T)
