"""The library's XLA:CPU compiler options: applied where jaxlib knows them, same numbers,
one line to switch them off."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snnjax import xla


def _conv_loss(w, x):
  y = jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
  return (jnp.tanh(y) ** 2).sum()


@pytest.fixture
def restore():
  yield
  xla.use_cpu_defaults(True)
  xla._enabled = None


def test_only_known_options_are_used(restore):
  opts = xla.compiler_options()
  assert set(opts) <= set(xla.CPU_OPTIONS)
  for k, v in opts.items():  # every option returned compiles
    jax.jit(lambda x: x * 2, compiler_options={k: v}).lower(1.0).compile()
  assert not xla._known("xla_cpu_no_such_option_for_the_test", "1")


def test_switch_off_by_call_and_by_environment(monkeypatch, restore):
  xla.use_cpu_defaults(False)
  assert xla.compiler_options() == {}
  xla._enabled = None
  monkeypatch.setenv("SNNJAX_XLA_CPU_DEFAULTS", "0")
  assert xla.compiler_options() == {}
  monkeypatch.setenv("SNNJAX_XLA_CPU_DEFAULTS", "maybe")
  with pytest.raises(ValueError, match="SNNJAX_XLA_CPU_DEFAULTS must be 0 or 1"):
    xla.compiler_options()


def test_conv_gradients_equal_plain_jit_and_options_reach_the_executable(restore):
  kx, kw = jax.random.split(jax.random.key(0))
  x = (jax.random.uniform(kx, (4, 16, 16, 32)) > 0.5).astype(jnp.float32)
  w = jax.random.normal(kw, (3, 3, 32, 32)) * 0.05
  f = jax.grad(_conv_loss)
  ours = xla.jit(f)
  ref = np.asarray(jax.jit(f)(w, x))
  tol = 1e-5 * np.abs(ref).max()  # the two libraries sum 1,024 products in different orders
  np.testing.assert_allclose(ours(w, x), ref, rtol=1e-4, atol=tol)
  text = ours.lower(w, x).compile().as_text()
  plain = jax.jit(f).lower(w, x).compile().as_text()
  if xla.compiler_options():  # this jaxlib puts the conv in YNNPACK by default; the option takes it out
    assert "__ynn_fusion" not in text
  else:
    assert text == plain
  xla.use_cpu_defaults(False)
  off = xla.jit(f)
  np.testing.assert_allclose(off(w, x), ref, rtol=1e-4, atol=tol)


def test_the_library_compiles_through_it():
  from snnjax import convert, simulate
  from snnjax.nn import calibration
  from snnjax.train import trainer
  for f in (simulate._eval_batch, simulate._monitor, convert._calibration_stats, trainer._predict,
            calibration._capture_jit):
    assert isinstance(f, xla._Jit), f
  import inspect
  assert "self._step = xla.jit(" in inspect.getsource(trainer.Trainer.__init__)


def test_jit_keeps_static_arguments_and_compiles_once(restore):
  traces = []

  def f(x, *, n):
    traces.append(n)
    return x * n

  g = xla.jit(f, static_argnames=("n",))
  assert float(g(jnp.float32(2.0), n=3)) == 6.0
  assert float(g(jnp.float32(5.0), n=3)) == 15.0
  assert traces == [3]
