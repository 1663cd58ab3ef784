"""The training program: tiny runs, devices, checkpoints, data errors, compile-once."""

import json
import os
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from flax import nnx

from snnjax import checkpoint, data
from snnjax.train import trainer as train
from snnjax.train.configs import noise_t1 as noise_cfg
from snnjax.train.configs import qcfs as qcfs_cfg

ROOT = os.path.dirname(os.path.dirname(__file__))


def tiny(module=noise_cfg, **overrides):
  c = module.get_config("tiny")
  with c.unlocked():
    for k, v in overrides.items():
      setattr(c, k, v)
  return c


def test_tiny_config_beats_chance_and_traces_once(tmp_path):
  r = train.train_and_evaluate(tiny(), str(tmp_path))
  assert r["trained_accuracy"] > 0.5  # chance is 0.1
  assert r["snn_accuracy"]["8"] > 0.5
  assert r["train_step_traces"] == 1
  saved = json.load(open(tmp_path / "results.json"))
  for k in ("method", "dataset", "model", "trained_accuracy", "snn_accuracy", "firing_rates", "sops",
            "wall_seconds", "config"):
    assert k in saved
  assert set(saved["snn_accuracy"]) == {"1", "2", "4", "8"}


def _losses(num_devices, tmp_path):
  c = tiny(qcfs_cfg, num_devices=num_devices, num_steps=8, log_every=1)
  ds = data.load(c.dataset)
  _, history, trainer = train.train_model(c, ds, train.recipe_for(c), str(tmp_path / str(num_devices)))
  assert trainer.traces == 1
  return np.asarray([h["loss"] for h in history])


def test_eight_devices_match_one(tmp_path):
  assert len(jax.devices()) == 8
  one, eight = _losses(1, tmp_path), _losses(8, tmp_path)
  # same math, different reduction order across devices: agree to float32 round-off
  np.testing.assert_allclose(eight, one, rtol=1e-4, atol=1e-5)


def test_batch_not_divisible_by_devices(tmp_path):
  c = tiny(batch_size=60)
  with pytest.raises(ValueError, match="not divisible by the 8 devices"):
    train.train_and_evaluate(c, str(tmp_path))


def _params(c, workdir, resume=False):
  ds = data.load(c.dataset)
  model, history, _ = train.train_model(c, ds, train.recipe_for(c), workdir, resume=resume,
                                        log=lambda *_: None)
  return nnx.to_pure_dict(nnx.state(model, nnx.Param)), history


def test_kill_and_resume_reproduces_uninterrupted(tmp_path):
  base = dict(num_steps=12, checkpoint_every=4, log_every=2)
  full, hist_full = _params(tiny(**base), str(tmp_path / "full"))
  _params(tiny(**base, stop_after=6), str(tmp_path / "killed"))  # "killed" after step 6
  resumed, hist_res = _params(tiny(**base), str(tmp_path / "killed"), resume=True)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7),
               full, resumed)
  assert [h["step"] for h in hist_res] == [h["step"] for h in hist_full]


def test_corrupt_checkpoint_is_reported_and_kept(tmp_path):
  ck = checkpoint.Checkpointer(str(tmp_path))
  tree = {"w": np.arange(4.0, dtype=np.float32)}
  for step in (1, 2):
    ck.save(step, {"w": tree["w"] + step}, {"step": step})
  ck.wait()
  # corrupt the newest: truncate every file of its array data
  for root, _, files in os.walk(tmp_path / "2"):
    for f in files:
      if "meta" not in root:
        open(os.path.join(root, f), "wb").close()
  msgs = []
  step, restored, meta = ck.restore(tree, report=msgs.append)
  assert step == 1 and meta["step"] == 1
  np.testing.assert_array_equal(restored["w"], tree["w"] + 1)
  assert msgs and "step 2" in msgs[0] and "kept" in msgs[0]
  kept = [d for d in os.listdir(str(tmp_path) + ".corrupt") if d.startswith("2-")]
  assert kept  # moved aside, not deleted
  assert ck.steps() == [1]
  ck.save(2, {"w": tree["w"] + 5}, {"step": 2})  # the step can be written again
  ck.wait()
  assert ck.restore(tree)[0] == 2
  ck.close()


def test_offline_tfds_fails_fast_with_flag_name(tmp_path):
  t = time.perf_counter()
  with pytest.raises(FileNotFoundError, match="data_dir"):
    data.load("mnist", data_dir=str(tmp_path))
  assert time.perf_counter() - t < 30  # no network retries (they take ~200 s)


