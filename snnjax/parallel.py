"""Data parallelism: a 1-D device mesh, batch sharded, parameters replicated.

The same code runs on 1 CPU, 8 virtual CPU devices, a GPU or a TPU slice:
``jax.jit`` with ``NamedSharding`` lets XLA insert the gradient all-reduce.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

__all__ = ["make_mesh", "replicated", "data_sharded", "replicate", "global_batch", "check_batch"]


def make_mesh(num_devices: int | None = None, *, multihost: bool = False) -> Mesh:
  """A ``("data",)`` mesh over the first ``num_devices`` devices (all by default).

  With ``multihost=True`` :func:`jax.distributed.initialize` is called first
  (cluster settings from the environment, as on Cloud TPU or SLURM).
  """
  if multihost:
    jax.distributed.initialize()
  devices = jax.devices()
  n = len(devices) if num_devices in (None, 0) else num_devices
  if not 1 <= n <= len(devices):
    raise ValueError(f"num_devices={num_devices} but {len(devices)} devices are visible.")
  return Mesh(np.asarray(devices[:n]), ("data",))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def data_sharded(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P("data"))


def replicate(tree, mesh: Mesh):
  return jax.device_put(tree, replicated(mesh))


def check_batch(batch_size: int, mesh: Mesh) -> int:
  """Per-process batch size; the global one must split evenly over devices."""
  n = mesh.devices.size
  if batch_size % n:
    raise ValueError(f"batch_size {batch_size} is not divisible by the {n} devices of the mesh; "
                     f"use a multiple of {n} (e.g. {batch_size - batch_size % n or n}).")
  return batch_size // jax.process_count()


def global_batch(local_batch: dict, mesh: Mesh) -> dict:
  """Assemble each process's numpy batch into one global array sharded over ``data``."""
  sharding = data_sharded(mesh)
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
          for k, v in local_batch.items()}
