"""ReLU ANN → classic conversion (99.9th-percentile thresholds, v0 = 0).

Command:   python -m snnjax.train --config ann --workdir runs/ann
Runtime:   ~16 s on a 2-core CPU (mnist5k MLP); one GPU: not yet measured.
Variants:  :tiny (tests).
"""

from snnjax.train.configs.common import base, tiny

VARIANTS = ("tiny",)


def get_config(variant: str = ""):
  c = base("ann")
  c.eval_T = (8, 16, 32, 64, 128, 256)
  if variant == "tiny":
    tiny(c)
  elif variant:
    raise ValueError(f"unknown variant {variant!r}; choose one of {VARIANTS}.")
  return c
