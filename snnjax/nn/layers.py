"""Flax NNX building blocks that call the pure core.

* :class:`Synapse` — a conv or linear op with optional BatchNorm, the unit the
  converter folds (``op`` + ``norm`` → ``op`` with bias).
* :class:`Pool` — average pooling (max-pooling exists only to be refused by the
  converter with a clear message).
* :class:`Scale` — multiplication by a constant (OTTT's ×2.74 after each neuron).
* :class:`Flatten`, :class:`GlobalAvgPool` — reshaping steps of sequential models.

All layers accept extra leading axes, so the same module runs on ``[B, ...]``
(an ANN, a T=1 net, one step of a spiking net) and on ``[T, B, ...]``
(layer-by-layer multi-step execution with time folded into the batch).
"""

from __future__ import annotations

import math
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jaxtyping import Array, Float

from snnjax import _compat
from snnjax.nn.variables import InputCache, Record, record

__all__ = ["Synapse", "Pool", "Scale", "Flatten", "GlobalAvgPool", "flatten_features"]


def flatten_features(x: Float[Array, "*lead"], feature_ndim: int) -> Float[Array, "*flat"]:
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
      encoding): its operations are counted as multiply-accumulates, once per
      image, and a simulation computes it once per batch. Set it on every
      synapse your own model feeds the input to; unflagged, its input is
      counted as spikes at every step.
    ws: scaled weight standardisation: the op uses
      ``w' = gain·(w − mean)/sqrt(var·fan_in + 1e-4)`` over each output
      channel's fan-in, with a learnable ``gain`` (init 1) and the unbiased
      variance (as PyTorch's ``var``), in place of BatchNorm.
    kernel_init: initializer of the kernel (Flax's default when ``None``).
    rngs: initialisation keys.

  Its recording slot ``rec_in`` (off by default) receives the input, from
  which :mod:`snnjax.simulate` counts synaptic operations. Its ``cache``
  state (``None`` by default) lets a simulation with direct input compute an
  analog-input synapse once: a scalar there means "store your output", an
  array is returned as the output (see :class:`~snnjax.nn.variables.InputCache`).

  References:
    [Rueckauer et al., 2017](https://doi.org/10.3389/fnins.2017.00682), §2.2.1 (BatchNorm folding);
    [Brock et al., 2021](https://arxiv.org/abs/2101.08692), §3 (scaled weight standardisation).
  """

  def __init__(self, in_features: int, out_features: int, *, kind: Literal["conv", "linear"] = "conv",
               kernel_size=(3, 3), strides=1, padding="SAME", norm: bool = False,
               analog_input: bool = False, ws: bool = False, kernel_init=None, rngs: nnx.Rngs):
    init = {} if kernel_init is None else {"kernel_init": kernel_init}
    if kind == "conv":
      self.op = nnx.Conv(in_features, out_features, tuple(kernel_size), strides=strides,
                         padding=_freeze(padding), use_bias=not norm, rngs=rngs, **init)
      self.feature_ndim = 3
    elif kind == "linear":
      self.op = nnx.Linear(in_features, out_features, use_bias=not norm, rngs=rngs, **init)
      self.feature_ndim = 1
    else:
      raise ValueError(f"Synapse kind must be 'conv' or 'linear', got {kind!r}.")
    self.ws = bool(ws)
    self.gain = nnx.Param(jnp.ones((out_features,), jnp.float32)) if ws else None
    self.kind = kind
    self.in_features, self.out_features = int(in_features), int(out_features)
    self.norm = nnx.BatchNorm(out_features, momentum=0.9, rngs=rngs) if norm else None
    self.analog_input = analog_input
    self.rec_in = Record(None)
    self.cache = InputCache(None)

  def output_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Feature shape of the output for one example of ``in_shape``."""
    if self.kind == "linear":
      return (self.out_features,)
    return tuple(jax.eval_shape(self.op, jax.ShapeDtypeStruct((1,) + tuple(in_shape), jnp.float32)
                                ).shape[1:])

  def fanout(self, sample_shape) -> Array:
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

  def kernel(self) -> Array:
    """The kernel the op applies (standardised when ``ws``)."""
    w = self.op.kernel[...]
    if not self.ws:
      return w
    axes = tuple(range(w.ndim - 1))  # the fan-in: every axis but the output channel
    fan_in = float(np.prod(w.shape[:-1]))
    mean = w.mean(axes, keepdims=True)
    var = w.var(axes, keepdims=True, ddof=1)
    return self.gain[...] * (w - mean) / jnp.sqrt(var * fan_in + 1e-4)

  def bias(self) -> Array | None:
    """The op's bias (``None`` when BatchNorm follows)."""
    return None if self.op.bias is None else self.op.bias[...]

  def apply_op(self, x: Array) -> Array:
    """The conv/linear op (with bias, without BatchNorm) on ``x`` with any leading axes."""
    if not self.ws:
      return self.op(x)
    k = self.kernel().astype(x.dtype)
    if self.kind == "linear":
      y = jax.lax.dot_general(x, k, (((x.ndim - 1,), (0,)), ((), ())))
    else:
      lead = x.shape[:-3]
      y = jax.lax.conv_general_dilated(
          x.reshape((-1,) + x.shape[-3:]), k, window_strides=_pair(self.op.strides),
          padding=self.op.padding, dimension_numbers=("NHWC", "HWIO", "NHWC"))
      y = y.reshape(lead + y.shape[1:])
    b = self.bias()
    return y if b is None else y + b.astype(y.dtype)

  def __call__(self, x: Float[Array, "*batch"]) -> Float[Array, "*out"]:
    record(self.rec_in, x)
    cached = _compat.get_value(self.cache)
    if cached is not None and cached.ndim > 0:
      return cached
    y = self.apply_op(x)
    if self.norm is not None:
      if not self.norm.use_running_average and y.ndim == self.feature_ndim + 2:
        # [T, B, ...] in training mode: statistics of each step's batch, the running
        # statistics updated once per step, as T calls one step at a time do
        y = _normalize_per_step(self, y)
      else:
        y = _normalize_checked(self, y)
    if cached is not None:
      _compat.set_value(self.cache, y)
    return y


def _normalize_checked(syn: Synapse, y: Array) -> Array:
  if not syn.norm.use_running_average and math.prod(y.shape[:-1]) // _spatial(y, syn) < 2:
    raise ValueError(
        "BatchNorm in training mode needs a batch of at least 2 examples (with one, every "
        "normalised value is 0): train with a larger batch, or call model.eval() for inference.")
  return syn.norm(y)


def _normalize_per_step(syn: Synapse, y: Array) -> Array:
  """BatchNorm in training mode over ``[T, B, ...]``, step by step in effect.

  Flax's own BatchNorm is vectorised over T (each step normalised over its
  batch; memory as one BatchNorm over T·B); its one-step updates
  ``new_t = m·old + (1 − m)·stat_t`` are composed into the T successive ones:
  ``old·m^T + Σ_t m^(T−1−t)·(new_t − m·old)``.
  """
  bn = syn.norm
  if math.prod(y.shape[1:-1]) // _spatial(y, syn) < 2:
    _normalize_checked(syn, y[0])  # raises the batch-of-one error
  graphdef, state = nnx.split(bn)

  def one_step(y_t):
    m = nnx.merge(graphdef, _compat.copy_state(state))  # fresh variables of this trace
    out = m(y_t)
    return out, (m.mean[...], m.var[...])

  out, (means, variances) = jax.vmap(one_step)(y)
  T, mom = y.shape[0], bn.momentum
  weights = jnp.asarray([mom ** (T - 1 - t) for t in range(T)], jnp.float32)
  for var, new in ((bn.mean, means), (bn.var, variances)):
    old = var[...]
    var[...] = (mom ** T) * old + jnp.tensordot(weights, new - mom * old, axes=1)
  return out


def _spatial(y, syn) -> int:
  """Positions per example that BatchNorm also averages over (H·W for a conv)."""
  return math.prod(y.shape[-3:-1]) if syn.kind == "conv" else 1


def _pair(v):
  return (v, v) if isinstance(v, int) else tuple(v)


def _freeze(v):
  """Lists (and the lists inside tuples) as tuples, dicts as sorted item tuples: static module
  data must be hashable (a graph definition holding a list cannot key a compiled function)."""
  if isinstance(v, (list, tuple)):
    return tuple(_freeze(x) for x in v)
  if isinstance(v, dict):
    return tuple(sorted((k, _freeze(x)) for k, x in v.items()))
  return v


class Pool(nnx.Module):
  """2-D pooling over ``[..., H, W, C]``; ``"avg"`` is the spiking-friendly choice."""

  def __init__(self, window=(2, 2), strides=None, kind: Literal["avg", "max"] = "avg",
               padding="VALID"):
    if kind not in ("avg", "max"):
      raise ValueError(f"pool kind must be 'avg' or 'max', got {kind!r}.")
    self.window = tuple(window)
    self.strides = tuple(strides or window)
    self.kind = kind
    if not isinstance(padding, str):  # ((top, bottom), (left, right)): batch and channel axes unpadded
      padding = tuple(tuple(int(v) for v in p) for p in padding)
      if len(padding) != 2 or any(len(p) != 2 for p in padding):
        raise ValueError(f"Pool padding must be 'VALID', 'SAME' or ((top, bottom), (left, right)), got {padding}.")
      padding = ((0, 0),) + padding + ((0, 0),)
    self.padding = padding

  def output_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(jax.eval_shape(self, jax.ShapeDtypeStruct((1,) + tuple(in_shape), jnp.float32)
                                ).shape[1:])

  def __call__(self, x: Float[Array, "*lead h w c"]) -> Float[Array, "*lead h2 w2 c"]:
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


class Scale(nnx.Module):
  """Multiply by a constant (not trained), e.g. OTTT's 2.74 after each neuron."""

  def __init__(self, factor: float):
    self.factor = float(factor)

  def __call__(self, x: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
    return x * self.factor


class Flatten(nnx.Module):
  """Flatten the last ``feature_ndim`` axes (leading ``[T, B]`` axes kept)."""

  def __init__(self, feature_ndim: int):
    self.feature_ndim = int(feature_ndim)

  def __call__(self, x: Float[Array, "*lead"]) -> Float[Array, "*flat"]:
    return flatten_features(x, self.feature_ndim)


class GlobalAvgPool(nnx.Module):
  """Mean over the spatial axes of ``[..., H, W, C]``."""

  def __call__(self, x: Float[Array, "*lead h w c"]) -> Float[Array, "*lead c"]:
    return x.mean(axis=(-3, -2))
