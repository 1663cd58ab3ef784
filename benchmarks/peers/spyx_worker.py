"""Spyx (JAX, Flax NNX): ``Sequential(Linear, LIF)`` run by ``spyx.nn.run`` (a ``lax.scan``
over time), the gradient of the spike sum jitted. Linear + LIF workload only."""

from __future__ import annotations

from benchmarks.peers._worker import Built, main


def build(w):
  import jax
  import spyx
  import spyx.nn as snn
  from flax import nnx
  if w["name"] != "linear":
    raise SystemExit("unsupported")
  model = snn.Sequential(nnx.Linear(w["n"], w["n"], rngs=nnx.Rngs(0)),
                         snn.LIF((w["n"],), beta=0.5, rngs=nnx.Rngs(1)))
  x = jax.random.uniform(jax.random.key(0), (w["T"], w["batch"], w["n"]))
  graphdef, params = nnx.split(model)

  from benchmarks.common import peak_bytes
  from snnjax import xla

  @xla.jit  # the compiler options snnjax uses, so both JAX rows run the same XLA:CPU kernels
  def step(params, x):
    return jax.grad(lambda p: snn.run(nnx.merge(graphdef, p), x)[0].sum())(params)

  return Built(step=lambda: step(params, x), block=jax.block_until_ready,
               version=f"spyx {spyx.__version__}, jax {jax.__version__}",
               memory_bytes=peak_bytes(step, params, x), memory_kind="XLA compiled memory")


if __name__ == "__main__":
  main(build, preload=("jax", "spyx.nn", "snnjax.xla"))
