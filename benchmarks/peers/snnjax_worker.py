"""snnjax: the CNN as :class:`snnjax.nn.models.CNN` trained by :mod:`snnjax.methods.bptt`
(its defaults: LIF τ=2, sigmoid α=4, soft detached reset, BN statistics per step) with the
project's :class:`~snnjax.train.trainer.Trainer`; the Linear + LIF layer as one matmul over
all steps followed by :func:`snnjax.run` (a ``lax.scan``). Memory: XLA's compiled memory
analysis of the step."""

from __future__ import annotations

import os

from benchmarks.peers._worker import Built, main


def build(w):
  import jax
  import jax.numpy as jnp

  import snnjax as sj
  from snnjax import xla
  from benchmarks.common import peak_bytes
  dtype = jnp.dtype(w.get("dtype", "float32"))
  if w["name"] == "cnn":
    import optax
    from flax import nnx

    from snnjax import parallel
    from snnjax.methods import bptt
    from snnjax.nn.models import CNN
    from snnjax.train.trainer import Trainer
    model = CNN((w["size"], w["size"], 3), w["channels"], [bool(p) for p in w["pools"]], w["classes"],
                act=bptt.default_act(), norm=True, rngs=nnx.Rngs(0))
    mesh = parallel.make_mesh(1)
    x = jax.random.uniform(jax.random.key(0), (w["batch"], w["size"], w["size"], 3))
    batch = parallel.global_batch({"image": x, "label": jnp.arange(w["batch"], dtype=jnp.int32) % 10},
                                  mesh)
    loss = lambda m, b, rngs=None: bptt.module_loss(m, b, rngs, T=w["T"], way=w.get("way", "auto"))
    tr = Trainer(model, loss, optax.sgd(0.1, momentum=0.9), mesh)
    key = jax.random.key(1)
    mem = peak_bytes(tr._step, tr.state, batch, key)
    return Built(step=lambda: tr.step(batch, key)["loss"], block=jax.block_until_ready,
                 version=_version(), memory_bytes=mem, memory_kind="XLA compiled memory")
  n, T, B = w["n"], w["T"], w["batch"]
  k1, k2 = jax.random.split(jax.random.key(0))
  params = {"w": jax.random.normal(k1, (n, n)) / jnp.sqrt(n), "b": jnp.zeros((n,))}
  x = jax.random.uniform(k2, (T, B, n))
  neuron = sj.lif_neuron(2.0, surrogate="sigmoid", detach_reset=True)

  def spikes(p, x):
    y = jnp.dot(x.astype(dtype), p["w"].astype(dtype), preferred_element_type=jnp.float32) + p["b"]
    return sj.run(neuron, sj.init_state(neuron, (B, n)), y, unroll=w.get("unroll", 1))[1].sum()

  step = xla.jit(jax.grad(spikes))
  return Built(step=lambda: step(params, x), block=jax.block_until_ready, version=_version(),
               memory_bytes=peak_bytes(step, params, x), memory_kind="XLA compiled memory")


def _version():
  import jax

  import snnjax
  return (f"snnjax {snnjax.__version__}, jax {jax.__version__}"
          + (f", XLA_FLAGS={os.environ['XLA_FLAGS']}" if os.environ.get("XLA_FLAGS") else ""))


if __name__ == "__main__":
  main(build, preload=("jax", "optax", "snnjax.train.trainer", "benchmarks.common"))
