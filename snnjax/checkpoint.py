"""Checkpoints: a small wrapper over orbax's CheckpointManager.

Saves one pytree of arrays (parameters, BatchNorm statistics, optimizer state)
plus a JSON dict (step, data-iterator state, anything else) per step, keeps the
newest few, and on restore falls back from a corrupt or incompatible
checkpoint to the next older one, reporting each failure and deleting nothing.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import orbax.checkpoint as ocp

__all__ = ["Checkpointer"]


class Checkpointer:
  """``save(step, tree, meta)`` / ``restore(like) -> (step, tree, meta) | None``."""

  def __init__(self, directory: str, *, max_to_keep: int = 3):
    self.directory = os.path.abspath(directory)
    self.manager = ocp.CheckpointManager(
        self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True))

  def save(self, step: int, tree: Any, meta: dict) -> None:
    self.manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(tree),
                                                    meta=ocp.args.JsonSave(meta)))

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def steps(self) -> list[int]:
    return sorted(self.manager.all_steps())

  def restore(self, like: Any, *, report=print):
    """Newest checkpoint that restores into the structure of ``like``, or None."""
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
    for step in reversed(self.steps()):
      try:
        r = self.manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
        return step, r["state"], r["meta"]
      except Exception as e:  # noqa: BLE001 — any failure: report, keep the file, try an older one
        report(f"checkpoint at step {step} in {self.directory} could not be restored "
               f"({type(e).__name__}: {str(e).splitlines()[0][:200]}); it is kept on disk, "
               "trying an older one.")
    return None

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()
