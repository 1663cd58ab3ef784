"""A spiking model as a pure step function; a complete method defined outside the library."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import snnjax.nn as sn
from snnjax import convert, neurons, simulate


# --- a toy method, written here and nowhere else -------------------------------------------------

@dataclasses.dataclass(frozen=True)
class StaircaseSpec(sn.ActSpec):
  """``d·clip(⌊x/d + ½⌋, 0, L)`` with a learnable step ``d`` (not a library activation)."""

  L: int = 4
  d: float = 0.25

  def build(self, shape, rngs):
    return Staircase(shape, self.L, self.d)


class Staircase(sn.Activation):
  def __init__(self, shape, L, d):
    super().__init__(shape)
    self.L = L
    self.d = sn.ThresholdParam(jnp.asarray(d, jnp.float32))

  def forward(self, x, *, rngs=None):
    d = self.d[...]
    q = jnp.clip(jnp.floor(x / d + 0.5), 0, self.L)
    return d * (x / d + jax.lax.stop_gradient(q - x / d))

  def conversion(self):
    # θ = L·d, start half-way to the threshold, spikes of amplitude θ
    return sn.Conversion(threshold="d", scale=self.L, v0="half")


def _dyadic(model, rng):
  """Weights and inputs that are multiples of 1/8: every sum is exact in float32."""
  syn = model.syns[0]
  syn.op.kernel[...] = jnp.asarray(rng.integers(-3, 4, syn.op.kernel.shape) / 8, jnp.float32)
  syn.op.bias[...] = jnp.asarray(rng.integers(-2, 3, syn.op.bias.shape) / 8, jnp.float32)


@pytest.mark.parametrize("L", [2, 4])
def test_toy_method_converts_and_evaluates(L):
  rng = np.random.default_rng(L)
  m = sn.mlp((6,), (8,), 3, act=StaircaseSpec(L=L, d=0.25), rngs=nnx.Rngs(0))
  _dyadic(m, rng)
  x = jnp.asarray(rng.integers(0, 9, (64, 6)) / 8, jnp.float32)
  snn = convert.to_spiking(m)
  assert isinstance(snn.acts[0], sn.Spiking)
  assert float(snn.acts[0].threshold[...]) == L * 0.25 and snn.acts[0].spec.v0 == "half"
  # one layer, T = L, constant input: the IF layer reproduces the staircase exactly
  out = simulate.run(snn, x, T=L).outputs
  np.testing.assert_allclose(np.asarray(out.mean(0)), np.asarray(m(x)), atol=1e-6)
  y = np.asarray(jnp.argmax(m(x), -1))
  r = simulate.evaluate(snn, np.asarray(x), y, T=L, batch_size=24)
  assert r["accuracy"][L - 1] == 1.0 and 0 < r["firing_rates"]["acts/0"] < 1
  # analog input: one multiply-accumulate per nonzero pixel and output, once per image
  assert r["macs_per_image"] == pytest.approx(float((np.asarray(x) != 0).sum(1).mean()) * 8)
  assert r["sops_per_image"] > 0


# --- the step function ---------------------------------------------------------------------------

def _lif_cnn(seed=0):
  return sn.cnn4((10, 10, 1), 5, act=sn.lif(), norm=True, rngs=nnx.Rngs(seed))


def test_hand_scan_equals_run_both_ways():
  m = _lif_cnn()
  m.eval()
  x = jax.random.uniform(jax.random.key(1), (4, 10, 10, 1)) * 2
  init, step = simulate.stepper(m)
  params = simulate.params(m)

  @jax.jit
  def scanned(params, x):
    def body(state, _):
      return step(params, state, x)
    return jax.lax.scan(body, init(x.shape), None, length=6)[1]

  ys = scanned(params, x)
  for way in ("step", "layer"):
    np.testing.assert_array_equal(np.asarray(ys), np.asarray(simulate.run(m, x, T=6, way=way).outputs))


def test_grad_through_hand_scan():
  m = _lif_cnn()
  x = jax.random.uniform(jax.random.key(1), (4, 10, 10, 1)) * 2
  init, step = simulate.stepper(m)

  def loss(params):
    def body(state, _):
      return step(params, state, x)
    return jnp.sum(jax.lax.scan(body, init(x.shape), None, length=4)[1] ** 2)

  g = jax.grad(loss)(simulate.params(m))
  leaves = jax.tree.leaves(g)
  assert leaves and all(np.all(np.isfinite(np.asarray(v))) for v in leaves)
  assert float(jnp.abs(g["convs"][0]["op"]["kernel"]).sum()) > 0


def test_vmap_over_parameter_trees():
  models = [_lif_cnn(seed) for seed in range(3)]
  for mm in models:
    mm.eval()
  x = jax.random.uniform(jax.random.key(2), (2, 10, 10, 1)) * 2
  init, step = simulate.stepper(models[0])
  stacked = jax.tree.map(lambda *a: jnp.stack(a), *[simulate.params(mm) for mm in models])

  def outputs(params):
    def body(state, _):
      return step(params, state, x)
    return jax.lax.scan(body, init(x.shape), None, length=3)[1]

  batched = jax.jit(jax.vmap(outputs))(stacked)
  for i, mm in enumerate(models):
    np.testing.assert_allclose(np.asarray(batched[i]), np.asarray(simulate.run(mm, x, T=3).outputs),
                               rtol=1e-5, atol=1e-5)


def test_recorded_spikes_and_membranes_match_the_pure_neuron():
  m = sn.mlp((5,), (7,), 2, act=sn.lif(), rngs=nnx.Rngs(0))
  x = jax.random.normal(jax.random.key(0), (3, 5)) * 2
  for way in ("step", "layer"):
    r = simulate.run(m, x, T=5, way=way, record=("spikes", "membrane", "currents"))
    current = r.records["currents"]["acts/0"]
    assert current.shape == (5, 3, 7)
    p = m.acts[0].params()
    _, s, u = neurons.run(p, neurons.init_state(p, (3, 7)), current, return_membrane=True)
    np.testing.assert_array_equal(np.asarray(r.records["spikes"]["acts/0"]), np.asarray(s))
    np.testing.assert_allclose(np.asarray(r.records["membrane"]["acts/0"]), np.asarray(u), atol=1e-6)


def test_state_is_explicit_and_the_model_is_untouched():
  m = sn.mlp((5,), (7,), 2, act=sn.if_(v0="half"), rngs=nnx.Rngs(0))
  before = nnx.to_pure_dict(nnx.state(m))
  init, step = simulate.stepper(m)
  state = init((3, 5))
  np.testing.assert_array_equal(np.asarray(state["acts"][0]["v"]), np.full((3, 7), 0.5, np.float32))
  state, _ = step(simulate.params(m), state, jnp.ones((3, 5)))
  assert state["acts"][0]["v"].shape == (3, 7)
  after = nnx.to_pure_dict(nnx.state(m))
  assert jax.tree.structure(before) == jax.tree.structure(after)
  assert after["acts"][0]["v"] is None  # the model's own membrane was never set
  with pytest.raises(ValueError, match="cannot record"):
    simulate.stepper(m, record=("voltage",))


def test_eager_stepping_continues_until_reset():
  m = sn.mlp((2,), (3,), 2, act=sn.if_(), rngs=nnx.Rngs(0))
  x = jnp.ones((1, 2))
  first = m(x)
  m(x)
  assert m.acts[0].v[...].shape == (1, 3)
  simulate.reset(m)
  np.testing.assert_array_equal(np.asarray(m(x)), np.asarray(first))


def test_a_run_state_carries_on_in_either_way_and_the_callers_dict_is_unchanged():
  m = _lif_cnn()
  m.eval()
  x = jax.random.uniform(jax.random.key(1), (3, 10, 10, 1)) * 2
  x2 = jax.random.uniform(jax.random.key(2), (3, 10, 10, 1)) * 2
  init, step = simulate.stepper(m)
  # reference: 4 steps on x, then 3 steps on a new input x2, by hand
  st, ys = init(x.shape), []
  for t in range(7):
    st, y = step(simulate.params(m), st, x if t < 4 else x2)
    ys.append(y)
  ref = np.asarray(jnp.stack(ys[4:]))
  for first in ("step", "layer"):
    r1 = simulate.run(m, x, T=4, way=first)
    before = jax.tree.map(np.asarray, r1.state)
    for second in ("step", "layer"):
      r2 = simulate.run(m, x2, T=3, way=second, state=r1.state)
      assert r2.outputs.shape == (3, 3, 5)
      np.testing.assert_allclose(np.asarray(r2.outputs), ref, atol=1e-5, err_msg=f"{first}->{second}")
    jax.tree.map(np.testing.assert_array_equal, before, jax.tree.map(np.asarray, r1.state))
    # the state a run returns feeds the user's own steps on a new input as well
    _, y = step(simulate.params(m), r1.state, x2)
    np.testing.assert_allclose(np.asarray(y), ref[0], atol=1e-5)


def test_unknown_layer_paths_are_refused():
  m = sn.mlp((5,), (7,), 2, act=sn.lif(), rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="no layer at"):
    simulate.run(m, jnp.ones((2, 5)), T=2, record=("spikes",), layers=["acts/7"])
  with pytest.raises(ValueError, match="no layer at"):
    simulate.monitor(m, jnp.ones((2, 5)), T=2, layers=["act/0"])


def test_batchnorm_in_training_mode_is_per_step_in_both_ways():
  """Training mode: each step normalised over its own batch, running statistics updated once per
  step; the layer way equals T calls of the one-step function, outputs, statistics and gradients."""
  m = _lif_cnn()
  m.train()
  x = jax.random.uniform(jax.random.key(1), (4, 10, 10, 1)) * 2
  init, step = simulate.stepper(m)
  params = simulate.params(m)

  def by_hand(params, T=3):
    st, ys = init(x.shape), []
    for _ in range(T):
      st, y = step(params, st, x)
      ys.append(y)
    return jnp.stack(ys), st

  ref, ref_state = by_hand(params)
  once = by_hand(params, T=1)[1]
  for way in ("step", "layer"):
    r = simulate.run(m, x, T=3, way=way)
    np.testing.assert_allclose(np.asarray(r.outputs), np.asarray(ref), atol=1e-5, err_msg=way)
    for i in range(len(m.convs)):
      # the synapse reading the analog input runs once per batch in both ways: one update
      want = once if m.convs[i].analog_input else ref_state
      for stat in ("mean", "var"):
        np.testing.assert_allclose(np.asarray(r.state["convs"][i]["norm"][stat]),
                                   np.asarray(want["convs"][i]["norm"][stat]), atol=1e-6,
                                   err_msg=f"{way} convs/{i} {stat}")
  # the hidden BatchNorm moved T times: its running mean is not one update's worth
  assert not np.allclose(np.asarray(ref_state["convs"][1]["norm"]["mean"]), 0.0)
  loss = lambda out: jnp.sum(out ** 2)
  g_ref = jax.grad(lambda p: loss(by_hand(p)[0]))(params)
  for way in ("step", "layer"):
    g = jax.grad(lambda p: loss(simulate.run(nnx.merge(*_with(m, p)), x, T=3, way=way).outputs))(params)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5),
                 g, g_ref)


def _with(model, params):
  graphdef, p, rest = nnx.split(model, nnx.Param, ...)
  nnx.replace_by_pure_dict(p, params)
  return graphdef, p, rest


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the CPU choice")
def test_default_way_on_cpu_follows_the_measurements():
  # step-by-step (unrolled) on CPU, except BPTT training beyond 8 steps (see simulate.default_way)
  assert simulate.default_way() == "step" and simulate.default_way(T=32) == "step"
  assert simulate.default_way(training=True, T=4) == "step" == simulate.default_way(training=True, T=8)
  assert simulate.default_way(training=True, T=16) == "layer"


@pytest.mark.parametrize("neuron", [dict(), dict(neuron="lif", reset="hard", v0="half")])
def test_the_rolled_step_loop_carrying_u_equals_the_loop_carrying_v(neuron):
  """The step way's scan carries u[t] and resets it at the next step: outputs, recordings and the
  returned state are those of the Python loop over the model's steps, bit for bit."""
  m = sn.resnet20(act=sn.spiking(**neuron), num_classes=4, in_shape=(8, 8, 3), rngs=nnx.Rngs(0))
  m.eval()
  x = jax.random.uniform(jax.random.key(3), (2, 8, 8, 3)) * 3
  for record in ((), ("spikes",), ("spikes", "membrane")):
    ref = simulate.run(m, x, T=5, way="step", unroll=True, record=record)
    for unroll in (1, 2):
      r = jax.jit(lambda m, x: simulate.run(m, x, T=5, way="step", unroll=unroll, record=record))(m, x)
      np.testing.assert_array_equal(np.asarray(r.outputs), np.asarray(ref.outputs))
      assert jax.tree.structure(r.state) == jax.tree.structure(ref.state)
      jax.tree.map(np.testing.assert_array_equal, r.state, ref.state)
      jax.tree.map(np.testing.assert_array_equal, r.records, ref.records)


