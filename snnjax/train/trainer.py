"""Training library: train a model by any method, convert it, evaluate it at several T.

``train_and_evaluate(config, workdir)`` is the whole job; the pieces
(``build_model``, ``make_optimizer``, ``Trainer``) are importable on their own.
The method comes from ``config.method`` through :func:`snnjax.methods.get`;
nothing here knows a method by name. The training step is one ``jax.jit``
over (params, BN stats, optimizer state, global batch, key): parameters
replicated, batch sharded over a ``data`` mesh axis. It compiles once
(``Trainer.traces`` counts its traces).
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import time
import types
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import snnjax.nn as sn
from snnjax import checkpoint, convert, data, methods, parallel, simulate, xla
from snnjax.methods import common
from snnjax.nn.calibration import clip_sites
from snnjax.nn.variables import ThresholdParam

__all__ = ["recipe_for", "build_model", "make_optimizer", "Trainer", "train_model", "to_snn",
           "train_and_evaluate", "evaluate_model", "evaluate_saved", "save_model", "load_model",
           "plot_results", "format_table",
           "validate_config", "check_resume_config", "STATE_KEYS"]


def recipe_for(config, method: str | None = None) -> common.Recipe:
  """The :class:`~snnjax.methods.common.Recipe` of ``method`` (default ``config.method``)."""
  return methods.get(method or config.method).recipe(config)


def build_model(config, ds: data.Dataset, act, seed: int | None = None):
  """A model by ``config.model`` name, sized for ``ds``: the method's own models
  (``MODELS`` of its module) first, then the zoo (:mod:`snnjax.nn`)."""
  name = config.model
  kw = dict(config.model_kwargs) if "model_kwargs" in config else {}
  rngs = nnx.Rngs(config.seed if seed is None else seed)
  own = getattr(methods.get(config.method), "MODELS", {})
  builder = own.get(name) or getattr(sn, name, None)
  if builder is None:  # another method's model, e.g. BPTT on SNN2ANN's VGG
    builder = next((getattr(methods.get(m), "MODELS", {}).get(name) for m in methods.available()
                    if name in getattr(methods.get(m), "MODELS", {})), None)
  if builder is None or not callable(builder):
    raise ValueError(f"unknown model {name!r}; see snnjax.nn (mlp, small_cnn, cnn4, vgg16, resnet18, ...)"
                     + (f" or the method's own {sorted(own)}" if own else "") + ".")
  if name == "mlp":
    kw.setdefault("hidden", tuple(config.hidden))
  return builder(in_shape=ds.shape, num_classes=ds.num_classes, act=act, norm=config.norm,
                 rngs=rngs, **kw)


def make_optimizer(config, params, total_steps: int) -> optax.GradientTransformation:
  """optax optimizer from the config; threshold-like parameters
  (:class:`~snnjax.nn.ThresholdParam`: λ, θ, s) get ``config.threshold_lr``
  (their own rate, no weight decay; ``None``: the weights' rate; ``0``:
  frozen)."""

  def opt(lr, wd):
    n = max(total_steps, 1)
    if config.schedule == "cosine":
      sched = optax.cosine_decay_schedule(lr, n)
    elif config.schedule == "multistep":  # ×0.1 at each milestone (fractions of the run)
      sched = optax.piecewise_constant_schedule(
          lr, {int(round(f * n)): 0.1 for f in config.get("lr_milestones", (0.5, 0.75, 0.875))})
    elif config.schedule == "constant":
      sched = optax.constant_schedule(lr)
    else:
      raise ValueError(f"schedule must be 'cosine', 'multistep' or 'constant', got {config.schedule!r}.")
    if config.optimizer == "adam":
      # decoupled weight decay (AdamW); with wd = 0 this is Adam, with the same state
      # structure, so a resume may change the weight decay
      return optax.adamw(sched, weight_decay=wd)
    if config.optimizer == "adam_l2":  # weight decay added to the gradient, as torch.optim.Adam does
      return optax.chain(optax.add_decayed_weights(wd), optax.adam(sched))
    if config.optimizer == "sgd":
      return optax.chain(optax.add_decayed_weights(wd), optax.sgd(sched, momentum=0.9, nesterov=False))
    raise ValueError(f"optimizer must be 'adam', 'adam_l2' or 'sgd', got {config.optimizer!r}.")

  labels = jax.tree.map(lambda v: "threshold" if isinstance(v, ThresholdParam) else "weight", params,
                        is_leaf=lambda v: isinstance(v, nnx.Variable))
  thr_lr = config.learning_rate if config.get("threshold_lr") is None else config.threshold_lr
  return optax.multi_transform(
      {"weight": opt(config.learning_rate, config.weight_decay),
       "threshold": opt(thr_lr, 0.0)}, labels)


class Trainer:
  """Holds the functional training state and the compiled step.

  The step is the generic one (one gradient of ``module_loss`` per batch, any
  optax optimizer) unless ``make_step(model, tx) -> (state, step)`` gives the
  method's own (online updates, threshold rules).
  """

  def __init__(self, model, module_loss, tx, mesh, *, make_step=None, augment: bool = False):
    self._template = model  # structure and constants; the state lives in self.state
    self.mesh, self.tx = mesh, tx
    self.traces = 0
    repl = parallel.replicated(mesh)
    if make_step is not None:
      state, inner = make_step(model, tx)
    else:
      state, inner = self._generic(model, module_loss, tx)
    self.state = parallel.replicate(state, mesh)

    def step(state, batch, key):
      self.traces += 1  # Python side effect: runs once per trace, not per step
      if augment:
        key, k_aug = jax.random.split(key)
        batch = {**batch, "image": data.crop_flip(k_aug, batch["image"])}
      return inner(state, batch, key)

    self._step = xla.jit(step, donate_argnums=(0,), out_shardings=(repl, repl))

  @staticmethod
  def _generic(model, module_loss, tx):
    loss_fn, params, stats = common.functionalize(model, module_loss)

    def step(state, batch, key):
      grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
      (loss, (logits, stats)), grads = grad_fn(state["params"], batch, key, state["stats"])
      # optax's Adam bias correction mixes a float and the int32 step count.
      with jax.numpy_dtype_promotion("standard"):
        updates, opt = tx.update(grads, state["opt"], state["params"])
      params = optax.apply_updates(state["params"], updates)
      acc = (jnp.argmax(logits, -1) == batch["label"]).mean()
      return {"params": params, "stats": stats, "opt": opt}, {"loss": loss, "accuracy": acc}

    return {"params": params, "stats": stats, "opt": tx.init(params)}, step

  def step(self, batch, key):
    self.state, metrics = self._step(self.state, batch, key)
    return metrics

  def model(self):
    """An NNX model holding the current parameters and statistics."""
    m = nnx.clone(self._template)
    nnx.update(m, jax.tree.map(parallel.host_array, self.state["params"]),
               jax.tree.map(parallel.host_array, self.state["stats"]))
    return m


def _steps(config, n_train: int) -> int:
  if config.num_steps:
    return int(config.num_steps)
  return int(math.ceil(config.epochs * n_train / config.batch_size))


def train_model(config, ds, recipe: common.Recipe, workdir, *, resume: bool = False, tag: str = "model",
                log=print, on_epoch=None):
  """Train one model by ``recipe``; returns ``(model, history, trainer)``.

  Checkpoints go to ``workdir/checkpoints/<tag>`` every ``config.checkpoint_every``
  steps (−1: once per epoch; 0: never); ``resume=True`` continues from the newest
  good one (parameters, statistics, optimizer state, data-iterator position,
  history). A loss that stops being finite ends training with an error naming
  the step; the checkpoints saved before it are kept. ``on_epoch(model) ->
  accuracy`` (optional) scores the model at the end of every epoch (logged and
  kept in the history as ``test_accuracy``).
  """
  validate_config(config)
  mesh = parallel.make_mesh(config.num_devices, multihost=config.multihost)
  local_bs = parallel.check_batch(config.batch_size, mesh)
  model = build_model(config, ds, recipe.act)
  if config.init_percentile and clip_sites(model):
    # clip values (λ, p·s) from the data: their gradient alone barely moves them
    first = _arrays(ds, ds.train, config.batch_size, config).images
    sn.init_clip_from_data(model, jnp.asarray(first), percentile=config.init_percentile)
  total = _steps(config, len(ds.train))
  tx = make_optimizer(config, nnx.state(model, nnx.Param), total * recipe.updates_per_batch)
  trainer = Trainer(model, recipe.loss, tx, mesh, make_step=recipe.make_step, augment=config.augment)
  it = data.batches(ds.train, local_bs, seed=config.seed, normalization=_normalization(config, ds),
                    shard_index=jax.process_index(), shard_count=jax.process_count())
  steps_per_epoch = max(1, len(ds.train) // config.batch_size)
  # steps between checkpoints: checkpoint_every > 0, once per epoch for −1, never for 0
  every = steps_per_epoch if config.checkpoint_every < 0 else int(config.checkpoint_every)
  ckpt_dir = os.path.join(workdir, "checkpoints", tag)
  if every and not resume:
    _refuse_fresh_run(ckpt_dir)
  ckpt = checkpoint.Checkpointer(ckpt_dir) if every else None
  start, history = 0, []
  if resume and ckpt is None:
    log(f"[{tag}] checkpoints are off (checkpoint_every=0): nothing to resume, starting from scratch")
  elif resume:
    restored = ckpt.restore(trainer.state, report=log)
    if restored is not None:
      start, state, meta = restored
      trainer.state = parallel.replicate(state, mesh)
      it.set_state(meta["data"])
      history = meta.get("history", [])
      log(f"[{tag}] resumed from step {start} ({os.path.join(ckpt_dir, str(start))})")
    else:
      log(f"[{tag}] no usable checkpoint in {ckpt_dir}: starting from scratch")
  else:
    log(f"[{tag}] starting from scratch" + (f"; checkpoints every {every} steps in {ckpt_dir}"
                                             if ckpt is not None else "; checkpoints off"))
  base_key = jax.random.key(config.seed)
  stop = min(total, config.stop_after) if config.stop_after else total
  bar = None
  if config.progress and parallel.is_primary():
    from tqdm.auto import tqdm
    # disable=None: a bar on a terminal, nothing in logs and CI
    bar = tqdm(total=total, initial=start, desc=tag, leave=False, dynamic_ncols=True, disable=None)
  t0, seen = time.perf_counter(), 0
  # the first step whose loss was not finite, kept on the devices (no host sync per step)
  first_bad = parallel.replicate(jnp.asarray(-1, jnp.int32), trainer.mesh)

  def check_finite():
    bad = int(parallel.host_array(first_bad))
    if bad >= 0:
      kept = ckpt.steps() if ckpt is not None else []
      raise FloatingPointError(
          f"[{tag}] the training loss is not finite at step {bad}; stopped. "
          + (f"The checkpoints before it are kept ({ckpt_dir}, steps {kept}); " if kept else "")
          + "lower the learning rate, check the data for NaN/inf, or resume from a checkpoint.")

  try:
    for step in range(start, stop):
      batch = parallel.global_batch(next(it), mesh)
      metrics = trainer.step(batch, jax.random.fold_in(base_key, step))
      first_bad = _note_nonfinite(first_bad, metrics["loss"], np.int32(step + 1))
      seen += config.batch_size
      end_of_epoch = (step + 1) % steps_per_epoch == 0
      if (step + 1) % config.log_every == 0 or step + 1 == stop or end_of_epoch:
        check_finite()
        m = {k: float(parallel.host_array(v)) for k, v in metrics.items()}
        rate = seen / (time.perf_counter() - t0)
        if on_epoch is not None and (end_of_epoch or step + 1 == stop):
          m["test_accuracy"] = float(on_epoch(trainer.model()))
        history.append({"step": step + 1, **m})
        if bar is not None:
          bar.set_postfix(loss=f"{m['loss']:.3f}", acc=f"{m['accuracy']:.3f}", img_s=f"{rate:.0f}")
        if (end_of_epoch or step + 1 == stop) and parallel.is_primary():
          _log_epoch(tag, (step + 1) / steps_per_epoch, step + 1, m, rate)
      if bar is not None:
        bar.update(1)
      if ckpt is not None and ((step + 1) % every == 0 or step + 1 == stop):
        check_finite()  # never save a state that has seen a non-finite loss
        ckpt.save(step + 1, trainer.state, {"data": it.get_state(), "history": history})
    check_finite()
  finally:
    if bar is not None:
      bar.close()
    if ckpt is not None:
      ckpt.close()
  return trainer.model(), history, trainer


@jax.jit
def _note_nonfinite(first_bad, loss, step):
  return jnp.where((first_bad < 0) & ~jnp.isfinite(loss), step, first_bad)


def _log_epoch(tag, epoch, step, m, rate):
  """One line per epoch through absl logging (shown whether or not stdout is a terminal)."""
  from absl import logging
  extra = "".join(f", {k} {v:.4g}" for k, v in m.items() if k not in ("loss", "accuracy"))
  shown = f"{epoch:.2f}".rstrip("0").rstrip(".")  # 20, or 20.16 for the last partial epoch
  logging.info("[%s] epoch %s (step %d): loss %.4f, train accuracy %.3f%s, %.0f images/s",
               tag, shown, step, m["loss"], m["accuracy"], extra, rate)


def validate_config(config) -> None:
  """Raise with the fix for settings the training program cannot run with."""
  for key, low in (("batch_size", 1), ("log_every", 1), ("eval_batch_size", 1)):
    if int(config[key]) < low:
      raise ValueError(f"config.{key} must be ≥ {low}, got {config[key]}.")
  Ts = [int(t) for t in config.eval_T]
  if not Ts or min(Ts) < 1:
    raise ValueError(f"config.eval_T must list time steps ≥ 1, got {tuple(config.eval_T)}.")
  if config.get("train_examples", 0) < 0:
    raise ValueError(f"config.train_examples must be ≥ 0 (0: all), got {config.train_examples}.")
  if config.num_steps < 0 or config.stop_after < 0 or config.epochs <= 0 and not config.num_steps:
    raise ValueError("config.num_steps and stop_after must be ≥ 0, and epochs > 0 unless num_steps is set.")


@functools.partial(xla.jit, static_argnames=("graphdef", "T"))
def _predict(graphdef, state, x, *, T):
  net = nnx.merge(graphdef, state)
  if T is not None:
    return jnp.argmax(simulate.run(net, x, T=T).outputs.mean(0), -1)
  return jnp.argmax(net(x), -1)


def _accuracy(model, split, T: int | None, batch_size=500, to_spiking=None) -> float:
  """Test accuracy of the network as trained (eval mode: BN running statistics,
  no training noise); a spiking net is read out as the mean over its T steps.
  ``to_spiking``: the method's own map to the net it trains (SNN2ANN's SNN branch).
  One compiled function per model structure, T and batch size (reused across calls)."""
  m = nnx.clone(model if to_spiking is None else to_spiking(model))
  m.eval()
  graphdef, state = nnx.split(m)
  n = len(split)
  lo, hi = jax.process_index() * n // jax.process_count(), (jax.process_index() + 1) * n // jax.process_count()
  images, labels = split.images[lo:hi], split.labels[lo:hi]  # each process scores its share
  correct, bs = 0, max(1, min(batch_size, len(images)))
  for i in range(0, len(images), bs):
    x, y = images[i:i + bs], labels[i:i + bs]
    k = len(x)
    if k < bs:  # pad: one shape, one compilation
      x = np.concatenate([x, np.zeros((bs - k,) + x.shape[1:], x.dtype)])
    correct += int((np.asarray(_predict(graphdef, state, jnp.asarray(x), T=T))[:k] == y).sum())
  return int(parallel.sum_over_processes(np.asarray(correct))) / n


def to_snn(model, recipe: common.Recipe, config, ds, *, v0=None):
  """The spiking net a trained model is evaluated as: the method's own path, the
  model itself if it already spikes, else the generic conversion (calibrated
  on training data where the activations need it)."""
  if recipe.to_spiking is not None:
    return recipe.to_spiking(model)
  if simulate.spiking_layers(model):
    snn = nnx.clone(model)
    snn.eval()
    return snn
  thresholds = None
  if convert.needs_calibration(model):
    thresholds = convert.calibrate(model, _calib_batches(ds, config), percentile=config.percentile)
  return convert.to_spiking(model, thresholds=thresholds, v0=v0)


def _snn_eval(snn, split, Ts, config, readout_decay=None) -> dict:
  r = simulate.evaluate(snn, split.images, split.labels, T=max(Ts), batch_size=config.eval_batch_size,
                        way=config.eval_way, readout_decay=readout_decay, distributed=True)
  r["by_T"] = {str(t): r["accuracy"][t - 1] for t in Ts}
  if readout_decay is not None:
    r["trace_by_T"] = {str(t): r["accuracy_trace"][t - 1] for t in Ts}
  return r


#: Config fields that shape the trained state: a resume with any of them changed is refused.
def _refuse_fresh_run(ckpt_dir: str) -> None:
  steps = checkpoint.saved_steps(ckpt_dir)
  if steps:
    raise RuntimeError(f"{ckpt_dir} already holds checkpoints (steps {steps}): pass --resume to "
                       "continue that run, or use another --workdir.")


STATE_KEYS = ("method", "model", "model_kwargs", "hidden", "norm", "dataset", "optimizer", "levels",
              "smu", "noise.learn_threshold", "batch_size", "seed", "train_examples")


def _flat(d, prefix=""):
  out = {}
  for k, v in d.items():
    key = f"{prefix}{k}"
    if isinstance(v, dict) and k != "model_kwargs":
      out.update(_flat(v, key + "."))
    else:
      out[key] = v
  return out


def check_resume_config(config, saved: dict, log=print) -> None:
  """Refuse a resume whose config differs in a state-shaping field; warn about the others."""
  now, before = _flat(json.loads(config.to_json_best_effort())), _flat(saved)
  differ = sorted(k for k in set(now) | set(before) if now.get(k) != before.get(k))
  shaping = [k for k in differ if k in STATE_KEYS]
  if shaping:
    raise ValueError("cannot resume: the config differs from the one that wrote this workdir in "
                     + ", ".join(f"{k} ({before.get(k)!r} → {now.get(k)!r})" for k in shaping)
                     + "; resume with the original settings or use another --workdir. Nothing was changed.")
  if differ:
    log("resuming with changed settings (the state is compatible): "
        + ", ".join(f"{k} {before.get(k)!r} → {now.get(k)!r}" for k in differ))


def _prepare_workdir(workdir: str) -> None:
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise NotADirectoryError(f"--workdir {workdir!r} is a file; give a directory (it is created if missing).")
  os.makedirs(workdir, exist_ok=True)


def check_dataset(ds: data.Dataset) -> None:
  """Check the in-memory splits once: finite images, labels in ``[0, num_classes)``."""
  from snnjax import _checks
  for name, split in (("train", ds.train), ("test", ds.test)):
    if isinstance(split, data.Split):
      _checks.check_images(split.images, f"{ds.name} {name} images")
      _checks.check_labels(split.labels, len(split.images), ds.num_classes, f"{ds.name} {name} labels")


def run_info() -> dict:
  """Versions, device and commit, for results.json."""
  import importlib.metadata as md
  import subprocess
  versions = {}
  for pkg in ("snnjax", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy"):
    try:
      versions[pkg] = md.version(pkg)
    except md.PackageNotFoundError:
      versions[pkg] = None
  commit = None
  try:
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                            cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip() or None
  except (OSError, subprocess.SubprocessError):
    pass
  d = jax.devices()
  return {"versions": versions, "device": {"platform": d[0].platform,
                                           "kind": getattr(d[0], "device_kind", ""), "count": len(d),
                                           "processes": jax.process_count()}, "commit": commit}


def train_and_evaluate(config, workdir: str, *, resume: bool = False, log=print,
                       dataset: data.Dataset | None = None) -> dict:
  """Train by ``config.method``, convert, evaluate at ``config.eval_T``; write outputs.

  Writes ``workdir/config.json``, checkpoints, the trained model
  (``workdir/model``, loadable with :func:`load_model`), ``results.json`` and
  plots. A lock file keeps a second run out of the workdir; a resume whose
  config differs in a field that shapes the state is refused before anything
  is touched. ``dataset`` (e.g. :func:`snnjax.data.from_arrays` over your own
  arrays) replaces ``config.dataset``; it goes through the same pipeline.
  """
  t_start = time.perf_counter()
  validate_config(config)
  if config.multihost:
    parallel.initialize(config.coordinator_address or None, config.num_processes or None,
                        None if config.process_id < 0 else config.process_id)
  primary = parallel.is_primary()
  if not primary:
    log = lambda *_: None  # one voice: process 0 logs, writes results and plots
  _prepare_workdir(workdir)
  lock = checkpoint.WorkdirLock(workdir, report=log) if primary else contextlib.nullcontext()
  with lock:
    saved_cfg = os.path.join(workdir, "config.json")
    if resume and os.path.exists(saved_cfg):
      check_resume_config(config, json.load(open(saved_cfg)), log)
    if not resume:  # before config.json is written: the workdir's own config stays
      _refuse_fresh_run(os.path.join(workdir, "checkpoints", config.method))
    ds = dataset or data.load(config.dataset, data_dir=config.data_dir or None, download=config.download)
    check_dataset(ds)
    if config.get("train_examples", 0):
      ds = ds.with_train_examples(int(config.train_examples))
    if primary:
      with open(saved_cfg, "w") as f:
        f.write(config.to_json_best_effort(indent=1))
    test = _arrays(ds, ds.test, config.eval_examples, config)
    recipe = recipe_for(config)
    probe = _arrays(ds, ds.test, config.epoch_eval_examples, config) if config.epoch_eval_examples else None
    on_epoch = (lambda m: _accuracy(m, probe, recipe.train_T, to_spiking=recipe.to_spiking)) if probe else None
    t_train = time.perf_counter()
    model, history, trainer = train_model(config, ds, recipe, workdir, resume=resume, tag=config.method,
                                          log=log, on_epoch=on_epoch)
    train_seconds = time.perf_counter() - t_train
    if config.stop_after and config.stop_after < _steps(config, len(ds.train)):
      return {"stopped_at": config.stop_after, "params": trainer.state["params"], "history": history}
    save_model(model, os.path.join(workdir, "model"), shape=ds.shape, num_classes=ds.num_classes)
    Ts = sorted(set(int(t) for t in config.eval_T))
    results: dict[str, Any] = {"method": config.method, "dataset": ds.name, "model": config.model,
                               "history": history}
    results["trained_accuracy"] = _accuracy(model, test, recipe.train_T, to_spiking=recipe.to_spiking)
    results.update(evaluate_model(model, recipe, config, ds, test, Ts))
    if config.compare_maxnorm:
      base = recipe_for(config, config.baseline)
      on_base = (lambda m: _accuracy(m, probe, base.train_T)) if probe else None
      relu_model, results["ann_history"], _ = train_model(config, ds, base, workdir, resume=resume,
                                                          tag="ann_baseline", log=log, on_epoch=on_base)
      results["ann_accuracy"] = _accuracy(relu_model, test, base.train_T)
      classic = _snn_eval(to_snn(relu_model, base, config, ds), test, Ts, config)
      results["maxnorm_snn_accuracy"] = classic["by_T"]
      results["maxnorm_firing_rates"] = classic["firing_rates"]
      results["maxnorm_half_snn_accuracy"] = _snn_eval(to_snn(relu_model, base, config, ds, v0="half"),
                                                       test, Ts, config)["by_T"]
    results["wall_seconds"] = time.perf_counter() - t_start
    results["train_seconds"] = train_seconds  # this process's training, compilation included
    results["train_step_traces"] = trainer.traces
    results["config"] = json.loads(config.to_json_best_effort())
    results["run"] = run_info()
    if primary:
      with open(os.path.join(workdir, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
      if config.plots:
        results["plots"] = plot_results(results, workdir)
  return results


def evaluate_saved(workdir: str, *, eval_T=None, v0=None, percentile: float | None = None,
                   eval_examples: int | None = None, out_dir: str | None = None) -> dict:
  """Evaluate a finished run's saved model again, at ``eval_T`` and/or with initial potential
  ``v0`` (for converted nets), calibration ``percentile`` (ReLU nets; 100: max-norm) or on the
  first ``eval_examples`` test images, without retraining; writes ``results.json`` and plots to
  ``out_dir`` (default ``workdir/evaluate``)."""
  model, config = load_model(workdir)
  with config.unlocked():
    if eval_T:
      config.eval_T = tuple(int(t) for t in eval_T)
    if percentile is not None:
      config.percentile = float(percentile)
    if eval_examples is not None:
      config.eval_examples = int(eval_examples)
  validate_config(config)
  ds = data.load(config.dataset, data_dir=config.data_dir or None, download=False)
  check_dataset(ds)
  test = _arrays(ds, ds.test, config.eval_examples, config)
  recipe = recipe_for(config)
  Ts = sorted(set(int(t) for t in config.eval_T))
  t0 = time.perf_counter()
  results = {"method": config.method, "dataset": ds.name, "model": config.model, "history": [],
             "trained_accuracy": _accuracy(model, test, recipe.train_T, to_spiking=recipe.to_spiking)}
  results.update(evaluate_model(model, recipe, config, ds, test, Ts, v0=v0))
  results.update(wall_seconds=time.perf_counter() - t0, v0=v0, source=os.path.abspath(workdir),
                 config=json.loads(config.to_json_best_effort()), run=run_info())
  out_dir = out_dir or os.path.join(workdir, "evaluate")
  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, "results.json"), "w") as f:
    json.dump(results, f, indent=1)
  results["plots"] = plot_results(dict(results, history=_saved_history(workdir)), out_dir)
  return results


def _saved_history(workdir):
  p = os.path.join(workdir, "results.json")
  return json.load(open(p)).get("history", []) if os.path.exists(p) else []


def evaluate_model(model, recipe, config, ds, test, Ts, v0=None) -> dict:
  """The spiking net's accuracy at every T, firing rates, spikes, SOPs and energy (results.json keys)."""
  r = _snn_eval(to_snn(model, recipe, config, ds, v0=v0), test, Ts, config, recipe.readout_decay)
  out = dict(snn_accuracy=r["by_T"], accuracy_every_t=r["accuracy"], firing_rates=r["firing_rates"],
             spikes_per_image=r["spikes_per_image"], sops=r["sops_per_image"], macs=r["macs_per_image"],
             energy_j=r["energy_j_per_image"])
  if "trace_by_T" in r:  # the method's second read-out, W_o·â[T] + b_o
    out["snn_accuracy_trace_readout"] = r["trace_by_T"]
  return out


