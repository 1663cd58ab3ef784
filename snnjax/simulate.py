"""Multi-step execution and evaluation of spiking models.

Two ways to run a model for T steps, giving the same numbers:

* ``"layer"`` (layer-by-layer): the input ``[B, ...]`` goes through the layers
  before the first spiking layer once (direct input is computed once); each
  spiking layer scans its neurons over T and emits ``[T, B, ...]``; every
  conv/linear/norm/pool after it works on the time-folded tensor. The scans
  hold only elementwise neuron work.
* ``"step"`` (step-by-step): one ``lax.scan`` over the whole network, neuron
  states (and BatchNorm statistics) as carry. The first synapse's output under
  direct input is computed once and cached. ``unroll=True`` unrolls the static T,
  which XLA:CPU needs for gradients of convolutions (jax-ml/jax#12868).

Read-out is the mean of the classifier outputs over time (spec §1.5); accuracy
at every ``t ≤ T`` comes from the cumulative mean of one run.

References: spec §1.4–1.5; DESIGN.md layer 5.
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from snnjax import _checks
from snnjax.nn.activations import Spiking
from snnjax.nn.layers import Synapse

__all__ = ["configure", "default_way", "spiking_layers", "run", "run_batch_stats", "evaluate",
           "ENERGY_PER_AC_J", "ENERGY_PER_MAC_J"]

#: Energy per accumulate / multiply-accumulate, 32-bit float, 45 nm CMOS.
#: Source: M. Horowitz, "Computing's energy problem (and what we can do about
#: it)", ISSCC 2014 (FP add 0.9 pJ, FP mult 3.7 pJ → MAC 4.6 pJ); the values
#: used by most SNN energy estimates.
ENERGY_PER_AC_J = 0.9e-12
ENERGY_PER_MAC_J = 4.6e-12

Way = Literal["layer", "step", "auto"]


def default_way(training: bool = False) -> str:
  """``"step"`` on CPU, ``"layer"`` on accelerators.

  Measured on a 2-core CPU (``benchmarks/RESULTS.md``): step-by-step was faster
  for evaluation (ResNet-18, T=16: 1.07× vs 1.52× of T ANN forwards) and, with
  the time loop unrolled, for BPTT training (conv gradients inside a loop are
  35–61× slower on XLA:CPU). Accelerators favour the big time-folded
  convolutions of the layer-by-layer way. ``training`` is kept for callers
  that want to choose differently for training and evaluation.
  """
  del training
  return "step" if jax.default_backend() == "cpu" else "layer"


def spiking_layers(model: nnx.Module) -> list[tuple[str, Spiking]]:
  """``(path, module)`` of every spiking layer, in definition order."""
  return [("/".join(map(str, p)), m) for p, m in nnx.iter_modules(model) if isinstance(m, Spiking)]


def configure(model: nnx.Module, *, T: int | None = None, mode: str | None = None,
              unroll: int | bool | None = None, record: bool | None = None,
              cache_input: bool | None = None) -> nnx.Module:
  """Set run options on every spiking layer and synapse of ``model`` in place."""
  for _, m in nnx.iter_modules(model):
    if isinstance(m, Spiking):
      if T is not None:
        m.T = _checks.check_time_steps(T)
      if mode is not None:
        m.mode = mode
      if unroll is not None:
        m.unroll = unroll
      if record is not None:
        m.record = record
    elif isinstance(m, Synapse):
      if record is not None:
        m.count_ops = record
      if cache_input is not None:
        m.cache_input = cache_input
  return model


def _clear_sim_state(model):
  for _, m in nnx.iter_modules(model):
    for name in ("membrane", "spikes", "ops", "cached", "calib"):
      if name in vars(m):
        delattr(m, name)


def run(model: nnx.Module, x: jax.Array, *, T: int, way: Way = "auto", unroll: int | bool = 1,
        record: bool = False, training: bool = False):
  """Run ``model`` for ``T`` steps on direct input ``x`` (``[B, ...]``).

  The model is cloned; the caller's module is not modified. Under
  ``jax.jit`` pass the model as an argument (NNX modules are pytrees).

  Args:
    model: a model whose activations include :class:`~snnjax.nn.Spiking` layers
      (an ANN runs once and its output is repeated over T).
    x: one batch of analog input.
    T: time steps (≥ 1).
    way: ``"layer"``, ``"step"`` or ``"auto"`` (:func:`default_way`).
    unroll: scan unroll (both ways); ``True`` unrolls fully.
    record: also return spike counts and synaptic-op counts.
    training: only selects the ``"auto"`` way.

  Returns:
    ``outputs[T, B, classes]`` (classifier output at every step), and with
    ``record=True`` a dict ``{"spikes": {path: [fired, neuron_steps]},
    "ops": {path: ops}, "analog": {path: bool}}`` for the batch; the second
    item is always the updated model (BatchNorm statistics when training).
  """
  T = _checks.check_time_steps(T)
  way = default_way(training) if way == "auto" else way
  if way not in ("layer", "step"):
    raise ValueError(f"way must be 'layer', 'step' or 'auto', got {way!r}.")
  m = nnx.clone(model)
  _clear_sim_state(m)
  configure(m, T=T, mode=way, unroll=unroll, record=record, cache_input=(way == "step"))
  if way == "layer":
    out = m(x)
    if not spiking_layers(m):  # an ANN: one output, the same at every step
      out = jnp.broadcast_to(out, (T,) + out.shape)
  else:
    first = m(x)  # t = 1 outside the scan creates the state variables
    graphdef, carry, rest = nnx.split(m, nnx.Not(nnx.Param), ...)

    def body(carry, _):
      mt = nnx.merge(graphdef, carry, rest)
      y = mt(x)
      return nnx.state(mt, nnx.Not(nnx.Param)), y

    if unroll is True or (not isinstance(unroll, bool) and unroll >= T - 1):
      # A Python loop: even a length-1 lax.scan is a loop, and XLA:CPU runs conv
      # gradients inside loops very slowly (jax-ml/jax#12868).
      ys = []
      for _ in range(T - 1):
        carry, y = body(carry, None)
        ys.append(y)
      ys = jnp.stack(ys) if ys else None
    else:
      carry, ys = jax.lax.scan(body, carry, None, length=T - 1, unroll=unroll)
    nnx.update(m, carry)
    out = jnp.concatenate([first[None], ys], axis=0) if T > 1 else first[None]
  stats = _collect(m) if record else None
  _clear_sim_state(m)
  configure(m, mode="layer", record=False, cache_input=False)
  return (out, stats, m) if record else (out, m)


def _collect(m) -> dict:
  spikes, ops, analog = {}, {}, {}
  for path, mod in nnx.iter_modules(m):
    key = "/".join(map(str, path))
    if isinstance(mod, Spiking) and "spikes" in vars(mod):
      spikes[key] = mod.spikes[...]
    if isinstance(mod, Synapse) and "ops" in vars(mod):
      ops[key] = mod.ops[...]
      analog[key] = mod.analog_input
  return {"spikes": spikes, "ops": ops, "analog": analog}


def run_batch_stats(model, x, y, *, T: int, way: Way = "layer", unroll: int | bool = 1) -> dict:
  """One batch: correct predictions at every t, spike and op counts (sums)."""
  out, stats, _ = run(model, x, T=T, way=way, unroll=unroll, record=True)
  t = jnp.arange(1, T + 1, dtype=out.dtype).reshape((T,) + (1,) * (out.ndim - 1))
  mean_t = jnp.cumsum(out, axis=0) / t
  correct = (jnp.argmax(mean_t, -1) == y[None]).sum(-1)
  return {"correct": correct, "spikes": stats["spikes"], "ops": stats["ops"]}


def evaluate(model: nnx.Module, images, labels, *, T: int, batch_size: int = 256,
             way: Way = "auto", unroll: int | bool = 1) -> dict:
  """Accuracy at every ``t ≤ T``, firing rates, SOPs and energy, batch by batch.

  One jit-compiled function per batch shape (the last, shorter batch compiles
  once more rather than being padded, so every count is exact).

  Returns:
    ``{"accuracy": [T] (fraction correct with the mean read-out of steps 1..t),
    "firing_rates": {layer: spikes per neuron per step},
    "sops_per_image": accumulate ops (inputs that are spikes),
    "macs_per_image": multiply-accumulates (synapses that read analog input),
    "energy_j_per_image": ENERGY_PER_AC_J·SOPs + ENERGY_PER_MAC_J·MACs}``.
  """
  T = _checks.check_time_steps(T)
  way = default_way(False) if way == "auto" else way
  images, labels = np.asarray(images), np.asarray(labels)
  if len(images) != len(labels) or len(images) == 0:
    raise ValueError(f"need as many labels as images (≥ 1), got {len(images)} and {len(labels)}.")
  graphdef, state = nnx.split(model)
  analog = {"/".join(map(str, p)): m.analog_input for p, m in nnx.iter_modules(model)
            if isinstance(m, Synapse)}

  @jax.jit
  def batch_fn(state, x, y):
    return run_batch_stats(nnx.merge(graphdef, state), x, y, T=T, way=way, unroll=unroll)

  totals = None
  for i in range(0, len(images), batch_size):
    r = batch_fn(state, jnp.asarray(images[i:i + batch_size]), jnp.asarray(labels[i:i + batch_size]))
    totals = r if totals is None else jax.tree.map(jnp.add, totals, r)
  n = len(images)
  totals = jax.tree.map(np.asarray, totals)
  sops = sum(float(v) for k, v in totals["ops"].items() if not analog[k]) / n
  macs = sum(float(v) for k, v in totals["ops"].items() if analog[k]) / n
  return {
      "accuracy": (totals["correct"] / n).tolist(),
      "firing_rates": {k: float(v[0] / v[1]) for k, v in totals["spikes"].items()},
      "sops_per_image": sops,
      "macs_per_image": macs,
      "energy_j_per_image": ENERGY_PER_AC_J * sops + ENERGY_PER_MAC_J * macs,
  }
