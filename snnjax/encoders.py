"""Input encoders: direct (analog) and Poisson/rate coding.

All methods in this library feed the analog image at every step (direct
encoding); the first layer's current is then the same at every step, and the
compiled simulation computes it once. Poisson coding is offered as an option.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from snnjax import _checks

__all__ = ["direct", "poisson"]


def direct(x: Float[Array, "*shape"], T: int) -> Float[Array, "T *shape"]:
  """Repeat the analog input for ``T`` steps (a broadcast, no copy under jit)."""
  T = _checks.check_time_steps(T)
  return jnp.broadcast_to(x, (T,) + x.shape)


def poisson(key: PRNGKeyArray, x: Float[Array, "*shape"], T: int, *, max_rate: float = 1.0
            ) -> Float[Array, "T *shape"]:
  """Bernoulli spikes with per-step probability ``max_rate·clip(x, 0, 1)``.

  Args:
    key: explicit PRNG key; the same key gives the same spike train.
    x: intensities, expected in [0, 1] (values outside are clipped).
    T: number of steps.
    max_rate: firing probability per step at intensity 1.
  """
  T = _checks.check_time_steps(T)
  if not 0 < max_rate <= 1:
    raise ValueError(f"max_rate must be in (0, 1], got {max_rate}.")
  p = max_rate * jnp.clip(x, 0, 1)
  u = jax.random.uniform(key, (T,) + x.shape, dtype=x.dtype)
  return (u < p).astype(x.dtype)
