"""SAF: spike accumulation forwarding, LIF (τ=2) net trained one step at a time, T=6.

SAF-E (a loss at every step; an optimizer step after every t, paired with OTTT_O) by default;
SAF-F (one loss at the last step, paired with OTTT_A) with the F variant. Same model and
optimizer as the OTTT config, so the two compare on equal terms.

Command:   python -m snnjax.train --config saf --workdir runs/saf_e
           python -m snnjax.train --config saf:F --workdir runs/saf_f
Runtime:   ~1 min on a 2-core CPU (mnist5k MLP, 20 epochs); one GPU: not yet measured.
Variants (comma-separated): E (default), F, A (SAF-E with gradients summed over t), tiny (tests),
           cifar10_vgg11 (VGG-11-WS, T=6, SGD 0.1, cosine over 300 epochs, batch 128; tfds cifar10).
"""

from snnjax.train.configs.common import base, online, online_variant

VARIANTS = ("E", "F", "A", "tiny", "cifar10_vgg11")


def get_config(variant: str = ""):
  c = base("saf")
  online(c)
  for v in filter(None, variant.split(",")):
    if v in ("E", "F"):
      c.variant = v
    elif v == "A":
      c.online_update = "A"
    elif not online_variant(c, v):
      raise ValueError(f"unknown variant {v!r}; choose from {VARIANTS} (comma-separated).")
  return c
