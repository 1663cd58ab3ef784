"""BPTT with surrogate gradients: the spiking model trained through time.

Defaults (spec §6.2): LIF τ=2 (λ=0.5), V_th=1, sigmoid surrogate α=4, soft
reset, direct input; loss (a) cross-entropy of the mean output over T, or (b)
OTTT's per-step loss ``Σ_t [(1−c)·CE(o[t]) + c·MSE(o[t], onehot)]/T``, c=0.05.

On XLA:CPU conv gradients inside a loop are very slow (jax-ml/jax#12868), so
``way="auto"`` trains step-by-step with the time loop unrolled there and
layer-by-layer elsewhere.

References:
  Wu et al., "Spatio-Temporal Backpropagation for Training High-Performance
  Spiking Neural Networks", Front. Neurosci. 2018; Neftci et al. 2019;
  spec §6.2.
"""

from __future__ import annotations

import functools
from typing import Literal

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from snnjax import simulate
from snnjax.methods.common import cross_entropy, functionalize
from snnjax.nn.activations import SpikingSpec, lif

__all__ = ["default_act", "module_loss", "make_loss_fn"]


def default_act(T: int = 4, **kw) -> SpikingSpec:
  """The BPTT baseline neuron: LIF τ=2, θ=1, sigmoid α=4, soft reset, detached reset."""
  kw.setdefault("detach_reset", True)
  return lif(T=T, **kw)


def module_loss(model, batch, key=None, *, T: int, way: str = "auto",
                unroll: int | bool | None = None, loss: Literal["mean", "per_step"] = "mean",
                c_mse: float = 0.05):
  """Loss of the spiking ``model`` run for T steps; returns ``(loss, mean_logits)``.

  BatchNorm statistics updated during the run are written back to ``model``.
  """
  del key
  way = simulate.default_way(training=True) if way == "auto" else way
  if unroll is None:
    unroll = True if jax.default_backend() == "cpu" else 1
  out, m = simulate.run(model, batch["image"], T=T, way=way, unroll=unroll, training=True)
  nnx.update(model, nnx.state(m, nnx.BatchStat))
  logits = out.mean(0)
  if loss == "mean":
    return cross_entropy(logits, batch["label"]), logits
  if loss != "per_step":
    raise ValueError(f"loss must be 'mean' or 'per_step', got {loss!r}.")
  onehot = jax.nn.one_hot(batch["label"], out.shape[-1], dtype=jnp.float32)
  ce = optax.softmax_cross_entropy_with_integer_labels(
      out.astype(jnp.float32), jnp.broadcast_to(batch["label"], out.shape[:-1])).mean(-1)
  mse = ((out.astype(jnp.float32) - onehot) ** 2).mean((-2, -1))
  return ((1 - c_mse) * ce + c_mse * mse).mean(), logits


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
