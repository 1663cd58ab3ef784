"""Training methods, one module per paper or baseline.

Each method module owns its activation (spec and module), its loss or
training step where it differs from the generic one, how its trained model
becomes a spiking one (as :class:`~snnjax.nn.Conversion` data on its
activation), and its configuration defaults. It exposes

* ``DEFAULTS``: the configuration fields it reads, with their defaults;
* ``recipe(config) -> snnjax.methods.common.Recipe``: the activation, the loss
  (and optionally a custom training step or evaluation path) for a config
  (any object with those fields as attributes).

The training program finds a method by its module name (:func:`get`); no
list of methods is kept anywhere else.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

__all__ = ["available", "get"]


def available() -> list[str]:
  """Names of the method modules in this package."""
  return sorted(m.name for m in pkgutil.iter_modules(__path__)
                if not m.name.startswith("_") and m.name != "common")


def get(name: str) -> ModuleType:
  """The method module ``snnjax.methods.<name>``, or an error listing the available ones."""
  if name not in available():
    raise ValueError(f"unknown method {name!r}; available: {available()}.")
  mod = importlib.import_module(f"snnjax.methods.{name}")
  if not callable(getattr(mod, "recipe", None)):
    raise ValueError(f"snnjax.methods.{name} has no recipe(config).")
  return mod
