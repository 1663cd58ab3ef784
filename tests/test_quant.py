"""QCFS quantizer (I-3, I-4) and straight-through helpers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import snnjax as sj
from snnjax import quant
from snnjax._compat import enable_x64


def test_I4_values_and_gradients():
  z = jnp.asarray([-1.0, 0.3, 0.6, 1.0, 2.5], jnp.float64) if jax.config.jax_enable_x64 else None
  with enable_x64():
    z = jnp.asarray([-1.0, 0.3, 0.6, 1.0, 2.5], jnp.float64)
    lam = jnp.float64(2.0)
    h = quant.qcfs(z, lam, 4)
    np.testing.assert_array_equal(np.asarray(h), [0, 0.5, 0.5, 1.0, 2.0])
    dz = jax.vmap(jax.grad(lambda zi: quant.qcfs(zi, lam, 4)))(z)
    np.testing.assert_allclose(np.asarray(dz), [0, 1, 1, 1, 0], atol=1e-12)
    dl = jax.vmap(jax.grad(lambda l, zi: quant.qcfs(zi, l, 4)), in_axes=(None, 0))(lam, z)
    np.testing.assert_allclose(np.asarray(dl)[[0, 1, 4]], [0.0, 0.10, 1.0], atol=1e-12)


def _snn_rate(z, T, v0):
  p = sj.if_neuron(1.0, dtype=jnp.float64)
  _, s = sj.run(p, sj.init_state(p, z.shape, v0), jnp.asarray(z), T=T)
  return np.asarray(s.sum(0)) / T


@pytest.mark.parametrize("T,L", [(1, 4), (2, 4), (8, 4), (16, 4), (3, 8)])
def test_I3_zero_expected_error(T, L):
  z = np.linspace(0, 1, 20001)
  with enable_x64():
    err = _snn_rate(z, T, "half") - np.asarray(quant.qcfs(jnp.asarray(z), jnp.float64(1), L))
  assert abs(err.mean()) < 1e-4


@pytest.mark.parametrize("T,L,both,expected", [
    (2, 4, True, -0.125), (1, 4, True, -0.375), (8, 4, True, 0.0625), (2, 4, False, -0.25)])
def test_I3_guard_without_shift(T, L, both, expected):
  z = np.linspace(0, 1, 20001)
  with enable_x64():
    ann = np.floor(L * z) / L if both else np.asarray(quant.qcfs(jnp.asarray(z), jnp.float64(1), L))
    err = _snn_rate(z, T, "zero") - np.clip(ann, 0, 1)
  assert abs(err.mean() - expected) < 1e-3


def test_ste_helpers():
  x = jnp.asarray([0.2, 1.5, -0.7])
  np.testing.assert_array_equal(np.asarray(quant.floor_ste(x)), [0, 1, -1])
  np.testing.assert_array_equal(np.asarray(quant.round_ste(x)), [0, 2, -1])
  np.testing.assert_array_equal(np.asarray(jax.grad(lambda v: quant.round_ste(v).sum())(x)), [1, 1, 1])
  with pytest.raises(ValueError, match="positive int"):
    quant.qcfs(x, 1.0, 0)
