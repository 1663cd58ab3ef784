"""Flax NNX building blocks that call the pure core.

* :class:`Synapse` — a conv or linear op with optional BatchNorm, the unit the
  converter folds (``op`` + ``norm`` → ``op`` with bias). It counts synaptic
  operations when asked.
* :class:`Pool` — average pooling (max-pooling exists only to be refused by the
  converter with a clear message).
* :class:`SimState` variables — membrane potentials, spike and op counters:
  everything a multi-step simulation carries from one step to the next.

All layers accept extra leading axes, so the same module runs on ``[B, ...]``
(an ANN, a T=1 net, one step of a spiking net) and on ``[T, B, ...]``
(layer-by-layer multi-step execution with time folded into the batch).
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
from flax import nnx

__all__ = ["SimState", "Membrane", "SpikeCount", "OpCount", "InputCache", "Threshold",
           "Synapse", "Pool", "flatten_features"]


class SimState(nnx.Variable):
  """State a multi-step simulation carries between steps (not trained)."""


class Membrane(SimState):
  """Membrane potential ``v[t]`` of a spiking layer (step-by-step execution)."""


class SpikeCount(SimState):
  """Accumulated ``[spikes, neuron-steps]`` of a spiking layer, for firing rates."""


class OpCount(SimState):
  """Accumulated synaptic operations of a synapse, per whole batch."""


class InputCache(SimState):
  """The first layer's output under direct input, computed once per run."""


class Threshold(nnx.Variable):
  """A fixed (non-trained) firing threshold θ; a learnable one is an ``nnx.Param``."""


def flatten_features(x: jax.Array, feature_ndim: int) -> jax.Array:
  """Flatten the last ``feature_ndim`` axes, keeping any leading ``[T, B]`` axes."""
  return x.reshape(x.shape[: x.ndim - feature_ndim] + (-1,))


class Synapse(nnx.Module):
  """Conv or linear op, optionally followed by BatchNorm.

  Args:
    in_features, out_features: channels / features.
    kind: ``"conv"`` or ``"linear"``.
    kernel_size, strides, padding: conv geometry.
    norm: add BatchNorm (the op then has no bias; conversion folds BN into it).
    analog_input: this synapse reads the network's analog input (direct
      encoding). Its ops are MACs, and in step-by-step execution its output is
      computed once and reused at every step.
    rngs: initialisation keys.

  References: spec §1.6 (the BN folding the converter applies to this unit).
  """

  def __init__(self, in_features: int, out_features: int, *, kind: Literal["conv", "linear"] = "conv",
               kernel_size=(3, 3), strides=1, padding="SAME", norm: bool = False,
               analog_input: bool = False, rngs: nnx.Rngs):
    if kind == "conv":
      self.op = nnx.Conv(in_features, out_features, tuple(kernel_size), strides=strides,
                         padding=padding, use_bias=not norm, rngs=rngs)
      self.feature_ndim = 3
    elif kind == "linear":
      self.op = nnx.Linear(in_features, out_features, use_bias=not norm, rngs=rngs)
      self.feature_ndim = 1
    else:
      raise ValueError(f"Synapse kind must be 'conv' or 'linear', got {kind!r}.")
    self.kind = kind
    self.norm = nnx.BatchNorm(out_features, momentum=0.9, rngs=rngs) if norm else None
    self.analog_input = analog_input
    self.count_ops = False  # set by snnjax.simulate
    self.cache_input = False  # set by snnjax.simulate for step-by-step direct input

  def _forward(self, x):
    y = self.op(x)
    return self.norm(y) if self.norm is not None else y

  def fanout(self, sample_shape) -> jax.Array:
    """Number of outputs each input element feeds (one sample, no batch axis).

    The transpose of the op with an all-ones kernel applied to all-ones
    outputs: exact at borders, for any stride and padding.
    """
    if self.kind == "linear":
      return jnp.full(sample_shape, self.op.out_features, jnp.float32)
    op = self.op
    ones = jnp.ones(op.kernel_shape, jnp.float32)

    def conv(x):
      return jax.lax.conv_general_dilated(
          x[None], ones, window_strides=_pair(op.strides), padding=op.padding,
          dimension_numbers=("NHWC", "HWIO", "NHWC"))[0]

    out_shape = jax.eval_shape(conv, jax.ShapeDtypeStruct(sample_shape, jnp.float32)).shape
    (fan,) = jax.linear_transpose(conv, jax.ShapeDtypeStruct(sample_shape, jnp.float32))(
        jnp.ones(out_shape, jnp.float32))
    return fan

  def __call__(self, x: jax.Array) -> jax.Array:
    caching = self.cache_input and self.analog_input
    if caching and hasattr(self, "cached"):
      return self.cached[...]
    if self.count_ops:
      sample = x.shape[x.ndim - self.feature_ndim:]
      nz = (x != 0).astype(jnp.float32).reshape((-1,) + sample).sum(0)
      with jax.ensure_compile_time_eval():  # shape-only: a constant, computed once per trace
        fan = self.fanout(sample)
      ops = jnp.sum(nz * fan)
      if not hasattr(self, "ops"):
        self.ops = OpCount(jnp.zeros((), jnp.float32))
      self.ops[...] = self.ops[...] + ops
    y = self._forward(x)
    if caching:
      self.cached = InputCache(y)
    return y


def _pair(v):
  return (v, v) if isinstance(v, int) else tuple(v)


class Pool(nnx.Module):
  """2-D pooling over ``[..., H, W, C]``; ``"avg"`` is the spiking-friendly choice."""

  def __init__(self, window=(2, 2), strides=None, kind: Literal["avg", "max"] = "avg",
               padding="VALID"):
    if kind not in ("avg", "max"):
      raise ValueError(f"pool kind must be 'avg' or 'max', got {kind!r}.")
    self.window = tuple(window)
    self.strides = tuple(strides or window)
    self.kind = kind
    self.padding = padding

  def __call__(self, x):
    # lax.reduce_window over [N, H, W, C] with any leading axes folded into N.
    # (flax's avg_pool divides by an int32 count under extra batch axes, which
    # strict dtype promotion rejects.) Average pooling counts padding, like
    # PyTorch's default count_include_pad=True. Scalar init values make JAX use the
    # differentiable sum/max window primitives.
    lead = x.shape[:-3]
    y = x.reshape((-1,) + x.shape[-3:])
    dims, strides = (1,) + self.window + (1,), (1,) + self.strides + (1,)
    if self.kind == "avg":
      y = jax.lax.reduce_window(y, 0.0, jax.lax.add, dims, strides, self.padding)
      y = y / float(self.window[0] * self.window[1])
    else:
      y = jax.lax.reduce_window(y, -jnp.inf, jax.lax.max, dims, strides, self.padding)
    return y.reshape(lead + y.shape[1:])
