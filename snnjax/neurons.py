"""Integrate-and-fire neurons as pure functions.

One step of a neuron layer is ``step(params, state, x) -> (state, out)`` with
NamedTuple ``params`` and ``state``; :func:`run` scans it over a leading time
axis with :func:`jax.lax.scan`. Nothing here depends on Flax.

Dynamics (``λ`` is the leak, 1 for IF)::

    u[t] = λ·v[t−1] + (1 − λ)·v_rest + x[t]          charge (decay_input=False, the default)
    u[t] = v[t−1] + (1 − λ)·(x[t] − (v[t−1] − v_rest)) charge with decay_input=True (SpikingJelly's default)
    s[t] = H(u[t] − θ)                       fire (u ≥ θ, or u > θ when strict)
    v[t] = u[t] − R·s[t]                     soft reset (reset by subtraction of R, θ by default)
    v[t] = u[t]·(1 − s[t]) + v_reset·s[t]    hard reset
    out  = s[t]  or  θ·s[t]                  spike amplitude 1 or θ

``v_rest`` (the potential the leak pulls towards, 0 by default) is separate
from ``v_reset`` (where a hard reset puts the neuron) and ``R`` (what a soft
reset removes) from θ, so the neurons of other libraries can be written
exactly (:mod:`snnjax.presets`).

References:
  [Gerstner et al., 2014](https://neuronaldynamics.epfl.ch/online/Ch1.S3.html), "Neuronal
  Dynamics" §1.3 (integrate-and-fire); [Rueckauer et al., 2017](https://doi.org/10.3389/fnins.2017.00682)
  (reset by subtraction); [Fang et al., 2023](https://arxiv.org/abs/2310.16620) (SpikingJelly's
  ``decay_input=False`` form used here).
  Fang et al., "Incorporating Learnable Membrane Time Constant to Enhance
  Learning of Spiking Neural Networks", ICCV 2021 (PLIF).
"""

from __future__ import annotations

import dataclasses
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from snnjax import _checks
from snnjax.surrogate import Surrogate, get_surrogate, spike

__all__ = [
    "NeuronSpec", "NeuronParams", "NeuronState", "if_neuron", "lif_neuron",
    "plif_neuron", "leak_from_logit", "init_state", "initial_potential", "step", "advance",
    "reset_potential", "run",
]

V0 = Literal["zero", "half"] | float | Array


@jax.tree_util.register_static
@dataclasses.dataclass(frozen=True)
class NeuronSpec:
  """The discrete choices of a neuron model (static under jit).

  Attributes:
    reset: ``"soft"`` (subtract θ) or ``"hard"`` (set to ``v_reset``).
    strict: fire at ``u > θ`` instead of ``u ≥ θ``.
    detach_reset: stop the gradient through the reset term (OTTT's choice).
    amplitude: output ``"one"`` (0/1 spikes) or ``"threshold"`` (θ·s, the
      weighted spike used by the conversion methods).
    surrogate: backward of the Heaviside step.
    decay_input: the input is leaked too, ``u = v + (1 − λ)(x − (v − v_rest))``
      (SpikingJelly's ``decay_input=True``); for LIF neurons only: with λ = 1
      the formula would drop the input, so IF builders refuse it.
  """

  reset: Literal["soft", "hard"] = "soft"
  strict: bool = False
  detach_reset: bool = False
  amplitude: Literal["one", "threshold"] = "one"
  surrogate: Surrogate = Surrogate()
  decay_input: bool = False

  def __post_init__(self):
    if self.reset not in ("soft", "hard"):
      raise ValueError(f"reset must be 'soft' or 'hard', got {self.reset!r}.")
    if self.amplitude not in ("one", "threshold"):
      raise ValueError(f"amplitude must be 'one' or 'threshold', got {self.amplitude!r}.")
    object.__setattr__(self, "surrogate", get_surrogate(self.surrogate))


class NeuronParams(NamedTuple):
  """Parameters of a neuron layer; arrays broadcast against the input.

  ``threshold`` and ``decay`` may be scalars (per layer) or arrays of the
  feature shape (per neuron). Both are differentiable leaves, so a learnable
  threshold or a learnable leak (PLIF) is a matter of taking gradients.
  """

  threshold: Array
  decay: Array
  v_reset: Array
  spec: NeuronSpec
  v_rest: Array | None = None        # leak target (None: 0)
  reset_amount: Array | None = None  # what a soft reset subtracts (None: θ)


class NeuronState(NamedTuple):
  """Membrane potential after reset, ``v[t]``."""

  v: Array