def save_model(model, path: str, *, shape, num_classes: int) -> None:
  """Save a trained model's parameters and statistics (an orbax checkpoint at ``path``), and the
  input shape and number of classes it was built for (``path.json``)."""
  import shutil

  import orbax.checkpoint as ocp
  path = os.path.abspath(path)
  if os.path.exists(path) and parallel.is_primary():
    shutil.rmtree(path)
  _barrier("snnjax_save_model_clean")
  state = nnx.to_pure_dict(nnx.state(model, (nnx.Param, nnx.BatchStat)))
  ckptr = ocp.StandardCheckpointer()
  ckptr.save(path, jax.tree.map(parallel.host_array, state))
  ckptr.wait_until_finished()
  if parallel.is_primary():
    with open(path + ".json", "w") as f:
      json.dump({"shape": list(shape), "num_classes": int(num_classes)}, f)


def _barrier(name: str) -> None:
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils
    multihost_utils.sync_global_devices(name)


def load_model(workdir: str, config=None):
  """The model a run in ``workdir`` trained: rebuilt from its ``config.json`` and filled from
  ``workdir/model``. Returns ``(model, config)``."""
  import ml_collections
  import orbax.checkpoint as ocp
  if config is None:
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path):
      raise FileNotFoundError(f"{path} not found: is {workdir!r} the workdir of a finished run?")
    config = ml_collections.ConfigDict(json.load(open(path)))
  meta_path = os.path.join(workdir, "model.json")
  if not os.path.exists(meta_path):
    raise FileNotFoundError(f"{meta_path} not found: the run in {workdir!r} saved no model (did it finish?).")
  meta = json.load(open(meta_path))
  shape_only = types.SimpleNamespace(shape=tuple(meta["shape"]), num_classes=meta["num_classes"])
  recipe = recipe_for(config)
  model = build_model(config, shape_only, recipe.act)
  state = nnx.state(model, (nnx.Param, nnx.BatchStat))
  target = nnx.to_pure_dict(state)
  restored = ocp.StandardCheckpointer().restore(os.path.abspath(os.path.join(workdir, "model")),
                                                jax.tree.map(ocp.utils.to_shape_dtype_struct, target))
  nnx.replace_by_pure_dict(state, restored)
  nnx.update(model, state)
  return model, config


