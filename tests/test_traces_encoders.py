"""I-6 trace identities; encoders."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from snnjax import encoders, traces
from snnjax._compat import enable_x64


@pytest.mark.parametrize("lam", [0.5, 1.0])
def test_I6_trace_identities(lam, rng):
  s = (rng.random((10, 7)) < 0.4).astype(np.float64)
  with enable_x64():
    acc = np.asarray(traces.accumulate(jnp.asarray(s), lam))
    ref = np.stack([sum(lam ** (t - k) * s[k] for k in range(t + 1)) for t in range(10)])
    np.testing.assert_array_equal(acc, ref)
    np.testing.assert_array_equal(np.asarray(traces.deaccumulate(jnp.asarray(acc), lam)), s)
  if lam == 1.0:
    np.testing.assert_array_equal(acc[-1], s.sum(0))


def test_trace_errors():
  with pytest.raises(ValueError, match="time axis"):
    traces.accumulate(jnp.zeros((0, 3)))


def test_direct_and_poisson():
  x = jnp.asarray([0.0, 0.25, 1.0, 1.5])
  d = encoders.direct(x, 3)
  assert d.shape == (3, 4)
  s = encoders.poisson(jax.random.key(0), x, 4000)
  np.testing.assert_allclose(np.asarray(s.mean(0)), [0, 0.25, 1, 1], atol=0.03)
  np.testing.assert_array_equal(np.asarray(s), np.asarray(encoders.poisson(jax.random.key(0), x, 4000)))
  with pytest.raises(ValueError, match="T must be ≥ 1"):
    encoders.direct(x, 0)
