"""SAF: spike accumulation forwarding.

Each spiking layer forwards its spike *accumulation* ``â[t] = λ·â[t−1] + s[t]``
instead of its spikes, and every synaptic op runs once per step, on the
accumulation it receives:

    Û[t] = W·â_in[t] + b·c[t],          c[t] = λ·c[t−1] + 1
    s[t] = H(Û[t] − θ·(λ·â_out[t−1] + 1))
    â_out[t] = λ·sg(â_out[t−1]) + s[t]

``Û[t] − θ·λ·â_out[t−1]`` is exactly the LIF membrane potential, so SAF fires
the same spikes as the LIF network with the same weights, and the trained
weights run as an ordinary LIF SNN (:mod:`snnjax.simulate`). The derivation is
in ``docs/saf.md``.

Two variants:

* ``"E"`` (every step): a loss at every step on ``o[t] = W_o·s^N[t] + b_o``,
  computed as ``W_o·â^N[t] − λ·sg(W_o·â^N[t−1]) + b_o`` from one op on the
  accumulation; hidden biases enter as ``b + (c[t] − 1)·sg(b)`` and the first
  (analog) layer as ``y + (c[t] − 1)·sg(y)`` with ``y = W x + b``. With these
  the gradients equal OTTT's at every step (tested to 1e-10 in float64).
  ``update="O"`` steps the optimizer after every t (paired with OTTT_O),
  ``"A"`` once per batch.
* ``"F"`` (final step): steps 1…T−1 without a graph; one loss at T on
  ``W_o·â^N[T] + b_o``; one backward per batch (paired with OTTT_A).

References:
  [Saiin et al., 2024](https://arxiv.org/abs/2310.02772), "Spike Accumulation Forwarding for
  Effective Training of Spiking Neural Networks", TMLR 2024: §3 (accumulation forward and the
  threshold ``V_th(λ·â[t−1] + 1)``), Theorem 1 (SAF-E gradients = OTTT_O's), Theorem 2 (SAF-F
  and spike representation); [Xiao et al., 2022](https://arxiv.org/abs/2210.04195) (the
  setting shared with OTTT).
"""

from __future__ import annotations

import functools
from typing import Literal

import jax
import jax.numpy as jnp
from flax import nnx
from jaxtyping import Array, Float

from snnjax.methods.common import Recipe, cross_entropy, online_step, per_step_loss, sequence_of
from snnjax.methods.ottt import default_act
from snnjax.nn.activations import Spiking
from snnjax.nn.layers import Synapse
from snnjax.surrogate import spike

__all__ = ["DEFAULTS", "default_act", "neuron_step", "init", "forward", "make_step", "recipe"]

#: Configuration fields read by this method.
DEFAULTS = {"T": 6, "variant": "E", "online_update": "O", "c_mse": 0.05, "unroll": "auto"}


def neuron_step(U: Float[Array, "*shape"], a_prev: Float[Array, "*shape"], theta, lam, surrogate=None,
                strict: bool = False) -> tuple[Float[Array, "*shape"], Float[Array, "*shape"]]:
  """One SAF neuron step: ``s = H(Û − θ·(λ·â[t−1] + 1))``, ``â = λ·sg(â[t−1]) + s``.

  ``U`` is ``Û[t] = W·â_in[t] + b·c[t]``. Returns ``(s, â)``; the gradient
  reaches ``U`` through the surrogate of ``H`` and nothing reaches the past.
  """
  a_prev = jax.lax.stop_gradient(a_prev)
  s = spike(U - theta * (lam * a_prev + 1), surrogate, strict=strict)
  return s, lam * a_prev + s


def _decay(seq) -> float:
  decays = {m.spec.leak for m in seq if isinstance(m, Spiking)}
  if len(decays) != 1:
    raise ValueError(f"SAF needs one leak λ for all spiking layers (the accumulations of sender and "
                     f"receiver must decay alike), got {sorted(decays)}.")
  return decays.pop()


def init(model: nnx.Module, input_shape) -> dict:
  """Accumulations at zero, ``c[0] = 0`` and the read-out cache, for a batch of ``input_shape``."""
  B = input_shape[0]
  seq = sequence_of(model, "SAF")
  head = [m for m in seq if isinstance(m, Synapse)][-1]
  return {"a": [jnp.zeros((B,) + m.shape, jnp.float32) for m in seq if isinstance(m, Spiking)],
          "c": jnp.zeros((), jnp.float32),
          "z": jnp.zeros((B, head.out_features), jnp.float32)}


