"""Pieces shared by the methods: losses and functional (params → loss) wrappers."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax
from flax import nnx

__all__ = ["cross_entropy", "functionalize"]


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Mean softmax cross-entropy with integer labels (computed in float32)."""
  if labels.ndim != logits.ndim - 1 or not jnp.issubdtype(labels.dtype, jnp.integer):
    raise ValueError(f"labels must be integer class indices of shape {logits.shape[:-1]}, "
                     f"got {labels.shape} {labels.dtype}.")
  return optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), labels).mean()


def functionalize(model: nnx.Module, module_loss: Callable):
  """Turn ``module_loss(model, batch, key) -> (loss, logits)`` into a pure function.

  Returns ``(loss_fn, params, stats)`` with
  ``loss_fn(params, batch, key=None, stats=stats) -> (loss, (logits, new_stats))``:
  differentiate it with ``jax.value_and_grad(loss_fn, has_aux=True)`` and
  apply any optax optimizer to ``params``. ``stats`` are the BatchNorm
  statistics (updated in training mode); every other variable (fixed
  thresholds) is a constant of the function, so its input and output
  structures never change and a jitted step compiles once.
  """
  graphdef, params, stats0, consts = nnx.split(model, nnx.Param, nnx.BatchStat, ...)

  def loss_fn(params, batch, key=None, stats=stats0):
    # copy=True: merge would otherwise reuse (and later mutate) the caller's Variables.
    m = nnx.merge(graphdef, params, stats, consts, copy=True)
    loss, logits = module_loss(m, batch, key)
    return loss, (logits, nnx.state(m, nnx.BatchStat))

  return loss_fn, params, stats0
