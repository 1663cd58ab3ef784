"""Activations chosen when a model is built.

A model takes an activation *spec* (a small frozen dataclass, hashable, kept in
the model's hyperparameters) and calls ``spec.build(feature_ndim, rngs)`` at
every activation site. The same model class thus builds as a ReLU ANN, a QCFS
quantized ANN, a spiking net of IF/LIF neurons run for T steps, a noisy T=1
spiking net or a Noise-Adaptor quantized ANN; the parameter trees line up by
path, so conversion is a map from one tree to the other.

Parameter names the converter reads: ``lam`` (QCFS clip value λ),
``threshold`` (spiking and noisy-spike θ), ``step_size`` (Noise Adaptor s).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import jax
import jax.numpy as jnp
from flax import nnx

from snnjax import _checks, neurons
from snnjax.nn.layers import Membrane, SpikeCount, Threshold
from snnjax.quant import qcfs as qcfs_fn
from snnjax.surrogate import get_surrogate

__all__ = ["ActSpec", "ReLUSpec", "QCFSSpec", "SpikingSpec", "ReLU", "QCFS", "Spiking",
           "CalibStat", "relu", "qcfs", "spiking", "lif", "if_", "clip_statistic",
           "init_clip_from_data"]


class CalibStat(nnx.Variable):
  """A statistic of a ReLU's output recorded for threshold calibration."""


class InitialPotential(nnx.Variable):
  """An explicit initial membrane potential ``v[0]`` (overrides ``spec.v0``)."""


@dataclasses.dataclass(frozen=True)
class ActSpec:
  """Base class of activation specs: ``build(feature_ndim, rngs) -> nnx.Module``."""

  def build(self, feature_ndim: int, rngs: nnx.Rngs) -> nnx.Module:
    raise TypeError(f"{type(self).__name__} does not define build().")

  def make(self, feature_ndim: int, rngs: nnx.Rngs) -> nnx.Module:
    """``build`` and tag the module as an activation site (what the converter maps)."""
    m = self.build(feature_ndim, rngs)
    m.is_activation = True
    return m


@dataclasses.dataclass(frozen=True)
class ReLUSpec(ActSpec):
  def build(self, feature_ndim, rngs):
    return ReLU()


@dataclasses.dataclass(frozen=True)
class QCFSSpec(ActSpec):
  """QCFS quantizer with ``L`` steps and learnable clip ``λ`` (init 8.0)."""

  L: int = 4
  lam: float = 8.0

  def build(self, feature_ndim, rngs):
    return QCFS(self.L, self.lam)


@dataclasses.dataclass(frozen=True)
class SpikingSpec(ActSpec):
  """IF/LIF neurons run for ``T`` steps.

  Attributes:
    neuron: ``"if"`` or ``"lif"``.
    T: time steps when the layer's input has no time axis (direct input).
    tau: LIF time constant (λ = 1 − 1/τ).
    threshold: initial θ; ``learn_threshold`` makes it an ``nnx.Param``.
    reset, strict, detach_reset, surrogate, alpha: see :class:`snnjax.neurons.NeuronSpec`.
    v0: initial potential, ``"zero"``, ``"half"`` (θ/2) or a fraction of θ.
    amplitude: ``"threshold"`` (θ·s, conversion) or ``"one"``.
    mode: ``"layer"`` (scan inside the layer, time folded into the batch
      elsewhere) or ``"step"`` (one step per call; see :mod:`snnjax.simulate`).
    unroll: ``lax.scan`` unroll of the layer-by-layer neuron scan.
  """

  neuron: Literal["if", "lif"] = "if"
  T: int = 4
  tau: float = 2.0
  threshold: float = 1.0
  learn_threshold: bool = False
  reset: Literal["soft", "hard"] = "soft"
  strict: bool = False
  detach_reset: bool = False
  surrogate: str = "sigmoid"
  alpha: float | None = None
  v0: str | float = "zero"
  amplitude: Literal["one", "threshold"] = "threshold"
  mode: Literal["layer", "step"] = "layer"
  unroll: int = 1

  def __post_init__(self):
    _checks.check_time_steps(self.T)
    _checks.check_threshold(self.threshold)
    if self.neuron not in ("if", "lif"):
      raise ValueError(f"neuron must be 'if' or 'lif', got {self.neuron!r}.")
    if self.mode not in ("layer", "step"):
      raise ValueError(f"mode must be 'layer' or 'step', got {self.mode!r}.")
    get_surrogate(self.surrogate, self.alpha)

  def neuron_params(self, threshold) -> neurons.NeuronParams:
    kw = dict(reset=self.reset, strict=self.strict, detach_reset=self.detach_reset,
              amplitude=self.amplitude, surrogate=get_surrogate(self.surrogate, self.alpha))
    if self.neuron == "lif":
      p = neurons.lif_neuron(self.tau, 1.0, **kw)
    else:
      p = neurons.if_neuron(1.0, **kw)
    return p._replace(threshold=threshold)

  def build(self, feature_ndim, rngs):
    return Spiking(self, feature_ndim)


class ReLU(nnx.Module):
  """``max(x, 0)``; records an activation statistic when ``record`` is set."""

  conversion_rule = "percentile"  # read by snnjax.convert (or "maxnorm")

  def __init__(self):
    self.record: float | None = None  # percentile to record (100 = max)

  def __call__(self, x):
    y = jax.nn.relu(x)
    if self.record is not None:
      self.calib = CalibStat(clip_statistic(x, float(self.record)))
    return y


