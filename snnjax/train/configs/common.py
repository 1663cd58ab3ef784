"""Fields shared by every config; each method adds its own defaults (``DEFAULTS``)."""

import ml_collections

from snnjax import methods


def base(method: str) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.method = method
  c.seed = 0
  # data
  c.dataset = "mnist5k"        # mnist5k | digits | any tfds name on disk
  c.data_dir = ""              # tfds data_dir (ArrayRecord); empty: tfds default
  c.download = False           # never touch the network unless asked
  c.train_examples = 0         # > 0: train on N training examples only (a fixed random subset)
  c.augment = False            # random crop (pad 4) + horizontal flip, on device (CIFAR)
  c.normalization = ()         # ((mean...), (std...)) per channel; empty: the dataset's standard one
  # model
  c.model = "mlp"              # a name in snnjax.nn: mlp, small_cnn, cnn4, vgg16, resnet18, ...
  c.hidden = (256,) * 6        # mlp only
  c.norm = True                # BatchNorm after hidden synapses (folded at conversion)
  c.model_kwargs = ml_collections.ConfigDict()
  # optimisation
  c.optimizer = "adam"
  c.learning_rate = 1e-3
  c.threshold_lr = 1e-2        # own rate for threshold-like parameters (λ, θ, s); 0 freezes them
  c.weight_decay = 0.0
  c.schedule = "cosine"
  c.batch_size = 128
  c.epochs = 20
  c.num_steps = 0              # > 0 overrides epochs
  c.stop_after = 0             # > 0: stop early (simulates a killed run; resume continues)
  c.init_percentile = 99.9     # > 0: set clip values (λ, p·s) from this percentile of one batch
  # evaluation and conversion
  c.eval_T = (1, 2, 4, 8, 16, 32)
  c.eval_way = "auto"          # layer | step | auto (step on CPU, layer on accelerators)
  c.eval_batch_size = 500
  c.eval_examples = 0          # > 0: evaluate on N test examples only (a fixed random subset)
  c.epoch_eval_examples = 1000  # test accuracy of the trained net after every epoch on N examples (0: off)
  c.percentile = 99.9          # calibrated conversion (ReLU sites)
  c.calib_batches = 10
  c.compare_maxnorm = False    # also train config.baseline and convert it the classic way
  c.baseline = "ann"
  # plumbing
  c.num_devices = 0            # 0: all local devices
  c.multihost = False          # several processes/hosts: jax.distributed (see docs/multihost.md)
  c.coordinator_address = ""   # host:port of process 0 ("" : from the environment / the cluster)
  c.num_processes = 0          # 0: from the environment
  c.process_id = -1            # -1: from the environment
  c.log_every = 10
  c.checkpoint_every = -1      # steps between checkpoints; -1: once per epoch; 0: never
  c.progress = True
  c.plots = True
  # the method's own knobs (snnjax.methods.<method>.DEFAULTS)
  for k, v in methods.get(method).DEFAULTS.items():
    if k not in c:
      setattr(c, k, ml_collections.ConfigDict(v) if isinstance(v, dict) else v)
  return c


def same_as_weights() -> ml_collections.FieldReference:
  """``threshold_lr`` that follows ``learning_rate`` (still a float on the command line)."""
  return ml_collections.FieldReference(None, field_type=float)


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


def online(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """OTTT/SAF's setting on mnist5k: an MLP with weight standardisation instead of BatchNorm,
  ×2.74 after each LIF layer, SGD 0.1 with momentum 0.9, cosine schedule, T = 6."""
  c.hidden = (256, 256)
  c.norm = False
  c.model_kwargs = ml_collections.ConfigDict({"ws": True, "act_scale": 2.74})
  c.optimizer, c.learning_rate, c.weight_decay = "sgd", 0.1, 0.0
  c.threshold_lr = same_as_weights()
  c.eval_T = (1, 2, 4, 6, 8, 16)
  return c


def online_variant(c: ml_collections.ConfigDict, variant: str) -> bool:
  """The variants OTTT and SAF share (``tiny``, ``cifar10_vgg11``); False for any other."""
  if variant == "tiny":
    tiny(c)
    c.model_kwargs.update({"ws": True, "act_scale": 2.74})
    c.learning_rate = 0.1
  elif variant == "cifar10_vgg11":
    c.dataset, c.model, c.epochs, c.augment = "cifar10", "vgg11_ws", 300, True
    c.model_kwargs = ml_collections.ConfigDict()
  else:
    return False
  return True
