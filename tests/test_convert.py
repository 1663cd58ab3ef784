"""Conversion as a pytree map: BN folding (I-5), QCFS→IF through a network (I-1/I-14),
read-out linearity (I-21), multi-layer gap (I-22), round trips and errors."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import snnjax.nn as sn
from snnjax import convert, simulate
from snnjax.methods.qcfs import qcfs
from snnjax.nn.activations import ActSpec


def _np_conv_bn(x, w, gamma, beta, mean, var, eps):
  """numpy reference: SAME 3×3 conv (stride 1) then eval BatchNorm."""
  B, H, W, C = x.shape
  xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  y = np.zeros((B, H, W, w.shape[-1]))
  for i in range(3):
    for j in range(3):
      y += np.einsum("bhwc,cd->bhwd", xp[:, i:i + H, j:j + W], w[i, j])
  return gamma * (y - mean) / np.sqrt(var + eps) + beta


def test_I5_bn_folding(rng):
  syn = sn.Synapse(3, 4, norm=True, rngs=nnx.Rngs(0))
  bn = syn.norm
  bn.scale[...] = jnp.asarray(rng.uniform(0.5, 2, 4), jnp.float32)
  bn.bias[...] = jnp.asarray(rng.normal(size=4), jnp.float32)
  bn.mean[...] = jnp.asarray(rng.normal(size=4), jnp.float32)
  bn.var[...] = jnp.asarray(rng.uniform(0.5, 2, 4), jnp.float32)
  syn.eval()
  x = rng.normal(size=(2, 6, 6, 3)).astype(np.float32)
  folded = convert.fold_batchnorm(nnx.state(syn))
  assert set(folded) == {"op"} and set(folded["op"]) == {"kernel", "bias"}
  plain = sn.Synapse(3, 4, norm=False, rngs=nnx.Rngs(1))
  g, st = nnx.split(plain)
  nnx.replace_by_pure_dict(st, folded)
  y_fold = np.asarray(nnx.merge(g, st)(jnp.asarray(x)))
  np.testing.assert_allclose(y_fold, np.asarray(syn(jnp.asarray(x))), atol=1e-5)
  # the formula equals an independent numpy conv + BN (QCFS eps = bn.eps = SNN2ANN eps = 1e-5)
  ref = _np_conv_bn(x.astype(np.float64), np.asarray(syn.op.kernel[...], np.float64),
                    *(np.asarray(v[...], np.float64) for v in (bn.scale, bn.bias, bn.mean, bn.var)),
                    1e-5)
  np.testing.assert_allclose(y_fold, ref, atol=1e-5)


def _dyadic_mlp(L, T, seed=0):
  """QCFS MLP whose weights and inputs are multiples of 1/8: every sum is exact."""
  rng = np.random.default_rng(seed)
  m = sn.mlp((6,), (5,), 3, act=qcfs(L=L, lam=1.0), rngs=nnx.Rngs(0))
  m.syns[0].op.kernel[...] = jnp.asarray(rng.integers(-3, 4, (6, 5)) / 8, jnp.float32)
  m.syns[0].op.bias[...] = jnp.asarray(rng.integers(-2, 3, 5) / 8, jnp.float32)
  x = jnp.asarray(rng.integers(0, 9, (32, 6)) / 8, jnp.float32)
  return m, x


@pytest.mark.parametrize("L", [2, 3, 4])
def test_I1_I14_one_layer_network_through_converter(L):
  m, x = _dyadic_mlp(L, L)
  s = convert.to_spiking(m)
  hidden_ann = m.acts[0](m.syns[0](x))
  out = simulate.run(s, x, T=L).outputs
  # hidden spikes: rebuild the rate from a spiking-only copy of the first layer
  theta = s.acts[0].threshold[...]
  from snnjax import neurons
  z = s.syns[0](x)
  _, spikes = neurons.run(s.acts[0].params(), neurons.init_state(s.acts[0].params(), z.shape, "half"),
                          z, T=L)
  np.testing.assert_array_equal(np.asarray(spikes.sum(0) / L), np.asarray(hidden_ann))
  assert float(theta) == 1.0
  # I-21: mean read-out equals the ANN classifier on the rates → equal logits
  np.testing.assert_allclose(np.asarray(out.mean(0)), np.asarray(m(x)), atol=1e-6)


def test_I21_readout_linearity(rng):
  W = jnp.asarray(rng.normal(size=(7, 3)), jnp.float32)
  b = jnp.asarray(rng.normal(size=3), jnp.float32)
  xs = jnp.asarray(rng.random((9, 4, 7)) < 0.3, jnp.float32)
  lhs = jnp.mean(xs @ W + b, axis=0)
  rhs = xs.mean(0) @ W + b
  np.testing.assert_allclose(np.asarray(lhs), np.asarray(rhs), atol=1e-6)


def test_I22_multilayer_gap_shrinks_with_T():
  """A QCFS net with two hidden layers fitted to random labels (small margins,
  so conversion errors show in accuracy)."""
  import optax
  from snnjax.methods import ann, common
  rng = np.random.default_rng(3)
  x = jnp.asarray(rng.random((1024, 20)), jnp.float32)
  y = jnp.asarray(rng.integers(0, 10, 1024), jnp.int32)
  m = sn.mlp((20,), (64, 64), 10, act=qcfs(L=4, lam=2.0), rngs=nnx.Rngs(3))
  loss_fn, params, rest = common.functionalize(m, ann.module_loss)
  tx = optax.adam(1e-2)
  opt = tx.init(params)

  @jax.jit
  def step(params, opt):
    g = jax.grad(lambda p: loss_fn(p, {"image": x, "label": y})[0])(params)
    with jax.numpy_dtype_promotion("standard"):  # optax Adam: float ** int32 step count
      u, opt = tx.update(g, opt)
    return optax.apply_updates(params, u), opt

  for _ in range(300):
    params, opt = step(params, opt)
  nnx.update(m, params)
  ann_acc = float((jnp.argmax(m(x), -1) == y).mean())
  assert ann_acc > 0.9
  s = convert.to_spiking(m)
  acc = simulate.evaluate(s, np.asarray(x), np.asarray(y), T=64, batch_size=1024)["accuracy"]
  gap4, gap64 = ann_acc - acc[3], ann_acc - acc[63]
  assert gap64 < gap4, (gap4, gap64)


def test_layer_and_step_ways_identical():
  m = sn.cnn4((12, 12, 1), act=qcfs(L=4, lam=1.0), norm=True, rngs=nnx.Rngs(0))
  s = convert.to_spiking(m)
  x = jax.random.uniform(jax.random.key(2), (4, 12, 12, 1))
  a, _, _, sa = simulate.run(s, x, T=6, way="layer", count=True)
  b, _, _, sb = simulate.run(s, x, T=6, way="step", count=True)
  c = simulate.run(s, x, T=6, way="step", unroll=True).outputs
  np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  np.testing.assert_array_equal(np.asarray(a), np.asarray(c))
  for k in sa["spikes"]:
    np.testing.assert_array_equal(np.asarray(sa["spikes"][k]), np.asarray(sb["spikes"][k]))
  for k in sa["ops"]:
    assert float(sa["ops"][k]) == float(sb["ops"][k])


def test_round_trip_dicts_and_nnx_state():
  m = sn.small_cnn((8, 8, 1), act=qcfs(L=4), norm=True, rngs=nnx.Rngs(0))
  ref = convert.to_spiking(m)
  template = sn.small_cnn((8, 8, 1), act=sn.if_(), norm=False, rngs=nnx.Rngs(9))
  conv = m.acts[0].conversion()
  from_state = convert.to_spiking(nnx.state(m), template=template, conversion=conv)
  from_dict = convert.to_spiking(nnx.to_pure_dict(nnx.state(m)), template=template, conversion=conv)
  x = jax.random.uniform(jax.random.key(0), (3, 8, 8, 1))
  r = np.asarray(simulate.run(ref, x, T=4).outputs)
  for other in (from_state, from_dict):
    np.testing.assert_array_equal(np.asarray(simulate.run(other, x, T=4).outputs), r)
  # the converted tree itself round-trips through a plain dict
  d = convert.convert_params(nnx.state(m), convert.conversions(m))
  assert set(d["acts"][0]) == {"threshold"} and "norm" not in d["convs"][0]


def test_converted_resnet18_cifar_runs():
  m = sn.resnet18(act=qcfs(), rngs=nnx.Rngs(0))
  s = convert.to_spiking(m)
  out = simulate.run(s, jnp.ones((2, 32, 32, 3)), T=4).outputs
  assert out.shape == (4, 2, 10) and np.all(np.isfinite(np.asarray(out)))


def test_maxnorm_and_percentile_calibration():
  rng = np.random.default_rng(0)
  m = sn.mlp((10,), (16,), 3, rngs=nnx.Rngs(0))
  xs = [jnp.asarray(rng.random((32, 10)), jnp.float32) for _ in range(3)]
  th_max = convert.calibrate(m, xs, percentile=100)
  th_p = convert.calibrate(m, xs, percentile=50)
  acts = [np.asarray(jax.nn.relu(m.syns[0](x))) for x in xs]
  assert th_max["acts/0"] == pytest.approx(max(a.max() for a in acts), rel=1e-6)
  assert th_p["acts/0"] == pytest.approx(np.mean([np.percentile(a, 50) for a in acts]), rel=1e-5)
  s = convert.to_spiking(m, thresholds=th_max)
  assert s.acts[0].spec.v0 == "zero" and float(s.acts[0].threshold[...]) == pytest.approx(th_max["acts/0"])


@dataclasses.dataclass(frozen=True)
class GeluSpec(ActSpec):
  def build(self, shape, rngs):
    return Gelu(shape)


class Gelu(sn.Activation):
  def forward(self, x, *, rngs=None):
    return jax.nn.gelu(x)


def test_errors_name_the_layer():
  with pytest.raises(ValueError, match="max-pooling at 'pools/1'.*pool='avg'"):
    convert.to_spiking(sn.small_cnn((8, 8, 1), pool="max", rngs=nnx.Rngs(0)), thresholds={})
  with pytest.raises(ValueError, match="Gelu at 'acts/0' has no conversion rule"):
    convert.to_spiking(sn.mlp((4,), (3,), 2, act=GeluSpec(), rngs=nnx.Rngs(0)))
  tmpl = sn.mlp((4,), (3,), 2, act=sn.if_(), rngs=nnx.Rngs(0))
  relu_state = nnx.to_pure_dict(nnx.state(sn.mlp((4,), (3,), 2, rngs=nnx.Rngs(0))))
  qcfs_conversion = sn.mlp((4,), (3,), 2, act=qcfs(), rngs=nnx.Rngs(0)).acts[0].conversion()
  with pytest.raises(ValueError, match="'acts/0' has no variable 'lam'"):
    convert.to_spiking(relu_state, template=tmpl, conversion=qcfs_conversion)
  with pytest.raises(ValueError, match="no calibrated threshold for 'acts/0'"):
    convert.to_spiking(sn.mlp((4,), (3,), 2, rngs=nnx.Rngs(0)))


def test_init_clip_from_data_sets_percentiles_in_forward_order():
  from snnjax.methods import noise_adaptor
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(64, 10)), jnp.float32)
  for act in (qcfs(L=4), noise_adaptor.noisy_quant(levels=4)):
    m = sn.mlp((10,), (16, 16), 3, act=act, norm=True, rngs=nnx.Rngs(0))
    before = jax.tree.map(np.asarray, nnx.to_pure_dict(nnx.state(m, nnx.BatchStat)))
    clips = sn.init_clip_from_data(m, x, percentile=99.0)
    # reference: the same forward by hand, layer by layer, with the new clips
    ref = sn.mlp((10,), (16, 16), 3, act=act, norm=True, rngs=nnx.Rngs(0))
    h = x
    for i, (syn, a) in enumerate(zip(ref.syns, ref.acts)):
      z = syn(h)
      lam = float(np.percentile(np.maximum(np.asarray(z), 0), 99.0))
      assert clips[f"acts/{i}"] == pytest.approx(lam, rel=1e-5)
      conv = a.conversion()
      getattr(a, conv.threshold)[...] = jnp.asarray(lam / conv.scale, jnp.float32)
      a.deterministic = True
      h = a(z)
    after = jax.tree.map(np.asarray, nnx.to_pure_dict(nnx.state(m, nnx.BatchStat)))
    jax.tree.map(np.testing.assert_array_equal, before, after)  # BN statistics untouched


def test_capture_calibrate_and_monitor_compile_once():
  from snnjax.convert import _calibration_stats
  from snnjax.nn.calibration import _capture_jit, capture
  from snnjax.simulate import _monitor
  rng = np.random.default_rng(0)
  m = sn.mlp((10,), (16,), 3, rngs=nnx.Rngs(0))
  xs = [jnp.asarray(rng.random((32, 10)), jnp.float32) for _ in range(3)]
  for fn, call in [(_capture_jit, lambda x: capture(m, x, [("acts/0", "rec_in")])),
                   (_calibration_stats, lambda x: convert.calibrate(m, [x], percentile=99))]:
    call(xs[0])
    before = fn._cache_size()
    for x in xs:
      call(x)
    assert fn._cache_size() == before, fn
  snn = convert.to_spiking(m, thresholds=convert.calibrate(m, xs))
  simulate.monitor(snn, xs[0], T=3)
  before = _monitor._cache_size()
  for x in xs:
    simulate.monitor(snn, x, T=3)
  assert _monitor._cache_size() == before
