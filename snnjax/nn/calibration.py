"""Looking inside a model: capture layer inputs/outputs, set clip values from data.

:func:`capture` runs a model once with chosen recording slots switched on and
returns what they saw; the model passed in is not modified.
:func:`init_clip_from_data` uses it to set every clip value (QCFS λ, Noise
Adaptor p·s: the activations whose :class:`~snnjax.nn.Conversion` says
``init_from_data``) from a batch, layer by layer in forward order.
"""

from __future__ import annotations

from collections.abc import Iterable

import jax
import jax.numpy as jnp
from flax import nnx
from jaxtyping import Array, Float

from snnjax import _compat, xla
from snnjax._tree import path_key
from snnjax.nn.activations import Activation, as_rngs, clip_statistic
from snnjax.nn.variables import Record

__all__ = ["path_key", "modules_by_path", "capture", "init_clip_from_data", "clip_sites"]


def modules_by_path(model: nnx.Module) -> dict[str, nnx.Module]:
  """Every submodule of ``model`` by its ``"a/0/b"`` path, in definition order."""
  return {path_key(p): m for p, m in _compat.iter_modules(model) if p}


def _switch_on(model, slots):
  mods = modules_by_path(model)
  for key, name in slots:
    if not isinstance(getattr(mods.get(key), name, None), Record):
      raise ValueError(f"no recording slot {name!r} at '{key}'; layers with slots: "
                       f"{sorted(k for k, m in mods.items() if isinstance(getattr(m, 'rec_in', None), Record))}.")
    _compat.set_value(getattr(mods[key], name), jnp.zeros((), jnp.float32))
  return mods


def capture(model: nnx.Module, x: Float[Array, "batch *features"], slots: Iterable[tuple[str, str]], *,
            rngs=None, jit: bool = True) -> dict[tuple[str, str], Array]:
  """Run ``model(x)`` once with the recording ``slots`` on; return what each recorded.

  Args:
    model: any NNX model built from snnjax layers (not modified).
    x: one batch.
    slots: ``(path, slot_name)`` pairs, e.g. ``("acts/0", "rec_in")``.
    rngs: passed to the model call.
    jit: compile the pass (one compilation per model structure and input shape).

  Returns:
    ``{(path, slot_name): array}``.
  """
  slots = tuple((str(k), str(n)) for k, n in slots)
  graphdef, state = nnx.split(model)
  key = rngs.noise() if isinstance(rngs, nnx.Rngs) else rngs
  return (_capture_jit if jit else _capture)(graphdef, state, jnp.asarray(x), key, slots)


def _capture(graphdef, state, x, key, slots):
  m = nnx.merge(graphdef, _compat.copy_state(state))
  mods = _switch_on(m, slots)
  m(x, rngs=as_rngs(key))
  return {s: _compat.get_value(getattr(mods[s[0]], s[1])) for s in slots}


# one compilation per model structure, slots and input shape
_capture_jit = xla.jit(_capture, static_argnames=("graphdef", "slots"))


def clip_sites(model: nnx.Module) -> list[tuple[str, Activation]]:
  """Activations whose conversion threshold is a clip value settable from data."""
  out = []
  for key, m in modules_by_path(model).items():
    conv = m.conversion() if isinstance(m, Activation) else None
    if conv is not None and conv.init_from_data and conv.threshold is not None:
      out.append((key, m))
  return out


def init_clip_from_data(model: nnx.Module, x: Float[Array, "batch *features"], *,
                        percentile: float = 99.9) -> dict[str, float]:
  """Set every clip value (QCFS λ, Noise-Adaptor p·s) from one batch ``x``.

  Layer by layer in forward order, each clip is set to the ``percentile`` of
  ``relu`` of its layer's input, given the clips already set upstream; the
  network runs in training mode (BatchNorm on batch statistics) with its
  noise off. BatchNorm statistics of ``model`` are left untouched. Needed
  because a clip's gradient inside its range averages to about zero, so from
  the usual initial value (λ = 8) it barely moves.

  Returns:
    ``{path: clip}``.
  """
  sites = clip_sites(model)
  if not sites:
    raise ValueError("the model has no activation with a clip value (QCFS, Noise Adaptor).")
  work = nnx.clone(model)
  # a private copy: BatchNorm on batch statistics, training noise off (no key needed)
  work.set_attributes(use_running_average=False, deterministic=True, raise_if_not_found=False)
  mods = modules_by_path(work)
  slots = tuple((k, "rec_in") for k, _ in sites)
  x = jnp.asarray(x)
  out = {}
  for key, _ in sites:
    # the inputs again each time: the clips set upstream change them
    clip = clip_statistic(capture(work, x, slots)[(key, "rec_in")], percentile)
    conv = mods[key].conversion()
    for target in (mods[key], dict(sites)[key]):
      getattr(target, conv.threshold)[...] = (clip / conv.scale).astype(jnp.float32)
    out[key] = float(clip)
  return out
