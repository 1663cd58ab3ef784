"""Noise-based T=1 (I-10..I-12) and Noise Adaptor (I-13, I-14) against closed forms."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from scipy.stats import norm

import snnjax.nn as sn
from snnjax import convert, noise, quant, simulate
from snnjax.methods import noise_adaptor, noise_t1

N_MC = 400_000


def _noisy_layer(**kw):
  layer = noise_t1.NoisySpike(noise_t1.noisy_spike(**kw))
  return layer


@pytest.mark.parametrize("rng_method", ["fast", "exact"])
def test_I11_uniform_noise_expectation(rng_method):
  u = jnp.asarray([-0.5, 0, 0.25, 0.5, 0.75, 1, 1.5], jnp.float32)
  layer = _noisy_layer(noise="uniform", rng=rng_method)
  s = layer(jnp.broadcast_to(u, (N_MC, 7)), rngs=jax.random.key(0))
  np.testing.assert_allclose(np.asarray(s.mean(0)), [0, 0, 0.25, 0.5, 0.75, 1, 1], atol=0.01)


@pytest.mark.parametrize("rng_method", ["fast", "exact"])
def test_I11_gaussian_noise_expectation(rng_method):
  u = jnp.asarray([0, 0.25, 0.5, 0.75, 1], jnp.float32)
  layer = _noisy_layer(noise="gaussian", mean=0.5, std=0.3, rng=rng_method)
  s = layer(jnp.broadcast_to(u, (N_MC, 5)), rngs=jax.random.key(1))
  expected = [0.0478, 0.2023, 0.5, 0.7977, 0.9522]
  np.testing.assert_allclose(np.asarray(s.mean(0)), expected, atol=0.01)
  np.testing.assert_allclose(norm.cdf((np.asarray(u) - 0.5) / 0.3), expected, atol=1e-4)


def test_fast_noise_moments_are_exact():
  # the byte-sum constants: distribution of the sum of four uniform bytes, by convolution
  p = np.ones(256) / 256
  dist = np.convolve(np.convolve(p, p), np.convolve(p, p))
  k = np.arange(len(dist))
  z = (k - noise._BYTE_SUM_MEAN) / noise._BYTE_SUM_STD
  assert abs((dist * z).sum()) < 1e-12 and abs((dist * z * z).sum() - 1) < 1e-12
  g = noise.standard_normal(jax.random.key(2), (N_MC,))
  u = noise.standard_uniform(jax.random.key(3), (N_MC,))
  assert abs(float(g.mean())) < 0.01 and abs(float(g.var()) - 1) < 0.01
  assert abs(float(u.mean()) - 0.5) < 0.003 and abs(float(u.var()) - 1 / 12) < 0.002
  assert float(u.min()) > 0 and float(u.max()) < 1
  assert g.dtype == jnp.float32
  assert noise.standard_normal(jax.random.key(2), (4,), jnp.bfloat16).dtype == jnp.bfloat16


def test_noise_is_fresh_per_key_and_reproducible():
  a = noise.standard_normal(jax.random.key(5), (1000,))
  b = noise.standard_normal(jax.random.key(5), (1000,))
  c = noise.standard_normal(jax.random.key(6), (1000,))
  np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert not np.array_equal(np.asarray(a), np.asarray(c))


def test_gradient_options():
  u = jnp.linspace(-0.5, 1.5, 41, dtype=jnp.float32)
  layer = _noisy_layer(gradient="expected", noise="gaussian")
  layer.fix_noise(jnp.zeros(()))
  g = jax.grad(lambda v: layer(v).sum())(u)
  sigma = 1 / math.sqrt(12)
  np.testing.assert_allclose(np.asarray(g), norm.pdf((np.asarray(u) + 0.5 - 1) / sigma) / sigma,
                             rtol=1e-4, atol=1e-5)
  layer = _noisy_layer(gradient="surrogate", surrogate="sigmoid", alpha=4.0)
  xi = jnp.full(u.shape, 0.3)
  layer.fix_noise(xi)
  g = jax.grad(lambda v: layer(v).sum())(u)
  x = np.asarray(u) + 0.3 - 1
  sg = 1 / (1 + np.exp(-4 * x))
  np.testing.assert_allclose(np.asarray(g), 4 * sg * (1 - sg), rtol=1e-5, atol=1e-6)


def test_learnable_threshold_gets_gradient():
  m = sn.mlp((6,), (5,), 3, act=noise_t1.noisy_spike(learn_threshold=True), rngs=nnx.Rngs(0))
  from snnjax.methods import common
  loss_fn, params, stats = common.functionalize(m, noise_t1.module_loss)
  batch = {"image": jax.random.uniform(jax.random.key(0), (16, 6)), "label": jnp.arange(16) % 3}
  g = jax.grad(lambda p: loss_fn(p, batch, jax.random.key(1))[0])(params)
  assert float(jnp.abs(g["acts"][0]["threshold"][...])) > 0


def _noise_mlp(norm_layers, seed=0):
  m = sn.mlp((10,), (16, 16), 4, act=noise_t1.noisy_spike(), norm=norm_layers, rngs=nnx.Rngs(seed))
  if norm_layers:  # non-trivial BatchNorm statistics, so folding is exercised
    rng = np.random.default_rng(seed)
    for syn in m.syns:
      bn = syn.norm
      bn.mean[...] = jnp.asarray(rng.normal(size=16) * 0.1, jnp.float32)
      bn.var[...] = jnp.asarray(rng.uniform(0.5, 2, 16), jnp.float32)
      bn.scale[...] = jnp.asarray(rng.uniform(0.5, 2, 16), jnp.float32)
      bn.bias[...] = jnp.asarray(rng.normal(size=16) * 0.1, jnp.float32)
  return m


@pytest.mark.parametrize("with_bn", [False, True])
def test_I12_fixed_draw_equals_converted_N1(with_bn):
  m = _noise_mlp(with_bn)
  x = jax.random.uniform(jax.random.key(3), (32, 10))
  snn = convert.to_spiking(m)
  m.eval()
  xis = [jax.random.uniform(jax.random.key(10 + i), (32, 16)) for i in range(2)]
  for act, xi in zip(m.acts, xis):
    act.fix_noise(xi)
  init, _ = simulate.stepper(snn)
  state = init(x.shape)
  for i, xi in enumerate(xis):  # the converted net starts from v[0] = ξ0 (an explicit state)
    state["acts"][i]["v"] = xi
  ann_out = m(x)
  snn_out = simulate.run(snn, x, T=1, state=state).outputs
  if with_bn:  # folded BN differs from BN by float32 rounding only
    np.testing.assert_allclose(np.asarray(snn_out[0]), np.asarray(ann_out), atol=1e-5)
  else:
    np.testing.assert_array_equal(np.asarray(snn_out[0]), np.asarray(ann_out))


def test_converted_N1_equals_noise_off_T1_net():
  m = _noise_mlp(False, seed=1)
  x = jax.random.uniform(jax.random.key(4), (64, 10))
  snn = convert.to_spiking(m)
  assert snn.acts[0].spec.v0 == 0.5  # v[0] = μ = θ/2
  m.eval()
  np.testing.assert_array_equal(np.asarray(simulate.run(snn, x, T=1).outputs[0]), np.asarray(m(x)))


def test_noisy_layer_without_key_says_how():
  m = sn.mlp((4,), (3,), 2, act=noise_t1.noisy_spike(), rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="rngs="):
    m(jnp.ones((2, 4)))


def _mc_mean(x, variant, alpha=1.0):
  v = jnp.broadcast_to(jnp.asarray(x, jnp.float32), (N_MC, len(x)))
  return np.asarray(quant.noisy_quantize(jax.random.key(7), v, 1.0, 3, alpha=alpha, variant=variant).mean(0))


def test_I13_noise_adaptor_quantizer_means():
  np.testing.assert_allclose(_mc_mean([0.5, 1.3, 2.5, 0.0, 3.0], "A"), [0.5, 1.3, 2.5, 0.125, 2.875],
                             atol=0.005)
  np.testing.assert_allclose(_mc_mean([0.0, 0.25, 3.0], "B"), [0.0, 0.25, 3.0], atol=0.005)


def test_I13_alpha0_B_equals_qcfs():
  v = jnp.asarray(np.arange(-8, 32) / 8, jnp.float32)
  for s, p in [(1.0, 3), (0.5, 4), (0.25, 2)]:
    b = quant.noisy_quantize(jax.random.key(0), v, s, p, alpha=0.0, variant="B")
    np.testing.assert_array_equal(np.asarray(b), np.asarray(quant.qcfs(v, p * s, p)))
    np.testing.assert_array_equal(np.asarray(quant.quantize(v, s, p)), np.asarray(b))


@pytest.mark.parametrize("p", [2, 3, 4])
def test_I14_noise_adaptor_conversion_single_layer(p):
  s = 0.5
  rng = np.random.default_rng(p)
  m = sn.mlp((6,), (8,), 3, act=noise_adaptor.noisy_quant(levels=p, lam=p * s), rngs=nnx.Rngs(0))
  m.syns[0].op.kernel[...] = jnp.asarray(rng.integers(-3, 4, (6, 8)) / 8, jnp.float32)
  m.syns[0].op.bias[...] = jnp.asarray(rng.integers(-2, 3, 8) / 8, jnp.float32)
  x = jnp.asarray(rng.integers(0, 9, (64, 6)) / 8, jnp.float32)
  snn = convert.to_spiking(m)
  assert float(snn.acts[0].threshold[...]) == p * s and snn.acts[0].spec.v0 == "half"
  m.eval()
  v = m.syns[0](x)
  from snnjax import neurons
  prm = snn.acts[0].params()
  _, spikes = neurons.run(prm, neurons.init_state(prm, v.shape, "half"), snn.syns[0](x), T=p)
  # θ·n_T/T (amplitude-θ spikes averaged) == s·clip(⌊v/s + ½⌋, 0, p), exactly
  np.testing.assert_array_equal(np.asarray(spikes.mean(0)), s * np.clip(np.floor(np.asarray(v) / s + 0.5), 0, p))
  np.testing.assert_allclose(np.asarray(simulate.run(snn, x, T=p).outputs.mean(0)), np.asarray(m(x)),
                             atol=1e-6)