def test_the_u_carry_is_applied_and_keeps_learned_thresholds_counts_states_and_gradients(monkeypatch):
  """A learned per-neuron θ off the dyadic grid, LIF τ=3, recordings of one layer, counts, a given
  state and gradients: the rolled loop (which resets u through neurons.reset_potential) against the
  Python loop, both compiled."""
  m = sn.mlp((6,), (9, 7), 3, act=sn.spiking(threshold=0.37, learn_threshold=True, per_neuron=True,
                                              neuron="lif", tau=3.0), rngs=nnx.Rngs(2))
  m.eval()
  for _, layer in simulate.spiking_layers(m):
    layer.threshold[...] = layer.threshold[...] * jnp.linspace(0.7, 1.3, layer.threshold[...].size)
  x = jax.random.uniform(jax.random.key(4), (5, 6)) * 8
  first = simulate.run(m, x, T=3, way="step", unroll=True)
  calls = []
  real = neurons.reset_potential
  monkeypatch.setattr(neurons, "reset_potential", lambda p, u: calls.append(1) or real(p, u))

  def go(m, unroll):
    r = simulate.run(m, x, T=6, way="step", unroll=unroll, record=("membrane",), layers=["acts/1"],
                     count=True, state=first.state)
    return jnp.sum(r.outputs ** 2), r

  (_, r), g = jax.jit(jax.value_and_grad(lambda m: go(m, 1), has_aux=True))(m)
  assert calls, "the rolled step loop did not reset u through neurons.reset_potential"
  calls.clear()
  (_, ref), g_ref = jax.jit(jax.value_and_grad(lambda m: go(m, True), has_aux=True))(m)
  assert not calls  # the Python loop carries v
  for path, (fired, total) in ref.counts["spikes"].items():
    assert 0 < fired < total, (path, fired, total)  # neither silent nor saturated
  # LIF's leak is a multiply-add: XLA may contract it differently in the two programs (one rounding)
  close = lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6)
  jax.tree.map(close, (r.outputs, r.state, r.records), (ref.outputs, ref.state, ref.records))
  jax.tree.map(np.testing.assert_array_equal, r.counts, ref.counts)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
               nnx.to_pure_dict(nnx.state(g, nnx.Param)), nnx.to_pure_dict(nnx.state(g_ref, nnx.Param)))


