"""Nested-dict trees addressed by layer paths (``"acts/0"`` ↔ ``("acts", 0)``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp


def path_key(path) -> str:
  """``("acts", 0)`` → ``"acts/0"``."""
  return "/".join(map(str, path))


def parse_key(key: str) -> tuple:
  """``"acts/0"`` → ``("acts", 0)``."""
  return tuple(int(p) if p.isdigit() else p for p in key.split("/"))


def get(tree, path, *, missing_ok: bool = False):
  """``tree[p0][p1]...``; ``path`` a tuple or a ``"a/0/b"`` key. With ``missing_ok``, None if absent."""
  for k in parse_key(path) if isinstance(path, str) else path:
    if missing_ok and (not isinstance(tree, Mapping) or k not in tree):
      return None
    tree = tree[k]
  return tree


def put(tree, path, value, *, create: bool = False) -> None:
  """Set ``tree[p0]...[pn] = value`` in place (``create``: make missing dicts on the way)."""
  path = parse_key(path) if isinstance(path, str) else tuple(path)
  for k in path[:-1]:
    tree = tree.setdefault(k, {}) if create else tree[k]
  tree[path[-1]] = value


def fill(target, source, path: tuple = ()) -> Any:
  """``target``'s structure with ``source``'s values, cast to ``target``'s dtypes.

  ``None`` leaves of ``target`` (a reset membrane, a recording slot that is
  off) stay ``None``. A missing entry or a shape that differs is an error
  that names the path.
  """
  if isinstance(target, Mapping):
    return {k: fill(v, source.get(k) if isinstance(source, Mapping) else None, path + (k,))
            for k, v in target.items()}
  if target is None:
    return None
  key = path_key(path)
  if source is None:
    raise ValueError(f"the trained tree has no entry for '{key}' needed by the spiking model; "
                     "was the model built with a different architecture?")
  source = jnp.asarray(source)
  if tuple(source.shape) != tuple(target.shape):
    raise ValueError(f"shape mismatch at '{key}': the trained tree has {tuple(source.shape)}, "
                     f"the spiking model {tuple(target.shape)}.")
  return source.astype(target.dtype)
