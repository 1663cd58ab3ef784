"""Checkpoints you can trust: orbax's CheckpointManager plus content checksums.

Each save writes one pytree of arrays (parameters, BatchNorm statistics,
optimizer state, ...) and a JSON dict (data-iterator state, history, ...) per
step, and a SHA-256 digest of every array leaf into that JSON. A restore
recomputes the digests, so an array file that was damaged in place (same size,
other bytes), which orbax itself reads back without complaint, is detected.
A checkpoint that fails to restore or to verify is reported with its path and
moved aside to ``<directory>.corrupt/<step>`` (kept, never deleted, and no
longer in the way of new saves or of garbage collection), and restore falls
back to the newest good one. Damage is found when a checkpoint is restored,
not when it is written: garbage collection keeps the newest ``max_to_keep``
whatever their state, so a good one to fall back on exists only if one of
those is intact.

The shape and dtype of every leaf are saved too. A run whose state has other
leaves or shapes than the checkpoint's (another model or optimizer) is refused
before anything is read or moved; a dtype difference alone (e.g. a run with
``jax_enable_x64``) restores the saved values, verifies them, and casts them.

:class:`WorkdirLock` keeps a second run out of a working directory.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import time
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from snnjax import parallel

__all__ = ["Checkpointer", "CorruptCheckpoint", "StateMismatch", "WorkdirLock", "saved_steps", "tree_digest",
           "tree_layout"]


class CorruptCheckpoint(Exception):
  """A checkpoint's arrays do not match the digests saved with them."""


class StateMismatch(ValueError):
  """The checkpoints were written by a run with another state (model, optimizer)."""


def tree_digest(tree: Any) -> dict[str, str]:
  """SHA-256 of every array leaf (its dtype, shape and bytes), by leaf path."""
  out = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    a = parallel.host_array(leaf)
    h = hashlib.sha256(f"{a.dtype}{a.shape}".encode())
    h.update(np.ascontiguousarray(a).tobytes())
    out[jax.tree_util.keystr(path)] = h.hexdigest()
  return out


def tree_layout(tree: Any) -> dict[str, list]:
  """``[shape, dtype]`` of every array leaf, by leaf path."""
  return {jax.tree_util.keystr(path): [list(np.shape(leaf)), str(np.dtype(leaf.dtype))]
          for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


def _layout_difference(saved: dict, mine: dict) -> str | None:
  """What differs between two layouts in leaves or shapes (dtypes may differ), or None."""
  missing, extra = sorted(set(mine) - set(saved)), sorted(set(saved) - set(mine))
  shapes = [f"{k} {saved[k][0]} → {mine[k][0]}" for k in sorted(set(saved) & set(mine))
            if list(saved[k][0]) != list(mine[k][0])]
  parts = ([f"leaves this run has and the checkpoint lacks: {missing[:3]}"] if missing else []) + \
          ([f"leaves only the checkpoint has: {extra[:3]}"] if extra else []) + \
          ([f"shapes differ: {shapes[:3]}"] if shapes else [])
  return "; ".join(parts) or None


def saved_steps(directory: str) -> list[int]:
  """The steps checkpointed in ``directory`` (without opening or creating anything)."""
  if not os.path.isdir(directory):
    return []
  return sorted(int(d) for d in os.listdir(directory)
                if d.isdigit() and os.path.isdir(os.path.join(directory, d)))


class Checkpointer:
  """``save(step, tree, meta)`` / ``restore(like) -> (step, tree, meta) | None``."""

  def __init__(self, directory: str, *, max_to_keep: int = 3):
    self.directory = os.path.abspath(directory)
    self.max_to_keep = max_to_keep
    self.quarantine = self.directory + ".corrupt"
    self._open()

  def _open(self):
    self.manager = ocp.CheckpointManager(
        self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=self.max_to_keep, create=True))

  def save(self, step: int, tree: Any, meta: dict) -> None:
    meta = dict(meta, digest=tree_digest(tree), layout=tree_layout(tree))
    self.manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(tree),
                                                    meta=ocp.args.JsonSave(meta)))

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def steps(self) -> list[int]:
    return sorted(self.manager.all_steps())

  def restore(self, like: Any, *, report=print):
    """Newest checkpoint that restores into the structure of ``like`` and verifies, or None.

    Each one that fails is reported (with its path and the reason), moved aside
    to ``<directory>.corrupt/`` and skipped.
    """
    mine = tree_layout(like)
    bad = []
    result = None
    for step in reversed(self.steps()):
      meta = layout = None
      try:
        meta = self.manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
        layout = meta.get("layout")
        if layout is not None and (diff := _layout_difference(layout, mine)) is not None:
          raise StateMismatch(self._mismatch(diff))
        restored = self.manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(_abstract(like, layout))))["state"]
        saved = meta.get("digest")
        if saved is not None and tree_digest(restored) != saved:
          raise CorruptCheckpoint("its arrays do not match the checksums saved with them")
        state = jax.tree.map(lambda a, b: a if a.dtype == b.dtype else a.astype(b.dtype), restored, like)
        result = step, state, {k: v for k, v in meta.items() if k not in ("digest", "layout")}
        break
      except StateMismatch:
        raise
      except Exception as e:  # noqa: BLE001 — any failure: report, keep the files, try an older one
        if meta is not None and layout is None and _is_mismatch(e):
          # written before layouts were saved: orbax's own complaint about the tree
          raise StateMismatch(self._mismatch(_first_line(e))) from e
        bad.append(step)
        report(f"checkpoint at step {step} ({os.path.join(self.directory, str(step))}) cannot be used: "
               f"{type(e).__name__}: {_first_line(e)}. It is kept in {self.quarantine}/; trying an older one.")
    if bad:
      self._quarantine(bad)
    return result

  def _mismatch(self, what: str) -> str:
    return (f"the checkpoints in {self.directory} hold a different state than this run builds ({what}); "
            "resume with the config that wrote them, or use another --workdir. Nothing was changed.")

  def _quarantine(self, steps) -> None:
    self.manager.wait_until_finished()
    self.manager.close()
    os.makedirs(self.quarantine, exist_ok=True)
    for step in steps:
      src = os.path.join(self.directory, str(step))
      if os.path.exists(src) and parallel.is_primary():  # one process moves, on a shared disk
        dst = os.path.join(self.quarantine, f"{step}-{time.strftime('%Y%m%d-%H%M%S')}")
        shutil.move(src, dst)
    if jax.process_count() > 1:  # the others reopen only once the moves are done
      from jax.experimental import multihost_utils
      multihost_utils.sync_global_devices(f"snnjax-quarantine-{self.directory}")
    self._open()

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()


