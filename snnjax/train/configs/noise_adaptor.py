"""Noise Adaptor: noisy low-bit (p=4) quantized ANN → IF SNN (θ = p·s, v0 = θ/2).

Command:   python -m snnjax.train --config noise_adaptor --workdir runs/noise_adaptor
Runtime:   ~15 s on a 2-core CPU (mnist5k, 784-256×6-10 MLP); one GPU: not yet measured.
Variants:  :tiny (tests, seconds);
           :cifar10_resnet18 — the paper's 95.95% at T=4 setting (ResNet-18, p=4, SGD 0.1,
             wd 5e-4, cosine, 300 epochs; tfds cifar10 on disk; run time not yet measured);
           :imagenet_resnet50 (ResNet-50 with ImageNet stem and avg-pool, p=4, 120 epochs, batch 256,
             tfds imagenet2012 on disk; run time not yet measured).
"""

from snnjax.train.configs.common import base, tiny

VARIANTS = ("tiny", "cifar10_resnet18", "imagenet_resnet50")


def get_config(variant: str = ""):
  c = base("noise_adaptor")
  c.eval_T = (1, 2, 4, 8, 16, 32, 64)
  if variant == "tiny":
    tiny(c)
  elif variant == "cifar10_resnet18":
    c.dataset, c.model, c.epochs, c.batch_size = "cifar10", "resnet18", 300, 128
    c.optimizer, c.learning_rate, c.weight_decay, c.threshold_lr = "sgd", 0.1, 5e-4, 0.1
    c.augment = True
  elif variant == "imagenet_resnet50":
    c.dataset, c.model, c.epochs, c.batch_size = "imagenet2012", "resnet50", 120, 256
    c.optimizer, c.learning_rate, c.weight_decay, c.threshold_lr = "sgd", 0.1, 1e-4, 0.1
    c.eval_T = (2, 4, 8, 16, 32, 64)
  elif variant:
    raise ValueError(f"unknown variant {variant!r}; choose one of {VARIANTS}.")
  return c
