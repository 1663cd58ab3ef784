"""Presynaptic traces (spike accumulation) and their inverse.

``â[t] = λ·â[t−1] + s[t]``, ``â[0] = 0``; hence ``â[t] = Σ_{τ≤t} λ^{t−τ} s[τ]``
and ``s[t] = â[t] − λ·â[t−1]``. With λ = 1 the trace is the running spike count.

References:
  [Xiao et al., 2022](https://arxiv.org/abs/2210.04195), "Online Training Through Time for
  Spiking Neural Networks", NeurIPS 2022, §4.1 (presynaptic trace);
  [Saiin et al., 2024](https://arxiv.org/abs/2310.02772), "Spike Accumulation Forwarding for
  Effective Training of Spiking Neural Networks", TMLR 2024, §3 (spike accumulation).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

__all__ = ["trace_step", "accumulate", "deaccumulate"]


def trace_step(acc: Array, s: Array, decay) -> Array:
  """One trace update ``λ·â + s``."""
  return jnp.asarray(decay, s.dtype) * acc + s


def accumulate(spikes: Float[Array, "T *shape"], decay=1.0, *, unroll: int | bool = 1
               ) -> Float[Array, "T *shape"]:
  """Traces ``â[1..T]`` of a spike train with a leading time axis."""
  if spikes.ndim == 0 or spikes.shape[0] == 0:
    raise ValueError(f"spikes need a leading time axis of length ≥ 1, got shape {spikes.shape}.")

  def body(acc, s):
    acc = trace_step(acc, s, decay)
    return acc, acc

  _, out = jax.lax.scan(body, jnp.zeros_like(spikes[0]), spikes, unroll=unroll)
  return out


def deaccumulate(acc: Float[Array, "T *shape"], decay=1.0) -> Float[Array, "T *shape"]:
  """Inverse of :func:`accumulate`: ``s[t] = â[t] − λ·â[t−1]`` (â[0] = 0)."""
  if acc.ndim == 0 or acc.shape[0] == 0:
    raise ValueError(f"traces need a leading time axis of length ≥ 1, got shape {acc.shape}.")
  prev = jnp.concatenate([jnp.zeros_like(acc[:1]), acc[:-1]], axis=0)
  return acc - jnp.asarray(decay, acc.dtype) * prev
