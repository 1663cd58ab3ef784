"""Variable types: what a layer holds, declared when the layer is built.

Every variable a snnjax layer can hold exists from construction on. Variables
whose value is only known once data flows (a membrane potential, a recording
slot) start as ``None``; a simulation gets its state from
:func:`snnjax.simulate.stepper`'s ``init`` and passes it explicitly.

* :class:`ThresholdParam` — a trained threshold-like parameter (QCFS λ, a
  learnable θ, Noise Adaptor's step size). An ``nnx.Param``, so optimizers
  train it; the training program gives it its own learning rate by type.
* :class:`Threshold` — a fixed θ (not trained).
* :class:`SimState` — what a simulation carries from one step to the next:
  :class:`Membrane` (the potential after reset, ``v[t]``) and :class:`Record`
  (recording slots).
* :class:`Record` — a slot a layer writes its latest input, output or
  membrane potential into *only when the slot holds an array*: the caller
  switches recording on by passing a state whose slot is not ``None``
  (:func:`snnjax.simulate.stepper` does this for you), so nothing is recorded,
  stored or computed unless asked for.
"""

from __future__ import annotations

from flax import nnx

from snnjax import _compat

__all__ = ["ThresholdParam", "Threshold", "SimState", "Membrane", "Clock", "InputCache", "Record", "FixedNoise",
           "record", "is_on"]


class ThresholdParam(nnx.Param):
  """A trained threshold-like parameter (clip value λ, learnable θ, step size s)."""


class Threshold(nnx.Variable):
  """A fixed (not trained) firing threshold θ."""


class SimState(nnx.Variable):
  """State a multi-step simulation carries between steps; ``None`` when reset."""


class Membrane(SimState):
  """Membrane potential after reset, ``v[t]``; ``None`` means "start from v[0]"."""


class Clock(SimState):
  """The steps a call covers: ``None`` (one step per call) or an array of length T.

  Set by :func:`snnjax.simulate.run`'s layer-by-layer way, so that a
  spiking layer fed a time-constant input runs all T steps at once.
  """


class InputCache(SimState):
  """A synapse's output under direct input, computed at step 1 and reused.

  ``None`` (off, the default), a scalar (store the output at the next call),
  or the stored output. Only :func:`snnjax.simulate.run` switches it on, for
  synapses that read the analog input, which is the same at every step.
  """


class Record(SimState):
  """A recording slot: ``None`` (off) or the latest recorded array."""


class FixedNoise(nnx.Variable):
  """A noise tensor used instead of a random draw (``None``: draw from the key)."""


def is_on(slot: nnx.Variable) -> bool:
  """Whether a :class:`Record` slot is switched on (holds an array)."""
  return _compat.get_value(slot) is not None


def record(slot: nnx.Variable, value) -> None:
  """Write ``value`` into ``slot`` if the slot is switched on (a trace-time check)."""
  if is_on(slot):
    _compat.set_value(slot, value)
