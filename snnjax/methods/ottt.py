"""OTTT: online training through time (the baseline of SAF).

A LIF network (τ = 2, θ = 1, sigmoid surrogate α = 4, soft reset with the reset
detached) runs one time step at a time with its membrane potential detached
from the past: ``u[t] = λ·sg(v[t−1]) + I[t]``. Each neuron layer keeps a
presynaptic trace ``â[t] = λ·â[t−1] + sg(s[t])``. Every synaptic op after the
first gives the spikes' value, ``op(s[t])``, but takes its weight gradient from
the trace, ``∂L/∂W = Σ δ[t]·â[t]ᵀ``; the first op (analog input) is plain. The
loss at each step is ``[(1 − c)·CE(o[t], y) + c·MSE(o[t], onehot y)] / T``;
the prediction is ``Σ_t o[t]``. ``update="A"`` (OTTT_A) sums the gradients over
t and steps the optimizer once per batch; ``update="O"`` (OTTT_O) steps it after
every t. Only one time step's activations are alive at a time.

The "value from the spikes, gradient from the trace" op is one
``jax.custom_vjp`` (:func:`replace_grad_op`): its forward runs the op once, on
the spikes; its backward computes the weight gradient against the trace. The
reference implementation runs the op twice per step.

Inference: the trained weights are an ordinary LIF network
(:mod:`snnjax.simulate`), read out as the sum (mean) of the outputs.

References:
  [Xiao et al., 2022](https://arxiv.org/abs/2210.04195), "Online Training Through Time for
  Spiking Neural Networks", NeurIPS 2022: §4.1 (presynaptic traces, Eq. (8)), §4.3 (the
  OTTT_A / OTTT_O updates), §5 (VGG-11 with scaled weight standardisation, T = 6, c = 0.05).
"""

from __future__ import annotations

import functools
from typing import Literal

import jax
import jax.numpy as jnp
from flax import nnx
from jaxtyping import Array, Float

from snnjax.methods.common import Recipe, online_step, per_step_loss, sequence_of
from snnjax.nn.activations import Spiking, SpikingSpec, lif
from snnjax.nn.layers import Synapse
from snnjax.surrogate import spike

__all__ = ["DEFAULTS", "default_act", "replace_grad_op", "init", "forward", "make_step", "recipe"]

#: Configuration fields read by this method.
DEFAULTS = {"T": 6, "online_update": "A", "c_mse": 0.05, "unroll": "auto"}


def default_act(**kw) -> SpikingSpec:
  """OTTT's neuron: LIF τ=2, θ=1, sigmoid surrogate α=4, soft reset (detached), spikes of amplitude 1."""
  kw.setdefault("detach_reset", True)
  return lif(**kw)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _value_of_spikes_grad_of_trace(apply, params, s, a):
  return apply(params, s)


def _fwd(apply, params, s, a):
  return apply(params, s), (params, a)


def _bwd(apply, res, g):
  params, a = res
  _, vjp = jax.vjp(apply, params, a)
  d_params, d_in = vjp(g)  # a linear op: the input gradient Wᵀg is the same at s and at a
  return d_params, d_in, jnp.zeros_like(a)


_value_of_spikes_grad_of_trace.defvjp(_fwd, _bwd)


def replace_grad_op(syn: Synapse, s: Float[Array, "*batch"], a: Float[Array, "*batch"]
                    ) -> Float[Array, "*out"]:
  """``syn``'s op with the value of ``op(s)`` and the weight gradient of ``op(a)``.

  Forward: one op, on the spikes ``s``. Backward: ``∂L/∂W = δ·aᵀ`` (the trace),
  ``∂L/∂s = Wᵀδ``, nothing to ``a``. This is OTTT's
  ``Replace(op(Replace(s, a)), op(s).detach())`` with one op instead of two.
  """
  graphdef, params, rest = nnx.split(syn, nnx.Param, ...)

  def apply(params, x):
    return nnx.merge(graphdef, params, rest, copy=True).apply_op(x)

  return _value_of_spikes_grad_of_trace(apply, params, s, a)


def init(model: nnx.Module, input_shape) -> dict:
  """Membranes and traces at zero, for a batch of ``input_shape``."""
  B = input_shape[0]
  layers = [m for m in sequence_of(model, "OTTT") if isinstance(m, Spiking)]
  zeros = [jnp.zeros((B,) + m.shape, jnp.float32) for m in layers]
  return {"v": zeros, "a": list(zeros)}


def forward(model: nnx.Module, state: dict, x: Array, t=None) -> tuple[dict, Array]:
  """One OTTT time step: ``(state, x) -> (state, o[t])``; the past is detached."""
  del t
  h, trace, k = x, None, 0
  v_new, a_new = [], []
  for layer in sequence_of(model, "OTTT"):
    if isinstance(layer, Synapse):
      h = layer.apply_op(h) if trace is None else replace_grad_op(layer, h, trace)
      trace = None
    elif isinstance(layer, Spiking):
      p = layer.params()
      lam, theta = p.decay.astype(h.dtype), p.threshold.astype(h.dtype)
      u = lam * jax.lax.stop_gradient(state["v"][k].astype(h.dtype)) + h
      s = spike(u - theta, p.spec.surrogate, strict=p.spec.strict)
      v_new.append(u - theta * jax.lax.stop_gradient(s))
      a = lam * state["a"][k].astype(h.dtype) + jax.lax.stop_gradient(s)
      a_new.append(a)
      h, trace, k = s, a, k + 1
    else:  # pooling, scaling, flattening: linear, applied to the spikes and their trace alike
      h = layer(h)
      trace = None if trace is None else layer(trace)
  return {"v": v_new, "a": a_new}, h


def make_step(model, tx, *, T: int = 6, update: Literal["A", "O"] = "A", c_mse: float = 0.05,
              unroll: bool | None = None):
  """OTTT_A / OTTT_O training step (see :func:`snnjax.methods.common.online_step`)."""
  unroll = jax.default_backend() == "cpu" if unroll is None else unroll
  return online_step(model, tx, T=T, init=init, forward=forward, update=update, unroll=unroll,
                     loss_at=lambda out, y, t: per_step_loss(out, y, T, c_mse))


def _loss_unavailable(model, batch, rngs=None):
  raise ValueError("OTTT trains with its own online step (recipe(config).make_step), not a "
                   "whole-sequence loss.")


def recipe(config) -> Recipe:
  unroll = None if config.unroll == "auto" else bool(config.unroll)
  return Recipe(act=default_act(), loss=_loss_unavailable, train_T=config.T, readout_decay=0.5,
                updates_per_batch=config.T if config.online_update == "O" else 1,
                make_step=functools.partial(make_step, T=config.T, update=config.online_update,
                                            c_mse=config.c_mse, unroll=unroll))
