"""The few APIs that differ across the supported JAX/Flax range.

snnjax supports jax ≥ 0.7.2 with flax ≥ 0.11.2 (Google Colab's versions) up to
the newest releases. Everything that is spelled differently at the two ends
lives here, so the rest of the library reads as plain JAX/Flax.

* ``nnx.List`` (flax ≥ 0.12) holds submodules in a list; flax 0.11 takes a
  plain Python list.
* ``nnx.iter_modules`` (flax ≥ 0.12) walks the submodules; flax 0.11 has
  ``nnx.iter_graph``, which also yields variables.
* ``Variable[...]`` reads arrays in both; a value that may be ``None`` (a
  recording slot that is switched off) is read with ``get_value`` in flax
  ≥ 0.12 and ``.value`` before.
* ``jax.enable_x64`` (jax ≥ 0.8) was ``jax.experimental.enable_x64``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import jax
from flax import nnx

__all__ = ["List", "iter_modules", "iter_variables", "get_value", "set_value", "enable_x64",
           "copy_state"]

#: A list of submodules (``nnx.List`` where it exists, else ``list``).
List = getattr(nnx, "List", list)


def iter_modules(module: nnx.Module) -> Iterator[tuple[tuple, nnx.Module]]:
  """``(path, submodule)`` for every module in ``module`` (the root last, as NNX does)."""
  walk = getattr(nnx, "iter_modules", None)
  if walk is not None:
    yield from walk(module)
    return
  for path, node in nnx.iter_graph(module):
    if isinstance(node, nnx.Module):
      yield path, node


def iter_variables(module: nnx.Module) -> Iterator[tuple[tuple, str, nnx.Variable]]:
  """``(module path, attribute name, variable)`` for every variable in ``module``."""
  for path, node in nnx.iter_graph(module):
    if isinstance(node, nnx.Variable) and path:
      yield tuple(path[:-1]), str(path[-1]), node


def get_value(var: nnx.Variable) -> Any:
  """The value of ``var``, which may be ``None`` or a non-array."""
  getter = getattr(var, "get_value", None)
  return var.value if getter is None else getter()


def set_value(var: nnx.Variable, value: Any) -> None:
  """Replace the value of ``var`` (any shape, or ``None``)."""
  setter = getattr(var, "set_value", None)
  if setter is None:
    var.value = value
  else:
    setter(value)


def enable_x64(enabled: bool = True):
  """Context manager for 64-bit floats (``jax.enable_x64`` or its experimental predecessor)."""
  if getattr(jax, "enable_x64", None) is not None:
    return jax.enable_x64(enabled)
  from jax.experimental import enable_x64 as _x64  # jax < 0.8
  return _x64(enabled) if enabled else contextlib.nullcontext()


def copy_state(state: nnx.State) -> nnx.State:
  """A structural copy of ``state`` with fresh variable objects (safe to mutate)."""
  return jax.tree.map(lambda x: x, state)
