"""Training configs, one file per method: ``get_config(variant="")`` returns an
``ml_collections.ConfigDict``. Address them by name (``--config noise_t1:tiny``)
or by path (``--config path/to/my_config.py:variant``)."""

import os

DIR = os.path.dirname(__file__)


def names() -> list[str]:
  """Names of the packaged configs."""
  return sorted(f[:-3] for f in os.listdir(DIR) if f.endswith(".py") and not f.startswith("_")
                and f != "common.py")


def resolve(spec: str) -> str:
  """``name[:variant]`` or ``path.py[:variant]`` → ``path.py[:variant]``."""
  path, sep, variant = spec.partition(":")
  if not path.endswith(".py") and os.sep not in path and "/" not in path:
    if path not in names():
      raise ValueError(f"unknown config {path!r}; packaged configs: {names()} "
                       "(or give a path to a config file).")
    path = os.path.join(DIR, path + ".py")
  return path + sep + variant