def _make(threshold, decay, v_reset, spec, dtype, v_rest=None, reset_amount=None) -> NeuronParams:
  _checks.check_threshold(threshold)
  decay = jnp.asarray(decay, dtype)
  if _checks.is_concrete(decay) and not bool(jnp.all((decay >= 0) & (decay <= 1))):
    raise ValueError("leak factor λ must lie in [0, 1] (λ = 1 − 1/τ with τ ≥ 1).")
  opt = lambda a: None if a is None else jnp.asarray(a, dtype)
  return NeuronParams(jnp.asarray(threshold, dtype), decay, jnp.asarray(v_reset, dtype), spec,
                      opt(v_rest), opt(reset_amount))


def if_neuron(threshold=1.0, *, reset: Literal["soft", "hard"] = "soft", v_reset=0.0,
              strict: bool = False, detach_reset: bool = False,
              amplitude: Literal["one", "threshold"] = "one",
              surrogate: str | Surrogate | None = "sigmoid", reset_amount=None,
              dtype=jnp.float32) -> NeuronParams:
  """Integrate-and-fire neuron (no leak); ``reset_amount``: what a soft reset subtracts (θ)."""
  spec = NeuronSpec(reset, strict, detach_reset, amplitude, get_surrogate(surrogate))
  return _make(threshold, 1.0, v_reset, spec, dtype, reset_amount=reset_amount)


def lif_neuron(tau=2.0, threshold=1.0, *, reset: Literal["soft", "hard"] = "soft", v_reset=0.0,
               strict: bool = False, detach_reset: bool = False,
               amplitude: Literal["one", "threshold"] = "one",
               surrogate: str | Surrogate | None = "sigmoid", decay_input: bool = False,
               v_rest=None, reset_amount=None, dtype=jnp.float32) -> NeuronParams:
  """Leaky integrate-and-fire, ``λ = 1 − 1/τ`` (τ=2 → λ=0.5).

  ``decay_input``: leak the input too (SpikingJelly's default); ``v_rest``: the
  potential the leak pulls towards (0); ``reset_amount``: what a soft reset
  subtracts (θ).
  """
  if not tau >= 1:
    raise ValueError(f"tau must be ≥ 1 (λ = 1 − 1/τ in [0, 1)), got {tau}.")
  spec = NeuronSpec(reset, strict, detach_reset, amplitude, get_surrogate(surrogate), decay_input)
  return _make(threshold, 1.0 - 1.0 / tau, v_reset, spec, dtype, v_rest, reset_amount)


def leak_from_logit(w: Array) -> Array:
  """PLIF parameterisation ``λ = 1 − sigmoid(w)`` (``1/τ = sigmoid(w)``).

  Train ``w`` and build params with ``params._replace(decay=leak_from_logit(w))``;
  λ then stays in (0, 1) whatever the optimizer does.
  """
  return 1.0 - jax.nn.sigmoid(w)


def plif_neuron(init_tau=2.0, threshold=1.0, **kwargs) -> tuple[NeuronParams, Array]:
  """Parametric LIF: returns ``(params, w)`` with ``λ = leak_from_logit(w)``.

  References: Fang et al. ICCV 2021, Eq. (9).
  """
  if not init_tau > 1:
    raise ValueError(f"init_tau must be > 1, got {init_tau}.")
  dtype = kwargs.get("dtype", jnp.float32)
  w = jnp.asarray(-jnp.log(init_tau - 1.0), dtype)  # sigmoid(w) = 1/τ
  params = lif_neuron(init_tau, threshold, **kwargs)
  return params._replace(decay=leak_from_logit(w)), w


def initial_potential(params: NeuronParams, shape, v0: V0 = "zero", dtype=None) -> Array:
  """``v[0]``: ``"zero"``, ``"half"`` (θ/2), a multiple of θ (a float), or an array."""
  dtype = dtype or params.threshold.dtype
  if isinstance(v0, str):
    if v0 == "zero":
      return jnp.zeros(shape, dtype)
    if v0 == "half":
      return jnp.broadcast_to(params.threshold / 2, shape).astype(dtype)
    raise ValueError(f"v0 must be 'zero', 'half', a float (fraction of θ) or an array, got {v0!r}.")
  if isinstance(v0, (int, float)):
    return jnp.broadcast_to(params.threshold * v0, shape).astype(dtype)
  v0 = jnp.asarray(v0, dtype)
  try:
    return jnp.broadcast_to(v0, shape)
  except ValueError as e:
    raise ValueError(f"initial potential of shape {v0.shape} does not broadcast to {shape}.") from e


def init_state(params: NeuronParams, shape, v0: V0 = "zero", dtype=None) -> NeuronState:
  """State before the first step, for inputs of ``shape`` (no time axis)."""
  return NeuronState(initial_potential(params, tuple(shape), v0, dtype))


