"""Noise Adaptor: a low-bit quantized ANN trained with injected noise, converted to IF.

Training activation (per layer, learnable step size s, p levels):

* variant ``"A"`` (default): ``s·clip(v/s + ε, 0, p)``, ε ~ U(−α/2, α/2);
* variant ``"B"``: ``s·clip(⌊v/s + ε + ½⌋, 0, p)`` (stochastic rounding);

noise in training only; at evaluation the deterministic ``s·clip(⌊v/s+½⌋, 0, p)``
(QCFS with λ = p·s, L = p). Conversion (rule ``"noise_adaptor"``): IF neurons,
soft reset, ``θ = p·s``, ``v[0] = θ/2``, no run-time correction.

The step size learns slowly under a shared learning rate (inside the clip
range its gradient is ε, zero on average); the training program gives
threshold-like parameters (``step_size``, ``lam``, ``threshold``) their own
learning rate (``config.threshold_lr``).

References:
  Li & Rajendran, "Noise Adaptor: Enhancing Low-Latency Spiking Neural
  Networks through Noise-Injected Low-Bit ANN Conversion", arXiv 2411.17431,
  §3; spec §3.2–3.3, I-13, I-14.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import jax.numpy as jnp
from flax import nnx

from snnjax import quant
from snnjax.methods.common import cross_entropy
from snnjax.methods.noise_t1 import layer_key, set_noise_keys
from snnjax.nn.activations import ActSpec, clip_statistic

__all__ = ["NoisyQuantSpec", "NoisyQuant", "noisy_quant", "module_loss"]


@dataclasses.dataclass(frozen=True)
class NoisyQuantSpec(ActSpec):
  levels: int = 4          # p
  lam: float = 8.0         # initial clip value λ = p·s (QCFS's init)
  alpha: float = 1.0       # noise amplitude, ε ~ U(−α/2, α/2)
  variant: Literal["A", "B"] = "A"

  def __post_init__(self):
    if not isinstance(self.levels, int) or self.levels < 1:
      raise ValueError(f"levels p must be a positive int, got {self.levels!r}.")
    if self.variant not in ("A", "B"):
      raise ValueError(f"variant must be 'A' or 'B', got {self.variant!r}.")
    if not self.alpha >= 0 or not self.lam > 0:
      raise ValueError("need alpha ≥ 0 and lam > 0.")

  def build(self, feature_ndim, rngs):
    return NoisyQuant(self)


def noisy_quant(**kwargs) -> NoisyQuantSpec:
  """Activation spec of the Noise-Adaptor quantizer (see :class:`NoisyQuantSpec`)."""
  return NoisyQuantSpec(**kwargs)


class NoisyQuant(nnx.Module):
  """Noise-Adaptor activation; converted by rule ``"noise_adaptor"`` (θ = p·s, v0 = θ/2)."""

  conversion_rule = "noise_adaptor"
  needs_noise_key = True

  def __init__(self, spec: NoisyQuantSpec):
    self.spec = spec
    self.levels = spec.levels
    self.step_size = nnx.Param(jnp.asarray(spec.lam / spec.levels, jnp.float32))
    self.deterministic = False
    self.init_percentile: float | None = None  # set by snnjax.nn.init_clip_from_data

  def set_clip(self, lam):
    """Set the clip value λ = p·s."""
    self.step_size[...] = jnp.asarray(lam, jnp.float32) / self.levels

  def clip_value(self):
    return self.step_size[...] * self.levels

  def __call__(self, v):
    if self.init_percentile is not None:
      self.set_clip(clip_statistic(v, self.init_percentile))
    s = self.step_size[...]
    if self.deterministic or self.spec.alpha == 0 and self.spec.variant == "B":
      return quant.quantize(v, s, self.levels)
    return quant.noisy_quantize(layer_key(self), v, s, self.levels, alpha=self.spec.alpha,
                                variant=self.spec.variant)


def module_loss(model, batch, key):
  """Cross-entropy of the noisy quantized ANN."""
  set_noise_keys(model, key)
  logits = model(batch["image"])
  return cross_entropy(logits, batch["label"]), logits

