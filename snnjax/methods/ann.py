"""Plain (and quantized) ANN training: one forward, cross-entropy.

Used for the ReLU ANN of classic conversion and the QCFS ANN (the activation
spec decides which; spec §6.1, §6.5).
"""

from __future__ import annotations

from snnjax.methods.common import cross_entropy

__all__ = ["module_loss"]


def module_loss(model, batch, key=None):
  """Cross-entropy of ``model(images)``; BatchNorm uses batch statistics."""
  del key
  logits = model(batch["image"])
  return cross_entropy(logits, batch["label"]), logits
