"""OTTT: online training through time, LIF (τ=2) net trained one step at a time, T=6.

The mnist5k path: 784-256-256-10 MLP with scaled weight standardisation and ×2.74 after
each LIF layer (OTTT's CIFAR recipe in an MLP), SGD 0.1 momentum 0.9, cosine, batch 128.

Command:   python -m snnjax.train --config ottt --workdir runs/ottt      (OTTT_A)
           python -m snnjax.train --config ottt:O --workdir runs/ottt_o  (OTTT_O)
Runtime:   ~1 min on a 2-core CPU (mnist5k MLP, 20 epochs); one GPU: not yet measured.
Variants (comma-separated): A (gradients summed over t, the default), O (an optimizer step after
           every t), tiny (tests), cifar10_vgg11 (the paper's VGG-11-WS, T=6, SGD 0.1, cosine over
           300 epochs, batch 128; tfds cifar10 on disk).
"""

from snnjax.train.configs.common import base, online, online_variant

VARIANTS = ("A", "O", "tiny", "cifar10_vgg11")


def get_config(variant: str = ""):
  c = base("ottt")
  online(c)
  for v in filter(None, variant.split(",")):
    if v in ("A", "O"):
      c.online_update = v
    elif not online_variant(c, v):
      raise ValueError(f"unknown variant {v!r}; choose from {VARIANTS} (comma-separated).")
  return c
