"""SpikingJelly's and snnTorch's neurons, against numpy written from their published equations."""

import jax.numpy as jnp
import numpy as np
import pytest

import snnjax as sj
from snnjax import presets
from snnjax._compat import enable_x64


def sj_lif_numpy(X, tau, v_th, v_reset, decay_input):
  """SpikingJelly LIFNode: the four charge equations, Θ(0) = 1, hard or soft reset."""
  V, Hs, Ss = np.full_like(X[0], 0.0 if v_reset is None else v_reset), [], []
  for x in X:
    if decay_input and v_reset is not None:
      H = V + (x - (V - v_reset)) / tau
    elif decay_input:
      H = V + (x - V) / tau
    elif v_reset is not None:
      H = V - (V - v_reset) / tau + x
    else:
      H = V * (1 - 1 / tau) + x
    S = (H - v_th >= 0).astype(np.float64)
    V = H * (1 - S) + v_reset * S if v_reset is not None else H - v_th * S
    Hs.append(H)
    Ss.append(S)
  return np.stack(Hs), np.stack(Ss)


def sj_if_numpy(X, v_th, v_reset):
  V, Hs, Ss = np.full_like(X[0], 0.0 if v_reset is None else v_reset), [], []
  for x in X:
    H = V + x
    S = (H - v_th >= 0).astype(np.float64)
    V = H * (1 - S) + v_reset * S if v_reset is not None else H - v_th * S
    Hs.append(H)
    Ss.append(S)
  return np.stack(Hs), np.stack(Ss)


def snntorch_leaky_numpy(X, beta, thr, mechanism):
  """snnTorch Leaky: U[t+1] = βU[t] + I[t+1] − R·U_thr with R = 1[U[t] > U_thr]; S = 1[U > U_thr]."""
  U, Us, Ss = np.zeros_like(X[0]), [], []
  for x in X:
    R = (U - thr > 0).astype(np.float64)
    U = beta * U + x - (R * thr if mechanism == "subtract" else 0.0)
    Us.append(U)
    Ss.append((U - thr > 0).astype(np.float64))
  return np.stack(Us), np.stack(Ss)


def _run(p, X, v0=0.0):
  st = sj.NeuronState(jnp.full(X.shape[1:], v0, jnp.float64))
  _, s, u = sj.run(p, st, jnp.asarray(X), return_membrane=True)
  return np.asarray(u), np.asarray(s)


SJ_LIF = [dict(tau=2.0, decay_input=True, v_reset=0.0), dict(tau=3.0, decay_input=True, v_reset=-0.25),
          dict(tau=2.0, decay_input=True, v_reset=None), dict(tau=4.0, decay_input=False, v_reset=0.5),
          dict(tau=2.0, decay_input=False, v_reset=None)]


@pytest.mark.parametrize("kw", SJ_LIF, ids=lambda k: f"tau{k['tau']}-di{k['decay_input']}-vr{k['v_reset']}")
def test_spikingjelly_lif_random_inputs(kw):
  X = np.random.default_rng(0).normal(0.6, 1.0, (40, 64))
  with enable_x64():
    p = presets.spikingjelly_lif(v_threshold=1.0, dtype=jnp.float64, **kw)
    u, s = _run(p, X, 0.0 if kw["v_reset"] is None else kw["v_reset"])
  H, S = sj_lif_numpy(X, v_th=1.0, **kw)
  np.testing.assert_array_equal(s, S)
  np.testing.assert_allclose(u, H, atol=1e-12)
  assert 0 < S.mean() < 1


@pytest.mark.parametrize("v_reset", [0.0, None, -0.5])
def test_spikingjelly_if_random_inputs(v_reset):
  X = np.random.default_rng(1).normal(0.3, 0.8, (40, 64))
  with enable_x64():
    u, s = _run(presets.spikingjelly_if(1.0, v_reset, dtype=jnp.float64), X, 0.0 if v_reset is None else v_reset)
  H, S = sj_if_numpy(X, 1.0, v_reset)
  np.testing.assert_array_equal(s, S)
  np.testing.assert_allclose(u, H, atol=1e-12)


