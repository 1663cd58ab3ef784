"""NIR round trips: export → nir.write → nir.read → load gives the same spikes and outputs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import snnjax.nn as sn
from snnjax import convert, simulate
from snnjax import nir as snir
from snnjax.methods import noise_t1

nir = pytest.importorskip("nir")

NIR_LIF = sn.lif(reset="hard", strict=True, v_reset=0.0)  # NIR's own neuron: exact


def _round_trip(model, shape, tmp_path, **kw):
  graph = snir.export(model, shape, **kw)
  path = str(tmp_path / "model.nir")
  nir.write(path, graph)
  return snir.load(nir.read(path))


def _same_run(a, b, x, T=16):
  """Equal outputs and equal spike trains, layer by layer (paths differ, so layers are matched by
  shape and content)."""
  ra = simulate.run(a, x, T=T, record=("spikes",))
  rb = simulate.run(b, x, T=T, record=("spikes",))
  np.testing.assert_array_equal(np.asarray(ra.outputs), np.asarray(rb.outputs))
  key = lambda s: (s.shape, float(s.sum()), float((s * np.arange(s.size).reshape(s.shape)).sum()))
  sa = sorted((np.asarray(v) for v in ra.records["spikes"].values()), key=key)
  sb = sorted((np.asarray(v) for v in rb.records["spikes"].values()), key=key)
  assert len(sa) == len(sb) > 0
  for u, v in zip(sa, sb):
    np.testing.assert_array_equal(u, v)
  assert sum(float(u.sum()) for u in sa) > 0  # the net spikes: the comparison means something


@pytest.mark.parametrize("act", [NIR_LIF, sn.if_(reset="hard", strict=True, amplitude="one"),
                                 sn.lif(reset="hard", strict=True, decay_input=True, v_rest=0.25)])
def test_mlp_round_trip(act, tmp_path):
  m = sn.mlp((6,), (12, 9), 4, act=act, rngs=nnx.Rngs(0))
  x = jax.random.uniform(jax.random.key(0), (5, 6)) * 2
  _same_run(m, _round_trip(m, (6,), tmp_path), x)


def test_cnn_with_avg_pool_round_trip(tmp_path):
  m = sn.CNN((8, 8, 2), (4, 6), (True, True), 3, hidden=(7,), act=NIR_LIF, norm=False, act_scale=1.5,
             rngs=nnx.Rngs(1))
  x = jax.random.uniform(jax.random.key(1), (3, 8, 8, 2)) * 2
  loaded = _round_trip(m, (8, 8, 2), tmp_path)
  _same_run(m, loaded, x)
  kinds = {type(n).__name__ for n in nir.read(str(tmp_path / "model.nir")).nodes.values()}
  assert {"Conv2d", "LIF", "AvgPool2d", "Flatten", "Affine", "Scale"} <= kinds


def test_resnet_block_round_trip(tmp_path):
  m = sn.ResNet((1,), widths=(6,), strides=(1,), stem_width=4, in_shape=(8, 8, 2), num_classes=3,
                act=NIR_LIF, norm=False, rngs=nnx.Rngs(2))
  x = jax.random.uniform(jax.random.key(2), (3, 8, 8, 2)) * 2
  _same_run(m, _round_trip(m, (8, 8, 2), tmp_path), x)
  graph = nir.read(str(tmp_path / "model.nir"))
  fan_in = {}
  for a, b in graph.edges:
    fan_in[b] = fan_in.get(b, 0) + 1
  assert max(fan_in.values()) == 2  # the residual addition is two edges into one neuron


def test_batchnorm_is_folded(tmp_path):
  m = sn.mlp((6,), (12,), 4, act=NIR_LIF, norm=True, rngs=nnx.Rngs(3))
  m.eval()
  x = jax.random.uniform(jax.random.key(3), (64, 6)) * 2
  loaded = _round_trip(m, (6,), tmp_path)
  a, b = simulate.run(m, x, T=8).outputs, simulate.run(loaded, x, T=8).outputs
  np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-4)
  assert "norm" not in str(nnx.state(loaded))


def test_conversion_neurons_need_the_approximation_flag(tmp_path):
  m = sn.mlp((6,), (12,), 4, act=noise_t1.noisy_spike(), rngs=nnx.Rngs(4))
  snn = convert.to_spiking(m)  # IF, reset by subtraction, u ≥ θ, v[0] = θ/2
  with pytest.raises(ValueError, match="reset by subtraction.*approximate=True"):
    snir.export(snn, (6,))
  graph = snir.export(snn, (6,), approximate=True)
  path = str(tmp_path / "approx.nir")
  nir.write(path, graph)
  x = jax.random.uniform(jax.random.key(4), (32, 6)) * 2
  exact = snir.load(nir.read(path))  # the snnjax settings from the metadata: the same net
  np.testing.assert_array_equal(np.asarray(simulate.run(exact, x, T=16).outputs),
                                np.asarray(simulate.run(snn, x, T=16).outputs))
  nir_semantics = snir.load(nir.read(path), exact=False)  # what another NIR consumer runs
  assert not np.array_equal(np.asarray(simulate.run(nir_semantics, x, T=16).outputs),
                            np.asarray(simulate.run(snn, x, T=16).outputs))


class _OverlapPoolNet(nnx.Module):
  """conv → LIF → 3×3 average pooling with stride 2 (8 → 3) → linear."""

  def __init__(self, rngs):
    self.conv = sn.Synapse(2, 4, analog_input=True, rngs=rngs)
    self.act = NIR_LIF.make((8, 8, 4), rngs)
    self.pool = sn.Pool((3, 3), (2, 2), kind="avg", padding="VALID")
    self.flat = sn.Flatten(3)
    self.head = sn.Synapse(3 * 3 * 4, 3, kind="linear", rngs=rngs)

  def sequence(self):
    return [self.conv, self.act, self.pool, self.flat, self.head]

  def __call__(self, x, *, rngs=None):
    for layer in self.sequence():
      x = layer(x, rngs=rngs) if isinstance(layer, sn.Activation) else layer(x)
    return x


def test_overlapping_pool_and_operation_counts_survive_the_round_trip(tmp_path):
  m = _OverlapPoolNet(nnx.Rngs(4))
  x = jax.random.uniform(jax.random.key(4), (3, 8, 8, 2)) * 2
  loaded = _round_trip(m, (8, 8, 2), tmp_path)
  _same_run(m, loaded, x)
  # the synapse reading the input is flagged on import: its operations are MACs, counted once
  y = np.arange(3) % 3
  for way in ("step", "layer"):
    a = simulate.evaluate(m, np.asarray(x), y, T=4, way=way)
    b = simulate.evaluate(loaded, np.asarray(x), y, T=4, way=way)
    assert a["macs_per_image"] == b["macs_per_image"] > 0
    assert a["sops_per_image"] == pytest.approx(b["sops_per_image"])