def step(params: NeuronParams, state: NeuronState, x: Float[Array, "*shape"]
         ) -> tuple[NeuronState, Float[Array, "*shape"]]:
  """Advance one time step: charge, fire, reset.

  Args:
    params: from :func:`if_neuron`, :func:`lif_neuron` or :func:`plif_neuron`.
    state: ``NeuronState(v)`` with ``v.shape == x.shape``.
    x: input current ``I[t]``.

  Returns:
    ``(new_state, out)`` where ``out`` is ``s`` or ``θ·s`` per ``spec.amplitude``.

  References: [Fang et al., 2023](https://arxiv.org/abs/2310.16620), Eqs. (1)–(3).
  """
  _validate(state, x)
  new, out, _ = advance(params, state, x)
  return new, out


def _validate(state: NeuronState, x) -> None:
  if state.v.shape != x.shape:
    raise ValueError(
        f"neuron state has shape {state.v.shape} but the input current has shape {x.shape}; "
        "create the state with init_state(params, x.shape) for this input.")
  if not jnp.issubdtype(x.dtype, jnp.floating):
    raise ValueError(f"input current must be floating point, got {x.dtype}.")


def advance(params: NeuronParams, state: NeuronState, x: Array):
  """:func:`step` without input checks, also returning ``u[t]`` (the potential before reset).

  Returns ``(new_state, out, u)``.
  """
  spec = params.spec
  theta = params.threshold.astype(x.dtype)
  lam = params.decay.astype(x.dtype)
  rest = None if params.v_rest is None else params.v_rest.astype(x.dtype)
  if spec.decay_input:
    target = state.v if rest is None else state.v - rest
    u = state.v + (1 - lam) * (x - target)
  elif rest is None:
    u = lam * state.v + x
  else:
    u = lam * state.v + (1 - lam) * rest + x
  s = spike(u - theta, spec.surrogate, strict=spec.strict)
  v = _reset(params, u, s, theta, x.dtype)
  out = theta * s if spec.amplitude == "threshold" else s
  return NeuronState(v), out, u


def _reset(params: NeuronParams, u, s, theta, dtype):
  spec = params.spec
  s_r = jax.lax.stop_gradient(s) if spec.detach_reset else s
  if spec.reset == "soft":
    amount = theta if params.reset_amount is None else params.reset_amount.astype(dtype)
    return u - amount * s_r
  return u * (1 - s_r) + params.v_reset.astype(dtype) * s_r


def reset_potential(params: NeuronParams, u: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
  """``v[t]`` from ``u[t]``: the potential after this step's spike and reset.

  The same operations as :func:`advance`, so the result is bit for bit its new
  state when ``u`` has the input's dtype (as in :class:`snnjax.nn.Spiking`; a float32
  state with a bfloat16 input promotes ``u`` while ``advance`` casts θ to the input's
  dtype). For code that carries the potential before reset ``u`` from step to
  step and resets it at the start of the next (what :func:`snnjax.simulate.run`
  does step by step: one state tensor per layer that only the next step reads).

  References: [Fang et al., 2023](https://arxiv.org/abs/2310.16620), Eqs. (2)–(3) (fire, reset).
  """
  theta = params.threshold.astype(u.dtype)
  return _reset(params, u, spike(u - theta, params.spec.surrogate, strict=params.spec.strict), theta, u.dtype)


def run(params: NeuronParams, state: NeuronState, xs: Float[Array, "T *shape"] | Float[Array, "*shape"],
        *, T: int | None = None, unroll: int | bool = 1, return_membrane: bool = False):
  """Run :func:`step` over time with :func:`jax.lax.scan`.

  Args:
    params, state: as for :func:`step`.
    xs: input currents with a leading time axis ``[T, ...]``; or, when ``T``
      is given, one current ``[...]`` applied at every step (direct input:
      nothing of size T is materialised).
    T: number of steps for a constant input.
    unroll: passed to ``lax.scan`` (an int, or True for a full unroll).
    return_membrane: also return the potentials ``u[t]`` before reset.

  Returns:
    ``(final_state, outs[T, ...])``, plus ``us[T, ...]`` when asked.

  References: [Fang et al., 2023](https://arxiv.org/abs/2310.16620), §3 (multi-step mode).
  """
  if T is None:
    if xs.ndim == 0 or xs.shape[0] == 0:
      raise ValueError(
          f"xs must have a leading time axis of length ≥ 1, got shape {xs.shape}; "
          "pass T=... to feed one constant input for T steps.")
    length, scanned = xs.shape[0], xs
  else:
    length, scanned = _checks.check_time_steps(T), None

  _validate(state, jax.ShapeDtypeStruct(xs.shape[1:] if T is None else xs.shape, xs.dtype))

  def body(st, x_t):
    new, out, u = advance(params, st, xs if x_t is None else x_t)
    return new, ((out, u) if return_membrane else out)

  state, ys = jax.lax.scan(body, state, scanned, length=length, unroll=unroll)
  if return_membrane:
    return state, ys[0], ys[1]
  return state, ys