@pytest.mark.parametrize("mechanism", ["subtract", "none"])
@pytest.mark.parametrize("beta", [0.5, 0.9])
def test_snntorch_leaky_random_inputs(mechanism, beta):
  X = np.random.default_rng(2).normal(0.4, 0.8, (40, 64))
  with enable_x64():
    u, s = _run(presets.snntorch_leaky(beta, 1.0, mechanism, dtype=jnp.float64), X)
  U, S = snntorch_leaky_numpy(X, beta, 1.0, mechanism)
  np.testing.assert_array_equal(s, S)
  np.testing.assert_allclose(u, U, atol=1e-12)


def test_ties_at_the_threshold():
  """SpikingJelly fires at H = V_th, snnTorch does not (exact binary fractions: no rounding)."""
  X = np.array([[1.0], [0.5], [1.0]])
  with enable_x64():
    _, s_sj = _run(presets.spikingjelly_if(1.0, 0.0, dtype=jnp.float64), X)
    _, s_st = _run(presets.snntorch_leaky(0.5, 1.0, "subtract", dtype=jnp.float64), X)
  np.testing.assert_array_equal(s_sj[:, 0], sj_if_numpy(X, 1.0, 0.0)[1][:, 0])
  np.testing.assert_array_equal(s_sj[:, 0], [1, 0, 1])
  np.testing.assert_array_equal(s_st[:, 0], snntorch_leaky_numpy(X, 0.5, 1.0, "subtract")[1][:, 0])
  np.testing.assert_array_equal(s_st[:, 0], [0, 0, 1])


def test_the_three_cases_the_core_could_not_express():
  with enable_x64():
    # SpikingJelly decay_input=True with V_reset ≠ 0: H = V + (X − (V − V_reset))/τ
    X = np.array([[0.8], [0.3], [1.2]])
    u, _ = _run(presets.spikingjelly_lif(2.0, True, 1.0, 0.25, dtype=jnp.float64), X, 0.25)
    np.testing.assert_allclose(u[:, 0], sj_lif_numpy(X, 2.0, 1.0, 0.25, True)[0][:, 0], atol=1e-12)
    # the leak pulls towards V_reset: from V = −0.5 with no input the potential stays at −0.5
    u, _ = _run(presets.spikingjelly_lif(2.0, False, 1.0, -0.5, dtype=jnp.float64), np.zeros((2, 1)), -0.5)
    np.testing.assert_allclose(u[:, 0], [-0.5, -0.5], atol=1e-12)
    # snnTorch subtract on x = [1.5, 0.6, 0], β = 0.5, θ = 1
    u, s = _run(presets.snntorch_leaky(0.5, 1.0, "subtract", dtype=jnp.float64), np.array([[1.5], [0.6], [0.0]]))
    np.testing.assert_allclose(u[:, 0], [1.5, 0.35, 0.175], atol=1e-12)
    np.testing.assert_array_equal(s[:, 0], [1, 0, 0])


def test_presets_reach_the_nnx_layer():
  import snnjax.nn as sn
  from flax import nnx
  spec = sn.SpikingSpec.from_params(presets.snntorch_leaky(0.5, 1.0), amplitude="one")
  layer = spec.make((1,), nnx.Rngs(0))
  outs = [float(layer(jnp.full((1, 1), x, jnp.float32))[0, 0]) for x in (1.5, 0.6, 0.0)]
  assert outs == [1.0, 0.0, 0.0]
  np.testing.assert_allclose(float(layer.v[...][0, 0]), 0.175, atol=1e-6)
  with pytest.raises(ValueError, match="drops the next input"):
    presets.snntorch_leaky(0.5, reset_mechanism="zero")


def test_snntorch_reset_carries_no_gradient():
  """snnTorch detaches the reset: dU[2]/dI[1] = β whether or not the neuron fired at step 1."""
  import jax
  p = presets.snntorch_leaky(0.5, 1.0, "subtract", dtype=jnp.float64)
  assert p.spec.detach_reset
  with enable_x64():
    def u2(x1):
      X = jnp.stack([jnp.full((1,), x1), jnp.full((1,), 0.3)])
      _, _, u = sj.run(p, sj.NeuronState(jnp.zeros((1,), jnp.float64)), X, return_membrane=True)
      return u[1, 0]
    for x1 in (0.4, 1.5):  # below and above the threshold at step 1
      np.testing.assert_allclose(float(jax.grad(u2)(x1)), 0.5, atol=1e-12)


def test_decay_input_on_if_neurons_is_refused():
  import snnjax.nn as sn
  with pytest.raises(ValueError, match="IF neurons have no leak"):
    sn.if_(decay_input=True)
