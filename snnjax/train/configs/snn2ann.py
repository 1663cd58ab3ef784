"""SNN2ANN: SNN and ANN branches on shared weights, ReSU/STSU mapping units, ATA thresholds.

mnist5k path: a small SNN2ANN VGG (two blocks of two 3×3 convs, 32 and 64 channels, BatchNorm,
max-pooling of currents), T = 4, Adam 1e-3 with weight decay 5e-4 added to the gradient, lr ×0.1 at
50 %, 75 % and 87.5 % of the run.

Command:   python -m snnjax.train --config snn2ann --workdir runs/snn2ann          (ReSU)
           python -m snnjax.train --config snn2ann:STSU --workdir runs/snn2ann_stsu
Runtime:   ~2 min on a 2-core CPU (mnist5k, 20 epochs); one GPU: not yet measured.
Variants (comma-separated): ReSU (default), STSU, avgpool (IF → avg-pool → IF instead of max-pooled
           currents), spike_shortcut (ResNet-17: spikes, not currents, on identity shortcuts), tiny;
           cifar10_vgg13, cifar10_resnet17, cifar100_vgg13, cifar100_resnet17 (the paper's setting:
           Adam 1e-3, wd 5e-4, ×0.1 at epochs 100/150/175 of 200, batch 512, T = 4 for VGG-13 and 5
           for ResNet-17, kaiming fan-out init for ResNet; tfds datasets on disk);
           tiny_imagenet_vgg13, tiny_imagenet_resnet17 (64×64 inputs, a tfds 'tiny_imagenet' dir).
"""

import ml_collections

from snnjax.train.configs.common import base, same_as_weights, tiny

VARIANTS = ("ReSU", "STSU", "avgpool", "spike_shortcut", "tiny", "cifar10_vgg13", "cifar10_resnet17",
            "cifar100_vgg13", "cifar100_resnet17", "tiny_imagenet_vgg13", "tiny_imagenet_resnet17")

#: The authors' normalisation, the same for every dataset.
NORM = ((0.4914, 0.4822, 0.4465), (0.557, 0.549, 0.5534))


def get_config(variant: str = ""):
  c = base("snn2ann")
  c.model = "snn2ann_small"
  c.norm = True
  c.optimizer, c.learning_rate, c.weight_decay = "adam_l2", 1e-3, 5e-4
  c.threshold_lr = same_as_weights()
  c.schedule, c.lr_milestones = "multistep", (0.5, 0.75, 0.875)
  c.init_percentile = 0.0
  c.eval_T = (1, 2, 4, 8, 16)
  c.model_kwargs = ml_collections.ConfigDict()
  for v in filter(None, variant.split(",")):
    if v in ("ReSU", "STSU"):
      c.smu = v
    elif v == "avgpool":
      c.model_kwargs.pool = "avg"
    elif v == "spike_shortcut":
      c.model_kwargs.current_shortcut = False
    elif v == "tiny":
      tiny(c)
      c.model, c.learning_rate, c.eval_T = "snn2ann_small", 3e-3, (1, 2, 4)
    elif v.split("_")[0] in ("cifar10", "cifar100") or v.startswith("tiny_imagenet"):
      data, arch = v.rsplit("_", 1)
      c.dataset = data
      c.model = "snn2ann_vgg13" if arch == "vgg13" else "resnet17"
      c.T = 4 if arch == "vgg13" else 5
      c.epochs, c.batch_size, c.augment = 200, 512, True
      c.eval_T = (1, 2, c.T, 8)
      c.normalization = NORM
    else:
      raise ValueError(f"unknown variant {v!r}; choose from {VARIANTS} (comma-separated).")
  return c