def forward(model: nnx.Module, state: dict, x: Array, t=None, *,
            readout: Literal["step", "accumulated"] = "step") -> tuple[dict, Array]:
  """One SAF time step: ``(state, x) -> (state, out)``.

  ``readout="step"``: ``out = o[t] = W_o·s^N[t] + b_o`` (SAF-E, and the LIF
  network's output at step t). ``"accumulated"``: ``out = W_o·â^N[t] + b_o``
  (SAF-F's read-out).
  """
  del t
  seq = sequence_of(model, "SAF")
  lam = jnp.asarray(_decay(seq), x.dtype)
  synapses = [m for m in seq if isinstance(m, Synapse)]
  head = synapses[-1]
  c = lam * state["c"].astype(x.dtype) + 1
  h, analog, k = x, True, 0
  a_new, z_new = [], state["z"]
  for layer in seq:
    if isinstance(layer, Synapse):
      y = layer.apply_op(h)                   # the one op of this layer at this step
      b = layer.bias()
      if layer is head:
        if readout == "step":                 # W_o·s[t] + b_o = W_o·â[t] − λ·W_o·â[t−1] + b_o
          z = y if b is None else y - jax.lax.stop_gradient(b)
          h = y - lam * jax.lax.stop_gradient(state["z"].astype(y.dtype))
          z_new = jax.lax.stop_gradient(z)
        else:
          h = y
      elif analog:                            # c[t]·(W x + b), gradient δ·xᵀ
        h = y + (c - 1) * jax.lax.stop_gradient(y)
      else:                                   # W·â + b·c[t], bias gradient δ
        h = y if b is None else y + (c - 1) * jax.lax.stop_gradient(b)
      analog = False
    elif isinstance(layer, Spiking):
      p = layer.params()
      _, a = neuron_step(h, state["a"][k].astype(h.dtype), p.threshold.astype(h.dtype), lam,
                         p.spec.surrogate, p.spec.strict)
      a_new.append(a)
      h, k = a, k + 1
    else:                                     # pooling, scaling, flattening: linear in â
      h = layer(h)
  return {"a": a_new, "c": c, "z": z_new}, h


def make_step(model, tx, *, T: int = 6, variant: Literal["E", "F"] = "E", update: Literal["A", "O"] = "O",
              c_mse: float = 0.05, unroll: bool | None = None):
  """SAF-E / SAF-F training step (see :func:`snnjax.methods.common.online_step`)."""
  unroll = jax.default_backend() == "cpu" if unroll is None else unroll
  if variant == "E":
    return online_step(model, tx, T=T, init=init, forward=forward, update=update, unroll=unroll,
                       loss_at=lambda out, y, t: per_step_loss(out, y, T, c_mse))
  if variant != "F":
    raise ValueError(f"variant must be 'E' (a loss every step) or 'F' (a loss at the last step), "
                     f"got {variant!r}.")
  return online_step(model, tx, T=T, init=init, update="A", unroll=unroll, loss_steps=(T - 1,),
                     forward=lambda m, s, x, t: forward(m, s, x, t, readout="accumulated"),
                     loss_at=lambda out, y, t: _final_loss(out, y, c_mse))


def _final_loss(out, y, c_mse):
  if c_mse == 0:
    return cross_entropy(out, y)
  return per_step_loss(out, y, 1, c_mse)


def _loss_unavailable(model, batch, rngs=None):
  raise ValueError("SAF trains with its own online step (recipe(config).make_step), not a "
                   "whole-sequence loss.")


def recipe(config) -> Recipe:
  unroll = None if config.unroll == "auto" else bool(config.unroll)
  per_step = config.variant == "E" and config.online_update == "O"
  return Recipe(act=default_act(), loss=_loss_unavailable, train_T=config.T, readout_decay=0.5,
                updates_per_batch=config.T if per_step else 1,
                make_step=functools.partial(make_step, T=config.T, variant=config.variant,
                                            update=config.online_update, c_mse=config.c_mse, unroll=unroll))
