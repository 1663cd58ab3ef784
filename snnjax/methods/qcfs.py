"""QCFS: a quantization-clip-floor-shift ANN converted to IF neurons.

Training activation ``λ·clip(⌊z·L/λ + ½⌋/L, 0, 1)`` with a learnable clip λ
per layer (a straight-through floor; :func:`snnjax.quant.qcfs`).
Conversion: IF neurons, soft reset, ``θ = λ``, ``v[0] = θ/2``, spikes of
amplitude θ. With T = L and constant input a single layer converts exactly.

References:
  [Bu et al., 2022](https://arxiv.org/abs/2303.04347), §4.2 Eq. (15) (activation),
  Theorem 2 (zero expected conversion error with the ½ shift and v[0] = θ/2).
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from snnjax import quant
from snnjax.methods.ann import module_loss
from snnjax.methods.common import Recipe
from snnjax.nn.activations import ActSpec, Activation, Conversion
from snnjax.nn.variables import ThresholdParam

__all__ = ["DEFAULTS", "QCFSSpec", "QCFS", "qcfs", "module_loss", "recipe"]

#: Configuration fields read by this method.
DEFAULTS = {"levels": 4, "init_threshold": 8.0, "init_percentile": 99.9}


@dataclasses.dataclass(frozen=True)
class QCFSSpec(ActSpec):
  """QCFS quantizer with ``L`` steps and learnable clip ``λ`` (init 8.0, the authors')."""

  L: int = 4
  lam: float = 8.0

  def __post_init__(self):
    if isinstance(self.L, bool) or not isinstance(self.L, int) or self.L < 1:
      raise ValueError(f"L must be a positive int, got {self.L!r}.")
    if not self.lam > 0:
      raise ValueError(f"lam must be > 0, got {self.lam}.")

  def build(self, shape, rngs):
    return QCFS(shape, self.L, self.lam)


class QCFS(Activation):
  """QCFS activation with learnable λ; converts to IF with θ = λ, v[0] = θ/2."""

  def __init__(self, shape, L: int = 4, lam: float = 8.0):
    super().__init__(shape)
    self.L = int(L)
    self.lam = ThresholdParam(jnp.asarray(lam, jnp.float32))

  def conversion(self) -> Conversion:
    return Conversion(threshold="lam", v0="half", init_from_data=True)

  def forward(self, x, *, rngs=None):
    del rngs
    return quant.qcfs(x, self.lam[...], self.L)


def qcfs(L: int = 4, lam: float = 8.0) -> QCFSSpec:
  """QCFS quantized activation."""
  return QCFSSpec(L, lam)


def recipe(config) -> Recipe:
  return Recipe(act=qcfs(L=config.levels, lam=config.init_threshold), loss=module_loss)