def test_in_memory_arrays_and_bad_input():
  rng = np.random.default_rng(0)
  ds = data.from_arrays(rng.random((20, 4, 4, 1)).astype(np.float32), rng.integers(0, 3, 20),
                        rng.random((5, 4, 4, 1)).astype(np.float32), rng.integers(0, 3, 5))
  it = data.batches(ds.train, 8, seed=1)
  b = next(it)
  assert b["image"].shape == (8, 4, 4, 1) and b["label"].dtype == np.int32
  with pytest.raises(ValueError, match="floating point"):
    data.Split(np.zeros((3, 2), np.uint8), np.zeros(3, int))
  with pytest.raises(ValueError, match="labels must have shape"):
    data.Split(np.zeros((3, 2), np.float32), np.zeros(4, int))


def test_embedded_splits_are_fixed():
  d = data.load("mnist5k")
  assert (len(d.train), len(d.test)) == (4000, 1000)
  assert np.bincount(d.test.labels).tolist() == [100] * 10
  assert 0.0 <= d.train.images.min() and d.train.images.max() <= 1.0
  g = data.load("digits")
  assert (len(g.train), len(g.test), g.shape) == (1437, 360, (8, 8, 1))


@pytest.mark.parametrize("module,config", [("snnjax.train", "qcfs:tiny"),
                                           ("train", "snnjax/train/configs/qcfs.py:tiny")])
