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

import json
import math
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import snnjax.nn as sn
from snnjax import checkpoint, convert, data, methods, parallel, simulate
from snnjax.methods import common
from snnjax.nn.calibration import clip_sites
from snnjax.nn.variables import ThresholdParam

__all__ = ["recipe_for", "build_model", "make_optimizer", "Trainer", "train_model", "to_snn",
           "train_and_evaluate", "format_table"]


def recipe_for(config, method: str | None = None) -> common.Recipe:
  """The :class:`~snnjax.methods.common.Recipe` of ``method`` (default ``config.method``)."""
  return methods.get(method or config.method).recipe(config)


def build_model(config, ds: data.Dataset, act, seed: int | None = None):
  """A zoo model by ``config.model`` name, sized for ``ds``."""
  name = config.model
  kw = dict(config.model_kwargs) if "model_kwargs" in config else {}
  rngs = nnx.Rngs(config.seed if seed is None else seed)
  builder = getattr(sn, name, None)
  if builder is None or not callable(builder):
    raise ValueError(f"unknown model {name!r}; see snnjax.nn (mlp, small_cnn, cnn4, vgg16, resnet18, ...).")
  if name == "mlp":
    kw.setdefault("hidden", tuple(config.hidden))
  return builder(in_shape=ds.shape, num_classes=ds.num_classes, act=act, norm=config.norm,
                 rngs=rngs, **kw)


def make_optimizer(config, params, total_steps: int) -> optax.GradientTransformation:
  """optax optimizer from the config; threshold-like parameters
  (:class:`~snnjax.nn.ThresholdParam`: λ, θ, s) get ``config.threshold_lr``
  (their own rate, no weight decay)."""

  def opt(lr, wd):
    sched = optax.cosine_decay_schedule(lr, max(total_steps, 1)) if config.schedule == "cosine" \
        else optax.constant_schedule(lr)
    if config.optimizer == "adam":
      return optax.adamw(sched, weight_decay=wd) if wd else optax.adam(sched)
    if config.optimizer == "sgd":
      return optax.chain(optax.add_decayed_weights(wd), optax.sgd(sched, momentum=0.9, nesterov=False))
    raise ValueError(f"optimizer must be 'adam' or 'sgd', got {config.optimizer!r}.")

  labels = jax.tree.map(lambda v: "threshold" if isinstance(v, ThresholdParam) else "weight", params,
                        is_leaf=lambda v: isinstance(v, nnx.Variable))
  return optax.multi_transform(
      {"weight": opt(config.learning_rate, config.weight_decay),
       "threshold": opt(config.threshold_lr or config.learning_rate, 0.0)}, labels)


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

    self._step = jax.jit(step, donate_argnums=(0,), out_shardings=(repl, repl))

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
    nnx.update(m, jax.device_get(self.state["params"]), jax.device_get(self.state["stats"]))
    return m


def _steps(config, n_train: int) -> int:
  if config.num_steps:
    return int(config.num_steps)
  return int(math.ceil(config.epochs * n_train / config.batch_size))