def _normalization(config, ds):
  """The config's per-channel (mean, std) if set, else the dataset's standard one."""
  return tuple(map(tuple, config.normalization)) if config.get("normalization") else \
      data.NORMALIZATION.get(ds.name)


def _arrays(ds, split, limit: int = 0, config=None) -> data.Split:
  """A split as normalised in-memory arrays (``limit`` > 0: that many examples, a fixed random
  subset, since some splits are sorted by class)."""
  idx = data.subset_indices(len(split), limit) if limit else np.arange(len(split))
  if isinstance(split, data.Split):
    images, labels = split.images[idx], split.labels[idx]
  else:
    exs = [split[int(i)] for i in idx]
    images, labels = np.stack([e["image"] for e in exs]), np.stack([e["label"] for e in exs])
  norm = data.NORMALIZATION.get(ds.name) if config is None else _normalization(config, ds)
  return data.Split(data.normalize(images, norm), labels)


def _calib_batches(ds, config):
  train = _arrays(ds, ds.train, config.calib_batches * config.batch_size, config)
  return [train.images[i:i + config.batch_size] for i in range(0, len(train), config.batch_size)]


def plot_results(results, workdir) -> list[str]:
  """accuracy_vs_T.png, firing_rates.png, training_curve.png; returns their paths."""
  from snnjax import plots
  title = f"{results['dataset']} · {results['model']} · {results['method']}"
  curves = {f"{results['method']} → SNN": results["snn_accuracy"]}
  if "snn_accuracy_trace_readout" in results:
    curves[f"{results['method']} → SNN, W·â+b read-out"] = results["snn_accuracy_trace_readout"]
  if "maxnorm_snn_accuracy" in results:
    curves["ReLU ANN → SNN, classic (v0=0)"] = results["maxnorm_snn_accuracy"]
    curves["ReLU ANN → SNN, classic (v0=θ/2)"] = results["maxnorm_half_snn_accuracy"]
  refs = {f"{results['method']} as trained": results["trained_accuracy"]}
  if "ann_accuracy" in results:
    refs["ReLU ANN"] = results["ann_accuracy"]
  paths = [os.path.join(workdir, n) for n in ("accuracy_vs_T.png", "firing_rates.png", "training_curve.png")]
  plots.accuracy_vs_T(curves, refs, title=title, path=paths[0])
  rates = {f"{results['method']} → SNN": results["firing_rates"]}
  if "maxnorm_firing_rates" in results:
    rates["ReLU ANN → SNN, classic"] = results["maxnorm_firing_rates"]
  T = max(int(t) for t in results["snn_accuracy"])
  plots.firing_rates(rates, title=f"{title}, T = {T}", path=paths[1])
  runs = {results["method"]: results["history"]}
  if "ann_history" in results:
    runs["ReLU ANN (baseline)"] = results["ann_history"]
  plots.training_curves(runs, title=title, path=paths[2])
  return paths