def test_cli_writes_results(tmp_path, module, config):
  out = subprocess.run([sys.executable, "-m", module, "--config", config,
                        "--workdir", str(tmp_path), "--config.num_steps=20"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert out.returncode == 0, out.stderr[-2000:]
  assert "qcfs → SNN" in out.stdout
  r = json.load(open(tmp_path / "results.json"))
  assert r["method"] == "qcfs" and r["config"]["num_steps"] == 20


def test_crop_flip_augmentation():
  import jax.numpy as jnp
  img = jnp.arange(2 * 6 * 6 * 1, dtype=jnp.float32).reshape(2, 6, 6, 1) + 1
  out = data.crop_flip(jax.random.key(0), img, pad=2)
  assert out.shape == img.shape
  # every output is a shifted (and maybe mirrored) window of the zero-padded input
  padded = np.pad(np.asarray(img), ((0, 0), (2, 2), (2, 2), (0, 0)))
  for b in range(2):
    o = np.asarray(out[b])
    found = any(np.array_equal(o, w) or np.array_equal(o, w[:, ::-1])
                for i in range(5) for j in range(5) for w in [padded[b, i:i + 6, j:j + 6]])
    assert found


@pytest.mark.slow
def test_cifar_resnet18_config_runs_on_synthetic_cifar(tmp_path):
  """The paper-scale Noise Adaptor config (ResNet-18, CIFAR-10) end to end, a few steps."""
  from snnjax.train.configs import noise_adaptor as na
  c = na.get_config("cifar10_resnet18")
  with c.unlocked():
    c.dataset, c.batch_size, c.num_steps, c.eval_T = "synthetic_cifar10", 16, 3, (1, 2)
    c.eval_examples, c.eval_batch_size, c.progress, c.plots, c.log_every = 16, 16, False, False, 1
    c.epoch_eval_examples = 16  # the per-epoch probe on a few images, not its 1000
  r = train.train_and_evaluate(c, str(tmp_path))
  assert r["train_step_traces"] == 1 and np.isfinite(r["history"][-1]["loss"])
  assert set(r["snn_accuracy"]) == {"1", "2"}


def test_bptt_trained_accuracy_is_its_own_simulation(tmp_path):
  from snnjax.train.configs import bptt as bptt_cfg
  c = tiny(bptt_cfg, num_steps=40)
  r = train.train_and_evaluate(c, str(tmp_path))
  assert 0.3 < r["trained_accuracy"] <= 1.0
  # the net trained at T=4, evaluated at T=4 by the two code paths
  assert r["snn_accuracy"]["4"] == pytest.approx(r["trained_accuracy"], abs=1 / 360 + 1e-9)


@pytest.mark.slow
def test_cifar_vgg11_ws_online_configs_run_on_synthetic_cifar(tmp_path):
  """The paper-setting OTTT/SAF configs (VGG-11-WS, T=6, SGD 0.1); SAF end to end, a few steps.

  OTTT's config shares SAF's model, T and optimiser (checked here); its step is
  tested against the closed forms at small scale in test_online.py.
  """
  from snnjax.train import configs
  import importlib
  for name in ("ottt", "saf"):
    c = importlib.import_module(f"snnjax.train.configs.{name}").get_config("cifar10_vgg11")
    assert c.model == "vgg11_ws" and c.T == 6 and c.optimizer == "sgd" and c.learning_rate == 0.1
    assert configs.resolve(f"{name}:cifar10_vgg11").endswith(f"{name}.py:cifar10_vgg11")
  with c.unlocked():
    c.dataset, c.batch_size, c.num_steps, c.eval_T = "synthetic_cifar10", 8, 2, (1, 6)
    c.eval_examples, c.eval_batch_size, c.progress, c.plots, c.log_every = 8, 8, False, False, 1
    c.epoch_eval_examples = 8  # the per-epoch probe on a few images, not its 1000
  r = train.train_and_evaluate(c, str(tmp_path))
  assert r["train_step_traces"] == 1 and np.isfinite(r["history"][-1]["loss"])
  assert set(r["snn_accuracy"]) == {"1", "6"} and "snn_accuracy_trace_readout" in r


@pytest.mark.slow
def test_snn2ann_cifar_configs_run_on_synthetic_cifar(tmp_path):
  """SNN2ANN's paper configs (VGG-13 at T=4, ResNet-17 at T=5; Adam, batch 512); VGG-13 end to end.

  ResNet-17's network is built and run through both branches in test_snn2ann.py.
  """
  from snnjax.train.configs import snn2ann as cfg
  for variant in ("cifar10_resnet17", "cifar10_vgg13"):
    c = cfg.get_config(variant)
    assert c.batch_size == 512 and c.T == (4 if "vgg" in variant else 5) and c.optimizer == "adam_l2"
  with c.unlocked():
    c.dataset, c.batch_size, c.num_steps, c.eval_T = "synthetic_cifar10", 8, 2, (1, c.T)
    c.eval_examples, c.eval_batch_size, c.progress, c.plots, c.log_every = 8, 8, False, False, 1
    c.epoch_eval_examples = 8  # the per-epoch probe on a few images, not its 1000
  r = train.train_and_evaluate(c, str(tmp_path))
  assert r["train_step_traces"] == 1 and np.isfinite(r["history"][-1]["loss"])
  assert "noisy_spike_ratio" in r["history"][-1] and r["spikes_per_image"] >= 0


def test_fashion_mnist_from_the_debian_package():
  if data._fashion_mnist_raw() is None:
    with pytest.raises(FileNotFoundError, match="apt-get install -y dataset-fashion-mnist"):
      data.load("fashion_mnist")
    pytest.skip("dataset-fashion-mnist is not installed (.ci/run installs it)")
  d = data.load("fashion_mnist")
  assert (len(d.train), len(d.test), d.shape, d.num_classes) == (60000, 10000, (28, 28, 1), 10)
  assert np.bincount(d.test.labels).tolist() == [1000] * 10
  assert 0.0 <= d.train.images.min() and d.train.images.max() == 1.0


def test_optimizer_rates_for_thresholds_and_weight_decay():
  model = train.build_model(tiny(qcfs_cfg), data.load("digits"), train.recipe_for(tiny(qcfs_cfg)).act)
  params = nnx.state(model, nnx.Param)
  grads = jax.tree.map(np.ones_like, params)

  def moved(**kw):
    tx = train.make_optimizer(tiny(qcfs_cfg, **kw), params, 10)
    with jax.numpy_dtype_promotion("standard"):  # optax's schedules mix int and float counts
      updates, _ = tx.update(grads, tx.init(params), params)
    flat = jax.tree.leaves(nnx.to_pure_dict(updates)["acts"][0])
    kernel = jax.tree.leaves(nnx.to_pure_dict(updates)["head"])
    return max(abs(float(np.max(np.abs(a)))) for a in flat), float(np.max(np.abs(kernel[-1])))

  thr, w = moved(optimizer="sgd", learning_rate=0.1, threshold_lr=0.0, weight_decay=0.0)
  assert thr == 0.0 and w == pytest.approx(0.1)          # 0 freezes the thresholds
  thr, w = moved(optimizer="sgd", learning_rate=0.1, threshold_lr=None, weight_decay=0.0)
  assert thr == pytest.approx(0.1) and w == pytest.approx(0.1)  # None follows the weights
  thr, w = moved(optimizer="sgd", learning_rate=0.1, threshold_lr=0.02, weight_decay=0.0)
  assert thr == pytest.approx(0.02)
  # Adam's state has one structure whatever the weight decay: a resume may change it
  shapes = [jax.tree.structure(train.make_optimizer(tiny(optimizer="adam", weight_decay=wd), params, 10)
                               .init(params)) for wd in (0.0, 1e-4)]
  assert shapes[0] == shapes[1]


def test_train_and_eval_subsets_are_fixed_and_cover_the_classes():
  ds = data.load("mnist5k")  # sorted by class: a prefix would hold one digit
  sub = ds.with_train_examples(500)
  assert len(sub.train) == 500 and len(set(sub.train.labels.tolist())) == 10
  np.testing.assert_array_equal(sub.train.labels, ds.with_train_examples(500).train.labels)
  with pytest.raises(ValueError, match="train_examples must be in 1..4000"):
    ds.with_train_examples(5000)
  test = train._arrays(ds, ds.test, 200)
  assert len(test) == 200 and len(set(test.labels.tolist())) == 10
