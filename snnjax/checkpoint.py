"""Checkpoints you can trust: orbax's CheckpointManager plus content checksums.

Each save writes one pytree of arrays (parameters, BatchNorm statistics,
optimizer state, ...) and a JSON dict (data-iterator state, history, ...) per
step, and a SHA-256 digest of every array leaf into that JSON. A restore
recomputes the digests, so an array file that was damaged in place (same size,
other bytes), which orbax itself reads back without complaint, is detected.
A checkpoint that fails to restore or to verify is reported with its path and
moved aside to ``<directory>.corrupt/<step>`` (kept, never deleted, and no
longer in the way of new saves or of garbage collection), and restore falls
back to the newest good one. Garbage collection keeps the newest
``max_to_keep`` checkpoints, so the newest good one is never deleted.

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

__all__ = ["Checkpointer", "CorruptCheckpoint", "WorkdirLock", "tree_digest"]


class CorruptCheckpoint(Exception):
  """A checkpoint's arrays do not match the digests saved with them."""


def tree_digest(tree: Any) -> dict[str, str]:
  """SHA-256 of every array leaf (its dtype, shape and bytes), by leaf path."""
  out = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:  # replicated over processes
      leaf = leaf.addressable_shards[0].data
    a = np.asarray(jax.device_get(leaf))
    h = hashlib.sha256(f"{a.dtype}{a.shape}".encode())
    h.update(np.ascontiguousarray(a).tobytes())
    out[jax.tree_util.keystr(path)] = h.hexdigest()
  return out


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
    meta = dict(meta, digest=tree_digest(tree))
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
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
    bad = []
    result = None
    for step in reversed(self.steps()):
      try:
        r = self.manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
        saved = r["meta"].get("digest")
        if saved is not None and tree_digest(r["state"]) != saved:
          raise CorruptCheckpoint("its arrays do not match the checksums saved with them")
        result = step, r["state"], {k: v for k, v in r["meta"].items() if k != "digest"}
        break
      except Exception as e:  # noqa: BLE001 — any failure: report, keep the files, try an older one
        msg = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
        if _is_mismatch(e):  # written by another model: nothing is wrong with the files
          raise ValueError(
              f"the checkpoints in {self.directory} hold a different state than this run builds "
              f"({msg}); resume with the config that wrote them, or use another --workdir.") from e
        bad.append(step)
        report(f"checkpoint at step {step} ({os.path.join(self.directory, str(step))}) cannot be used: "
               f"{type(e).__name__}: {msg}. It is kept in {self.quarantine}/; trying an older one.")
    if bad:
      self._quarantine(bad)
    return result

  def _quarantine(self, steps) -> None:
    self.manager.wait_until_finished()
    self.manager.close()
    os.makedirs(self.quarantine, exist_ok=True)
    for step in steps:
      src = os.path.join(self.directory, str(step))
      if os.path.exists(src) and jax.process_index() == 0:  # one process moves, on a shared disk
        dst = os.path.join(self.quarantine, f"{step}-{time.strftime('%Y%m%d-%H%M%S')}")
        shutil.move(src, dst)
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
