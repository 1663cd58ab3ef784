"""Noise-based T=1 training → T=N conversion on mnist5k (the README's main job).

Trains the 784-256×6-10 MLP as a single-step spiking net with Gaussian membrane
noise, converts it to IF neurons (v0 = μ), evaluates at T = 1…32; trains the
same MLP as a ReLU ANN and converts it the classic way (99.9th percentile,
v0 = 0 and θ/2) for comparison.

Command:   python -m snnjax.train --config noise_t1 --workdir runs/noise_t1
Runtime:   ~25 s on a 2-core CPU (two trainings: the noisy T=1 net and the ReLU baseline); one GPU: not yet measured.
Variants:  :tiny (digits, small CNN, seconds; tests);
           :cifar10_resnet18 (tfds cifar10 on disk, ResNet-18, 200 epochs; run time not yet measured).
"""

from snnjax.train.configs.common import base, tiny

VARIANTS = ("tiny", "cifar10_resnet18")


def get_config(variant: str = ""):
  c = base("noise_t1")
  c.compare_maxnorm = True
  if variant == "tiny":
    tiny(c)
  elif variant == "cifar10_resnet18":
    c.dataset, c.model, c.epochs, c.batch_size = "cifar10", "resnet18", 200, 128
    c.optimizer, c.learning_rate, c.weight_decay = "sgd", 0.1, 5e-4
    c.compare_maxnorm, c.augment = False, True
  elif variant:
    raise ValueError(f"unknown variant {variant!r}; choose one of {VARIANTS}.")
  return c
