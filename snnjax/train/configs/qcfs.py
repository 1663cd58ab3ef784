"""QCFS baseline: quantized (L=4) ANN → IF SNN (θ = λ, v0 = θ/2).

Command:   python -m snnjax.train --config qcfs --workdir runs/qcfs
Runtime:   ~15 s on a 2-core CPU (mnist5k MLP); one GPU: not yet measured.
Variants:  :tiny (tests); :cnn (mnist5k, small CNN, 10 epochs, ~35 s on a 2-core CPU);
           :cifar10_vgg16 (QCFS README setting, L=4, 300 epochs; tfds cifar10 on disk).
"""

from snnjax.train.configs.common import base, tiny

VARIANTS = ("tiny", "cnn", "cifar10_vgg16")


def get_config(variant: str = ""):
  c = base("qcfs")
  c.eval_T = (1, 2, 4, 8, 16, 32, 64)
  if variant == "tiny":
    tiny(c)
  elif variant == "cnn":
    c.model, c.epochs = "small_cnn", 10
  elif variant == "cifar10_vgg16":
    c.dataset, c.model, c.epochs, c.batch_size = "cifar10", "vgg16", 300, 128
    c.optimizer, c.learning_rate, c.weight_decay, c.threshold_lr = "sgd", 0.1, 5e-4, 0.1
    c.augment = True
  elif variant:
    raise ValueError(f"unknown variant {variant!r}; choose one of {VARIANTS}.")
  return c
