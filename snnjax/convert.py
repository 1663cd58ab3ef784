"""Conversion as a pure map from one parameter tree to another.

A trained model (ReLU ANN, QCFS or Noise-Adaptor quantized ANN, noisy T=1
spiking net) and its spiking counterpart have parameter trees that line up by
path. Conversion:

1. folds every BatchNorm into the conv/linear before it (:func:`fold_batchnorm`);
2. replaces each activation's parameter by an IF threshold θ, by rule:

   ========================  ===================  ======================  ==========
   rule                      source activation     θ                       v[0]
   ========================  ===================  ======================  ==========
   ``"qcfs"``                QCFS (``lam``)        λ                       θ/2
   ``"noise_adaptor"``       NoisyQuant            p·s (``step_size``)     θ/2
   ``"noise_t1"``            NoisySpike            θ (``threshold``)       μ_ξ
   ``"maxnorm"``             ReLU                  max activation          0
   ``"percentile"``          ReLU                  99.9th percentile       0
   ========================  ===================  ======================  ==========

3. builds the spiking model (IF neurons, soft reset, spike amplitude θ, bias
   every step, mean read-out) and merges the converted tree into it.

Rules (b) "threshold = λ, amplitude θ" and (a) "weights rescaled, θ = 1" of
classic conversion are equivalent (spec §6.5); this module uses (b).

References:
  Spec §1.6 (BN folding), §2.3 (T=1 → T=N), §3.3 (Noise Adaptor), §6.1 (QCFS),
  §6.5 (max/percentile: Diehl et al. IJCNN 2015; Rueckauer et al. Front.
  Neurosci. 2017).
"""

from __future__ import annotations

from typing import Any, Iterable, Literal, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from snnjax import _checks
from snnjax.nn.activations import ReLU, Spiking, SpikingSpec
from snnjax.nn.layers import Pool
from snnjax.nn.models import Model, rebuild

__all__ = ["RULES", "fold_batchnorm", "fold_bn_arrays", "convert_params", "calibrate",
           "activation_sites", "check_convertible", "to_spiking"]

RULES = ("qcfs", "noise_adaptor", "noise_t1", "maxnorm", "percentile")
Rule = Literal["qcfs", "noise_adaptor", "noise_t1", "maxnorm", "percentile", "auto"]
Tree = dict[Any, Any]


def _pure(tree) -> Tree:
  if isinstance(tree, nnx.Module):
    tree = nnx.state(tree)
  if isinstance(tree, nnx.State):
    return nnx.to_pure_dict(tree)
  if isinstance(tree, Mapping):
    return {k: _pure(v) if isinstance(v, Mapping) else v for k, v in tree.items()}
  raise ValueError(f"expected a model, an nnx.State or a nested dict, got {type(tree).__name__}.")


def fold_bn_arrays(kernel, bias, scale, bn_bias, mean, var, eps: float = 1e-5):
  """``W' = W·γ/σ`` (per output channel, the last kernel axis), ``b' = β + γ(b − μ)/σ``."""
  inv = scale / jnp.sqrt(var + eps)
  b = 0.0 if bias is None else bias
  return kernel * inv, bn_bias + (b - mean) * inv


def fold_batchnorm(tree, eps: float = 1e-5) -> Tree:
  """Fold every ``{"op": {...}, "norm": {...}}`` pair into ``{"op": {kernel, bias}}``.

  Pure: returns a new nested dict; accepts a model, ``nnx.State`` or dict.
  ``eps`` must be the BatchNorm's epsilon (Flax's default 1e-5).

  References: spec §1.6, invariant I-5.
  """

  def walk(node):
    if not isinstance(node, Mapping):
      return node
    node = {k: walk(v) for k, v in node.items()}
    if "op" in node and isinstance(node.get("norm"), Mapping):
      op, bn = dict(node["op"]), node.pop("norm")
      missing = {"scale", "bias", "mean", "var"} - set(bn)
      if missing:
        raise ValueError(f"BatchNorm entry lacks {sorted(missing)}; pass the full state "
                         "(nnx.state(model)), not only the Params.")
      op["kernel"], op["bias"] = fold_bn_arrays(op["kernel"], op.get("bias"), bn["scale"],
                                                bn["bias"], bn["mean"], bn["var"], eps)
      node["op"] = op
    return node

  return walk(_pure(tree))


def _get(tree, path):
  for k in path:
    if not isinstance(tree, Mapping) or k not in tree:
      return None
    tree = tree[k]
  return tree


def _set(tree, path, value):
  for k in path[:-1]:
    tree = tree.setdefault(k, {})
  tree[path[-1]] = value


def _path_key(path) -> str:
  return "/".join(map(str, path))


def _parse(key: str):
  return tuple(int(p) if p.isdigit() else p for p in key.split("/"))


