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


def _at_least_f32(dtype):
  return dtype if jnp.finfo(dtype).bits >= 32 else jnp.float32


def cross_entropy(logits: Float[Array, "*batch classes"], labels: Int[Array, "*batch"]) -> Float[Array, ""]:
  """Mean softmax cross-entropy with integer labels.

  Computed in the logits' dtype, raised to at least float32 (bfloat16 logits
  are computed in float32; float64 logits stay float64).
  """
  _check_labels(logits, labels)
  z = logits.astype(_at_least_f32(logits.dtype))
  picked = jnp.take_along_axis(z, labels[..., None].astype(jnp.int32), axis=-1)[..., 0]
  return (jax.nn.logsumexp(z, axis=-1) - picked).mean()


def mse_onehot(logits: Float[Array, "*batch classes"], labels: Int[Array, "*batch"]) -> Float[Array, ""]:
  """Mean over the batch of the mean squared error to the one-hot target."""
  _check_labels(logits, labels)
  dtype = _at_least_f32(logits.dtype)
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
    readout_decay: also evaluate the trace read-out with this decay
      (:func:`snnjax.simulate.evaluate`).
    updates_per_batch: optimizer steps per batch (T for per-step online
      updates), so that learning-rate schedules span the whole run.
  """

  act: ActSpec
  loss: ModuleLoss
  train_T: int | None = None
  make_step: Callable | None = None
  to_spiking: Callable[[nnx.Module], nnx.Module] | None = None
  readout_decay: float | None = None
  updates_per_batch: int = 1



def sequence_of(model: nnx.Module, method: str) -> list[nnx.Module]:
  """The model's layers in forward order, checked for what an online method can run."""
  from snnjax.nn.activations import Activation, Spiking
  from snnjax.nn.layers import Pool, Synapse
  seq_fn = getattr(model, "sequence", None)
  if seq_fn is None:
    raise ValueError(f"{method} needs a sequential model with a sequence() method (snnjax.nn.mlp, "
                     f"cnn4, small_cnn, vgg11_ws, ...), got {type(model).__name__}.")
  seq = seq_fn()
  for layer in seq:
    if isinstance(layer, Synapse) and layer.norm is not None:
      raise ValueError(f"{method} runs without BatchNorm (its updates mix time steps): build the model "
                       "with norm=False (ws=True gives weight standardisation instead).")
    if isinstance(layer, Pool) and layer.kind != "avg":
      raise ValueError(f"{method} needs average pooling (linear in the spikes), got {layer.kind}-pooling.")
    if isinstance(layer, Activation) and not isinstance(layer, Spiking):
      raise ValueError(f"{method} trains spiking layers; the model has a {type(layer).__name__} "
                       "activation: build it with the method's activation (recipe(config).act).")
    if isinstance(layer, Spiking):
      spec = layer.spec
      if spec.reset != "soft" or spec.amplitude != "one" or spec.v0 != "zero":
        raise ValueError(f"{method} uses LIF neurons with soft reset, spikes of amplitude 1 and "
                         f"v[0] = 0; got reset={spec.reset!r}, amplitude={spec.amplitude!r}, v0={spec.v0!r}.")
      if spec.decay_input or spec.v_rest not in (None, 0.0) or spec.reset_amount is not None:
        # its neuron step is u = λ·v + I, v ← u − θ·s: the other neuron options would
        # train one dynamics while simulate/evaluate run another
        raise ValueError(f"{method} runs u = λ·v + I with a reset of θ; got decay_input={spec.decay_input}, "
                         f"v_rest={spec.v_rest}, reset_amount={spec.reset_amount}: build the spiking "
                         "layers without these options (recipe(config).act).")
  if not any(isinstance(layer, Spiking) for layer in seq):
    raise ValueError(f"{method}: the model has no spiking layer.")
  return seq


