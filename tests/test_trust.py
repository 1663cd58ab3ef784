"""No silent wrong answers, no lost work: each bad input or fault fails loudly or works."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import snnjax.nn as sn
from snnjax import checkpoint, convert, data, simulate
from snnjax.train import trainer as train
from snnjax.train.configs import noise_t1 as noise_cfg
from snnjax.train.configs import qcfs as qcfs_cfg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny(module=noise_cfg, variant="tiny", **overrides):
  c = module.get_config(variant)
  with c.unlocked():
    c.epoch_eval_examples = 0
    for k, v in overrides.items():
      setattr(c, k, v)
  return c


def _params(c, workdir, resume=False, log=None):
  ds = data.load(c.dataset)
  model, history, _ = train.train_model(c, ds, train.recipe_for(c), workdir, resume=resume,
                                        log=log or (lambda *_: None))
  return nnx.to_pure_dict(nnx.state(model, nnx.Param)), history


def _largest_array_file(step_dir):
  files = [os.path.join(r, f) for r, _, fs in os.walk(os.path.join(step_dir, "state")) for f in fs]
  return max(files, key=os.path.getsize)


# --- checkpoints -----------------------------------------------------------------------------------

def test_corrupted_array_file_is_detected_and_the_run_resumes_exactly(tmp_path):
  base = dict(num_steps=12, checkpoint_every=4, log_every=2)
  full, _ = _params(tiny(**base), str(tmp_path / "full"))
  killed = str(tmp_path / "killed")
  _params(tiny(**base, stop_after=8), killed)
  ckdir = os.path.join(killed, "checkpoints", "model")
  victim = _largest_array_file(os.path.join(ckdir, "8"))
  size = os.path.getsize(victim)
  with open(victim, "r+b") as f:  # 4 KB of random bytes in the middle, same size
    f.seek(max(0, size // 2 - 2048))
    f.write(np.random.default_rng(0).bytes(min(4096, size)))
  assert os.path.getsize(victim) == size
  msgs = []
  resumed, _ = _params(tiny(**base), killed, resume=True, log=msgs.append)
  text = "\n".join(msgs)
  assert "step 8" in text and "cannot be used" in text and "resumed from step 4" in text, text
  jax.tree.map(lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7),
               full, resumed)
  assert any(d.startswith("8-") for d in os.listdir(ckdir + ".corrupt"))  # kept, moved aside
  assert checkpoint.Checkpointer(ckdir).steps()[-1] == 12


def test_every_checkpoint_corrupt_starts_from_scratch_and_saves_again(tmp_path):
  base = dict(num_steps=8, checkpoint_every=4, log_every=4)
  _params(tiny(**base, stop_after=8), str(tmp_path))
  ckdir = tmp_path / "checkpoints" / "model"
  for step in (4, 8):
    victim = _largest_array_file(str(ckdir / str(step)))
    with open(victim, "r+b") as f:
      f.write(b"\0" * os.path.getsize(victim))
  msgs = []
  _params(tiny(**base), str(tmp_path), resume=True, log=msgs.append)
  assert any("starting from scratch" in m for m in msgs), msgs
  assert checkpoint.Checkpointer(str(ckdir)).steps() == [4, 8]  # written again, not skipped


def test_resume_with_a_changed_model_is_refused_and_touches_nothing(tmp_path):
  c = tiny(qcfs_cfg, num_steps=6, checkpoint_every=3)
  train.train_and_evaluate(c, str(tmp_path), log=lambda *_: None)
  before = sorted(os.path.join(r, f) for r, _, fs in os.walk(tmp_path) for f in fs if ".lock" not in f)
  changed = tiny(qcfs_cfg, num_steps=6, checkpoint_every=3, model="mlp")
  with pytest.raises(ValueError, match=r"model \('small_cnn' → 'mlp'\)"):
    train.train_and_evaluate(changed, str(tmp_path), resume=True, log=lambda *_: None)
  after = sorted(os.path.join(r, f) for r, _, fs in os.walk(tmp_path) for f in fs if ".lock" not in f)
  assert before == after
  msgs = []
  lr = tiny(qcfs_cfg, num_steps=6, checkpoint_every=3, learning_rate=1e-3)
  train.train_and_evaluate(lr, str(tmp_path), resume=True, log=msgs.append)
  assert any("learning_rate" in m and "changed settings" in m for m in msgs), msgs


def test_fresh_run_into_a_workdir_with_checkpoints_is_refused(tmp_path):
  c = tiny(qcfs_cfg, num_steps=4, checkpoint_every=2)
  train.train_and_evaluate(c, str(tmp_path), log=lambda *_: None)
  saved = (tmp_path / "config.json").read_text()
  with pytest.raises(RuntimeError, match="--resume"):
    train.train_and_evaluate(tiny(qcfs_cfg, num_steps=4, checkpoint_every=2, learning_rate=0.5),
                             str(tmp_path), log=lambda *_: None)
  assert (tmp_path / "config.json").read_text() == saved  # the workdir's own config is kept


def test_checkpoint_of_another_state_is_refused_and_a_dtype_change_is_restored(tmp_path):
  from snnjax._compat import enable_x64
  ck = checkpoint.Checkpointer(str(tmp_path / "ck"))
  tree = {"w": jnp.arange(6, dtype=jnp.float32).reshape(2, 3) / 7, "n": jnp.arange(3, dtype=jnp.int32)}
  ck.save(5, tree, {"data": 1})
  ck.wait()
  for like, what in [({"w": jnp.zeros((3, 2)), "n": tree["n"]}, "shapes differ"),
                     ({"w": tree["w"]}, "only the checkpoint has"),
                     (dict(tree, b=jnp.zeros(2)), "this run has and the checkpoint lacks")]:
    with pytest.raises(checkpoint.StateMismatch, match=what):
      ck.restore(like, report=pytest.fail)
  assert not os.path.exists(ck.quarantine) and ck.steps() == [5]  # nothing moved
  with enable_x64():
    like = {"w": jnp.zeros((2, 3), jnp.float64), "n": jnp.zeros(3, jnp.int64)}
    step, got, meta = ck.restore(like, report=pytest.fail)
    assert step == 5 and meta == {"data": 1} and got["w"].dtype == jnp.float64
    np.testing.assert_array_equal(np.asarray(got["w"]), np.asarray(tree["w"], np.float64))
  assert not os.path.exists(ck.quarantine)
  ck.close()


def test_a_second_run_is_kept_out_of_the_workdir(tmp_path):
  other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
  try:
    (tmp_path / ".lock").write_text(str(other.pid))
    with pytest.raises(RuntimeError, match=f"another run \\(process {other.pid}\\)"):
      train.train_and_evaluate(tiny(num_steps=2), str(tmp_path), log=lambda *_: None)
  finally:
    other.kill()
    other.wait()
  msgs = []  # the process is gone: its lock is stale and taken over
  train.train_and_evaluate(tiny(num_steps=2), str(tmp_path), log=msgs.append)
  assert any("stale lock" in m for m in msgs) and not (tmp_path / ".lock").exists()


def test_default_checkpoints_once_per_epoch_and_every_run_says_where_it_starts(tmp_path):
  c = tiny(num_steps=50)
  assert c.checkpoint_every == -1
  msgs = []
  train.train_and_evaluate(c, str(tmp_path), log=msgs.append)
  assert any("starting from scratch" in m for m in msgs)
  steps = checkpoint.Checkpointer(str(tmp_path / "checkpoints" / "noise_t1")).steps()
  per_epoch = len(data.load("digits").train) // c.batch_size
  assert steps[-1] == 50 and per_epoch in {s - t for s, t in zip(steps[1:], steps)} | {steps[0]}


def test_non_finite_loss_stops_with_the_step_and_keeps_checkpoints(tmp_path):
  c = tiny(qcfs_cfg, num_steps=30, checkpoint_every=2, learning_rate=1e12, log_every=1, optimizer="sgd")
  with pytest.raises(FloatingPointError, match=r"not finite at step \d+"):
    _params(c, str(tmp_path))


# --- inputs ----------------------------------------------------------------------------------------

def _digits_mlp():
  return sn.mlp((8, 8, 1), (16,), 10, rngs=nnx.Rngs(0))


def test_uint8_images_are_refused_everywhere():
  m = _digits_mlp()
  x = np.full((4, 8, 8, 1), 200, np.uint8)
  for call in (lambda: m(jnp.asarray(x)),
               lambda: simulate.evaluate(convert.to_spiking(m, thresholds={"acts/0": 1.0}), x,
                                         np.zeros(4, np.int32), T=2),
               lambda: convert.calibrate(m, [x])):
    with pytest.raises(ValueError, match="uint8 0–255; scale them to \\[0, 1\\]"):
      call()


def test_nan_inputs_are_refused():
  m = convert.to_spiking(_digits_mlp(), thresholds={"acts/0": 1.0})
  x = np.zeros((4, 8, 8, 1), np.float32)
  x[1, 2, 3] = np.nan
  with pytest.raises(ValueError, match="1 NaN or infinite"):
    simulate.evaluate(m, x, np.zeros(4, np.int32), T=2)
  with pytest.raises(ValueError, match="NaN"):
    train.check_dataset(data.from_arrays(x, np.arange(4) % 2, x[:2], np.arange(2) % 2))


@pytest.mark.parametrize("model,shape", [("mlp", (32, 32, 3)), ("cnn", (784,))])
def test_wrong_image_shapes_say_what_the_model_takes(model, shape):
  m = _digits_mlp() if model == "mlp" else sn.small_cnn((28, 28, 1), rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="the model takes examples of shape"):
    m(jnp.zeros((2,) + shape))


def test_label_checks():
  x = np.zeros((4, 2), np.float32)
  with pytest.raises(ValueError, match="< num_classes = 3"):
    data.from_arrays(x, np.array([0, 1, 2, 3]), x, np.array([0, 1, 2, 0]), num_classes=3)
  with pytest.raises(ValueError, match="≥ 0"):
    data.from_arrays(x, np.array([0, 1, -1, 1]), x, np.array([0, 1, 0, 1]))
  with pytest.raises(ValueError, match="no example of class"):
    data.from_arrays(x, np.array([0, 1, 1, 0]), x, np.array([0, 1, 10, 0]))
  with pytest.raises(ValueError, match="both splits need examples"):
    data.from_arrays(x, np.array([0, 1, 1, 0]), x[:0], np.array([], np.int64))
  m = convert.to_spiking(sn.mlp((2,), (4,), 2, rngs=nnx.Rngs(0)), thresholds={"acts/0": 1.0})
  with pytest.raises(ValueError, match=r"reshape\(-1\)"):
    simulate.evaluate(m, x, np.zeros((4, 1), np.int32), T=2)


def test_batch_of_one_in_training_mode_is_refused():
  m = sn.mlp((4,), (8,), 2, norm=True, rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="at least 2 examples"):
    m(jnp.ones((1, 4)))
  m.eval()
  assert m(jnp.ones((1, 4))).shape == (1, 2)


def test_calibrate_on_an_empty_batch():
  with pytest.raises(ValueError, match="empty batch"):
    convert.calibrate(_digits_mlp(), [np.zeros((0, 8, 8, 1), np.float32)])


# --- configuration and the command line -----------------------------------------------------------

@pytest.mark.parametrize("field,value,match", [("eval_T", (0, 4), "eval_T"), ("log_every", 0, "log_every")])
def test_bad_config_values(field, value, match, tmp_path):
  with pytest.raises(ValueError, match=match):
    train.train_and_evaluate(tiny(**{field: value}), str(tmp_path))


def test_workdir_that_is_a_file(tmp_path):
  f = tmp_path / "file"
  f.write_text("x")
  with pytest.raises(NotADirectoryError, match="is a file"):
    train.train_and_evaluate(tiny(), str(f))


def test_unknown_dataset_lists_the_known_ones():
  with pytest.raises(ValueError, match="unknown dataset 'mnist5kk': built-in ones are"):
    data.load("mnist5kk")


def test_unknown_config_variant_lists_the_valid_ones():
  with pytest.raises(ValueError, match="choose one of"):
    noise_cfg.get_config("tinyy")


def _cli(*args, cwd=ROOT):
  return subprocess.run([sys.executable, "-m", "snnjax.train", *args], cwd=cwd, capture_output=True,
                        text=True, timeout=600)


def test_cli_stop_after_help_and_errors(tmp_path):
  out = _cli("--config", "qcfs:tiny", "--workdir", str(tmp_path / "a"), "--config.stop_after=5",
             "--config.epoch_eval_examples=0")
  assert out.returncode == 0 and "stopped after step 5" in out.stdout, out.stderr[-2000:]
  out = _cli("--config", "qcfs:tiny", "--workdir", str(tmp_path / "a"), "--config.log_every=0")
  assert out.returncode == 1 and "log_every must be ≥ 1" in out.stderr and "Traceback" not in out.stderr
  out = _cli("--help")
  assert "--config" in out.stdout and "--workdir" in out.stdout and "resume" in out.stdout, out.stdout


# --- compile once ------------------------------------------------------------------------------------

def test_evaluate_compiles_once_per_model_T_and_batch_size(monkeypatch):
  traces = []
  real = simulate.run
  monkeypatch.setattr(simulate, "run", lambda *a, **k: traces.append(1) or real(*a, **k))
  m = convert.to_spiking(sn.mlp((3,), (13,), 2, rngs=nnx.Rngs(0)), thresholds={"acts/0": 1.0})
  x = np.random.default_rng(0).random((25, 3)).astype(np.float32)  # 25 = 2 × 10 + a short batch
  y = np.arange(25) % 2
  a = simulate.evaluate(m, x, y, T=3, batch_size=10)
  b = simulate.evaluate(m, x, y, T=3, batch_size=10)
  assert len(traces) == 1 and a == b
  # the padded rows count for nothing: the same as evaluating without padding
  c = simulate.evaluate(m, x, y, T=3, batch_size=25)
  np.testing.assert_allclose(a["accuracy"], c["accuracy"])
  np.testing.assert_allclose(a["sops_per_image"], c["sops_per_image"], rtol=1e-6)
  np.testing.assert_allclose(list(a["firing_rates"].values()), list(c["firing_rates"].values()), rtol=1e-6)


# --- saved runs, logs, your own model -----------------------------------------------------------------

def test_evaluate_mode_reevaluates_a_saved_run(tmp_path):
  run = tmp_path / "run"
  out = _cli("--config", "qcfs:tiny", "--workdir", str(run), "--config.num_steps=30",
             "--config.epoch_eval_examples=200")
  assert out.returncode == 0, out.stderr[-2000:]
  # a log line per epoch, although stdout is not a terminal (absl logging, on stderr)
  assert "epoch 1 (step" in out.stderr and "test_accuracy" in out.stderr and "images/s" in out.stderr
  saved = json.load(open(run / "results.json"))
  assert {"versions", "device", "commit"} <= set(saved["run"]) and saved["run"]["versions"]["jax"]
  assert any("test_accuracy" in h for h in saved["history"])  # scored after every epoch
  out = _cli("--mode=evaluate", "--workdir", str(run), "--eval_T=1,16")
  assert out.returncode == 0, out.stderr[-2000:]
  again = json.load(open(run / "evaluate" / "results.json"))
  assert set(again["snn_accuracy"]) == {"1", "16"}
  assert again["snn_accuracy"]["1"] == saved["snn_accuracy"]["1"]  # the same saved model
  assert again["trained_accuracy"] == saved["trained_accuracy"]
  model, config = train.load_model(str(run))
  assert config.method == "qcfs" and model.acts[0].lam[...].shape == ()


def test_a_model_with_bare_relu_calls_is_refused_with_the_way_out():
  class Bare(sn.Model):
    def __init__(self, rngs):
      self.a = sn.Synapse(4, 8, kind="linear", rngs=rngs)
      self.b = sn.Synapse(8, 2, kind="linear", rngs=rngs)

    def __call__(self, x, *, rngs=None):
      return self.b(nnx.relu(self.a(x)))

  with pytest.raises(ValueError, match="no convertible activation layer.*nnx.relu.*docs/guide.md"):
    convert.to_spiking(Bare(nnx.Rngs(0)))