def convert_params(tree, sites: Iterable, rule: Rule, *, thresholds: Mapping[str, Any] | None = None,
                   levels: int | Mapping[str, int] | None = None, eps: float = 1e-5) -> Tree:
  """Map a trained tree to a spiking tree (pure; nested dicts in and out).

  Args:
    tree: the trained model's state (model, ``nnx.State`` or nested dict).
    sites: paths (``"a/0/b"`` strings or tuples) of the activation layers.
    rule: one of :data:`RULES`.
    thresholds: ``{path: λ}`` from :func:`calibrate` (max/percentile rules).
    levels: Noise Adaptor's ``p`` (int, or per path).
    eps: BatchNorm epsilon.

  Returns:
    The tree with BN folded and each site holding ``{"threshold": θ}``.
  """
  if rule not in RULES:
    raise ValueError(f"unknown conversion rule {rule!r}; choose one of {list(RULES)}.")
  out = fold_batchnorm(tree, eps)
  for site in sites:
    path = _parse(site) if isinstance(site, str) else tuple(site)
    key, node = _path_key(path), _get(out, path) or {}
    if rule == "qcfs":
      if "lam" not in node:
        raise ValueError(f"activation at '{key}' has no QCFS clip value λ ('lam'): train it with "
                         "act=snnjax.nn.qcfs(...), or convert a ReLU net with rule='percentile'.")
      theta = node["lam"]
    elif rule == "noise_adaptor":
      if "step_size" not in node:
        raise ValueError(f"activation at '{key}' has no Noise-Adaptor step size 'step_size': train "
                         "it with act=snnjax.methods.noise_adaptor.noisy_quant(...).")
      p = levels.get(key) if isinstance(levels, Mapping) else levels
      if p is None:
        raise ValueError(f"levels (p) unknown for '{key}': pass levels=p or convert the model itself.")
      theta = node["step_size"] * p
    elif rule == "noise_t1":
      if "threshold" not in node:
        raise ValueError(f"activation at '{key}' has no threshold θ: train it with "
                         "act=snnjax.methods.noise_t1.noisy_spike(...).")
      theta = node["threshold"]
    else:
      if thresholds is None or key not in thresholds:
        raise ValueError(f"no calibrated threshold for '{key}': run "
                         "thresholds = snnjax.convert.calibrate(model, batches) and pass it.")
      theta = thresholds[key]
    theta = jnp.asarray(theta, jnp.float32)
    _checks.check_threshold(theta, f"threshold at '{key}'")
    _set(out, path, {"threshold": theta})
  return out


def activation_sites(model: nnx.Module) -> list[str]:
  """Paths of the activation layers (modules made by an activation spec)."""
  return [_path_key(p) for p, m in nnx.iter_modules(model) if getattr(m, "is_activation", False)]


def _rule_of(m) -> str | None:
  """The conversion rule an activation class declares (``conversion_rule``)."""
  return getattr(type(m), "conversion_rule", None)


def check_convertible(model: nnx.Module, rule: Rule) -> str:
  """Raise with the layer path if ``model`` cannot be converted by ``rule``.

  Returns the rule (resolved when ``rule="auto"``).
  """
  for path, m in nnx.iter_modules(model):
    if isinstance(m, Pool) and m.kind == "max":
      raise ValueError(f"max-pooling at '{_path_key(path)}' does not convert to a spiking net "
                       "(the max of spike trains is not the spike train of the max): build the "
                       "model with pool='avg' and retrain.")
  kinds = {}
  for path, m in nnx.iter_modules(model):
    if not getattr(m, "is_activation", False):
      continue
    key = _path_key(path)
    if isinstance(m, Spiking):
      raise ValueError(f"'{key}' is already a spiking layer: the model is a spiking net; "
                       "simulate it directly (snnjax.simulate.run).")
    if _rule_of(m) is None:
      raise ValueError(f"activation {type(m).__name__} at '{key}' has no conversion rule: use "
                       "ReLU, QCFS, NoisySpike or NoisyQuant activations.")
    kinds[key] = m
  if not kinds:
    raise ValueError("the model has no convertible activation layer.")
  if rule == "auto":
    found = {_rule_of(m) for m in kinds.values()}
    if len(found) != 1:
      raise ValueError(f"mixed activation kinds {sorted(found)}: pass rule= explicitly.")
    rule = found.pop()
  accepts = {"maxnorm": "percentile"}  # both calibrate a ReLU net
  for key, m in kinds.items():
    if _rule_of(m) != accepts.get(rule, rule):
      raise ValueError(f"activation {type(m).__name__} at '{key}' cannot be converted with rule "
                       f"{rule!r}; its rule is {_rule_of(m)!r}.")
  return rule