def train_model(config, ds, recipe: common.Recipe, workdir, *, resume: bool = False, tag: str = "model",
                log=print):
  """Train one model by ``recipe``; returns ``(model, history, trainer)``.

  Checkpoints go to ``workdir/checkpoints/<tag>`` every ``config.checkpoint_every``
  steps; ``resume=True`` continues from the newest good one (parameters,
  statistics, optimizer state, data-iterator position, history).
  """
  mesh = parallel.make_mesh(config.num_devices, multihost=config.multihost)
  local_bs = parallel.check_batch(config.batch_size, mesh)
  model = build_model(config, ds, recipe.act)
  if config.init_percentile and clip_sites(model):
    # clip values (λ, p·s) from the data: their gradient alone barely moves them
    first = _arrays(ds, ds.train, config.batch_size).images
    sn.init_clip_from_data(model, jnp.asarray(first), percentile=config.init_percentile)
  total = _steps(config, len(ds.train))
  tx = make_optimizer(config, nnx.state(model, nnx.Param), total * recipe.updates_per_batch)
  trainer = Trainer(model, recipe.loss, tx, mesh, make_step=recipe.make_step, augment=config.augment)
  it = data.batches(ds.train, local_bs, seed=config.seed + jax.process_index(),
                    normalization=data.NORMALIZATION.get(ds.name))
  ckpt = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints", tag)) if config.checkpoint_every else None
  start, history = 0, []
  if resume and ckpt is not None:
    restored = ckpt.restore(trainer.state, report=log)
    if restored is not None:
      start, state, meta = restored
      trainer.state = parallel.replicate(state, mesh)
      it.set_state(meta["data"])
      history = meta.get("history", [])
      log(f"[{tag}] resumed from step {start}")
  base_key = jax.random.key(config.seed)
  stop = min(total, config.stop_after) if config.stop_after else total
  bar = None
  if config.progress:
    from tqdm.auto import tqdm
    # disable=None: a bar on a terminal, nothing in logs and CI
    bar = tqdm(total=total, initial=start, desc=tag, leave=False, dynamic_ncols=True, disable=None)
  t0, seen = time.perf_counter(), 0
  for step in range(start, stop):
    batch = parallel.global_batch(next(it), mesh)
    metrics = trainer.step(batch, jax.random.fold_in(base_key, step))
    seen += config.batch_size
    if (step + 1) % config.log_every == 0 or step + 1 == stop:
      m = {k: float(v) for k, v in jax.device_get(metrics).items()}
      history.append({"step": step + 1, **m})
      if bar is not None:
        bar.set_postfix(loss=f"{m['loss']:.3f}", acc=f"{m['accuracy']:.3f}",
                        img_s=f"{seen / (time.perf_counter() - t0):.0f}")
    if bar is not None:
      bar.update(1)
    if ckpt is not None and ((step + 1) % config.checkpoint_every == 0 or step + 1 == stop):
      ckpt.save(step + 1, trainer.state, {"data": it.get_state(), "history": history})
  if bar is not None:
    bar.close()
  if ckpt is not None:
    ckpt.close()
  return trainer.model(), history, trainer


def _accuracy(model, split, T: int | None, batch_size=500) -> float:
  """Test accuracy of the network as trained (eval mode: BN running statistics,
  no training noise); a spiking net is read out as the mean over its T steps."""
  m = nnx.clone(model)
  m.eval()
  graphdef, state = nnx.split(m)

  def predict(s, x):
    net = nnx.merge(graphdef, s)
    if T is not None:
      return jnp.argmax(simulate.run(net, x, T=T).outputs.mean(0), -1)
    return jnp.argmax(net(x), -1)

  f = jax.jit(predict)
  correct = sum(int((np.asarray(f(state, split.images[i:i + batch_size])) ==
                     split.labels[i:i + batch_size]).sum()) for i in range(0, len(split), batch_size))
  return correct / len(split)


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
                        way=config.eval_way, readout_decay=readout_decay)
  r["by_T"] = {str(t): r["accuracy"][t - 1] for t in Ts}
  if readout_decay is not None:
    r["trace_by_T"] = {str(t): r["accuracy_trace"][t - 1] for t in Ts}
  return r


