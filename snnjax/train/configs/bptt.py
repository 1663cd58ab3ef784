"""BPTT baseline: LIF (τ=2, θ=1, sigmoid α=4, soft reset) trained through T=4 steps.

Command:   python -m snnjax.train --config bptt --workdir runs/bptt
Runtime:   ~17 s on a 2-core CPU (mnist5k MLP, T=4, step-by-step unrolled); one GPU: not yet measured.
Variants:  :tiny (tests).
"""

from snnjax.train.configs.common import base, tiny

VARIANTS = ("tiny",)


def get_config(variant: str = ""):
  c = base("bptt")
  c.eval_T = (1, 2, 4, 8)
  if variant == "tiny":
    tiny(c)
  elif variant:
    raise ValueError(f"unknown variant {variant!r}; choose one of {VARIANTS}.")
  return c