def calibrate(model: nnx.Module, batches: Iterable, *, percentile: float = 99.9) -> dict[str, float]:
  """Per-ReLU threshold λ from calibration batches (spec §6.5).

  For ``percentile=100`` λ is the maximum over all batches; otherwise the
  mean over batches of each batch's percentile of the layer's activations.
  BatchNorm runs in eval mode.
  """
  if not 0 < percentile <= 100:
    raise ValueError(f"percentile must be in (0, 100], got {percentile}.")
  m = nnx.clone(model)
  m.eval()
  relus = [(p, r) for p, r in nnx.iter_modules(m) if isinstance(r, ReLU)]
  if not relus:
    raise ValueError("calibrate needs a model with ReLU activations.")
  for _, r in relus:
    r.record = percentile
  graphdef, state = nnx.split(m)

  @jax.jit
  def stats(state, x):
    mm = nnx.merge(graphdef, state)
    mm(x)
    return {_path_key(p): r.calib[...] for p, r in nnx.iter_modules(mm) if isinstance(r, ReLU)}

  per_batch = [jax.device_get(stats(state, jnp.asarray(b))) for b in batches]
  if not per_batch:
    raise ValueError("calibrate got no batches.")
  agg = np.max if percentile >= 100 else np.mean
  return {k: float(agg([b[k] for b in per_batch])) for k in per_batch[0]}


def to_spiking(model, rule: Rule = "auto", T: int = 4, *, template: nnx.Module | None = None,
               thresholds: Mapping[str, float] | None = None, levels=None,
               v0: str | float | None = None, way: Literal["layer", "step"] = "layer",
               eps: float = 1e-5) -> nnx.Module:
  """Build the spiking counterpart of a trained model.

  Args:
    model: a trained zoo model, or its state (``nnx.State`` / nested dict;
      then ``template`` must give the spiking model to fill).
    rule: a conversion rule (:data:`RULES`) or ``"auto"`` (from the
      activation type).
    T: default number of steps of the spiking model.
    template: a spiking model with the target structure (optional for zoo models).
    thresholds: calibrated λ per ReLU path (max/percentile rules).
    levels: Noise Adaptor ``p`` when converting a bare state.
    v0: override the rule's initial potential (``"zero"``, ``"half"``, fraction of θ).
    way: execution way stored in the spiking layers.

  Returns:
    A spiking model: IF neurons with soft reset and amplitude θ, BN folded.
  """
  T = _checks.check_time_steps(T)
  if isinstance(model, nnx.Module):
    rule = check_convertible(model, rule)
    sites = activation_sites(model)
    if levels is None:
      levels = {_path_key(p): m.levels for p, m in nnx.iter_modules(model) if hasattr(m, "levels")}
    if template is None:
      if not isinstance(model, Model):
        raise ValueError("pass template= (the spiking model to fill) for models outside the zoo.")
      template = model
  elif template is None:
    raise ValueError("converting a bare state needs template=, the spiking model to fill.")
  else:
    sites = [_path_key(p) for p, m in nnx.iter_modules(template) if isinstance(m, Spiking)]
    if rule == "auto":
      raise ValueError("rule='auto' needs the trained model; pass rule= with a bare state.")
  if v0 is None:
    if rule == "noise_t1":  # v[0] = μ, the mean of the training noise (a fraction of θ)
      v0 = next((m.spec.mean for _, m in nnx.iter_modules(model) if _rule_of(m) == "noise_t1"), 0.5) \
          if isinstance(model, nnx.Module) else 0.5
    else:
      v0 = "half" if rule in ("qcfs", "noise_adaptor") else "zero"
  spec = SpikingSpec(neuron="if", T=T, reset="soft", v0=v0, amplitude="threshold", mode=way)
  if isinstance(template, Model):
    template = nnx.eval_shape(lambda: rebuild(template, act=spec, norm=False))
  else:
    template = nnx.clone(template)
    for _, m in nnx.iter_modules(template):
      if isinstance(m, Spiking):
        m.spec, m.T, m.mode = spec, T, way
  converted = convert_params(model, sites, rule, thresholds=thresholds, levels=levels, eps=eps)
  graphdef, abstract = nnx.split(template)
  filled = _fill(nnx.to_pure_dict(abstract), converted, ())
  nnx.replace_by_pure_dict(abstract, filled)
  return nnx.merge(graphdef, abstract)


def _fill(target, source, path):
  if isinstance(target, Mapping):
    return {k: _fill(v, source.get(k) if isinstance(source, Mapping) else None, path + (k,))
            for k, v in target.items()}
  key = _path_key(path)
  if source is None:
    raise ValueError(f"the trained tree has no entry for '{key}' needed by the spiking model; "
                     "was the model built with a different architecture?")
  source = jnp.asarray(source)
  if tuple(source.shape) != tuple(target.shape):
    raise ValueError(f"shape mismatch at '{key}': trained {tuple(source.shape)} vs spiking "
                     f"{tuple(target.shape)}.")
  return source.astype(target.dtype)
