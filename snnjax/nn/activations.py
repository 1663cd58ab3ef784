"""Activations chosen when a model is built, and how each converts to IF neurons.

A model takes an activation *spec* (a small frozen dataclass, hashable, kept in
the model's hyperparameters) and calls ``spec.make(shape, rngs)`` at every
activation site, with the site's feature shape. The same model class thus
builds as a ReLU ANN, a quantized ANN, a noisy single-step spiking net or a
spiking net of IF/LIF neurons; the parameter trees line up by path, so
conversion is a map from one tree to the other.

Every activation is an :class:`Activation` module:

* ``__call__(x, *, rngs=None)``: randomness (training noise, membrane
  dropout) comes from the ``rngs`` passed at call time (an ``nnx.Rngs`` or a
  key), never from a stored key.
* ``conversion()`` returns the :class:`Conversion` data that
  :func:`snnjax.convert.to_spiking` reads: which variable becomes θ and with
  what scale, the initial potential, the spike amplitude. A user-defined
  activation converts by returning the same data; ``convert`` knows no
  activation by name.
* recording slots ``rec_in`` / ``rec_out`` (off unless the caller's state
  switches them on; see :mod:`snnjax.nn.variables`).

Methods define their own activations next to their loss
(:mod:`snnjax.methods.qcfs`, :mod:`snnjax.methods.noise_t1`, ...); this module
holds the two generic ones: :class:`ReLU` and the IF/LIF :class:`Spiking`
layer.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import jax
import jax.numpy as jnp
from flax import nnx
from jaxtyping import Array, Float

from snnjax import _checks, _compat, neurons
from snnjax.nn.variables import Clock, Membrane, Record, Threshold, ThresholdParam, record
from snnjax.surrogate import get_surrogate

__all__ = ["Conversion", "ActSpec", "Activation", "ReLUSpec", "SpikingSpec", "ReLU", "Spiking",
           "relu", "spiking", "lif", "if_", "as_rngs", "clip_statistic"]

V0 = Literal["zero", "half"] | float


@dataclasses.dataclass(frozen=True)
class Conversion:
  """How an activation becomes a layer of IF neurons (soft reset).

  Attributes:
    threshold: name of the variable on the activation whose value, times
      ``scale``, becomes θ; ``None`` when θ must come from calibration
      (:func:`snnjax.convert.calibrate`), as for a ReLU.
    scale: θ = ``scale`` · variable (Noise Adaptor: θ = p·s).
    v0: initial potential ``"zero"``, ``"half"`` (θ/2) or a fraction of θ.
    amplitude: spike amplitude of the IF layer, ``"threshold"`` (θ·s) or ``"one"``.
    init_from_data: the variable is a clip value that
      :func:`snnjax.nn.init_clip_from_data` may set from data.
  """

  threshold: str | None = None
  scale: float = 1.0
  v0: V0 = "zero"
  amplitude: Literal["threshold", "one"] = "threshold"
  init_from_data: bool = False

  def __post_init__(self):
    if self.amplitude not in ("threshold", "one"):
      raise ValueError(f"amplitude must be 'threshold' or 'one', got {self.amplitude!r}.")
    if isinstance(self.v0, str) and self.v0 not in ("zero", "half"):
      raise ValueError(f"v0 must be 'zero', 'half' or a fraction of θ, got {self.v0!r}.")
    if not self.scale > 0:
      raise ValueError(f"scale must be > 0, got {self.scale}.")


def as_rngs(rngs) -> nnx.Rngs | None:
  """``None``, an ``nnx.Rngs``, or a PRNG key (wrapped as ``nnx.Rngs(noise=key)``)."""
  if rngs is None or isinstance(rngs, nnx.Rngs):
    return rngs
  return nnx.Rngs(noise=rngs)


class Activation(nnx.Module):
  """Base class of activation layers.

  Subclasses implement ``forward(x, *, rngs)`` and, if they convert to IF
  neurons, ``conversion()``. ``shape`` is the feature shape of one example at
  this site (``(features,)`` or ``(H, W, C)``).
  """

  def __init__(self, shape):
    self.shape = tuple(int(s) for s in shape)
    self.rec_in = Record(None)
    self.rec_out = Record(None)

  @property
  def feature_ndim(self) -> int:
    return len(self.shape)

  def conversion(self) -> Conversion | None:
    """Conversion data, or ``None`` if this activation does not convert."""
    return None

  def forward(self, x: Array, *, rngs: nnx.Rngs | None = None) -> Array:
    raise TypeError(f"{type(self).__name__} must define forward(x, *, rngs=None).")

  def __call__(self, x: Float[Array, "*batch"], *, rngs=None) -> Float[Array, "..."]:
    y = self.forward(x, rngs=as_rngs(rngs))
    record(self.rec_in, x)
    record(self.rec_out, y)
    return y


@dataclasses.dataclass(frozen=True)
class ActSpec:
  """Base class of activation specs: ``build(shape, rngs) -> Activation``."""

  def build(self, shape: tuple[int, ...], rngs: nnx.Rngs) -> Activation:
    raise TypeError(f"{type(self).__name__} does not define build().")

  def make(self, shape, rngs: nnx.Rngs) -> Activation:
    m = self.build(tuple(shape), rngs)
    if not isinstance(m, Activation):
      raise TypeError(f"{type(self).__name__}.build must return an snnjax.nn.Activation, "
                      f"got {type(m).__name__}.")
    return m


@dataclasses.dataclass(frozen=True)
class ReLUSpec(ActSpec):
  def build(self, shape, rngs):
    return ReLU(shape)


class ReLU(Activation):
  """``max(x, 0)``; converts with a calibrated threshold (max or percentile, v0 = 0)."""

  def forward(self, x, *, rngs=None):
    del rngs
    return jax.nn.relu(x)

  def conversion(self) -> Conversion:
    return Conversion(threshold=None, v0="zero")


@dataclasses.dataclass(frozen=True)
class SpikingSpec(ActSpec):
  """IF/LIF neurons.

  Attributes:
    neuron: ``"if"`` or ``"lif"``.
    tau: LIF time constant (λ = 1 − 1/τ).
    threshold: initial θ; ``learn_threshold`` makes it a :class:`ThresholdParam`.
    reset, strict, detach_reset, surrogate, alpha: see :class:`snnjax.neurons.NeuronSpec`.
    v0: initial potential, ``"zero"``, ``"half"`` (θ/2) or a fraction of θ.
    amplitude: ``"threshold"`` (θ·s, conversion) or ``"one"``.
    per_neuron: one θ per neuron (of the site's feature shape) instead of one per layer.
    decay_input, v_rest, v_reset, reset_amount: see :mod:`snnjax.neurons`
      (the options other libraries' neurons need; :mod:`snnjax.presets`).
  """

  neuron: Literal["if", "lif"] = "if"
  tau: float = 2.0
  threshold: float = 1.0
  learn_threshold: bool = False
  reset: Literal["soft", "hard"] = "soft"
  strict: bool = False
  detach_reset: bool = False
  surrogate: str = "sigmoid"
  alpha: float | None = None
  v0: V0 = "zero"
  amplitude: Literal["one", "threshold"] = "threshold"
  per_neuron: bool = False
  decay_input: bool = False
  v_rest: float | None = None
  v_reset: float = 0.0
  reset_amount: float | None = None

  @classmethod
  def from_params(cls, params: neurons.NeuronParams, **kw) -> "SpikingSpec":
    """The spec of a layer of the neurons ``params`` describes (scalar parameters), e.g. a preset."""
    lam = float(params.decay)
    sp = params.spec
    scalar = lambda a: None if a is None else float(a)
    fields = dict(neuron="if" if lam == 1.0 else "lif", tau=2.0 if lam == 1.0 else 1.0 / (1.0 - lam),
                  threshold=float(params.threshold), reset=sp.reset, strict=sp.strict,
                  detach_reset=sp.detach_reset, surrogate=sp.surrogate.name, alpha=sp.surrogate.alpha,
                  amplitude=sp.amplitude, decay_input=sp.decay_input, v_rest=scalar(params.v_rest),
                  v_reset=float(params.v_reset), reset_amount=scalar(params.reset_amount))
    fields.update(kw)
    return cls(**fields)

  def __post_init__(self):
    _checks.check_threshold(self.threshold)
    if self.neuron not in ("if", "lif"):
      raise ValueError(f"neuron must be 'if' or 'lif', got {self.neuron!r}.")
    if self.neuron == "if" and self.decay_input:
      raise ValueError("decay_input leaks the input of LIF neurons (λ < 1); IF neurons have no leak: "
                       "drop decay_input or use neuron='lif'.")
    if isinstance(self.v0, str) and self.v0 not in ("zero", "half"):
      raise ValueError(f"v0 must be 'zero', 'half' or a fraction of θ, got {self.v0!r}.")
    get_surrogate(self.surrogate, self.alpha)

  @property
  def leak(self) -> float:
    """λ = 1 − 1/τ for LIF, 1 for IF (a Python float)."""
    return 1.0 if self.neuron == "if" else 1.0 - 1.0 / self.tau

  def neuron_params(self, threshold) -> neurons.NeuronParams:
    kw = dict(reset=self.reset, strict=self.strict, detach_reset=self.detach_reset,
              amplitude=self.amplitude, surrogate=get_surrogate(self.surrogate, self.alpha),
              v_reset=self.v_reset, reset_amount=self.reset_amount)
    if self.neuron == "lif":
      p = neurons.lif_neuron(self.tau, 1.0, decay_input=self.decay_input, v_rest=self.v_rest, **kw)
    else:
      p = neurons.if_neuron(1.0, **kw)
    return p._replace(threshold=threshold)

  def build(self, shape, rngs):
    return Spiking(self, shape)


class Spiking(Activation):
  """A layer of IF/LIF neurons (see :class:`SpikingSpec`).

  Called on one step ``[B, *shape]`` it advances one time step; called on a
  sequence ``[T, B, *shape]`` it scans over the leading time axis (the
  layer-by-layer way of :mod:`snnjax.simulate`). Either way it starts from
  its membrane variable ``v`` (``None``: from ``v[0]``) and leaves the new
  potential there. When its ``clock`` state holds an array of length T, a
  one-step input is taken as constant over T steps (direct input, computed
  once upstream) and all T steps run.
  """

  def __init__(self, spec: SpikingSpec, shape):
    super().__init__(shape)
    self.spec = spec
    theta = jnp.full(self.shape if spec.per_neuron else (), spec.threshold, jnp.float32)
    self.threshold = ThresholdParam(theta) if spec.learn_threshold else Threshold(theta)
    self.v = Membrane(None)
    self.clock = Clock(None)
    self.rec_u = Record(None)

  def params(self) -> neurons.NeuronParams:
    return self.spec.neuron_params(self.threshold[...])

  def initial_potential(self, shape, dtype=jnp.float32) -> Array:
    """``v[0]`` for one step's input of ``shape`` (``[B, *features]``)."""
    return neurons.initial_potential(self.params(), tuple(shape), self.spec.v0, dtype)

  def potential_after_reset(self, u: Float[Array, "batch *features"]) -> Float[Array, "batch *features"]:
    """``v[t]`` of this layer from its potential before reset ``u[t]``
    (:func:`snnjax.neurons.reset_potential`)."""
    return neurons.reset_potential(self.params(), u)

  def forward(self, x, *, rngs=None):
    del rngs
    nd = self.feature_ndim
    if x.ndim not in (nd + 1, nd + 2) or tuple(x.shape[x.ndim - nd:]) != self.shape:
      raise ValueError(
          f"spiking layer with features {self.shape} expects [B, {', '.join(map(str, self.shape))}] "
          f"(one step) or [T, B, ...] (a sequence), got shape {tuple(x.shape)}.")
    p = self.params()
    step_shape = x.shape if x.ndim == nd + 1 else x.shape[1:]
    v = _compat.get_value(self.v)
    if v is None:
      v = self.initial_potential(step_shape, x.dtype)
    elif tuple(v.shape) != tuple(step_shape):
      raise ValueError(
          f"membrane state has shape {tuple(v.shape)} but this step's input is {tuple(step_shape)}; "
          "start a new simulation (snnjax.simulate.reset(model) or a fresh stepper state).")
    st = neurons.NeuronState(v.astype(x.dtype))
    clock = _compat.get_value(self.clock)
    if x.ndim == nd + 2:
      st, out, u = neurons.run(p, st, x, return_membrane=True)
    elif clock is not None:  # constant input over len(clock) steps
      st, out, u = neurons.run(p, st, x, T=int(clock.shape[0]), return_membrane=True)
    else:
      st, out, u = neurons.advance(p, st, x)
    _compat.set_value(self.v, st.v)
    record(self.rec_u, u)
    return out


def clip_statistic(x, percentile: float):
  """The ``percentile`` of ``relu(x)`` (kept ≥ 1e-3 so a dead layer keeps a valid clip)."""
  r = jax.nn.relu(x).astype(jnp.float32)
  stat = jnp.max(r) if percentile >= 100 else jnp.percentile(r, percentile)
  return jnp.maximum(stat, 1e-3)


def relu() -> ReLUSpec:
  """Plain ReLU (for max/percentile conversion)."""
  return ReLUSpec()


def spiking(**kwargs) -> SpikingSpec:
  """Spiking IF/LIF activation; keyword arguments as :class:`SpikingSpec`."""
  return SpikingSpec(**kwargs)


def lif(tau: float = 2.0, **kwargs) -> SpikingSpec:
  """LIF neurons, τ=2, sigmoid α=4, soft reset, v0=0, amplitude 1 (the BPTT baseline's
  neuron, :func:`snnjax.methods.bptt.default_act`, also detaches the reset)."""
  kwargs.setdefault("amplitude", "one")
  return SpikingSpec(neuron="lif", tau=tau, **kwargs)


def if_(**kwargs) -> SpikingSpec:
  """IF neurons as produced by conversion: soft reset, amplitude θ, v0 as given."""
  return SpikingSpec(neuron="if", **kwargs)
