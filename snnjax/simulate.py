"""Spiking models as pure step functions; multi-step execution and evaluation.

:func:`stepper` turns a model into two pure functions::

    init, step = simulate.stepper(model)
    state = init(x.shape)                       # v[0] of every neuron layer (+ BatchNorm statistics)
    state, y_t = step(params, state, x_t)       # one time step; params = simulate.params(model)

``params``, ``state`` and ``y_t`` are plain pytrees (nested dicts of arrays),
so ``step`` composes with ``jax.jit``, ``jax.lax.scan``, ``jax.vmap`` and
``jax.grad``: write your own time loop, an online learning rule or a custom
read-out. :func:`run` and :func:`evaluate` are built on it.

T belongs to the call: :func:`run` / :func:`evaluate` take ``T``; no layer
stores it. Two execution ways (``way=``) give the same numbers:

* ``"step"``: T calls of ``step`` (a ``lax.scan``, or a Python loop when
  ``unroll=True``), neuron states as carry. Under direct input the synapse
  that reads the analog input computes its output at step 1 and reuses it.
* ``"layer"``: one call of ``step`` for all T steps: the analog input's
  synapse runs once, every spiking layer scans its neurons over T, and every
  conv/linear after it works on the time-folded ``[T·B, ...]`` tensor.

BatchNorm in training mode normalises each step over that step's batch and
updates its running statistics once per step, in both ways (SpikingJelly's
single-step semantics; the layer-by-layer way does not pool the statistics
over T·B as tdBN does). The synapse that reads the analog input runs once per
batch in both ways, so its BatchNorm updates once; a hand-written loop over
``step`` without that cache updates it at every step.

Read-out is the mean of the classifier outputs over time; accuracy at every
``t ≤ T`` comes from the cumulative mean of one run.

Recording is asked for by the caller and returned: ``record=("spikes",
"membrane")`` switches on the recording slots of the spiking layers (all,
or the ``layers=`` given) and :func:`run` returns them per step; nothing is
recorded otherwise.

References:
  [Rueckauer et al., 2017](https://doi.org/10.3389/fnins.2017.00682), §2.1 (direct input,
  membrane read-out); [Fang et al., 2023](https://arxiv.org/abs/2310.16620), §3 (single-step
  and multi-step execution in SpikingJelly).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jaxtyping import Array, ArrayLike, Float, Shaped

from snnjax import _checks, _compat, _tree, xla
from snnjax.nn.activations import Spiking, as_rngs
from snnjax.nn.calibration import modules_by_path
from snnjax.nn.layers import Synapse
from snnjax.nn.variables import Clock, InputCache, Membrane, Record, SimState

__all__ = ["stepper", "params", "run", "Run", "evaluate", "monitor", "reset", "default_way", "head_path",
           "spiking_layers", "RECORDABLE", "ENERGY_PER_AC_J", "ENERGY_PER_MAC_J"]

#: Energy per accumulate / multiply-accumulate, 32-bit float, 45 nm CMOS.
#: Source: M. Horowitz, "Computing's energy problem (and what we can do about
#: it)", ISSCC 2014 (FP add 0.9 pJ, FP mult 3.7 pJ → MAC 4.6 pJ); the values
#: used by most SNN energy estimates.
ENERGY_PER_AC_J = 0.9e-12
ENERGY_PER_MAC_J = 4.6e-12

Way = Literal["layer", "step", "auto"]

#: What can be recorded: name → (layer type, recording slot).
RECORDABLE = {
    "spikes": (Spiking, "rec_out"),       # output of each spiking layer (s, or θ·s)
    "membrane": (Spiking, "rec_u"),       # potential before reset, u[t]
    "currents": (Spiking, "rec_in"),      # input current I[t] of each spiking layer
    "synapse_inputs": (Synapse, "rec_in"),  # what each conv/linear received
}

_STATE = (SimState, nnx.BatchStat)


def default_way(training: bool = False, T: int | None = None) -> str:
  """``"step"`` on CPU (``"layer"`` for BPTT training beyond 8 steps), ``"layer"`` on accelerators.

  Measured on a 2-core CPU (``benchmarks/RESULTS.md``): step-by-step was faster
  for evaluation (ResNet-18, T=16: 1.04× vs 1.46× of T ANN forwards) and, with
  the time loop unrolled, for BPTT training at few steps (conv gradients inside a
  loop are 35–61× slower on XLA:CPU). Unrolled over many steps the step way slows
  down per step: the 4-conv BPTT CNN of ``benchmarks.peers`` (batch 64) took
  1.87 s step-by-step vs 2.08 s layer-by-layer at T=4 (``benchmarks.xla_cpu``), but
  12.8 s vs 10.7 s at T=16 (two runs of the peer harness; the layer way holds 2.5×
  the memory there); at T=8 the step way took 4.1 s (0.51 s per step, as at T=4),
  so the switch sits between 8 and 16. Accelerators
  favour the big time-folded convolutions of the layer-by-layer way. Both ways
  compute the same numbers, BatchNorm in training mode included, so the choice is
  one of speed only.
  """
  if jax.default_backend() != "cpu":
    return "layer"
  return "layer" if training and T is not None and T > 8 else "step"


def spiking_layers(model: nnx.Module) -> list[tuple[str, Spiking]]:
  """``(path, module)`` of every spiking layer, in path order."""
  return [(k, m) for k, m in modules_by_path(model).items() if isinstance(m, Spiking)]


def params(model: nnx.Module) -> dict:
  """The trainable parameters of ``model`` as a plain nested dict (what ``step`` takes)."""
  return nnx.to_pure_dict(nnx.state(model, nnx.Param))


def _slots(model: nnx.Module, record: Sequence[str], layers: Sequence[str] | None):
  unknown = set(record) - set(RECORDABLE)
  if unknown:
    raise ValueError(f"cannot record {sorted(unknown)}; choose from {sorted(RECORDABLE)}.")
  mods = modules_by_path(model)
  if layers is not None:
    missing = [k for k in layers if k not in mods]
    if missing:
      raise ValueError(f"no layer at {missing}; spiking layers: {[k for k, _ in spiking_layers(model)]}.")
  out = []
  for name in record:
    kind, slot = RECORDABLE[name]
    for key, m in mods.items():
      if isinstance(m, kind) and (layers is None or key in layers):
        out.append((key, slot, name))
  return out


def _at(tree, key: str, slot: str):
  return _tree.get(tree, _tree.parse_key(key) + (slot,))


class _Stepper:
  """The split model and the pure functions over it (see :func:`stepper`)."""

  def __init__(self, model: nnx.Module, slots):
    self.graphdef, self.params, self.state, self.consts = nnx.split(model, nnx.Param, _STATE, ...)
    self.slots = slots
    self.mods = modules_by_path(model)
    self.variables = list(_compat.iter_variables(model))

  def merge(self, params, state) -> nnx.Module:
    p, s = _compat.copy_state(self.params), _compat.copy_state(self.state)
    nnx.replace_by_pure_dict(p, _pure(params))
    nnx.replace_by_pure_dict(s, _pure(state))
    return nnx.merge(self.graphdef, p, s, _compat.copy_state(self.consts))

  def reset_state(self) -> dict:
    """Membranes reset (``None``), the chosen recording slots on, the others off."""
    s = nnx.to_pure_dict(self.state)
    for path, name, var in self.variables:
      if isinstance(var, (Membrane, Clock, InputCache)):
        _tree.put(s, path + (name,), None)
    return self.switch_slots(s)

  def switch_slots(self, state) -> dict:
    """``state`` (in place) with this run's recording slots on (empty until a step fills them),
    the others off."""
    on = {(k, slot) for k, slot, _ in self.slots}
    for path, name, var in self.variables:
      if isinstance(var, Record):
        key = _tree.path_key(path)
        _tree.put(state, path + (name,), jnp.zeros((), jnp.float32) if (key, name) in on else None)
    return state

  def clear_run_state(self, state) -> dict:
    """A copy of ``state`` with the clocks and input caches cleared (``None``).

    They are bookkeeping of one :func:`run` (how many steps a layer-way call
    makes; the analog synapse's output for the current input), not state to
    carry into another run or another input.
    """
    s = jax.tree.map(lambda a: a, _pure(state))
    for path, name, var in self.variables:
      if isinstance(var, (Clock, InputCache)):
        _tree.put(s, path + (name,), None)
    return s

  def step(self, params, state, x, rngs=None):
    m = self.merge(params, state)
    y = m(x, rngs=as_rngs(rngs))
    return nnx.to_pure_dict(nnx.state(m, _STATE)), y

  def enable_input_cache(self, state, dtype) -> dict:
    """Switch on the analog-input synapses' caches in ``state`` (in place): they compute their
    output at the next step and reuse it after, so the input must not change between steps."""
    for path, name, var in self.variables:
      if isinstance(var, InputCache) and self.mods[_tree.path_key(path)].analog_input:
        _tree.put(state, path + (name,), jnp.zeros((), dtype))
    return state

  def init(self, input_shape, dtype=jnp.float32, cache_input: bool = False) -> dict:
    x = jax.ShapeDtypeStruct(tuple(input_shape), dtype)
    reset = self.reset_state()
    p = nnx.to_pure_dict(self.params)
    shapes, _ = jax.eval_shape(lambda p, s, x: self.step(p, s, x, jax.random.key(0)), p, reset, x)
    m = self.merge(p, reset)
    mods = modules_by_path(m)
    out = nnx.to_pure_dict(nnx.state(m, _STATE))
    for path, name, var in _compat.iter_variables(m):
      if isinstance(var, Membrane):
        shape = _tree.get(shapes, path + (name,)).shape
        _tree.put(out, path + (name,), mods[_tree.path_key(path)].initial_potential(shape, dtype))
      elif isinstance(var, Record) and _compat.get_value(var) is not None:
        sds = _tree.get(shapes, path + (name,))
        _tree.put(out, path + (name,), jnp.zeros(sds.shape, sds.dtype))
    return self.enable_input_cache(out, dtype) if cache_input else out


def _pure(tree):
  if isinstance(tree, nnx.State):
    return nnx.to_pure_dict(tree)
  return tree


def stepper(model: nnx.Module, *, record: Sequence[str] = (), layers: Sequence[str] | None = None
            ) -> tuple[Callable[..., dict], Callable[..., tuple[dict, Array]]]:
  """A spiking model as a pair of pure functions ``(init, step)``.

  Args:
    model: a spiking model (any NNX model of snnjax layers; an ANN works too,
      as a network without state).
    record: recording slots to switch on (:data:`RECORDABLE`): their latest
      values appear in the state after every step.
    layers: restrict recording to these layer paths (``"acts/0"``, ...).

  Returns:
    ``init(input_shape, dtype=float32, cache_input=False) -> state``: the
    state before step 1 (every neuron at its ``v[0]``, the model's BatchNorm
    statistics, recording slots of the right shape). ``cache_input=True``:
    the synapses reading the analog input compute their output at step 1 and
    reuse it (the input must be the same at every step, as :func:`run` has
    it); step 1 then changes the state's structure, so take it before a
    ``lax.scan`` over the rest.

    ``step(params, state, x_t, rngs=None) -> (state, y_t)``: one time step
    for one step's input ``x_t``, pure; ``params`` is :func:`params` of the
    model (or any pytree of that structure, e.g. a batch of them under
    ``jax.vmap``), ``rngs`` a key or ``nnx.Rngs`` for noisy layers. Called on
    a sequence ``x[T, B, ...]`` it runs all T steps layer by layer.
    BatchNorm statistics in ``state`` change only when the model is in
    training mode.
  """
  s = _Stepper(model, _slots(model, record, layers))
  return s.init, s.step


class Run(NamedTuple):
  """What :func:`run` returns."""

  outputs: Array            # [T, B, ...] classifier output at every step
  state: dict               # the state after step T
  records: dict             # {name: {layer path: [T, B, ...]}} for each recorded name
  counts: dict | None       # {"spikes": {path: [fired, neuron-steps]}, "ops": {path: ops}} if count


def _counts(sim: _Stepper, state, first: bool, seq: bool, mask):
  """Spike and op counts of one call of ``step`` from the recorded slots in ``state``.

  ``seq``: the call ran a whole sequence ``[T, B, ...]``; ``mask``: ``[B]``
  weights of the batch rows (padding rows 0).
  """
  spikes, ops = {}, {}
  for key, slot, name in sim.slots:
    v = _at(state, key, slot)
    mod = sim.mods[key]
    nd = mod.feature_ndim
    if name == "synapse_inputs" and mod.analog_input:
      # direct input: multiply-accumulates, counted once per image
      if not first:
        ops[key] = jnp.zeros((), jnp.float32)
        continue
      if seq and v.ndim == nd + 2:
        v = v[0]
    # weight of each batch row, broadcast over the features (and time, for a sequence)
    w = mask.astype(jnp.float32).reshape(mask.shape + (1,) * nd)
    nz = (v != 0).astype(jnp.float32) * w
    if name == "spikes":
      per_row = float(np.prod(v.shape[v.ndim - nd:]) * (v.shape[0] if v.ndim == nd + 2 else 1))
      spikes[key] = jnp.stack([nz.sum(), jnp.sum(w) * per_row])
    elif name == "synapse_inputs":
      sample = v.shape[v.ndim - nd:]
      with jax.ensure_compile_time_eval():  # shape-only: a constant, computed once per trace
        fan = mod.fanout(sample)
      ops[key] = jnp.sum(nz.reshape((-1,) + sample).sum(0) * fan)
  return {"spikes": spikes, "ops": ops}


def run(model: nnx.Module, x: Shaped[ArrayLike, "batch *features"], *, T: int, way: Way = "auto",
        record: Sequence[str] = (), layers: Sequence[str] | None = None, count: bool = False,
        rngs=None, state: dict | None = None, unroll: int | bool = 1,
        mask: Array | None = None) -> Run:
  """Run ``model`` for ``T`` steps on direct input ``x`` (``[B, ...]``).

  The model is not modified. Under ``jax.jit`` pass the model as an argument
  (NNX modules are pytrees) or close over it.

  Args:
    model: a spiking model (an ANN gives the same output at every step).
    x: one batch of analog input, fed at every step.
    T: time steps (≥ 1).
    way: ``"layer"``, ``"step"`` or ``"auto"`` (:func:`default_way`).
    record: names from :data:`RECORDABLE` to return per step, for all
      spiking layers or the ``layers`` given.
    count: also return spike counts per spiking layer and synaptic
      operations per synapse (for firing rates, SOPs, energy).
    rngs: a key for noisy layers (folded with the step number in the
      step-by-step way).
    state: the state to start from (default: ``init`` of :func:`stepper`).
    unroll: step way: ``lax.scan`` unroll; ``True`` (or ≥ T−1) runs a Python
      loop, which XLA:CPU needs for fast gradients of convolutions
      (jax-ml/jax#12868).
    mask: ``[B]`` booleans, the batch rows that count in ``counts`` (padding
      rows False); default all.

  Returns:
    :class:`Run` ``(outputs[T, B, ...], state, records, counts)``.
  """
  T = _checks.check_time_steps(T)
  way = default_way() if way == "auto" else way
  if way not in ("layer", "step"):
    raise ValueError(f"way must be 'layer', 'step' or 'auto', got {way!r}.")
  _checks.check_images(x, "input")
  x = jnp.asarray(x)
  mask = jnp.ones(x.shape[:1], bool) if mask is None else jnp.asarray(mask)
  _slots(model, record, layers)  # checks the names and the layer paths
  wanted = tuple(record) + (("spikes", "synapse_inputs") if count else ())
  slots = _slots(model, tuple(dict.fromkeys(wanted)), None)
  # counting covers every layer; `layers` narrows only what is returned per step
  sim = _Stepper(model, slots)
  p = nnx.to_pure_dict(sim.params)
  # a copy, with the run's own bookkeeping (clocks, input caches) cleared and its recording
  # slots switched: the caller's dict is never changed, and a state from either way starts alike
  st = sim.init(x.shape, x.dtype) if state is None else sim.switch_slots(sim.clear_run_state(state))
  key = None if rngs is None else (rngs if not isinstance(rngs, nnx.Rngs) else rngs.noise())
  returned = [(k, slot, name) for k, slot, name in slots
              if name in record and (layers is None or k in layers)]

  def pick(state):
    recs = {}
    for k, slot, name in returned:
      recs.setdefault(name, {})[k] = _at(state, k, slot)
    return recs

  if way == "layer":
    # one call for all T steps: the spiking layers' clocks say how many; whatever
    # comes before the first spiking layer (the analog input's synapse) runs once
    for path, name, var in sim.variables:
      if isinstance(var, Clock):
        _tree.put(st, path + (name,), jnp.zeros((T,), jnp.int32))
    st, ys = sim.step(p, st, x, key)
    if not any(isinstance(v, Clock) for _, _, v in sim.variables):
      ys = jnp.broadcast_to(ys, (T,) + ys.shape)  # no spiking layer: the same output every step
    recs = {name: {k: v if v.shape[:1] == (T,) and v.ndim == sim.mods[k].feature_ndim + 2
                   else jnp.broadcast_to(v, (T,) + v.shape) for k, v in r.items()}
            for name, r in pick(st).items()}
    counts = _counts(sim, st, True, True, mask) if count else None
    return Run(ys, sim.clear_run_state(st), recs, counts)

  def body(carry, t):
    st, acc = carry
    k = None if key is None else jax.random.fold_in(key, t)
    st, y = sim.step(p, st, x, k)
    if count:
      c = _counts(sim, st, isinstance(t, int) and t == 0, False, mask)
      acc = c if acc is None else jax.tree.map(jnp.add, acc, c)
    return (st, acc), (y, pick(st))

  # direct input: each analog-input synapse computes its output at step 1 and reuses it
  sim.enable_input_cache(st, x.dtype)
  acc0 = None
  if unroll is True or (not isinstance(unroll, bool) and unroll >= T - 1):
    # A Python loop: even a length-1 lax.scan is a loop, and XLA:CPU runs conv
    # gradients inside loops very slowly (jax-ml/jax#12868).
    carry, outs = (st, acc0), []
    for t in range(T):
      carry, out = body(carry, t)
      outs.append(out)
    (st, acc), outs = carry, jax.tree.map(lambda *a: jnp.stack(a), *outs)
  else:
    # Inside the loop the IF/LIF layers carry u[t] (the potential before reset, which
    # step t+1 resets first) instead of v[t]: the same operations, but one state tensor
    # per layer that only the next step reads, so XLA updates it in place and the
    # layers after it read it instead of recomputing spikes from v and the current.
    u_carried = [path for path, name, var in sim.variables if isinstance(var, Membrane)
                 and type(sim.mods[_tree.path_key(path)]) is Spiking] if T > 1 else []
    own = [path for path in u_carried if _tree.get(st, path + ("rec_u",)) is None]
    for path in own:  # switch on u[t]'s recording slot where it is off (given back off)
      _tree.put(st, path + ("rec_u",), jnp.zeros((), jnp.float32))

    def carry_u(st):  # after a step: u[t] into the membrane slot, the borrowed recording slots emptied
      for path in u_carried:
        _tree.put(st, path + ("v",), _tree.get(st, path + ("rec_u",)))
      for path in own:
        _tree.put(st, path + ("rec_u",), jnp.zeros((), jnp.float32))
      return st

    def reset_u(st):  # before a step (and after the last): v[t] from u[t]
      mods = modules_by_path(sim.merge(p, st))
      for path in u_carried:
        u = _tree.get(st, path + ("v",))
        _tree.put(st, path + ("v",), mods[_tree.path_key(path)].potential_after_reset(u))
      return st

    def body_u(carry, t):
      (st, acc), out = body((reset_u(carry[0]), carry[1]), t)
      return (carry_u(st), acc), out

    (st, acc), out0 = body((st, acc0), 0)  # step 1 outside: analog MACs counted once
    if T > 1:
      (st, acc), rest = jax.lax.scan(body_u, (carry_u(st), acc), jnp.arange(1, T), unroll=unroll)
      st = reset_u(st)
      for path in own:
        _tree.put(st, path + ("rec_u",), None)
      outs = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), out0, rest)
    else:
      outs = jax.tree.map(lambda a: a[None], out0)
  ys, recs = outs
  return Run(ys, sim.clear_run_state(st), recs, acc)


def reset(model: nnx.Module) -> nnx.Module:
  """Reset every neuron of ``model`` to its ``v[0]`` (in place), for eager step-by-step calls."""
  for _, _, var in _compat.iter_variables(model):
    if isinstance(var, Membrane):
      _compat.set_value(var, None)
  return model


def monitor(model: nnx.Module, x: Float[ArrayLike, "batch *features"], *, T: int,
            layers: Sequence[str] | None = None, what: Sequence[str] = ("spikes", "membrane"),
            way: Way = "auto") -> dict[str, dict[str, np.ndarray]]:
  """Per-step recordings of chosen layers for one batch, as numpy arrays.

  Returns ``{name: {layer: [T, B, *features]}}`` for each name in ``what``
  (``"spikes"``, ``"membrane"``, ``"currents"``), plus ``"outputs"``: the
  classifier output ``[T, B, classes]``. ``layers`` defaults to every
  spiking layer.
  """
  graphdef, state = nnx.split(model)
  outputs, records = _monitor(graphdef, state, jnp.asarray(x), T=T, way=way, what=tuple(what),
                              layers=None if layers is None else tuple(layers))
  out = {name: {k: np.asarray(v) for k, v in recs.items()} for name, recs in records.items()}
  out["outputs"] = np.asarray(outputs)
  return out


@functools.partial(xla.jit, static_argnames=("graphdef", "T", "way", "what", "layers"))
def _monitor(graphdef, state, x, *, T, way, what, layers):
  r = run(nnx.merge(graphdef, state), x, T=T, way=way, record=what, layers=layers)
  return r.outputs, r.records


def head_path(model: nnx.Module) -> str:
  """The classifier: the synapse named ``head`` (zoo models), wherever it sits."""
  keys = [k for k, m in modules_by_path(model).items()
          if isinstance(m, Synapse) and k.split("/")[-1] == "head"]
  if len(keys) != 1:
    raise ValueError("the trace read-out needs the classifier to be one snnjax Synapse named 'head' "
                     f"(found {keys or 'none'}).")
  return keys[0]


@functools.partial(xla.jit, static_argnames=("graphdef", "T", "way", "unroll", "readout_decay"))
def _eval_batch(graphdef, state, x, y, mask, *, T, way, unroll, readout_decay):
  model = nnx.merge(graphdef, state)
  head = head_path(model) if readout_decay is not None else None
  record = ("synapse_inputs",) if readout_decay is not None else ()
  r = run(model, x, T=T, way=way, unroll=unroll, count=True, mask=mask, record=record,
          layers=None if head is None else [head])
  out = r.outputs
  t = jnp.arange(1, T + 1, dtype=out.dtype).reshape((T,) + (1,) * (out.ndim - 1))
  mean_t = jnp.cumsum(out, axis=0) / t
  result = {"correct": ((jnp.argmax(mean_t, -1) == y[None]) & mask[None]).sum(-1),
            "spikes": r.counts["spikes"], "ops": r.counts["ops"]}
  if readout_decay is not None:
    from snnjax import traces
    acc = traces.accumulate(r.records["synapse_inputs"][head], readout_decay)
    logits = modules_by_path(model)[head].apply_op(acc)
    result["correct_trace"] = ((jnp.argmax(logits, -1) == y[None]) & mask[None]).sum(-1)
  return result


def evaluate(model: nnx.Module, images: Shaped[ArrayLike, "n *features"], labels: Shaped[ArrayLike, "..."], *,
             T: int, batch_size: int = 256, way: Way = "auto", unroll: int | bool = 1,
             readout_decay: float | None = None, distributed: bool = False) -> dict[str, Any]:
  """Accuracy at every ``t ≤ T``, firing rates, SOPs and energy, batch by batch.

  One compiled function per (model structure, T, batch size, way), reused
  across calls; the last, shorter batch is padded and masked, so every count
  is exact.

  Args:
    readout_decay: also score the trace read-out ``W_o·â[t] + b_o``, the
      classifier applied to its input accumulated with decay λ (SAF-F's
      read-out: λ = 1 − 1/τ), as ``"accuracy_trace"``.
    distributed: in a run of several processes, each evaluates its own
      contiguous share of ``images`` (all processes pass the same arrays) and
      the counts are summed over processes: the same numbers as one process.

  Returns:
    ``{"accuracy": [T] (fraction correct with the mean read-out of steps 1..t),
    "firing_rates": {layer: spikes per neuron per step},
    "spikes_per_image": spikes of all layers over the T steps,
    "sops_per_image": accumulate ops (inputs that are spikes),
    "macs_per_image": multiply-accumulates (synapses that read analog input),
    "energy_j_per_image": ENERGY_PER_AC_J·SOPs + ENERGY_PER_MAC_J·MACs}``,
    plus ``"accuracy_trace"`` with ``readout_decay``.
  """
  T = _checks.check_time_steps(T)
  way = default_way() if way == "auto" else way
  images, labels = np.asarray(images), np.asarray(labels)
  if len(images) == 0:
    raise ValueError("evaluate got no images.")
  _checks.check_images(images, "images")
  _checks.check_labels(labels, len(images))
  n = len(images)
  if distributed and jax.process_count() > 1:
    k, p = jax.process_count(), jax.process_index()
    if n < k:
      raise ValueError(f"distributed evaluation splits the images over {k} processes and got {n}; "
                       "give at least one image per process or pass distributed=False.")
    lo, hi = p * n // k, (p + 1) * n // k
    images, labels = images[lo:hi], labels[lo:hi]
  bs = max(1, min(batch_size, len(images)))
  graphdef, state = nnx.split(model)
  analog = {k: m.analog_input for k, m in modules_by_path(model).items() if isinstance(m, Synapse)}
  totals = None
  for i in range(0, len(images), bs):
    xb, yb = images[i:i + bs], labels[i:i + bs]
    mask = np.ones(bs, bool)
    if len(xb) < bs:  # pad the last batch; padded rows count for nothing
      pad = bs - len(xb)
      mask[len(xb):] = False
      xb = np.concatenate([xb, np.zeros((pad,) + xb.shape[1:], xb.dtype)])
      yb = np.concatenate([yb, np.zeros((pad,), yb.dtype)])
    r = _eval_batch(graphdef, state, jnp.asarray(xb), jnp.asarray(yb), jnp.asarray(mask),
                    T=T, way=way, unroll=unroll,
                    readout_decay=None if readout_decay is None else float(readout_decay))
    totals = r if totals is None else jax.tree.map(jnp.add, totals, r)
  totals = jax.tree.map(np.asarray, totals)
  if distributed:
    from snnjax import parallel
    totals = parallel.sum_over_processes(totals)
  sops = sum(float(v) for k, v in totals["ops"].items() if not analog[k]) / n
  macs = sum(float(v) for k, v in totals["ops"].items() if analog[k]) / n
  out = {
      "accuracy": (totals["correct"] / n).tolist(),
      "firing_rates": {k: float(v[0] / v[1]) for k, v in totals["spikes"].items()},
      "spikes_per_image": sum(float(v[0]) for v in totals["spikes"].values()) / n,
      "sops_per_image": sops,
      "macs_per_image": macs,
      "energy_j_per_image": ENERGY_PER_AC_J * sops + ENERGY_PER_MAC_J * macs,
  }
  if readout_decay is not None:
    out["accuracy_trace"] = (totals["correct_trace"] / n).tolist()
  return out
