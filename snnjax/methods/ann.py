"""ReLU ANN → classic conversion (max or percentile thresholds).

Train a ReLU network as usual; convert it with thresholds calibrated on
training data (:func:`snnjax.convert.calibrate`: the maximum, or the 99.9th
percentile, of each layer's activations), IF neurons with soft reset, v[0] = 0
(θ/2 as an option). Expect near-ANN accuracy only after tens to hundreds of
steps: the reference point of the low-latency methods.

References:
  [Diehl et al., 2015](https://doi.org/10.1109/IJCNN.2015.7280696) (max normalisation);
  [Rueckauer et al., 2017](https://doi.org/10.3389/fnins.2017.00682), §2.2 (99.9th percentile).
"""

from __future__ import annotations

from snnjax.methods.common import Recipe, cross_entropy
from snnjax.nn.activations import relu

__all__ = ["DEFAULTS", "module_loss", "recipe"]

#: Configuration fields read by this method.
DEFAULTS = {"percentile": 99.9}


def module_loss(model, batch, rngs=None):
  """Cross-entropy of ``model(images)``; BatchNorm uses batch statistics."""
  logits = model(batch["image"], rngs=rngs)
  return cross_entropy(logits, batch["label"]), logits


def recipe(config) -> Recipe:
  del config
  return Recipe(act=relu(), loss=module_loss)