def format_table(results: dict) -> str:
  """One table: accuracy (%) of each network at each T."""
  Ts = list(results["snn_accuracy"])
  rows = [(f"{results['method']} → SNN", results["snn_accuracy"])]
  if "snn_accuracy_trace_readout" in results:
    rows.append((f"{results['method']} → SNN, W·â[T] + b read-out", results["snn_accuracy_trace_readout"]))
  if "maxnorm_snn_accuracy" in results:
    rows += [("ReLU ANN → SNN, 99.9% (v0=0)", results["maxnorm_snn_accuracy"]),
             ("ReLU ANN → SNN, 99.9% (v0=θ/2)", results["maxnorm_half_snn_accuracy"])]
  w = max(len(r[0]) for r in rows) + 2
  lines = [f"{results['dataset']} / {results['model']} — test accuracy (%)",
           f"{'trained net (' + results['method'] + ', eval mode)':<{w}}{100 * results['trained_accuracy']:6.2f}"]
  if "ann_accuracy" in results:
    lines.append(f"{'ReLU ANN':<{w}}{100 * results['ann_accuracy']:6.2f}")
  lines.append(f"{'T':<{w}}" + "".join(f"{t:>7}" for t in Ts))
  for name, accs in rows:
    lines.append(f"{name:<{w}}" + "".join(f"{100 * accs[t]:7.2f}" for t in Ts))
  lines.append(f"SOPs/image {results['sops']:.3g}, energy {results['energy_j'] * 1e6:.3g} µJ/image, "
               f"{results['wall_seconds']:.0f} s")
  return "\n".join(lines)