def train_and_evaluate(config, workdir: str, *, resume: bool = False, log=print,
                       dataset: data.Dataset | None = None) -> dict:
  """Train by ``config.method``, convert, evaluate at ``config.eval_T``; write outputs.

  ``dataset`` (e.g. :func:`snnjax.data.from_arrays` over your own arrays)
  replaces ``config.dataset``; it goes through the same pipeline.
  """
  t_start = time.perf_counter()
  os.makedirs(workdir, exist_ok=True)
  ds = dataset or data.load(config.dataset, data_dir=config.data_dir or None, download=config.download)
  test = _arrays(ds, ds.test, config.eval_examples)
  recipe = recipe_for(config)
  model, history, trainer = train_model(config, ds, recipe, workdir, resume=resume, tag=config.method)
  if config.stop_after and config.stop_after < _steps(config, len(ds.train)):
    return {"stopped_at": config.stop_after, "params": trainer.state["params"], "history": history}
  Ts = sorted(set(int(t) for t in config.eval_T))
  results: dict[str, Any] = {"method": config.method, "dataset": ds.name, "model": config.model,
                             "history": history}
  results["trained_accuracy"] = _accuracy(model, test, recipe.train_T)
  r = _snn_eval(to_snn(model, recipe, config, ds), test, Ts, config, recipe.readout_decay)
  results.update(snn_accuracy=r["by_T"], accuracy_every_t=r["accuracy"], firing_rates=r["firing_rates"],
                 sops=r["sops_per_image"], macs=r["macs_per_image"], energy_j=r["energy_j_per_image"])
  if "trace_by_T" in r:  # the method's second read-out, W_o·â[T] + b_o
    results["snn_accuracy_trace_readout"] = r["trace_by_T"]
  if config.compare_maxnorm:
    base = recipe_for(config, config.baseline)
    relu_model, _, _ = train_model(config, ds, base, workdir, resume=resume, tag="ann_baseline")
    results["ann_accuracy"] = _accuracy(relu_model, test, base.train_T)
    results["maxnorm_snn_accuracy"] = _snn_eval(to_snn(relu_model, base, config, ds), test, Ts,
                                                config)["by_T"]
    results["maxnorm_half_snn_accuracy"] = _snn_eval(to_snn(relu_model, base, config, ds, v0="half"),
                                                     test, Ts, config)["by_T"]
  results["wall_seconds"] = time.perf_counter() - t_start
  results["train_step_traces"] = trainer.traces
  results["config"] = json.loads(config.to_json_best_effort())
  with open(os.path.join(workdir, "results.json"), "w") as f:
    json.dump(results, f, indent=1)
  if config.plots:
    _plots(results, workdir)
  return results


def _arrays(ds, split, limit: int = 0) -> data.Split:
  """A split as normalised in-memory arrays (the first ``limit`` examples if > 0)."""
  n = min(len(split), limit) if limit else len(split)
  if isinstance(split, data.Split):
    images, labels = split.images[:n], split.labels[:n]
  else:
    exs = [split[i] for i in range(n)]
    images, labels = np.stack([e["image"] for e in exs]), np.stack([e["label"] for e in exs])
  return data.Split(data.normalize(images, data.NORMALIZATION.get(ds.name)), labels)


def _calib_batches(ds, config):
  train = _arrays(ds, ds.train, config.calib_batches * config.batch_size)
  return [train.images[i:i + config.batch_size] for i in range(0, len(train), config.batch_size)]


def _plots(results, workdir):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  Ts = [int(t) for t in results["snn_accuracy"]]
  fig, ax = plt.subplots(figsize=(5, 3.5))
  ax.plot(Ts, [100 * v for v in results["snn_accuracy"].values()], "o-", label=f"{results['method']} → SNN")
  for key, label in (("maxnorm_snn_accuracy", "classic conversion (v0=0)"),
                     ("maxnorm_half_snn_accuracy", "classic conversion (v0=θ/2)")):
    if key in results:
      ax.plot(Ts, [100 * v for v in results[key].values()], "s--", label=label)
  ax.axhline(100 * results["trained_accuracy"], color="gray", ls=":", label="trained net")
  ax.set(xscale="log", xlabel="time steps T", ylabel="test accuracy (%)", title=results["dataset"])
  ax.set_xticks(Ts, [str(t) for t in Ts])
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(os.path.join(workdir, "accuracy_vs_T.png"), dpi=120)
  fig, ax = plt.subplots(figsize=(5, 3))
  rates = results["firing_rates"]
  ax.bar(range(len(rates)), list(rates.values()))
  ax.set_xticks(range(len(rates)), list(rates), rotation=45, ha="right", fontsize=7)
  ax.set(ylabel="spikes / neuron / step", title="firing rates")
  fig.tight_layout()
  fig.savefig(os.path.join(workdir, "firing_rates.png"), dpi=120)
  fig, ax = plt.subplots(figsize=(5, 3))
  h = results["history"]
  ax.plot([r["step"] for r in h], [r["loss"] for r in h], label="loss")
  ax2 = ax.twinx()
  ax2.plot([r["step"] for r in h], [r["accuracy"] for r in h], color="C1", label="train acc")
  ax.set(xlabel="step", ylabel="loss", title="training")
  fig.tight_layout()
  fig.savefig(os.path.join(workdir, "training_curve.png"), dpi=120)
  plt.close("all")


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
