"""Neurons as other libraries define them, written with snnjax's pure neuron.

Each preset returns :class:`snnjax.neurons.NeuronParams` that reproduce the
peer's published update equations exactly (tested against numpy references
written from those equations, in float64). Use them with
:func:`snnjax.neurons.step` / :func:`snnjax.neurons.run`, or in a model through
``snnjax.nn.SpikingSpec.from_params(preset)``. ``docs/peers.md`` tabulates the
argument mapping and the surrogate width conventions.

References:
  [Fang et al., 2023](https://arxiv.org/abs/2310.16620), "SpikingJelly: An open-source machine
  learning infrastructure platform for spike-based intelligence", Science Advances (neuron
  equations, §Methods); [Eshraghian et al., 2023](https://arxiv.org/abs/2109.12894), "Training
  Spiking Neural Networks Using Lessons From Deep Learning", Proc. IEEE (snnTorch's Leaky).
"""

from __future__ import annotations

from typing import Literal

import jax.numpy as jnp

from snnjax.neurons import NeuronParams, NeuronSpec, _make, if_neuron, lif_neuron
from snnjax.surrogate import Surrogate, get_surrogate

__all__ = ["spikingjelly_lif", "spikingjelly_if", "snntorch_leaky"]


def spikingjelly_lif(tau: float = 2.0, decay_input: bool = True, v_threshold: float = 1.0,
                     v_reset: float | None = 0.0, detach_reset: bool = False,
                     surrogate: str | Surrogate = Surrogate("sigmoid", 4.0), dtype=jnp.float32) -> NeuronParams:
  """SpikingJelly's ``LIFNode`` (its defaults: τ = 2, ``decay_input=True``, hard reset to 0).

  SpikingJelly::

      decay_input, V_reset set:    H = V + (X − (V − V_reset))/τ
      decay_input, soft reset:     H = V + (X − V)/τ
      no decay_input, V_reset set: H = V − (V − V_reset)/τ + X
      no decay_input, soft reset:  H = V·(1 − 1/τ) + X
      S = Θ(H − V_th) (Θ(0) = 1);  V = H·(1 − S) + V_reset·S  (hard)  or  V = H − V_th·S  (soft)

  ``v_reset=None`` is SpikingJelly's soft reset. The leak pulls towards
  ``V_reset`` (snnjax's ``v_rest``), or 0 for the soft reset. Surrogates:
  SpikingJelly ``Sigmoid(alpha=4)`` = snnjax ``Surrogate("sigmoid", 4)``.
  """
  soft = v_reset is None
  return lif_neuron(tau, v_threshold, reset="soft" if soft else "hard", v_reset=0.0 if soft else v_reset,
                    v_rest=None if soft else v_reset, decay_input=decay_input, strict=False,
                    detach_reset=detach_reset, surrogate=get_surrogate(surrogate), dtype=dtype)


def spikingjelly_if(v_threshold: float = 1.0, v_reset: float | None = 0.0, detach_reset: bool = False,
                    surrogate: str | Surrogate = Surrogate("sigmoid", 4.0), dtype=jnp.float32) -> NeuronParams:
  """SpikingJelly's ``IFNode``: ``H = V + X``, fire at ``H ≥ V_th``, hard reset to ``V_reset``
  (soft reset, subtracting ``V_th``, when ``v_reset=None``)."""
  soft = v_reset is None
  return if_neuron(v_threshold, reset="soft" if soft else "hard", v_reset=0.0 if soft else v_reset,
                   strict=False, detach_reset=detach_reset, surrogate=get_surrogate(surrogate), dtype=dtype)


def snntorch_leaky(beta: float = 0.95, threshold: float = 1.0,
                   reset_mechanism: Literal["subtract", "none"] = "subtract",
                   surrogate: str | Surrogate = Surrogate("atan", 2.0), dtype=jnp.float32) -> NeuronParams:
  """snnTorch's ``Leaky`` (decay ``β``, spikes at ``U > U_thr``, strict).

  snnTorch::

      U[t+1] = β·U[t] + I[t+1] − R·U_thr,   R = 1[U[t] > U_thr]   ("subtract", the default)
      U[t+1] = β·U[t] + I[t+1]                                     ("none")
      S[t+1] = 1[U[t+1] > U_thr]

  The subtraction comes after the leak, so in snnjax's terms (reset applied to
  ``v[t]``, then leaked) the reset amount is ``U_thr/β``. snnTorch's
  ``reset_mechanism="zero"`` zeroes the whole next update, input included,
  which no snnjax reset does; it is refused. Surrogate: snnTorch's default
  ``atan(alpha=2)`` = snnjax ``Surrogate("atan", 2)``. snnTorch detaches the
  reset from the graph (``mem_reset``), so ``detach_reset=True``: gradients
  match as well as outputs.
  """
  if reset_mechanism == "zero":
    raise ValueError("snnTorch's reset_mechanism='zero' sets U[t+1] = (1 − R)(β·U[t] + I[t+1]): it drops "
                     "the next input as well, which snnjax's hard reset does not; use 'subtract' or 'none'.")
  if reset_mechanism not in ("subtract", "none"):
    raise ValueError(f"reset_mechanism must be 'subtract' or 'none', got {reset_mechanism!r}.")
  if not 0 < beta <= 1:
    raise ValueError(f"beta must be in (0, 1], got {beta}.")
  # snnTorch's mem_reset detaches the reset signal: no gradient flows through it
  spec = NeuronSpec("soft", True, True, "one", get_surrogate(surrogate))
  amount = threshold / beta if reset_mechanism == "subtract" else 0.0
  return _make(threshold, beta, 0.0, spec, dtype, reset_amount=amount)
