"""BPTT with surrogate gradients: the spiking model trained through time.

Defaults: LIF τ=2 (λ=0.5), V_th=1, sigmoid surrogate α=4, soft reset with the
reset detached, direct input; loss (a) cross-entropy of the mean output over
T, or (b) OTTT's per-step loss ``Σ_t [(1−c)·CE(o[t]) + c·MSE(o[t], onehot)]/T``,
c=0.05, the fair comparison with OTTT and SAF.

On XLA:CPU conv gradients inside a loop are very slow (jax-ml/jax#12868), so
``way="auto"`` trains step-by-step with the time loop unrolled there up to T=8
and layer-by-layer beyond (and on accelerators); both compute the same numbers
(BatchNorm statistics per time step in both, see :mod:`snnjax.simulate`).

References:
  [Wu et al., 2018](https://doi.org/10.3389/fnins.2018.00331) (spatio-temporal backpropagation);
  [Neftci et al., 2019](https://arxiv.org/abs/1901.09948) (surrogate gradients);
  [Xiao et al., 2022](https://arxiv.org/abs/2210.04195), §5 (the per-step loss).
"""

from __future__ import annotations

import functools
from typing import Literal

import jax
import jax.numpy as jnp
from flax import nnx

from snnjax import simulate
from snnjax.methods.common import Recipe, cross_entropy, functionalize, per_step_loss
from snnjax.nn.activations import SpikingSpec, lif

__all__ = ["DEFAULTS", "default_act", "module_loss", "make_loss_fn", "recipe"]

#: Configuration fields read by this method.
DEFAULTS = {"T": 4, "way": "auto", "bptt_loss": "mean", "c_mse": 0.05}


def default_act(**kw) -> SpikingSpec:
  """The BPTT baseline neuron: LIF τ=2, θ=1, sigmoid α=4, soft reset, detached reset."""
  kw.setdefault("detach_reset", True)
  return lif(**kw)


def module_loss(model, batch, rngs=None, *, T: int, way: str = "auto",
                unroll: int | bool | None = None, loss: Literal["mean", "per_step"] = "mean",
                c_mse: float = 0.05):
  """Loss of the spiking ``model`` run for T steps; returns ``(loss, mean_logits)``.

  BatchNorm statistics updated during the run are written back to ``model``.
  """
  way = simulate.default_way(training=True, T=T) if way == "auto" else way
  if unroll is None:
    unroll = True if jax.default_backend() == "cpu" and way == "step" else 1
  r = simulate.run(model, batch["image"], T=T, way=way, unroll=unroll, rngs=rngs)
  _write_batch_stats(model, r.state)
  out = r.outputs
  logits = out.mean(0)
  if loss == "mean":
    return cross_entropy(logits, batch["label"]), logits
  if loss != "per_step":
    raise ValueError(f"loss must be 'mean' or 'per_step', got {loss!r}.")
  total = sum(per_step_loss(out[t], batch["label"], T, c_mse) for t in range(T))
  return total, logits


def _write_batch_stats(model, state: dict) -> None:
  stats = nnx.state(model, nnx.BatchStat)
  if not jax.tree.leaves(stats):
    return
  pure = nnx.to_pure_dict(stats)

  def take(target, source):
    if isinstance(target, dict):
      return {k: take(v, source[k]) for k, v in target.items()}
    return source

  nnx.replace_by_pure_dict(stats, take(pure, state))
  nnx.update(model, stats)


def make_loss_fn(model, *, T: int, aux: bool = True, **kw):
  """``(loss_fn, params, stats)`` for plain-JAX/optax training of a spiking model.

  With ``aux=True``: ``loss_fn(params, batch, key=None, stats=stats) -> (loss, (logits, new_stats))``
  (use ``jax.value_and_grad(..., has_aux=True)`` and carry the BatchNorm
  statistics). With ``aux=False``: ``loss_fn(params, batch) -> loss``, the
  statistics held at their current values.
  """
  loss_fn, params, stats = functionalize(model, functools.partial(module_loss, T=T, **kw))
  if aux:
    return loss_fn, params, stats
  return (lambda params, batch: loss_fn(params, batch)[0]), params, stats


def recipe(config) -> Recipe:
  loss = functools.partial(module_loss, T=config.T, way=config.way, loss=config.bptt_loss,
                           c_mse=config.c_mse)
  return Recipe(act=default_act(), loss=loss, train_T=config.T)
