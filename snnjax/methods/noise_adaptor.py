"""Noise Adaptor: a low-bit quantized ANN trained with injected noise, converted to IF.

Training activation (per layer, learnable step size s, p levels):

* variant ``"A"`` (default): ``s·clip(v/s + ε, 0, p)``, ε ~ U(−α/2, α/2);
* variant ``"B"``: ``s·clip(⌊v/s + ε + ½⌋, 0, p)`` (stochastic rounding);

noise in training only, from the ``rngs`` passed at call time; at evaluation
the deterministic ``s·clip(⌊v/s+½⌋, 0, p)`` (QCFS with λ = p·s, L = p).
Conversion: IF neurons, soft reset, ``θ = p·s``, ``v[0] = θ/2``, no run-time
correction.

The step size learns slowly under a shared learning rate (inside the clip
range its gradient is ε, zero on average); it is a
:class:`~snnjax.nn.ThresholdParam`, which the training program gives its own
learning rate.

References:
  [Li & Rajendran, 2024](https://arxiv.org/abs/2411.17431), §3 (noise-injected low-bit ANN,
  conversion without run-time correction); [Li & Rajendran, 2023](https://arxiv.org/abs/2312.05290).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import jax.numpy as jnp

from snnjax import quant
from snnjax.methods.ann import module_loss
from snnjax.methods.common import Recipe
from snnjax.nn.activations import ActSpec, Activation, Conversion
from snnjax.nn.variables import ThresholdParam

__all__ = ["DEFAULTS", "NoisyQuantSpec", "NoisyQuant", "noisy_quant", "module_loss", "recipe"]

#: Configuration fields read by this method.
DEFAULTS = {"levels": 4, "init_threshold": 8.0, "alpha": 1.0, "variant": "A"}


@dataclasses.dataclass(frozen=True)
class NoisyQuantSpec(ActSpec):
  levels: int = 4          # p
  lam: float = 8.0         # initial clip value λ = p·s (QCFS's init)
  alpha: float = 1.0       # noise amplitude, ε ~ U(−α/2, α/2)
  variant: Literal["A", "B"] = "A"

  def __post_init__(self):
    if isinstance(self.levels, bool) or not isinstance(self.levels, int) or self.levels < 1:
      raise ValueError(f"levels p must be a positive int, got {self.levels!r}.")
    if self.variant not in ("A", "B"):
      raise ValueError(f"variant must be 'A' or 'B', got {self.variant!r}.")
    if not self.alpha >= 0 or not self.lam > 0:
      raise ValueError("need alpha ≥ 0 and lam > 0.")

  def build(self, shape, rngs):
    return NoisyQuant(self, shape)


def noisy_quant(**kwargs) -> NoisyQuantSpec:
  """Activation spec of the Noise-Adaptor quantizer (see :class:`NoisyQuantSpec`)."""
  return NoisyQuantSpec(**kwargs)


class NoisyQuant(Activation):
  """Noise-Adaptor activation; converts to IF with θ = p·s, v[0] = θ/2."""

  def __init__(self, spec: NoisyQuantSpec, shape=()):
    super().__init__(shape)
    self.spec = spec
    self.levels = spec.levels
    self.step_size = ThresholdParam(jnp.asarray(spec.lam / spec.levels, jnp.float32))
    self.deterministic = False    # set by model.train() / model.eval()

  def conversion(self) -> Conversion:
    return Conversion(threshold="step_size", scale=self.levels, v0="half", init_from_data=True)

  def forward(self, v, *, rngs=None):
    s = self.step_size[...]
    if self.deterministic or self.spec.alpha == 0 and self.spec.variant == "B":
      return quant.quantize(v, s, self.levels)
    if rngs is None:
      raise ValueError("NoisyQuant draws training noise: call the model with rngs= (a key or "
                       "nnx.Rngs), e.g. model(x, rngs=jax.random.key(0)); or model.eval() for "
                       "the deterministic quantizer.")
    return quant.noisy_quantize(rngs.noise(), v, s, self.levels, alpha=self.spec.alpha,
                                variant=self.spec.variant)


def recipe(config) -> Recipe:
  act = noisy_quant(levels=config.levels, lam=config.init_threshold, alpha=config.alpha,
                    variant=config.variant)
  return Recipe(act=act, loss=module_loss)
