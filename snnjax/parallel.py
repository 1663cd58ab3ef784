"""Data parallelism: a 1-D device mesh, batch sharded, parameters replicated.

The same code runs on 1 CPU, 8 virtual CPU devices, a GPU, a TPU slice or
several hosts: ``jax.jit`` with ``NamedSharding`` lets XLA insert the gradient
all-reduce. Several processes (hosts) join through JAX's own distributed
runtime (:func:`initialize`); each feeds its own shard of every global batch
(:func:`global_batch`), and the mesh spans every process's devices.

References: JAX's guide to multi-process programs,
https://docs.jax.dev/en/latest/multi_process.html.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

__all__ = ["initialize", "is_primary", "make_mesh", "replicated", "data_sharded", "replicate",
           "global_batch", "check_batch", "sum_over_processes", "host_array"]

_initialized = False


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> None:
  """Join the other processes of a multi-host run (once; later calls do nothing).

  With no arguments JAX reads the cluster from the environment (Cloud TPU
  slices, SLURM, ...); otherwise give the coordinator ``host:port``, the number
  of processes and this process's id (or set ``JAX_COORDINATOR_ADDRESS``,
  ``JAX_NUM_PROCESSES``, ``JAX_PROCESS_ID``). On CPUs the collectives go
  through gloo. Call it before any other JAX work.
  """
  global _initialized
  if _initialized:
    return
  import os
  coordinator_address = coordinator_address or os.environ.get("JAX_COORDINATOR_ADDRESS") or None
  if num_processes is None and os.environ.get("JAX_NUM_PROCESSES"):
    num_processes = int(os.environ["JAX_NUM_PROCESSES"])
  if process_id is None and os.environ.get("JAX_PROCESS_ID"):
    process_id = int(os.environ["JAX_PROCESS_ID"])
  try:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
  except (AttributeError, KeyError, ValueError):  # no such option on this backend / version
    pass
  kw = {}
  if coordinator_address:
    kw = dict(coordinator_address=coordinator_address, num_processes=num_processes, process_id=process_id)
  jax.distributed.initialize(**kw)
  _initialized = True


def is_primary() -> bool:
  """Process 0: the one that writes results, plots and logs in a multi-host run."""
  return jax.process_index() == 0


def make_mesh(num_devices: int | None = None, *, multihost: bool = False) -> Mesh:
  """A ``("data",)`` mesh over the first ``num_devices`` devices of all processes (all by default).

  With ``multihost=True`` :func:`initialize` is called first (if it was not).
  """
  if multihost:
    initialize()
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


def sum_over_processes(tree):
  """Sum a pytree of numpy values over all processes (each contributes its own)."""
  if jax.process_count() == 1:
    return tree
  from jax.experimental import multihost_utils
  gathered = multihost_utils.process_allgather(tree)
  return jax.tree.map(lambda a: np.asarray(a).sum(0), gathered)


def host_array(x) -> np.ndarray:
  """A numpy copy of ``x``, also when ``x`` is a replicated array spread over several processes."""
  if isinstance(x, jax.Array) and not x.is_fully_addressable:
    return np.asarray(x.addressable_shards[0].data)
  return np.asarray(jax.device_get(x))
