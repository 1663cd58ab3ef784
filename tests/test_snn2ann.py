"""SNN2ANN: I-15 … I-19 with the spec's numbers, branch separation, thresholds outside the optimizer."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from snnjax import _compat, simulate
from snnjax.methods import snn2ann
from snnjax.nn.calibration import modules_by_path


def _if_layer(theta=1.0):
  layer = snn2ann.IFSpec().make((1,), nnx.Rngs(0))
  layer.threshold[...] = jnp.full((1,), theta, jnp.float32)
  layer.eval()  # membrane dropout off
  return layer


@pytest.mark.parametrize("currents,spikes", [([0.6, 0.6, 0.6, 1.0, 0.2], [0, 1, 0, 1, 0]),
                                             ([1.0, 0.5, 0.5], [0, 1, 0])])
def test_I15_hard_reset_strict_if(currents, spikes):
  layer = _if_layer()
  out = [float(layer(jnp.full((1, 1), c, jnp.float32))[0, 0]) for c in currents]
  assert out == spikes


def test_membrane_dropout_in_training_only():
  layer = snn2ann.IFSpec().make((1000,), nnx.Rngs(0))
  layer.threshold[...] = jnp.full((1000,), 10.0, jnp.float32)
  layer(jnp.full((1, 1000), 0.5), rngs=jax.random.key(0))
  v = np.asarray(layer.v[...])
  assert set(np.unique(v)) <= {0.0, 1.0} and 0.4 < (v > 0).mean() < 0.6  # survivors ×2, half dropped
  simulate.reset(layer)
  layer.eval()
  layer(jnp.full((1, 1000), 0.5))
  np.testing.assert_array_equal(np.asarray(layer.v[...]), 0.5)


def test_I16_mapping_units():
  r = jnp.asarray([0, 0, 0.7, 2.0])
  n = jnp.asarray([0.0, 2, 1, 3])
  g = jnp.asarray([1.0, 2, 3, 4])
  np.testing.assert_array_equal(np.asarray(snn2ann.stsu(r, n)), [0, 2, 1, 3])
  np.testing.assert_array_equal(np.asarray(snn2ann.resu(r, n)), [0, 0, 1, 3])
  for unit in (snn2ann.stsu, snn2ann.resu):
    dr, dn = jax.grad(lambda r, n: jnp.sum(g * unit(r, n)), argnums=(0, 1))(r, n)
    np.testing.assert_array_equal(np.asarray(dr), [1, 2, 3, 4])  # identity, not masked by r > 0
    np.testing.assert_array_equal(np.asarray(dn), [0, 0, 0, 0])


def _model(unit="STSU", pool="max", seed=0, arch="vgg"):
  if arch == "mlp":
    m = snn2ann.snn2ann_mlp((8, 8, 1), 3, hidden=(16, 12), act=snn2ann.SMUSpec(unit=unit), rngs=nnx.Rngs(seed))
  else:
    m = snn2ann.snn2ann_small((8, 8, 1), 3, act=snn2ann.SMUSpec(unit=unit), pool=pool, rngs=nnx.Rngs(seed))
  rng = np.random.default_rng(seed)
  for _, syn in modules_by_path(m).items():
    bn = getattr(syn, "norm", None)
    if bn is not None:
      c = bn.mean.shape[0]
      bn.mean[...] = jnp.asarray(rng.normal(size=c) * 0.1, jnp.float32)
      bn.var[...] = jnp.asarray(rng.uniform(0.5, 2, c), jnp.float32)
      bn.scale[...] = jnp.asarray(rng.uniform(0.5, 2, c), jnp.float32)
      bn.bias[...] = jnp.asarray(rng.normal(size=c) * 0.1, jnp.float32)
  return m


def test_I17_folded_currents_sum_to_the_unfolded_conv_of_the_counts():
  T = 5
  m = _model()
  m.eval()
  snn = snn2ann.to_spiking(m, T=T)
  syn_ann, syn_snn = m.layers[2], snn.layers[2]  # the second conv: it reads spikes
  s = jax.random.bernoulli(jax.random.key(0), 0.4, (T, 2, 8, 8, 32)).astype(jnp.float32)
  lhs = sum(syn_snn(s[t]) for t in range(T))
  rhs = syn_ann(s.sum(0))
  np.testing.assert_allclose(np.asarray(lhs), np.asarray(rhs), atol=1e-5)


def test_I18_ata_step():
  vth = jnp.full((40,), 0.3)
  r = jnp.where(jnp.arange(40) < 10, 0.0, 1.0)        # r = 0 on 10 of 40 units
  n = jnp.where(jnp.arange(40) < 6, 2.0, 0.0)         # N > 0 on 6 of those 10
  new, e = snn2ann.ata_update(vth, r, n)
  assert float(e) == pytest.approx(0.15, abs=1e-7)
  np.testing.assert_allclose(np.asarray(new), 0.31, atol=1e-7)
  n_low = jnp.where(jnp.arange(40) < 2, 2.0, 0.0)     # e = 0.05: no step
  new, e = snn2ann.ata_update(vth, r, n_low)
  assert float(e) == pytest.approx(0.05, abs=1e-7)
  np.testing.assert_array_equal(np.asarray(new), np.asarray(vth))
  with _compat.enable_x64():  # the spec's tolerance, in float64
    v64 = jnp.full((40,), 0.3, jnp.float64)
    new, e = snn2ann.ata_update(v64, r.astype(jnp.float64), n.astype(jnp.float64))
    assert float(e) == pytest.approx(0.15, abs=1e-12)
    np.testing.assert_allclose(np.asarray(new), 0.31, atol=1e-12)


def _ann_logits(m, x, counts, T):
  """The ANN branch (eval mode) on a copy of ``m`` with the SNN branch's counts in its mapping units."""
  m = nnx.merge(*nnx.split(m), copy=True)
  mods = modules_by_path(m)
  for k, v in counts.items():
    _compat.set_value(mods[k].counts, v)
  return m.head(m.features(x) / T)


