"""Fields shared by every config; each method's file overrides what it needs."""

import math

import ml_collections


def base(method: str) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.method = method
  c.seed = 0
  # data
  c.dataset = "mnist5k"        # mnist5k | digits | any tfds name on disk
  c.data_dir = ""              # tfds data_dir (ArrayRecord); empty: tfds default
  c.download = False           # never touch the network unless asked
  c.augment = False            # random crop (pad 4) + horizontal flip, on device (CIFAR)
  # model
  c.model = "mlp"              # a name in snnjax.nn: mlp, small_cnn, cnn4, vgg16, resnet18, ...
  c.hidden = (256,) * 6        # mlp only
  c.norm = True                # BatchNorm after hidden synapses (folded at conversion)
  c.model_kwargs = ml_collections.ConfigDict()
  # optimisation
  c.optimizer = "adam"
  c.learning_rate = 1e-3
  c.threshold_lr = 1e-2        # own rate for λ / θ / s (they barely move at the weight rate)
  c.weight_decay = 0.0
  c.schedule = "cosine"
  c.batch_size = 128
  c.epochs = 20
  c.num_steps = 0              # > 0 overrides epochs
  c.stop_after = 0             # > 0: stop early (simulates a killed run; resume continues)
  # method knobs (each method reads its own)
  c.levels = 4                 # QCFS L / Noise Adaptor p
  c.init_threshold = 8.0       # initial λ = p·s (before init_percentile, if that is set)
  c.init_percentile = 99.9     # > 0: set λ = p·s from this percentile of each layer's input on one batch
  c.alpha = 1.0                # Noise Adaptor noise amplitude
  c.variant = "A"
  c.T = 4                      # BPTT time steps
  c.way = "auto"               # BPTT execution way
  c.bptt_loss = "mean"
  c.noise = ml_collections.ConfigDict(dict(
      kind="gaussian", mean=0.5, std=1 / math.sqrt(12), gradient="surrogate", surrogate="sigmoid",
      alpha=4.0, learn_threshold=False, eval_noise=False, rng="fast"))
  # evaluation and conversion
  c.eval_T = (1, 2, 4, 8, 16, 32)
  c.eval_way = "auto"          # layer | step | auto (step on CPU, layer on accelerators)
  c.eval_batch_size = 500
  c.eval_examples = 0          # > 0: evaluate on the first N test examples only
  c.percentile = 99.9          # classic conversion
  c.calib_batches = 10
  c.compare_maxnorm = False    # also train a ReLU ANN and convert it the classic way
  # plumbing
  c.num_devices = 0            # 0: all local devices
  c.multihost = False
  c.log_every = 10
  c.checkpoint_every = 0       # steps; 0: no checkpoints
  c.progress = True
  c.plots = True
  return c


def tiny(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Shrink a config to seconds on a CPU (tests)."""
  c.dataset = "digits"
  c.model = "small_cnn"
  c.batch_size = 64
  c.num_steps = 60
  c.eval_T = (1, 2, 4, 8)
  c.compare_maxnorm = False
  c.progress = False
  c.plots = False
  c.log_every = 5
  c.learning_rate = 3e-3
  return c
