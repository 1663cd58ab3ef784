"""Pieces shared by the methods: losses, the functional (params → loss) wrapper, recipes."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jaxtyping import Array, Float, Int

from snnjax.nn.activations import ActSpec, as_rngs

__all__ = ["cross_entropy", "mse_onehot", "per_step_loss", "functionalize", "Recipe", "ModuleLoss"]

#: ``loss(model, batch, rngs) -> (loss, logits)``: what the training loop differentiates.
ModuleLoss = Callable[[nnx.Module, dict, Any], tuple[Array, Array]]


def _check_labels(logits, labels):
  if labels.ndim != logits.ndim - 1 or not jnp.issubdtype(labels.dtype, jnp.integer):
    raise ValueError(f"labels must be integer class indices of shape {logits.shape[:-1]}, "
                     f"got {labels.shape} {labels.dtype}.")


def cross_entropy(logits: Float[Array, "*batch classes"], labels: Int[Array, "*batch"]) -> Float[Array, ""]:
  """Mean softmax cross-entropy with integer labels.

  Computed in the logits' dtype, raised to at least float32 (bfloat16 logits
  are computed in float32; float64 logits stay float64).
  """
  _check_labels(logits, labels)
  dtype = jnp.promote_types(logits.dtype, jnp.float32)
  return optax.softmax_cross_entropy_with_integer_labels(logits.astype(dtype), labels).mean()


def mse_onehot(logits: Float[Array, "*batch classes"], labels: Int[Array, "*batch"]) -> Float[Array, ""]:
  """Mean over the batch of the mean squared error to the one-hot target."""
  _check_labels(logits, labels)
  dtype = jnp.promote_types(logits.dtype, jnp.float32)
  onehot = jax.nn.one_hot(labels, logits.shape[-1], dtype=dtype)
  return ((logits.astype(dtype) - onehot) ** 2).mean(-1).mean()


def per_step_loss(out_t: Float[Array, "batch classes"], labels: Int[Array, "batch"], T: int,
                  c_mse: float = 0.05) -> Float[Array, ""]:
  """OTTT's loss at one step: ``[(1 − c)·CE(o[t], y) + c·MSE(o[t], onehot y)] / T``.

  References:
    [Xiao et al., 2022](https://arxiv.org/abs/2210.04195), §4.3 and the released
    training code (c = 0.05 on CIFAR).
  """
  ce = cross_entropy(out_t, labels)
  if c_mse == 0:
    return ce / T
  return ((1 - c_mse) * ce + c_mse * mse_onehot(out_t, labels)) / T


def functionalize(model: nnx.Module, module_loss: ModuleLoss):
  """Turn ``module_loss(model, batch, rngs) -> (loss, logits)`` into a pure function.

  Returns ``(loss_fn, params, stats)`` with
  ``loss_fn(params, batch, key=None, stats=stats) -> (loss, (logits, new_stats))``:
  differentiate it with ``jax.value_and_grad(loss_fn, has_aux=True)`` and
  apply any optax optimizer to ``params``. ``stats`` are the BatchNorm
  statistics (updated in training mode); every other variable (fixed
  thresholds) is a constant of the function, so its input and output
  structures never change and a jitted step compiles once. ``key`` feeds the
  noisy layers (as ``nnx.Rngs(noise=key)``).
  """
  graphdef, params, stats0, consts = nnx.split(model, nnx.Param, nnx.BatchStat, ...)

  def loss_fn(params, batch, key=None, stats=stats0):
    # copy=True: merge would otherwise reuse (and later mutate) the caller's Variables.
    m = nnx.merge(graphdef, params, stats, consts, copy=True)
    loss, logits = module_loss(m, batch, as_rngs(key))
    return loss, (logits, nnx.state(m, nnx.BatchStat))

  return loss_fn, params, stats0


@dataclasses.dataclass(frozen=True)
class Recipe:
  """What the training program needs from a method.

  Attributes:
    act: the activation the model is built with.
    loss: ``loss(model, batch, rngs) -> (loss, logits)``, differentiated by the
      generic training step.
    train_T: the number of steps the trained net runs (``None``: a single
      forward, as an ANN or a T=1 net); its own accuracy is read out there.
    make_step: a custom training step, for methods whose update is not "one
      gradient of ``loss`` per batch" (online updates, threshold rules):
      ``make_step(model, tx) -> (init_state, step)`` with
      ``step(state, batch, key) -> (state, metrics)`` and
      ``state = {"params", "stats", "opt", ...}``.
    to_spiking: ``to_spiking(model) -> spiking model`` for evaluation, where
      the generic conversion (:func:`snnjax.convert.to_spiking`, or the model
      itself if it already spikes) is not what the method does.
  """

  act: ActSpec
  loss: ModuleLoss
  train_T: int | None = None
  make_step: Callable | None = None
  to_spiking: Callable[[nnx.Module], nnx.Module] | None = None

