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


def check_images(x, where: str = "images", feature_shape=None, *, finite: bool = True):
  """Raise with the fix if ``x`` is not a float batch of examples of ``feature_shape``.

  Shape and dtype are checked always (also under jit); finiteness only for
  concrete arrays and when ``finite``.
  """
  import jax.numpy as jnp
  dtype = x.dtype
  if not jnp.issubdtype(dtype, jnp.floating):
    hint = ("images are uint8 0–255; scale them to [0, 1] floats (x / 255) or load them with "
            "snnjax.data") if dtype == np.uint8 else "cast them to float32"
    raise ValueError(f"{where} must be floating point, got {dtype}: {hint}.")
  if feature_shape is not None:
    feature_shape = tuple(feature_shape)
    n = len(feature_shape)
    got = tuple(x.shape[len(x.shape) - n:]) if len(x.shape) > n else None
    if got != feature_shape:
      raise ValueError(
          f"{where} have shape {tuple(x.shape)} but the model takes examples of shape {feature_shape} "
          f"(a batch is [B, {', '.join(map(str, feature_shape))}]); build the model for this data "
          f"(in_shape={tuple(x.shape[1:])}) or reshape the input.")
  if finite and is_concrete(x) and x.size and not bool(np.all(np.isfinite(np.asarray(x)))):
    bad = int(np.sum(~np.isfinite(np.asarray(x))))
    raise ValueError(f"{where} contain {bad} NaN or infinite values; clean or drop those examples.")


def check_labels(y, n: int | None = None, num_classes: int | None = None, where: str = "labels"):
  """Raise with the fix unless ``y`` is a vector of ``n`` integer classes in ``[0, num_classes)``."""
  y = np.asarray(y)
  if y.ndim != 1:
    hint = " (use labels.reshape(-1))" if y.ndim == 2 and y.shape[-1] == 1 else ""
    raise ValueError(f"{where} must be a vector of integer class indices, got shape {y.shape}{hint}.")
  if not np.issubdtype(y.dtype, np.integer):
    raise ValueError(f"{where} must be integer class indices, got dtype {y.dtype}; one-hot labels: "
                     "use labels.argmax(-1).")
  if n is not None and len(y) != n:
    raise ValueError(f"need one label per image: {len(y)} labels for {n} images.")
  if y.size and y.min() < 0:
    raise ValueError(f"{where} must be ≥ 0, found {int(y.min())}.")
  if num_classes is not None and y.size and y.max() >= num_classes:
    raise ValueError(f"{where} must be < num_classes = {num_classes}, found {int(y.max())}; pass the "
                     "right num_classes or fix the labels.")
