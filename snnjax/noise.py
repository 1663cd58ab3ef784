"""Membrane-potential noise for single-step (T=1) training.

The noisy T=1 neuron fires at ``W x + b + ξ ≥ θ`` with ``ξ ~ N(μ, σ²)``
(default ``μ = θ/2``, ``σ = θ/√12``, the moments of ``U(0, θ)``), standing in
for the residual potential a multi-step IF neuron carries into each step.

Random numbers dominate the cost of a T=1 step on a CPU, so two generators are
offered for each distribution:

* ``"exact"``: :func:`jax.random.normal` / :func:`jax.random.uniform`.
* ``"fast"`` (default): 32 random bits per element from XLA's counter-based
  ``RngBitGenerator`` (seeded from the caller's key). Gaussian: the sum of the
  four bytes of each word, centred and scaled — an Irwin–Hall(4) variable with
  mean exactly 0 and variance exactly 1 (byte sum: mean 510, variance
  4·(256²−1)/12 = 21845). Uniform: 24 bits with a half-ulp offset, mean
  exactly ½.

References:
  Jiang & Zhang, "A noise based novel strategy for faster SNN training",
  arXiv 2211.05453 (abstract: Gaussian noise on the membrane potential);
  spec §2.2 for the reconstruction and defaults.
"""

from __future__ import annotations

import math
from typing import Literal

import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

__all__ = ["standard_normal", "standard_uniform", "random_bits"]

_BYTE_SUM_MEAN = 4 * 127.5
_BYTE_SUM_STD = math.sqrt(4 * (256.0**2 - 1) / 12)


def random_bits(key: PRNGKeyArray, shape) -> Array:
  """uint32 bits from XLA's RngBitGenerator, seeded by ``key``."""
  seed = jax.random.bits(key, (4,), jnp.uint32)
  _, bits = jax.lax.rng_bit_generator(seed, tuple(shape), dtype=jnp.uint32)
  return bits


def standard_normal(key: PRNGKeyArray, shape, dtype=jnp.float32,
                    method: Literal["fast", "exact"] = "fast") -> Array:
  """Noise with mean 0 and variance 1: exact Gaussian or Irwin–Hall(4)."""
  if method == "exact":
    return jax.random.normal(key, shape, dtype)
  if method != "fast":
    raise ValueError(f"method must be 'fast' or 'exact', got {method!r}.")
  b = random_bits(key, shape)
  total = (b & 0xFF) + ((b >> 8) & 0xFF) + ((b >> 16) & 0xFF) + (b >> 24)
  z = (total.astype(jnp.float32) - _BYTE_SUM_MEAN) * (1 / _BYTE_SUM_STD)
  return z.astype(dtype)


def standard_uniform(key: PRNGKeyArray, shape, dtype=jnp.float32,
                     method: Literal["fast", "exact"] = "fast") -> Array:
  """``U(0, 1)`` noise: exact JAX uniform or 24-bit counter-based."""
  if method == "exact":
    return jax.random.uniform(key, shape, dtype)
  if method != "fast":
    raise ValueError(f"method must be 'fast' or 'exact', got {method!r}.")
  b = random_bits(key, shape)
  u = ((b >> 8).astype(jnp.float32) + 0.5) * (1.0 / (1 << 24))
  return u.astype(dtype)
