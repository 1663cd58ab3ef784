"""Surrogate gradients: exact Heaviside forward, analytic backward, usable everywhere."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import expit

import snnjax as sj
from snnjax import surrogate
from snnjax.surrogate import SURROGATES, Surrogate

X = np.linspace(-2, 2, 81).astype(np.float32)

ANALYTIC = {  # name -> (alpha, closed-form derivative), written independently of the library
    "sigmoid": (4.0, lambda x, a: a * expit(a * x) * (1 - expit(a * x))),
    "atan": (2.0, lambda x, a: a / 2 / (1 + (math.pi / 2 * a * x) ** 2)),
    "triangle": (1.0, lambda x, a: np.maximum(a - np.abs(x), 0) / a**2),
    "rectangle": (1.0, lambda x, a: (np.abs(x) < a / 2) / a),
    "fast_sigmoid": (25.0, lambda x, a: 1 / (1 + a * np.abs(x)) ** 2),
    "erf": (2.0, lambda x, a: a / math.sqrt(math.pi) * np.exp(-(a * x) ** 2)),
    "straight_through": (1.0, lambda x, a: np.ones_like(x)),
}


@pytest.mark.parametrize("name", SURROGATES)
@pytest.mark.parametrize("alpha", [None, 0.5])
def test_gradient_matches_analytic(name, alpha):
  a = ANALYTIC[name][0] if alpha is None else alpha
  g = jax.vmap(jax.grad(lambda x: sj.spike(x, Surrogate(name, alpha))))(jnp.asarray(X))
  np.testing.assert_allclose(np.asarray(g), ANALYTIC[name][1](X.astype(np.float64), a), rtol=1e-5,
                             atol=1e-6)


@pytest.mark.parametrize("name", SURROGATES)
def test_forward_is_exact_heaviside(name):
  y = sj.spike(jnp.asarray(X), name)
  np.testing.assert_array_equal(np.asarray(y), (X >= 0).astype(np.float32))
  y = sj.spike(jnp.asarray([0.0, 1e-7]), name, strict=True)
  np.testing.assert_array_equal(np.asarray(y), [0.0, 1.0])


@pytest.mark.parametrize("name", SURROGATES)
def test_bfloat16_jit_vmap_and_jvp(name):
  x = jnp.asarray(X, jnp.bfloat16)
  f = jax.jit(jax.vmap(jax.grad(lambda v: sj.spike(v, name))))
  g = f(x)
  assert g.dtype == jnp.bfloat16
  np.testing.assert_allclose(np.asarray(g, np.float32), ANALYTIC[name][1](X, ANALYTIC[name][0]),
                             rtol=2e-2, atol=2e-2)
  _, t = jax.jvp(lambda v: sj.spike(v, name), (jnp.asarray(X),), (jnp.ones_like(jnp.asarray(X)),))
  assert np.all(np.isfinite(np.asarray(t)))


@pytest.mark.parametrize("name", SURROGATES)
def test_grad_through_two_layer_net_T4(name):
  k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
  # positive weights keep potentials near threshold, where every surrogate is non-zero
  w1 = jax.random.uniform(k1, (6, 8)) * 0.5
  w2 = jax.random.uniform(k2, (8, 3)) * 0.5
  x = jax.random.uniform(k3, (5, 6))
  p = sj.lif_neuron(2.0, surrogate=Surrogate(name))

  def loss(ws):
    w1, w2 = ws
    _, s1 = sj.run(p, sj.init_state(p, (5, 8)), x @ w1, T=4)
    _, s2 = sj.run(p, sj.init_state(p, (5, 3)), s1 @ w2)
    return ((s2.mean(0) - 0.5) ** 2).sum()

  g1, g2 = jax.grad(loss)((w1, w2))
  for g in (g1, g2):
    assert np.all(np.isfinite(np.asarray(g)))
    assert np.abs(np.asarray(g)).sum() > 0


def test_aliases_and_errors():
  assert Surrogate("zif").name == "triangle"
  assert Surrogate("SuperSpike").name == "fast_sigmoid"
  with pytest.raises(ValueError, match="unknown surrogate"):
    Surrogate("nope")
  with pytest.raises(ValueError, match="alpha must be > 0"):
    Surrogate("sigmoid", -1.0)
  # ValueError from the library; TypeError when the jaxtyping runtime checker is on
  with pytest.raises((ValueError, TypeError), match="(?i)float"):
    sj.spike(jnp.arange(3), "sigmoid")


@pytest.mark.parametrize("name", list(surrogate.SURROGATES))
def test_primitive_is_the_antiderivative(name):
  """``primitive`` is the soft step whose derivative is the surrogate gradient, centred at ½."""
  x = jnp.linspace(-2.3, 2.3, 47, dtype=jnp.float32)
  g = jax.vmap(jax.grad(lambda v: surrogate.primitive(v, name)))(x)
  np.testing.assert_allclose(np.asarray(g), np.asarray(surrogate.derivative(x, name)), rtol=1e-4, atol=1e-5)
  assert float(surrogate.primitive(jnp.zeros(()), name)) == pytest.approx(0.5, abs=1e-6)
