"""Noise-based single-step (T=1) training and its T=1 → T=N conversion.

A T=1 spiking net fires at ``u = W x + b + ξ ≥ θ`` with membrane noise ξ
standing in for the residual potential a T-step IF neuron carries into each
step; the output spike has amplitude θ. After training, each noisy neuron
becomes an IF neuron with soft reset, the same θ, and ``v[0] = μ_ξ`` (the
:class:`~snnjax.nn.Conversion` that :class:`NoisySpike` declares); from
step 2 on the real residual plays the noise's part. Why this conversion
loses (almost) nothing is derived in ``docs/noise_t1.md``.

Noise (per element, per forward pass, from the ``rngs`` passed at call time):
``"gaussian"`` N(μ, σ²) with μ = θ/2, σ = θ/√12 by default (the moments of
U(0, θ)); ``"uniform"`` U(0, θ); ``"none"`` ξ = μ. Off at evaluation
(``model.eval()``) unless ``eval_noise=True``.

Gradient: ``"surrogate"`` (default) — a surrogate of H at the noisy argument
``u + ξ − θ``; ``"expected"`` — the derivative of the expected firing
``E_ξ[H]`` at the noise-free potential (Gaussian: φ((u+μ−θ)/σ)/σ; uniform:
1[0 ≤ u ≤ θ]/θ).

References:
  [Jiang & Zhang, 2022](https://arxiv.org/abs/2211.05453), abstract (single-step training with
  noise approximating the potential distribution; lossless T=1 → T=N conversion; Gaussian noise).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import jax
import jax.numpy as jnp
from jax.scipy.stats import norm
from jaxtyping import Array, Float

from snnjax import _checks, _compat, noise
from snnjax.methods.ann import module_loss
from snnjax.methods.common import Recipe
from snnjax.nn.activations import ActSpec, Activation, Conversion
from snnjax.nn.variables import FixedNoise, Threshold, ThresholdParam
from snnjax.surrogate import get_surrogate, spike

__all__ = ["DEFAULTS", "NoisySpikeSpec", "NoisySpike", "noisy_spike", "module_loss", "expected_rate",
           "recipe"]

#: Configuration fields read by this method (``noise.*`` configure the neuron).
DEFAULTS = {
    "noise": dict(kind="gaussian", mean=0.5, std=1 / math.sqrt(12), gradient="surrogate",
                  surrogate="sigmoid", alpha=4.0, learn_threshold=False, eval_noise=False, rng="fast"),
}


@dataclasses.dataclass(frozen=True)
class NoisySpikeSpec(ActSpec):
  threshold: float = 1.0
  learn_threshold: bool = False
  noise: Literal["gaussian", "uniform", "none"] = "gaussian"
  mean: float = 0.5            # μ as a fraction of θ
  std: float = 1 / math.sqrt(12)  # σ as a fraction of θ (Gaussian)
  gradient: Literal["surrogate", "expected"] = "surrogate"
  surrogate: str = "sigmoid"
  alpha: float | None = None
  eval_noise: bool = False
  rng: Literal["fast", "exact"] = "fast"

  def __post_init__(self):
    _checks.check_threshold(self.threshold)
    if self.noise not in ("gaussian", "uniform", "none"):
      raise ValueError(f"noise must be 'gaussian', 'uniform' or 'none', got {self.noise!r}.")
    if self.gradient not in ("surrogate", "expected"):
      raise ValueError(f"gradient must be 'surrogate' or 'expected', got {self.gradient!r}.")
    if self.noise == "gaussian" and not self.std > 0:
      raise ValueError(f"Gaussian noise needs std > 0, got {self.std}.")
    get_surrogate(self.surrogate, self.alpha)

  def build(self, shape, rngs):
    return NoisySpike(self, shape)


def noisy_spike(**kwargs) -> NoisySpikeSpec:
  """Activation spec of the noisy single-step neuron (see :class:`NoisySpikeSpec`)."""
  return NoisySpikeSpec(**kwargs)


def expected_rate(u: Float[Array, "*shape"], theta, spec: NoisySpikeSpec) -> Float[Array, "*shape"]:
  """``E_ξ[H(u + ξ − θ)]`` in closed form (Gaussian: Φ; uniform: clip(u/θ, 0, 1))."""
  if spec.noise == "gaussian":
    return norm.cdf((u + spec.mean * theta - theta) / (spec.std * theta))
  if spec.noise == "uniform":
    return jnp.clip(u / theta, 0, 1)
  return (u + spec.mean * theta >= theta).astype(u.dtype)


class NoisySpike(Activation):
  """Single-step spiking activation with membrane noise; output θ·s.

  Converts to IF with θ kept and ``v[0] = μ`` (``spec.mean``·θ). The noise is
  drawn from the ``rngs`` of the call; ``xi`` (a :class:`FixedNoise`,
  ``None`` by default) replaces the draw with a given tensor.
  """

  def __init__(self, spec: NoisySpikeSpec, shape=()):
    super().__init__(shape)
    self.spec = spec
    theta = jnp.asarray(spec.threshold, jnp.float32)
    self.threshold = ThresholdParam(theta) if spec.learn_threshold else Threshold(theta)
    self.deterministic = False    # set by model.train() / model.eval()
    self.xi = FixedNoise(None)

  def conversion(self) -> Conversion:
    return Conversion(threshold="threshold", v0=self.spec.mean)

  def fix_noise(self, xi) -> None:
    """Use the array ``xi`` as the membrane noise of every forward pass (``None``: draw again)."""
    _compat.set_value(self.xi, None if xi is None else jnp.asarray(xi, jnp.float32))

  def draw(self, shape, dtype, theta, rngs):
    s = self.spec
    fixed = _compat.get_value(self.xi)
    if fixed is not None:
      return jnp.broadcast_to(fixed, shape).astype(dtype)
    mu = s.mean * theta
    if s.noise == "none" or (self.deterministic and not s.eval_noise):
      return jnp.broadcast_to(mu, shape).astype(dtype)
    if rngs is None:
      raise ValueError("NoisySpike draws training noise: call the model with rngs= (a key or "
                       "nnx.Rngs), e.g. model(x, rngs=jax.random.key(0)); or model.eval() for "
                       "the noise-free net.")
    key = rngs.noise()
    if s.noise == "gaussian":
      return (mu + s.std * theta * noise.standard_normal(key, shape, jnp.float32, s.rng)).astype(dtype)
    return (theta * noise.standard_uniform(key, shape, jnp.float32, s.rng)).astype(dtype)

  def forward(self, u, *, rngs=None):
    s = self.spec
    theta = self.threshold[...].astype(u.dtype)
    xi = self.draw(u.shape, u.dtype, theta, rngs)
    if s.gradient == "surrogate":
      out = spike(u + xi - theta, get_surrogate(s.surrogate, s.alpha))
    else:
      hard = (u + xi - theta >= 0).astype(u.dtype)
      soft = expected_rate(u, theta, s).astype(u.dtype)
      out = jax.lax.stop_gradient(hard - soft) + soft
    return theta * out


def recipe(config) -> Recipe:
  n = config.noise
  act = noisy_spike(threshold=1.0, learn_threshold=n.learn_threshold, noise=n.kind, mean=n.mean,
                    std=n.std, gradient=n.gradient, surrogate=n.surrogate, alpha=n.alpha,
                    eval_noise=n.eval_noise, rng=n.rng)
  return Recipe(act=act, loss=module_loss)