class QCFS(nnx.Module):
  """QCFS activation ``λ·clip(⌊z·L/λ + ½⌋/L, 0, 1)`` with learnable λ.

  References: Bu et al. ICLR 2022 Eq. (15); spec §6.1.
  """

  conversion_rule = "qcfs"

  def __init__(self, L: int = 4, lam: float = 8.0):
    self.L = int(L)
    self.lam = nnx.Param(jnp.asarray(lam, jnp.float32))
    self.init_percentile: float | None = None  # set by init_clip_from_data

  def set_clip(self, lam):
    self.lam[...] = jnp.asarray(lam, jnp.float32)

  def clip_value(self):
    return self.lam[...]

  def __call__(self, x):
    if self.init_percentile is not None:
      self.set_clip(clip_statistic(x, self.init_percentile))
    return qcfs_fn(x, self.lam[...], self.L)


class Spiking(nnx.Module):
  """A layer of IF/LIF neurons (see :class:`SpikingSpec`)."""

  def __init__(self, spec: SpikingSpec, feature_ndim: int):
    self.spec = spec
    self.feature_ndim = int(feature_ndim)
    theta = jnp.asarray(spec.threshold, jnp.float32)
    self.threshold = nnx.Param(theta) if spec.learn_threshold else Threshold(theta)
    self.T = spec.T
    self.mode = spec.mode
    self.unroll = spec.unroll
    self.record = False  # count spikes (firing rates); set by snnjax.simulate

  def params(self) -> neurons.NeuronParams:
    return self.spec.neuron_params(self.threshold[...])

  def set_initial_potential(self, v0) -> None:
    """Start every run from the array ``v0`` (broadcast to one step's input shape)."""
    self.v0_array = InitialPotential(jnp.asarray(v0, jnp.float32))

  def _v0(self):
    return self.v0_array[...] if hasattr(self, "v0_array") else self.spec.v0

  def _count(self, out):
    fired = (out != 0).astype(jnp.float32)
    stats = jnp.stack([fired.sum(), jnp.asarray(fired.size, jnp.float32)])
    if not hasattr(self, "spikes"):
      self.spikes = SpikeCount(jnp.zeros((2,), jnp.float32))
    self.spikes[...] = self.spikes[...] + stats

  def __call__(self, h: jax.Array) -> jax.Array:
    p = self.params()
    if self.mode == "step":
      if not hasattr(self, "membrane"):
        self.membrane = Membrane(neurons.initial_potential(p, h.shape, self._v0(), h.dtype))
      st, out = neurons.step(p, neurons.NeuronState(self.membrane[...]), h)
      self.membrane[...] = st.v
    else:
      static = h.ndim == self.feature_ndim + 1  # [B, ...]: direct input, same every step
      if not static and h.ndim != self.feature_ndim + 2:
        raise ValueError(
            f"spiking layer expects [B, ...] or [T, B, ...] with {self.feature_ndim} feature "
            f"axes, got shape {h.shape}.")
      shape = h.shape if static else h.shape[1:]
      st = neurons.init_state(p, shape, self._v0(), h.dtype)
      _, out = neurons.run(p, st, h, T=self.T if static else None, unroll=self.unroll)
    if self.record:
      self._count(out)
    return out


def clip_statistic(x, percentile: float):
  """The ``percentile`` of ``relu(x)`` (kept ≥ 1e-3 so a dead layer keeps a valid clip)."""
  r = jax.nn.relu(x).astype(jnp.float32)
  stat = jnp.max(r) if percentile >= 100 else jnp.percentile(r, percentile)
  return jnp.maximum(stat, 1e-3)


def init_clip_from_data(model: nnx.Module, x, *, percentile: float = 99.9) -> dict[str, float]:
  """Set every clip value (QCFS λ, Noise-Adaptor p·s) from one batch ``x``.

  One forward pass in training mode on a copy of the model, layer by layer in
  forward order, so each clip sees the activations its (already set) upstream
  layers produce; BatchNorm statistics of ``model`` are left untouched.
  Returns ``{path: clip}``. Needed because the clip's gradient inside its range
  averages to ~0, so from the usual init (λ = 8) it barely moves.
  """
  m = nnx.clone(model)
  m.train()
  sites = [(p, mod) for p, mod in nnx.iter_modules(m) if hasattr(mod, "init_percentile")]
  targets = dict(nnx.iter_modules(model))
  if not sites:
    raise ValueError("the model has no activation with a clip value (QCFS, Noise Adaptor).")
  for _, mod in sites:
    mod.init_percentile = percentile
    if hasattr(mod, "deterministic"):
      mod.deterministic = True  # calibrate the noise-free quantizer; no key needed
  m(x)
  out = {}
  for path, mod in sites:
    mod.init_percentile = None
    clip = mod.clip_value()
    targets[path].set_clip(clip)
    out["/".join(map(str, path))] = float(clip)
  return out


def relu() -> ReLUSpec:
  """Plain ReLU (for max/percentile conversion)."""
  return ReLUSpec()


def qcfs(L: int = 4, lam: float = 8.0) -> QCFSSpec:
  """QCFS quantized activation (spec §6.1)."""
  return QCFSSpec(L, lam)


def spiking(**kwargs) -> SpikingSpec:
  """Spiking IF/LIF activation; keyword arguments as :class:`SpikingSpec`."""
  return SpikingSpec(**kwargs)


def lif(T: int = 4, tau: float = 2.0, **kwargs) -> SpikingSpec:
  """LIF defaults of the BPTT baseline: τ=2, sigmoid α=4, soft reset, v0=0 (spec §6.2)."""
  kwargs.setdefault("amplitude", "one")
  return SpikingSpec(neuron="lif", T=T, tau=tau, **kwargs)


def if_(T: int = 4, **kwargs) -> SpikingSpec:
  """IF neurons as produced by conversion: soft reset, amplitude θ, v0 as given."""
  return SpikingSpec(neuron="if", T=T, **kwargs)