def test_a_run_continued_from_a_state_records_and_counts_what_it_asks():
  """A state from a run that recorded nothing feeds a run that records and counts (and back)."""
  m = sn.mlp((6,), (9, 7), 3, act=sn.spiking(), rngs=nnx.Rngs(2))
  m.eval()
  x = jax.random.uniform(jax.random.key(5), (4, 6)) * 4
  plain = simulate.run(m, x, T=3)
  runs = {way: simulate.run(m, x, T=4, way=way, record=("spikes", "membrane"), count=True,
                            state=plain.state) for way in ("step", "layer")}
  for name in ("spikes", "membrane"):
    assert {k: v.shape for k, v in runs["step"].records[name].items()} == {"acts/0": (4, 4, 9), "acts/1": (4, 4, 7)}
    jax.tree.map(np.testing.assert_array_equal, runs["step"].records[name], runs["layer"].records[name])
  jax.tree.map(np.testing.assert_array_equal, runs["step"].counts, runs["layer"].counts)
  fired = sum(float(runs["step"].records["spikes"][k].astype(bool).sum()) for k in ("acts/0", "acts/1"))
  assert fired == sum(float(c[0]) for c in runs["step"].counts["spikes"].values()) > 0
  # and a recording run's state feeds a run that records nothing: its slots come back off
  again = simulate.run(m, x, T=2, state=runs["step"].state)
  assert again.records == {} and jax.tree.structure(again.state) == jax.tree.structure(plain.state)