class WorkdirLock:
  """A lock file (``<workdir>/.lock``, holding the owner's process id) for one run at a time.

  A lock left by a process that no longer runs is taken over with a message.
  """

  def __init__(self, workdir: str, *, report=print):
    self.path = os.path.join(os.path.abspath(workdir), ".lock")
    self.report = report
    self.held = False

  def acquire(self) -> "WorkdirLock":
    os.makedirs(os.path.dirname(self.path), exist_ok=True)
    while True:
      try:
        fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
      except FileExistsError:
        pid = _read_pid(self.path)
        if pid is not None and _alive(pid) and pid != os.getpid():
          raise RuntimeError(
              f"another run (process {pid}) is using {os.path.dirname(self.path)}; wait for it to finish "
              f"or use another --workdir (if no such run exists, delete {self.path}).") from None
        self.report(f"removing a stale lock left by process {pid} in {os.path.dirname(self.path)}")
        try:
          os.remove(self.path)
        except FileNotFoundError:
          pass
        continue
      with os.fdopen(fd, "w") as f:
        f.write(str(os.getpid()))
      self.held = True
      atexit.register(self.release)
      return self

  def release(self) -> None:
    if self.held and _read_pid(self.path) == os.getpid():
      os.remove(self.path)
    self.held = False

  def __enter__(self):
    return self.acquire()

  def __exit__(self, *exc):
    self.release()


def _abstract(like: Any, layout: dict | None):
  """The restore target: ``like``'s structure and sharding with the saved dtypes."""
  def leaf(path, x):
    sds = ocp.utils.to_shape_dtype_struct(x)
    saved = None if layout is None else layout.get(jax.tree_util.keystr(path))
    if saved is None or np.dtype(saved[1]) == sds.dtype:
      return sds
    return jax.ShapeDtypeStruct(sds.shape, np.dtype(saved[1]), sharding=getattr(sds, "sharding", None))
  return jax.tree_util.tree_map_with_path(leaf, like)


def _first_line(e: Exception) -> str:
  return str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__


def _is_mismatch(e: Exception) -> bool:
  text = f"{type(e).__name__} {e}".lower()
  return isinstance(e, (ValueError, TypeError)) and not isinstance(e, CorruptCheckpoint) and any(
      w in text for w in ("structure", "shape", "tree", "mismatch", "keys"))


def _read_pid(path):
  try:
    with open(path) as f:
      return int(f.read().strip() or 0) or None
  except (OSError, ValueError):
    return None


def _alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True
