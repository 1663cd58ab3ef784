"""Neuron dynamics against closed forms and the spec's tables (I-1, I-2, I-10, I-15, I-7 LIF part)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import snnjax as sj
from snnjax import neurons, quant
from snnjax._compat import enable_x64

Z = np.array([-0.3, 0.0, 0.1, 0.3, 0.45, 0.6, 0.9, 1.2])


def counts(z, T, v0, dtype=jnp.float32, **kw):
  p = sj.if_neuron(1.0, dtype=dtype, **kw)
  st = sj.init_state(p, z.shape, v0, dtype)
  _, s = sj.run(p, st, jnp.asarray(z, dtype), T=T)
  return np.asarray(s.sum(0))


@pytest.mark.parametrize("T,expected", [
    (1, [0, 0, 0, 0, 0, 1, 1, 1]), (2, [0, 0, 0, 1, 1, 1, 2, 2]),
    (4, [0, 0, 0, 1, 2, 2, 4, 4]), (8, [0, 0, 1, 2, 4, 5, 7, 8])])
def test_I1_qcfs_equivalence_table(T, expected):
  np.testing.assert_array_equal(counts(Z, T, "half"), expected)


def test_I1_tie_fires_at_equality():
  assert counts(np.array([0.125]), 4, "half")[0] == 1


@pytest.mark.parametrize("T", [1, 2, 4, 8, 16])
def test_I1_dyadic_grid_equals_qcfs_forward(T):
  z = np.arange(-8, 25) / 8
  n = counts(z, T, "half")
  ref = np.clip(np.floor(T * z + 0.5), 0, T)  # closed form
  np.testing.assert_array_equal(n, ref)
  h = np.asarray(quant.qcfs(jnp.asarray(z, jnp.float32), jnp.float32(1.0), T))
  np.testing.assert_array_equal(n / T, h)


def test_I2_plain_conversion_is_floor():
  z = np.array([0.1, 0.25, 0.3, 0.5, 0.74, 0.75, 1.0, 1.3])
  np.testing.assert_array_equal(counts(z, 4, "zero"), [0, 1, 1, 2, 2, 3, 4, 4])


def test_I10_rate_convergence_bound():
  z = np.linspace(0, 1, 1001)
  with enable_x64():
    for N in [1, 2, 4, 8, 16, 32, 64]:
      n = counts(z, N, "half", dtype=jnp.float64)
      assert np.all(np.abs(n / N - z) <= 1 / (2 * N) + 1e-12), N


def test_I15_snn2ann_neuron_hard_reset_strict():
  p = sj.if_neuron(1.0, reset="hard", strict=True)
  for xs, exp in [([0.6, 0.6, 0.6, 1.0, 0.2], [0, 1, 0, 1, 0]), ([1.0, 0.5, 0.5], [0, 1, 0])]:
    xs = jnp.asarray(xs, jnp.float32)[:, None]
    _, s = sj.run(p, sj.init_state(p, (1,)), xs)
    np.testing.assert_array_equal(np.asarray(s[:, 0]), exp)


def test_I7_lif_reference_trace():
  p = sj.lif_neuron(tau=2.0, threshold=1.0)
  xs = 0.7 * jnp.asarray([1, 1, 0, 1, 1, 1], jnp.float32)[:, None]
  _, s, u = sj.run(p, sj.init_state(p, (1,)), xs, return_membrane=True)
  np.testing.assert_array_equal(np.asarray(s[:, 0]), [0, 1, 0, 0, 1, 0])
  np.testing.assert_allclose(np.asarray(u[:, 0]), [0.7, 1.05, 0.025, 0.7125, 1.05625, 0.728125],
                             atol=1e-6)


def test_hard_reset_to_v_reset_and_amplitude_threshold():
  p = sj.if_neuron(2.0, reset="hard", v_reset=-0.5, amplitude="threshold")
  st, out = sj.step(p, sj.NeuronState(jnp.zeros(2)), jnp.asarray([2.5, 1.0]))
  np.testing.assert_array_equal(np.asarray(out), [2.0, 0.0])
  np.testing.assert_array_equal(np.asarray(st.v), [-0.5, 1.0])


def test_per_neuron_threshold():
  p = sj.if_neuron(jnp.asarray([0.5, 1.0, 2.0]))
  _, s = sj.run(p, sj.init_state(p, (3,)), jnp.full((3,), 0.5), T=4)
  np.testing.assert_array_equal(np.asarray(s.sum(0)), [4, 2, 1])


def test_detach_reset_changes_gradient_only():
  x = jnp.asarray([0.9, 0.4, 0.8, 0.3])[:, None]

  def f(detach):
    p = sj.lif_neuron(2.0, detach_reset=detach)
    return lambda xs: sj.run(p, sj.init_state(p, (1,)), xs)[1].sum()

  assert f(True)(x) == f(False)(x)
  g1, g2 = jax.grad(f(True))(x), jax.grad(f(False))(x)
  assert not np.allclose(np.asarray(g1), np.asarray(g2))


def test_plif_learnable_leak_gradient():
  p, w = sj.plif_neuron(init_tau=2.0)
  assert math.isclose(float(p.decay), 0.5, rel_tol=1e-6)
  xs = jnp.asarray([0.6, 0.6, 0.6, 0.6])[:, None]

  def loss(w):
    q = p._replace(decay=neurons.leak_from_logit(w))
    return sj.run(q, sj.init_state(q, (1,)), xs)[1].sum()

  g = jax.grad(loss)(w)
  assert np.isfinite(g) and g != 0


def test_initial_potential_array_and_fraction():
  p = sj.if_neuron(2.0)
  np.testing.assert_array_equal(np.asarray(neurons.initial_potential(p, (2,), 0.25)), [0.5, 0.5])
  v0 = jnp.asarray([0.1, 0.2])
  np.testing.assert_array_equal(np.asarray(sj.init_state(p, (2,), v0).v), np.asarray(v0))


def test_unroll_gives_same_result():
  p = sj.lif_neuron(2.0)
  xs = jax.random.uniform(jax.random.key(1), (7, 5))
  a = sj.run(p, sj.init_state(p, (5,)), xs)[1]
  b = sj.run(p, sj.init_state(p, (5,)), xs, unroll=True)[1]
  np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_bfloat16_run():
  p = sj.if_neuron(1.0, dtype=jnp.bfloat16)
  _, s = sj.run(p, sj.init_state(p, (3,), "half"), jnp.asarray([0.25, 0.5, 1.0], jnp.bfloat16), T=4)
  assert s.dtype == jnp.bfloat16
  np.testing.assert_array_equal(np.asarray(s.sum(0), np.float32), [1, 2, 4])


@pytest.mark.parametrize("bad,match", [
    (lambda p: sj.run(p, sj.init_state(p, (2,)), jnp.ones(2), T=0), "T must be ≥ 1"),
    (lambda p: sj.run(p, sj.init_state(p, (2,)), jnp.ones((0, 2))), "length ≥ 1"),
    (lambda p: sj.step(p, sj.init_state(p, (3,)), jnp.ones(2)), "shape"),
    (lambda p: sj.if_neuron(-1.0), "must be > 0"),
    (lambda p: sj.if_neuron(1.0, surrogate="banana"), "unknown surrogate"),
    (lambda p: sj.lif_neuron(tau=0.5), "tau must be"),
])
def test_bad_input_raises(bad, match):
  with pytest.raises(ValueError, match=match):
    bad(sj.if_neuron(1.0))


@pytest.mark.parametrize("kw,expected", [
    (dict(), lambda u: u - 1.0 * (u >= 1.0)),                                   # soft: subtract θ
    (dict(strict=True), lambda u: u - 1.0 * (u > 1.0)),                         # fires only above θ
    (dict(reset_amount=0.25), lambda u: u - 0.25 * (u >= 1.0)),
    (dict(reset="hard", v_reset=-0.5), lambda u: np.where(u >= 1.0, -0.5, u)),  # to v_reset
])
def test_reset_potential_is_the_reset_of_advance(kw, expected):
  """v[t] from u[t] by the closed forms, and bit for bit the state advance leaves."""
  u = np.array([-0.7, 0.0, 0.5, 0.999, 1.0, 1.25, 2.5], np.float32)
  p = sj.if_neuron(1.0, **kw)
  np.testing.assert_array_equal(np.asarray(neurons.reset_potential(p, jnp.asarray(u))), expected(u))
  v0 = jnp.asarray([0.3, -0.2, 0.9, 0.1, 0.6, 1.4, 0.05])
  x = jnp.asarray([0.4, 1.1, -0.3, 0.95, 0.2, 0.7, 2.0])
  lif = sj.lif_neuron(2.0, **kw)
  for params in (p, lif):
    new, _, u_t = neurons.advance(params, sj.NeuronState(v0), x)
    np.testing.assert_array_equal(np.asarray(neurons.reset_potential(params, u_t)), np.asarray(new.v))
