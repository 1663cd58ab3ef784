"""The README's Python example runs as written."""

import os
import re

import jax

README = os.path.join(os.path.dirname(os.path.dirname(__file__)), "README.md")


def test_readme_python_examples_run_verbatim(capsys):
  """The README's Python blocks, in order, in one namespace, as a user runs them (default dtype
  promotion: optax's Adam mixes its int32 step count with floats)."""
  blocks = re.findall(r"```python\n(.*?)```", open(README).read(), re.S)
  assert len(blocks) == 3
  ns = {}
  with jax.numpy_dtype_promotion("standard"):
    for code in blocks:
      exec(compile(code, README, "exec"), ns)
  out = capsys.readouterr().out
  accs = eval(re.search(r"SNN test accuracy at T = 1…8: (\[.*\])", out).group(1))
  assert len(accs) == 8 and accs[-1] > 0.9, out  # a trained net, not an untrained one
  assert float(re.search(r"mean read-out at T=8: ([0-9.]+)", out).group(1)) > 0.9
  assert "[1. 2. 4.]" in out


def test_bptt_pure_loss_trains_with_optax():
  import jax.numpy as jnp
  import optax
  from flax import nnx

  import snnjax.nn as sn
  from snnjax.methods import bptt
  m = sn.mlp((8, 8, 1), (32,), 10, act=bptt.default_act(), rngs=nnx.Rngs(0))
  loss_fn, params, _ = bptt.make_loss_fn(m, T=4, aux=False)
  batch = {"image": jax.random.uniform(jax.random.key(0), (32, 8, 8, 1)),
           "label": jnp.arange(32, dtype=jnp.int32) % 10}
  tx = optax.sgd(0.5)
  opt = tx.init(params)
  step = jax.jit(lambda p, o: _sgd(tx, loss_fn, p, o, batch))
  first = float(loss_fn(params, batch))
  for _ in range(30):
    params, opt = step(params, opt)
  assert float(loss_fn(params, batch)) < first


def _sgd(tx, loss_fn, params, opt, batch):
  import optax
  g = jax.grad(loss_fn)(params, batch)
  u, opt = tx.update(g, opt)
  return optax.apply_updates(params, u), opt