def online_step(model: nnx.Module, tx, *, T: int, init: Callable, forward: Callable, loss_at: Callable,
                update: str, unroll: bool, loss_steps: tuple[int, ...] | None = None):
  """A training step for methods that learn online, one time step at a time.

  ``init(model, input_shape) -> sim`` gives the method's state before step 1;
  ``forward(model, sim, x, t) -> (sim, out)`` runs one step with the past
  detached; ``loss_at(out, labels, t) -> loss`` is the loss at step ``t``, for
  the steps in ``loss_steps`` (default: all; the others run without a graph).
  ``update``: ``"A"`` sums the gradients over the steps and updates once per
  batch; ``"O"`` updates after every step that has a loss. Only one step's
  activations are alive at a time. ``unroll``: a Python loop over t (fast
  convolution gradients on XLA:CPU) instead of ``lax.scan``.

  Returns ``(init_state, step)`` with ``state = {"params", "stats", "opt"}`` and
  ``step(state, batch, key) -> (state, {"loss", "accuracy"})``; the accuracy is
  that of the outputs summed over the steps.
  """
  if update not in ("A", "O"):
    raise ValueError(f"update must be 'A' (accumulate over t) or 'O' (update every step), got {update!r}.")
  loss_steps = tuple(range(T)) if loss_steps is None else tuple(sorted(loss_steps))
  first = loss_steps[0] if loss_steps else T
  if loss_steps != tuple(range(first, T)):
    raise ValueError(f"loss_steps must be the last steps of the T={T}, got {loss_steps}.")
  graphdef, params0, rest = nnx.split(model, nnx.Param, ...)

  def merged(params):
    return nnx.merge(graphdef, params, rest, copy=True)

  def step(state, batch, key):
    del key
    x, y = batch["image"], batch["label"]

    def one(carry, t, with_grad):
      params, opt, grads, sim, total, loss = carry
      if with_grad:
        def loss_fn(params):
          new_sim, out = forward(merged(params), sim, x, t)
          return loss_at(out, y, t), (new_sim, out)

        (l, (sim, out)), g = jax.value_and_grad(loss_fn, has_aux=True)(params)
        if update == "O":
          with jax.numpy_dtype_promotion("standard"):  # optax's step counts are int32
            u, opt = tx.update(g, opt, params)
          params = optax.apply_updates(params, u)
        else:
          grads = jax.tree.map(jnp.add, grads, g)
        loss = loss + l
      else:
        sim, out = forward(merged(params), sim, x, t)
      return (params, opt, grads, jax.lax.stop_gradient(sim), total + out, loss), None

    def loop(carry, ts, with_grad):
      if unroll:
        for t in ts:
          # the barrier keeps XLA from running later steps' forwards early, which would keep
          # every step's activations alive at once
          carry = jax.lax.optimization_barrier(one(carry, t, with_grad)[0])
        return carry
      if not ts:
        return carry
      return jax.lax.scan(lambda c, t: one(c, t, with_grad), carry, jnp.asarray(ts))[0]

    params, opt = state["params"], state["opt"]
    sim = init(merged(params), x.shape)
    out = jax.eval_shape(lambda p, s: forward(merged(p), s, x, 0)[1], params, sim)
    carry = (params, opt, jax.tree.map(jnp.zeros_like, params), sim, jnp.zeros(out.shape, out.dtype),
             jnp.zeros((), jnp.float32))
    carry = loop(carry, list(range(first)), False)
    params, opt, grads, sim, total, loss = loop(carry, list(range(first, T)), True)
    if update == "A":
      with jax.numpy_dtype_promotion("standard"):
        u, opt = tx.update(grads, opt, params)
      params = optax.apply_updates(params, u)
    acc = (jnp.argmax(total, -1) == y).mean()
    return {"params": params, "stats": state["stats"], "opt": opt}, {"loss": loss, "accuracy": acc}

  state = {"params": params0, "stats": nnx.state(model, nnx.BatchStat), "opt": tx.init(params0)}
  return state, step