@pytest.mark.parametrize("unit,arch", [("STSU", "vgg"), ("ReSU", "vgg"), ("STSU", "mlp")])
def test_I19_branch_consistency(unit, arch):
  T = 4
  m = _model(unit, arch=arch)
  if unit == "ReSU":
    # ReSU equals STSU wherever no unit spikes while its ReLU is silent: make every ReLU input
    # positive (a large BatchNorm shift), and the two branches must agree as with STSU
    for _, syn in modules_by_path(m).items():
      bn = getattr(syn, "norm", None)
      if bn is not None:
        bn.bias[...] = jnp.full(bn.bias.shape, 5.0)
  m.eval()
  x = jax.random.uniform(jax.random.key(1), (6, 8, 8, 1)) * 2
  snn = snn2ann.to_spiking(m, T=T)
  r = simulate.run(snn, x, T=T, record=("spikes",))
  counts = {k: v.sum(0) for k, v in r.records["spikes"].items()}
  ann = _ann_logits(m, x, counts, T)
  np.testing.assert_allclose(np.asarray(ann), np.asarray(r.outputs.mean(0)), atol=1e-5)
  assert 0 < float(sum(v.sum() for v in counts.values()))


def test_no_gradient_reaches_the_snn_branch():
  T = 4
  m = _model("ReSU")
  x = jax.random.uniform(jax.random.key(2), (4, 8, 8, 1)) * 2
  snn = snn2ann.to_spiking(m, T=T)
  r = simulate.run(snn, x, T=T, record=("spikes",))
  counts = {k: v.sum(0) for k, v in r.records["spikes"].items()}
  m.eval()
  g = jax.grad(lambda c: jnp.sum(_ann_logits(m, x, c, T) ** 2))(counts)
  assert all(float(jnp.abs(v).max()) == 0.0 for v in g.values())
  # and the SNN branch itself is constant in the parameters it shares
  graphdef, params, rest = nnx.split(m, nnx.Param, ...)
  gp = jax.grad(lambda p: jnp.sum(simulate.run(snn2ann.to_spiking(
      nnx.merge(graphdef, jax.lax.stop_gradient(p), rest), T=T), x, T=T).outputs))(params)
  assert all(float(jnp.abs(v).max()) == 0.0 for v in jax.tree.leaves(gp))


def test_training_step_keeps_thresholds_out_of_the_optimizer():
  m = _model("ReSU")
  x = jax.random.uniform(jax.random.key(3), (32, 8, 8, 1)) * 2
  batch = {"image": x, "label": jnp.arange(32, dtype=jnp.int32) % 3}
  state, step = snn2ann.make_step(m, optax.sgd(1.0), T=4)
  assert not any("vth" in str(p) for p in jax.tree_util.tree_flatten_with_path(state["params"])[0])
  vth0 = {k: np.asarray(mod.vth[...]) for k, mod in modules_by_path(m).items()
          if isinstance(mod, snn2ann.SMU)}
  step = jax.jit(step)
  for i in range(5):
    state, metrics = step(state, batch, jax.random.key(i))
  m2 = nnx.merge(*nnx.split(m, nnx.Param, nnx.BatchStat, ...)[:1], state["params"], state["stats"],
                 nnx.split(m, nnx.Param, nnx.BatchStat, ...)[3])
  for k, v0 in vth0.items():
    delta = np.asarray(modules_by_path(m2)[k].vth[...]) - v0
    steps = np.round(delta / 0.01)
    np.testing.assert_allclose(delta, steps * 0.01, atol=1e-5)  # only whole ATA steps of 0.01 …
    assert np.all(steps == steps.flat[0]) and 0 <= steps.flat[0] <= 5  # … for the whole layer at once
  assert np.isfinite(float(metrics["loss"])) and 0 <= float(metrics["noisy_spike_ratio"]) <= 1


def test_resnet17_and_vgg13_build_and_run_both_branches():
  for build, shape in ((snn2ann.resnet17, (32, 32, 3)), (snn2ann.snn2ann_vgg13, (32, 32, 3))):
    m = nnx.eval_shape(lambda: build(shape, act=snn2ann.SMUSpec(), rngs=nnx.Rngs(0)))
    g, s = nnx.split(m)
    out = jax.eval_shape(lambda s, x: nnx.merge(g, s)(x, rngs=jax.random.key(0)), s,
                         jax.ShapeDtypeStruct((2,) + shape, jnp.float32))
    assert out.shape == (2, 10)
  m = snn2ann.resnet17((16, 16, 3), act=snn2ann.SMUSpec(), rngs=nnx.Rngs(0))
  assert m.head.in_features == 4 * 4 * 512  # 16 → 4 with strides 1, 1, 2, 2
  snn = snn2ann.to_spiking(m, T=3)
  out = simulate.run(snn, jnp.ones((2, 16, 16, 3)), T=3).outputs
  assert out.shape == (3, 2, 10) and np.all(np.isfinite(np.asarray(out)))
  m_avg = snn2ann.snn2ann_small((8, 8, 1), 3, act=snn2ann.SMUSpec(), pool="avg", rngs=nnx.Rngs(0))
  assert sum(isinstance(v, snn2ann.SMU) and v.spec.identity for v in modules_by_path(m_avg).values()) == 2
