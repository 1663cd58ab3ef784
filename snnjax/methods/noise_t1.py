"""Noise-based single-step (T=1) training and its T=1 → T=N conversion.

A T=1 spiking net fires at ``u = W x + b + ξ ≥ θ`` with membrane noise ξ
standing in for the residual potential a T-step IF neuron carries into each
step; the output spike has amplitude θ. After training, each noisy neuron
becomes an IF neuron with soft reset, the same θ, and ``v[0] = μ_ξ``
(rule ``"noise_t1"`` of :func:`snnjax.convert.to_spiking`); from step 2 on the
real residual plays the noise's part.

Noise (per element, per forward pass, from an explicit key):
``"gaussian"`` N(μ, σ²) with μ = θ/2, σ = θ/√12 by default (the moments of
U(0, θ)); ``"uniform"`` U(0, θ); ``"none"`` ξ = μ. Off at evaluation unless
``eval_noise=True``.

Gradient: ``"surrogate"`` (default) — a surrogate of H at the noisy argument
``u + ξ − θ``; ``"expected"`` — the derivative of the expected firing
``E_ξ[H]`` at the noise-free potential (Gaussian: φ((u+μ−θ)/σ)/σ; uniform:
1[0 ≤ u ≤ θ]/θ).

References:
  Jiang & Zhang, "A noise based novel strategy for faster SNN training",
  arXiv 2211.05453 (abstract); spec §2.2–2.3 (reconstruction), I-10–I-12.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import jax
import jax.numpy as jnp
from flax import nnx
from jax.scipy.stats import norm

from snnjax import _checks, noise
from snnjax.methods.common import cross_entropy
from snnjax.nn.activations import ActSpec
from snnjax.nn.layers import Threshold
from snnjax.surrogate import get_surrogate, spike

__all__ = ["NoisySpikeSpec", "NoisySpike", "noisy_spike", "NoiseKey", "set_noise_keys", "layer_key",
           "module_loss", "expected_rate"]


class NoiseKey(nnx.Variable):
  """The PRNG key a noisy layer draws from in the current forward pass."""


class FixedNoise(nnx.Variable):
  """A noise tensor ξ used instead of a draw (analysis; spec I-12)."""


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

  def build(self, feature_ndim, rngs):
    return NoisySpike(self)


def noisy_spike(**kwargs) -> NoisySpikeSpec:
  """Activation spec of the noisy single-step neuron (see :class:`NoisySpikeSpec`)."""
  return NoisySpikeSpec(**kwargs)


def expected_rate(u, theta, spec: NoisySpikeSpec):
  """``E_ξ[H(u + ξ − θ)]`` in closed form (spec §2.2, I-11)."""
  if spec.noise == "gaussian":
    return norm.cdf((u + spec.mean * theta - theta) / (spec.std * theta))
  if spec.noise == "uniform":
    return jnp.clip(u / theta, 0, 1)
  return (u + spec.mean * theta >= theta).astype(u.dtype)


def layer_key(layer: nnx.Module):
  """The key :func:`set_noise_keys` gave ``layer``, or an error that says how to give one."""
  if not hasattr(layer, "noise_key"):
    raise ValueError(f"{type(layer).__name__} layer has no PRNG key: call "
                     "snnjax.methods.noise_t1.set_noise_keys(model, key) before a training "
                     "forward, or model.eval() for the noise-free net.")
  return layer.noise_key[...]


class NoisySpike(nnx.Module):
  """Single-step spiking activation with membrane noise; output θ·s.

  Converted by rule ``"noise_t1"``: θ kept, ``v[0] = μ`` (``spec.mean``·θ).
  """

  conversion_rule = "noise_t1"
  needs_noise_key = True

  def __init__(self, spec: NoisySpikeSpec):
    self.spec = spec
    theta = jnp.asarray(spec.threshold, jnp.float32)
    self.threshold = nnx.Param(theta) if spec.learn_threshold else Threshold(theta)
    self.deterministic = False    # toggled by model.train() / model.eval()

  def fix_noise(self, xi) -> None:
    """Use the array ``xi`` as the membrane noise of every forward pass."""
    self.fixed_noise = FixedNoise(jnp.asarray(xi, jnp.float32))

  def draw(self, shape, dtype, theta):
    s = self.spec
    if hasattr(self, "fixed_noise"):
      return jnp.broadcast_to(self.fixed_noise[...], shape).astype(dtype)
    mu = s.mean * theta
    if s.noise == "none" or (self.deterministic and not s.eval_noise):
      return jnp.broadcast_to(mu, shape).astype(dtype)
    key = layer_key(self)
    if s.noise == "gaussian":
      return (mu + s.std * theta * noise.standard_normal(key, shape, jnp.float32, s.rng)).astype(dtype)
    return (theta * noise.standard_uniform(key, shape, jnp.float32, s.rng)).astype(dtype)

  def __call__(self, u):
    s = self.spec
    theta = self.threshold[...].astype(u.dtype)
    xi = self.draw(u.shape, u.dtype, theta)
    if s.gradient == "surrogate":
      out = spike(u + xi - theta, get_surrogate(s.surrogate, s.alpha))
    else:
      hard = (u + xi - theta >= 0).astype(u.dtype)
      soft = expected_rate(u, theta, s).astype(u.dtype)
      out = jax.lax.stop_gradient(hard - soft) + soft
    return theta * out


def set_noise_keys(model: nnx.Module, key) -> None:
  """Give every noisy layer (``needs_noise_key``) of ``model`` its own key folded from ``key``."""
  i = 0
  for _, m in nnx.iter_modules(model):
    if getattr(type(m), "needs_noise_key", False):
      k = jax.random.fold_in(key, i)
      if hasattr(m, "noise_key"):
        m.noise_key[...] = k
      else:
        m.noise_key = NoiseKey(k)
      i += 1


def module_loss(model, batch, key):
  """Cross-entropy of the noisy T=1 net (one forward, ANN cost)."""
  set_noise_keys(model, key)
  logits = model(batch["image"])
  return cross_entropy(logits, batch["label"]), logits

