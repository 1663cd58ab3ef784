"""OTTT and SAF against closed forms and a numpy LIF reference: I-7, I-8, I-9, I-20, and
SAF-trained weights run as a LIF SNN with identical spikes."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import snnjax.nn as sn
from snnjax import simulate, traces
from snnjax._compat import enable_x64
from snnjax.methods import ottt, saf
from snnjax.methods.common import per_step_loss


def _lif_numpy(currents, lam=0.5, theta=1.0):
  """LIF with soft reset written from its equations: u = λ·v + I, s = [u ≥ θ], v = u − θ·s."""
  v, us, ss = np.zeros_like(currents[0]), [], []
  for I in currents:
    u = lam * v + I
    s = (u >= theta).astype(u.dtype)
    v = u - theta * s
    us.append(u)
    ss.append(s)
  return np.stack(us), np.stack(ss)


def test_I7_hand_worked_numbers():
  lam, W = 0.5, 0.7
  s_in = np.array([1, 1, 0, 1, 1, 1], np.float64)
  u_lif, s_lif = _lif_numpy(W * s_in[:, None])
  np.testing.assert_allclose(u_lif[:, 0], [0.7, 1.05, 0.025, 0.7125, 1.05625, 0.728125], atol=1e-12)
  np.testing.assert_array_equal(s_lif[:, 0], [0, 1, 0, 0, 1, 0])
  with enable_x64():
    a_in = np.asarray(traces.accumulate(jnp.asarray(s_in), lam))
    np.testing.assert_allclose(a_in, [1, 1.5, 0.75, 1.375, 1.6875, 1.84375], atol=1e-12)
    a_out, thresholds, spikes, u_rec = jnp.zeros((), jnp.float64), [], [], []
    for t in range(6):
      U = jnp.asarray(W * a_in[t])  # b = 0
      thresholds.append(float(1.0 * (lam * a_out + 1)))
      u_rec.append(float(U - 1.0 * lam * a_out))  # the LIF membrane, recovered
      s, a_out = saf.neuron_step(U, a_out, 1.0, lam)
      spikes.append(float(s))
      if t == 0:
        outs = [float(a_out)]
      else:
        outs.append(float(a_out))
  np.testing.assert_allclose(thresholds, [1, 1, 1.5, 1.25, 1.125, 1.5625], atol=1e-12)
  np.testing.assert_array_equal(spikes, [0, 1, 0, 0, 1, 0])
  np.testing.assert_allclose(outs, [0, 1, 0.5, 0.25, 1.125, 0.5625], atol=1e-12)
  np.testing.assert_allclose(u_rec, u_lif[:, 0], atol=1e-12)


def test_I7_random_layer_equals_lif():
  rng = np.random.default_rng(7)
  lam, T = 0.5, 6
  W, b = rng.normal(size=(5, 4)), rng.normal(0, 0.3, size=4)
  s_in = (rng.random((T, 3, 5)) < 0.4).astype(np.float64)
  u_lif, s_lif = _lif_numpy(s_in @ W + b)
  with enable_x64():
    a_in = np.asarray(traces.accumulate(jnp.asarray(s_in), lam))
    a_out, c = jnp.zeros((3, 4), jnp.float64), 0.0
    for t in range(T):
      c = lam * c + 1
      U = jnp.asarray(a_in[t] @ W + b * c)
      u_rec = np.asarray(U - lam * a_out)
      s, a_out = saf.neuron_step(U, a_out, 1.0, lam)
      np.testing.assert_array_equal(np.asarray(s), s_lif[t])
      np.testing.assert_allclose(u_rec, u_lif[t], atol=1e-9)


def test_I9_saf_f_scale_relation(rng):
  lam, T = 0.5, 6
  factor = sum(lam ** k for k in range(T))
  assert factor == 1.96875
  s = (rng.random((T, 7)) < 0.5).astype(np.float64)
  with enable_x64():
    a_T = np.asarray(traces.accumulate(jnp.asarray(s), lam))[-1]
  w = lam ** (T - 1 - np.arange(T))  # λ^(T−t), t = 1..T
  a_sr = (w[:, None] * s).sum(0) / w.sum()
  np.testing.assert_allclose(a_T, factor * a_sr, atol=1e-12)


def test_I20_replace_semantics(rng):
  syn = sn.Synapse(5, 3, kind="linear", rngs=nnx.Rngs(0))
  s = jnp.asarray(rng.random((4, 5)) < 0.5, jnp.float32)
  a = jnp.asarray(rng.random((4, 5)) * 2, jnp.float32)
  delta = jnp.asarray(rng.normal(size=(4, 3)), jnp.float32)
  np.testing.assert_array_equal(np.asarray(ottt.replace_grad_op(syn, s, a)), np.asarray(syn.apply_op(s)))
  g, params, rest = nnx.split(syn, nnx.Param, ...)

  def loss(params, s):
    return jnp.sum(delta * ottt.replace_grad_op(nnx.merge(g, params, rest), s, a))

  gp, gs = jax.grad(loss, argnums=(0, 1))(params, s)
  W = np.asarray(syn.op.kernel[...])
  np.testing.assert_allclose(np.asarray(gp["op"]["kernel"][...]), np.asarray(a).T @ np.asarray(delta), atol=1e-6)
  np.testing.assert_allclose(np.asarray(gp["op"]["bias"][...]), np.asarray(delta).sum(0), atol=1e-6)
  np.testing.assert_allclose(np.asarray(gs), np.asarray(delta) @ W.T, atol=1e-6)


def _conv_net(dtype=jnp.float64, seed=0):
  """A first conv, a hidden linear layer and a classifier; LIF τ=2; weight standardisation."""
  m = sn.CNN((6, 6, 1), (3,), (True,), 3, hidden=(5,), act=ottt.default_act(), norm=False, ws=True,
             act_scale=2.74, rngs=nnx.Rngs(seed))
  g, p, rest = nnx.split(m, nnx.Param, ...)
  p = jax.tree.map(lambda v: v.astype(dtype), p)
  return nnx.merge(g, p, rest), g, p, rest


def test_I8_saf_e_gradients_equal_ottt_per_step_and_summed():
  T = 6
  with enable_x64():
    m, g, params, rest = _conv_net()
    x = jax.random.uniform(jax.random.key(1), (4, 6, 6, 1), jnp.float64) * 3
    y = jnp.asarray([0, 1, 2, 1], jnp.int32)

    def step_grad(method, params, state, t):
      def loss(params):
        new, out = method.forward(nnx.merge(g, params, rest), state, x, t)
        return per_step_loss(out, y, T), (new, out)
      (l, (new, out)), grad = jax.value_and_grad(loss, has_aux=True)(params)
      return jax.lax.stop_gradient(new), out, grad

    so, ss = ottt.init(m, x.shape), saf.init(m, x.shape)
    total_o = total_s = None
    fired = 0.0
    for t in range(T):
      so, out_o, go = step_grad(ottt, params, so, t)
      ss, out_s, gs = step_grad(saf, params, ss, t)
      np.testing.assert_allclose(np.asarray(out_s), np.asarray(out_o), atol=1e-10)
      jax.tree.map(lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-10), gs, go)
      total_o = go if total_o is None else jax.tree.map(jnp.add, total_o, go)
      total_s = gs if total_s is None else jax.tree.map(jnp.add, total_s, gs)
      fired += float(sum(jnp.sum(a) for a in so["a"]))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-10),
                 total_s, total_o)
    assert fired > 0  # the network spikes, so the check means something
    assert float(jnp.abs(total_o["convs"][0]["op"]["kernel"]).sum()) > 0


def test_saf_weights_run_as_a_lif_snn_with_identical_spikes():
  T = 6
  with enable_x64():
    m, g, params, rest = _conv_net(seed=3)
    x = jax.random.uniform(jax.random.key(4), (5, 6, 6, 1), jnp.float64) * 3
    state = saf.init(m, x.shape)
    lam = 0.5
    saf_spikes, saf_out = [], []
    for t in range(T):
      prev = state["a"]
      state, out = saf.forward(m, state, x, t)
      saf_spikes.append([a - lam * p.astype(a.dtype) for a, p in zip(state["a"], prev)])
      saf_out.append(out)
    r = simulate.run(m, x, T=T, way="step", record=("spikes",))
    for k, key in enumerate(["acts/0", "fc_acts/0"]):
      lif = np.asarray(r.records["spikes"][key])
      np.testing.assert_array_equal(np.stack([np.asarray(s[k]) for s in saf_spikes]), lif)
      assert 0 < lif.mean() < 1
    np.testing.assert_allclose(np.stack([np.asarray(o) for o in saf_out]), np.asarray(r.outputs), atol=1e-9)


@pytest.mark.parametrize("method,kw", [(ottt, dict(update="A")), (ottt, dict(update="O")),
                                       (saf, dict(variant="E", update="O")),
                                       (saf, dict(variant="F"))])
def test_online_steps_train(method, kw):
  m = sn.mlp((8, 8, 1), (32,), 10, act=method.default_act(), ws=True, act_scale=2.74, rngs=nnx.Rngs(0))
  x = jax.random.uniform(jax.random.key(0), (32, 8, 8, 1))
  batch = {"image": x, "label": jnp.arange(32, dtype=jnp.int32) % 10}
  state, step = method.make_step(m, optax.sgd(0.2, momentum=0.9), T=4, **kw)
  step = jax.jit(step)
  first = None
  for _ in range(25):
    state, metrics = step(state, batch, jax.random.key(0))
    first = float(metrics["loss"]) if first is None else first
  assert float(metrics["loss"]) < first


def test_online_methods_refuse_what_they_cannot_run():
  with pytest.raises(ValueError, match="norm=False"):
    ottt.init(sn.mlp((4,), (3,), 2, act=ottt.default_act(), norm=True, rngs=nnx.Rngs(0)), (2, 4))
  with pytest.raises(ValueError, match="not a sequential model"):
    saf.init(sn.resnet20(act=ottt.default_act(), norm=False, rngs=nnx.Rngs(0)), (2, 32, 32, 3))
  with pytest.raises(ValueError, match="activation"):
    saf.init(sn.mlp((4,), (3,), 2, rngs=nnx.Rngs(0)), (2, 4))
  # neuron options their step does not run (SpikingJelly's decay_input, a resting potential)
  for opts in (dict(decay_input=True), dict(v_rest=0.2), dict(reset_amount=0.5)):
    act = dataclasses.replace(ottt.default_act(), **opts)
    for method in (ottt, saf):
      with pytest.raises(ValueError, match="u = λ·v \\+ I"):
        method.init(sn.mlp((4,), (3,), 2, act=act, rngs=nnx.Rngs(0)), (2, 4))


def test_trace_readout_is_the_classifier_on_the_accumulated_input():
  m = sn.mlp((8,), (16, 16), 3, act=ottt.default_act(), ws=True, act_scale=2.74, rngs=nnx.Rngs(0))
  x = jax.random.uniform(jax.random.key(0), (40, 8)) * 3
  y = np.arange(40) % 3
  r = simulate.run(m, x, T=5, record=("synapse_inputs",), layers=["head"])
  inp = np.asarray(r.records["synapse_inputs"]["head"], np.float64)  # [T, B, 16]: 2.74·spikes
  acc = np.zeros_like(inp[0])
  expected = []
  W, b = np.asarray(m.head.op.kernel[...], np.float64), np.asarray(m.head.op.bias[...], np.float64)
  for t in range(5):
    acc = 0.5 * acc + inp[t]
    expected.append(float((np.argmax(acc @ W + b, -1) == y).mean()))
  e = simulate.evaluate(m, np.asarray(x), y, T=5, batch_size=16, readout_decay=0.5)
  np.testing.assert_allclose(e["accuracy_trace"], expected, atol=1e-9)
