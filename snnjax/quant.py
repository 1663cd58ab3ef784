"""Activation quantizers: straight-through floor/round, QCFS, Noise Adaptor.

References:
  Bu et al., "Optimal ANN-SNN Conversion for High-accuracy and Ultra-low-latency
  Spiking Neural Networks" (QCFS), ICLR 2022, §4.2 Eq. (15),
  https://arxiv.org/abs/2303.04347.
  Li & Rajendran, "Noise Adaptor: Enhancing Low-Latency Spiking Neural
  Networks through Noise-Injected Low-Bit ANN Conversion", arXiv 2411.17431,
  §3 (noisy quantizer), https://arxiv.org/abs/2411.17431.
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from snnjax.noise import standard_uniform

__all__ = ["floor_ste", "round_ste", "qcfs", "quantize", "noisy_quantize"]


def floor_ste(x: Array) -> Array:
  """``⌊x⌋`` forward, identity backward (straight-through estimator)."""
  return x + jax.lax.stop_gradient(jnp.floor(x) - x)


def round_ste(x: Array) -> Array:
  """``⌊x + ½⌋`` forward (ties round up, as QCFS), identity backward."""
  return floor_ste(x + 0.5)


def _check_levels(L):
  if isinstance(L, bool) or not isinstance(L, int) or L < 1:
    raise ValueError(f"quantization levels must be a positive int, got {L!r}.")


def qcfs(z: Float[Array, "*shape"], lam: ArrayLike, L: int) -> Float[Array, "*shape"]:
  """Quantization-clip-floor-shift activation ``λ·clip(⌊z·L/λ + ½⌋/L, 0, 1)``.

  Uses the QCFS authors' newer operation order (clip first, then STE floor),
  so by autograd ``∂ĥ/∂z = 1[0 ≤ z/λ ≤ 1]`` and ``∂ĥ/∂λ = q − z/λ`` in range,
  1 above, 0 below.

  Args:
    z: pre-activation.
    lam: learnable clip value λ (scalar or broadcastable), λ > 0.
    L: number of quantization steps.

  References: [Bu et al., 2022](https://arxiv.org/abs/2303.04347), Eq. (15).
  """
  _check_levels(L)
  lam = jnp.asarray(lam).astype(z.dtype)
  q = jnp.clip(z / lam, 0, 1)
  q = floor_ste(q * L + 0.5) / L
  return q * lam


def quantize(v: Array, s: ArrayLike, p: int) -> Array:
  """Deterministic low-bit quantizer ``s·clip(⌊v/s + ½⌋, 0, p)`` (STE floor).

  Equals :func:`qcfs` with ``λ = p·s`` and ``L = p`` (the Noise Adaptor
  evaluation-time activation).
  """
  _check_levels(p)
  s = jnp.asarray(s).astype(v.dtype)
  return s * jnp.clip(round_ste(v / s), 0, p)


def noisy_quantize(key: PRNGKeyArray, v: Float[Array, "*shape"], s: ArrayLike, p: int, *,
                   alpha: float = 1.0, variant: Literal["A", "B"] = "A",
                   rng: Literal["fast", "exact"] = "fast") -> Float[Array, "*shape"]:
  """Noise Adaptor training activation with ``ε ~ U(−α/2, α/2)`` per element.

  * variant ``"A"`` (default, the paper's literal form): ``s·clip(v/s + ε, 0, p)``,
    no rounding; differentiable by plain autograd.
  * variant ``"B"`` (stochastic rounding): ``s·clip(⌊v/s + ε + ½⌋, 0, p)``
    with a straight-through floor; ``α = 0`` equals QCFS with ``λ = p·s``.

  ``rng`` selects the uniform generator (:func:`snnjax.noise.standard_uniform`).

  References: [Li & Rajendran, 2024](https://arxiv.org/abs/2411.17431), §3.
  """
  _check_levels(p)
  if variant not in ("A", "B"):
    raise ValueError(f"variant must be 'A' or 'B', got {variant!r}.")
  if not alpha >= 0:
    raise ValueError(f"noise amplitude alpha must be ≥ 0, got {alpha}.")
  s = jnp.asarray(s).astype(v.dtype)
  eps = (standard_uniform(key, v.shape, v.dtype, rng) - 0.5) * alpha
  x = v / s + eps
  if variant == "B":
    x = round_ste(x)
  return s * jnp.clip(x, 0, p)
