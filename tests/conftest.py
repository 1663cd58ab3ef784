"""Test configuration: 8 virtual CPU devices and strict dtype promotion.

Both must be set before JAX creates its backends, hence at import time here.
"""

import jax
import numpy as np
import pytest

jax.config.update("jax_num_cpu_devices", 8)
jax.config.update("jax_numpy_dtype_promotion", "strict")


@pytest.fixture
def key():
  return jax.random.key(0)


@pytest.fixture
def rng():
  return np.random.default_rng(0)
