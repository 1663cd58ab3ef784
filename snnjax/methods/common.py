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

  Returns ``(loss_fn, params, rest)`` with
  ``loss_fn(params, batch, key=None, rest=rest) -> (loss, (logits, new_rest))``:
  differentiate it with ``jax.value_and_grad(loss_fn, has_aux=True)`` and
  apply any optax optimizer to ``params``; ``new_rest`` carries updated
  BatchNorm statistics.
  """
  graphdef, params, rest0 = nnx.split(model, nnx.Param, ...)

  def loss_fn(params, batch, key=None, rest=rest0):
    # copy=True: merge would otherwise reuse (and later mutate) the caller's Variables.
    m = nnx.merge(graphdef, params, rest, copy=True)
    loss, logits = module_loss(m, batch, key)
    return loss, (logits, nnx.state(m, nnx.Not(nnx.Param)))

  return loss_fn, params, rest0
