"""Conversion as a pure map from one parameter tree to another.

A trained model (a ReLU ANN, a quantized ANN, a noisy single-step spiking
net, ...) and its spiking counterpart have parameter trees that line up by
path. Conversion

1. folds every BatchNorm into the conv/linear before it (:func:`fold_batchnorm`);
2. replaces each activation's parameters by an IF threshold θ, reading the
   :class:`~snnjax.nn.Conversion` data the activation declares: θ is
   ``scale · <variable>`` (QCFS: λ; Noise Adaptor: p·s; noise T=1: θ), or a
   calibrated value (:func:`calibrate`) when the activation has none (ReLU);
3. builds the spiking model (IF neurons, soft reset, the declared initial
   potential and spike amplitude, bias every step, mean read-out) and merges
   the converted tree into it.

Nothing here knows an activation or a method by name: a user-defined
activation converts by returning :class:`~snnjax.nn.Conversion` data from its
``conversion()`` method.

Classic conversion's two forms, (a) "weights rescaled, θ = 1" and (b)
"θ = λ, spikes of amplitude θ", are equivalent; this module uses (b).

References:
  [Diehl et al., 2015](https://doi.org/10.1109/IJCNN.2015.7280696) (max normalisation);
  [Rueckauer et al., 2017](https://doi.org/10.3389/fnins.2017.00682), §2.2 (percentile
  normalisation, BatchNorm folding);
  [Bu et al., 2022](https://arxiv.org/abs/2303.04347), §4 (QCFS: θ = λ, v[0] = θ/2).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jaxtyping import Array, ArrayLike, Float

from snnjax import _checks, _compat, _tree, xla
from snnjax.nn.activations import Activation, Conversion, Spiking, SpikingSpec
from snnjax.nn.calibration import capture, modules_by_path
from snnjax.nn.layers import Pool
from snnjax.nn.models import rebuild
from snnjax.nn.variables import Record

__all__ = ["fold_batchnorm", "fold_bn_arrays", "convert_params", "calibrate", "conversions",
           "needs_calibration", "to_spiking", "spiking_spec", "load"]

Tree = dict[Any, Any]


def _pure(tree) -> Tree:
  """A nested dict of arrays; empty slots (recordings off, reset membranes) are dropped."""
  if isinstance(tree, nnx.Module):
    tree = nnx.state(tree, nnx.Not(Record))
  if isinstance(tree, nnx.State):
    tree = nnx.to_pure_dict(tree)
  if isinstance(tree, Mapping):
    return {k: _pure(v) if isinstance(v, Mapping) else v for k, v in tree.items() if v is not None}
  raise ValueError(f"expected a model, an nnx.State or a nested dict, got {type(tree).__name__}.")


def fold_bn_arrays(kernel: Float[ArrayLike, "*k cout"], bias: Float[ArrayLike, "cout"] | None,
                   scale: Float[ArrayLike, "cout"], bn_bias: Float[ArrayLike, "cout"],
                   mean: Float[ArrayLike, "cout"], var: Float[ArrayLike, "cout"], eps: float = 1e-5
                   ) -> tuple[Float[Array, "*k cout"], Float[Array, "cout"]]:
  """``W' = W·γ/σ`` (per output channel, the last kernel axis), ``b' = β + γ(b − μ)/σ``.

  References: [Rueckauer et al., 2017](https://doi.org/10.3389/fnins.2017.00682), Eq. (5).
  """
  inv = jnp.asarray(scale) / jnp.sqrt(jnp.asarray(var) + eps)
  b = 0.0 if bias is None else jnp.asarray(bias)
  return jnp.asarray(kernel) * inv, jnp.asarray(bn_bias) + (b - jnp.asarray(mean)) * inv


def fold_batchnorm(tree, eps: float = 1e-5) -> Tree:
  """Fold every ``{"op": {...}, "norm": {...}}`` pair into ``{"op": {kernel, bias}}``.

  Pure: returns a new nested dict; accepts a model, ``nnx.State`` or dict.
  ``eps`` must be the BatchNorm's epsilon (Flax's default 1e-5).
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


def convert_params(tree, sites: Mapping[str, Conversion], *,
                   thresholds: Mapping[str, Any] | None = None, eps: float = 1e-5) -> Tree:
  """Map a trained tree to a spiking tree (pure; nested dicts in and out).

  Args:
    tree: the trained model's state (model, ``nnx.State`` or nested dict).
    sites: ``{path: Conversion}`` of the activation layers (:func:`conversions`).
    thresholds: ``{path: λ}`` from :func:`calibrate`, for sites whose conversion
      has no threshold variable.
    eps: BatchNorm epsilon.

  Returns:
    The tree with BN folded and each site holding ``{"threshold": θ}``.
  """
  out = fold_batchnorm(tree, eps)
  for key, conv in sites.items():
    path = _tree.parse_key(key)
    node = _tree.get(out, path, missing_ok=True) or {}
    if conv.threshold is None:
      if thresholds is None or key not in thresholds:
        raise ValueError(f"no calibrated threshold for '{key}': run "
                         "thresholds = snnjax.convert.calibrate(model, batches) and pass it.")
      theta = thresholds[key]
    else:
      if conv.threshold not in node:
        raise ValueError(f"activation at '{key}' has no variable {conv.threshold!r} to take θ from; "
                         "was the tree trained with the activation that declares this conversion?")
      theta = node[conv.threshold] * conv.scale
    theta = jnp.asarray(theta, jnp.float32)
    _checks.check_threshold(theta, f"threshold at '{key}'")
    _tree.put(out, path, {"threshold": theta}, create=True)
  return out


def conversions(model: nnx.Module) -> dict[str, Conversion]:
  """``{path: Conversion}`` of every activation; raises with the path if one cannot convert."""
  mods = modules_by_path(model)
  for key, m in mods.items():
    if isinstance(m, Pool) and m.kind == "max":
      raise ValueError(f"max-pooling at '{key}' does not convert to a spiking net (the max of "
                       "spike trains is not the spike train of the max): build the model with "
                       "pool='avg' and retrain.")
  out = {}
  for key, m in mods.items():
    if not isinstance(m, Activation):
      continue
    if isinstance(m, Spiking):
      raise ValueError(f"'{key}' is already a spiking layer: the model is a spiking net; "
                       "simulate it directly (snnjax.simulate.run / evaluate).")
    conv = m.conversion()
    if conv is None:
      raise ValueError(f"activation {type(m).__name__} at '{key}' has no conversion rule: give its "
                       "class a conversion() method returning snnjax.nn.Conversion(...).")
    out[key] = conv
  if not out:
    raise ValueError(
        "the model has no convertible activation layer: build it from snnjax activation modules "
        "(act=snnjax.nn.relu(), a method's activation, ...) instead of bare function calls such as "
        "nnx.relu; see docs/guide.md, 'Your own model'.")
  return out


def needs_calibration(model: nnx.Module) -> bool:
  """Whether :func:`to_spiking` needs calibrated thresholds for ``model`` (ReLU sites)."""
  return any(c.threshold is None for c in conversions(model).values())


def spiking_spec(sites: Mapping[str, Conversion], v0=None) -> SpikingSpec:
  """The IF layer all ``sites`` convert to (they must agree on v0 and amplitude)."""
  kinds = {(c.v0, c.amplitude) for c in sites.values()}
  if len(kinds) != 1:
    raise ValueError(f"activations declare different initial potentials / amplitudes {sorted(map(str, kinds))}; "
                     "convert models whose activations are of one kind.")
  (dv0, amplitude), = kinds
  return SpikingSpec(neuron="if", reset="soft", v0=dv0 if v0 is None else v0, amplitude=amplitude)


@functools.partial(xla.jit, static_argnames=("graphdef", "sites", "percentile"))
def _calibration_stats(graphdef, state, x, sites, percentile):
  """Each site's clip statistic of one batch (one compilation per model, sites and batch shape)."""
  from snnjax.nn.activations import clip_statistic
  taps = capture(nnx.merge(graphdef, state), x, tuple((k, "rec_in") for k in sites), jit=False)
  return {k: clip_statistic(taps[(k, "rec_in")], percentile) for k in sites}


def calibrate(model: nnx.Module, batches: Iterable[ArrayLike], *, percentile: float = 99.9
              ) -> dict[str, float]:
  """Threshold λ per calibrated site (ReLU) from calibration batches.

  For ``percentile=100`` λ is the maximum over all batches (Diehl et al.'s
  max normalisation); otherwise the mean over batches of each batch's
  percentile of the layer's input after ReLU (Rueckauer et al.'s robust
  normalisation). The model runs in eval mode; it is not modified.

  References:
    [Diehl et al., 2015](https://doi.org/10.1109/IJCNN.2015.7280696), §II.C;
    [Rueckauer et al., 2017](https://doi.org/10.3389/fnins.2017.00682), §2.2.2.
  """
  if not 0 < percentile <= 100:
    raise ValueError(f"percentile must be in (0, 100], got {percentile}.")
  sites = [k for k, c in conversions(model).items() if c.threshold is None]
  if not sites:
    raise ValueError("calibrate needs a model with ReLU-like activations (no threshold of their own).")
  m = nnx.clone(model)
  m.eval()
  graphdef, state = nnx.split(m)
  per_batch = []
  for b in batches:
    if len(b) == 0:
      raise ValueError("calibrate got an empty batch: give batches of at least one image.")
    _checks.check_images(b, "calibration images")
    per_batch.append(jax.device_get(_calibration_stats(graphdef, state, jnp.asarray(b), tuple(sites),
                                                       float(percentile))))
  if not per_batch:
    raise ValueError("calibrate got no batches.")
  agg = np.max if percentile >= 100 else np.mean
  return {k: float(agg([b[k] for b in per_batch])) for k in sites}


def to_spiking(model, *, thresholds: Mapping[str, float] | None = None, v0: str | float | None = None,
               template: nnx.Module | None = None, conversion: Conversion | None = None,
               eps: float = 1e-5) -> nnx.Module:
  """Build the spiking counterpart of a trained model.

  Args:
    model: a trained model built from snnjax activations; or its state
      (``nnx.State`` / nested dict), then with ``template`` and ``conversion``.
    thresholds: calibrated λ per site (:func:`calibrate`), for activations
      without a threshold of their own (ReLU).
    v0: override the declared initial potential (``"zero"``, ``"half"``, a fraction of θ).
    template: the spiking model to fill (optional for zoo models and models
      that record their hyperparameters, which are rebuilt with IF neurons).
    conversion: the conversion of every site, when ``model`` is a bare state.
    eps: BatchNorm epsilon.

  Returns:
    A spiking model: IF neurons with soft reset, BN folded. Simulate it with
    :func:`snnjax.simulate.run` / :func:`snnjax.simulate.evaluate` for any T.
  """
  if isinstance(model, nnx.Module):
    sites = conversions(model)
    if template is None:
      spec = spiking_spec(sites, v0)
      template = nnx.eval_shape(lambda: rebuild(model, act=spec, norm=False))
    else:
      template = _respec(template, spiking_spec(sites, v0))
  else:
    if template is None or conversion is None:
      raise ValueError("converting a bare state needs template= (the spiking model to fill) and "
                       "conversion= (snnjax.nn.Conversion of its activations).")
    keys = [k for k, m in modules_by_path(template).items() if isinstance(m, Spiking)]
    sites = {k: conversion for k in keys}
    template = _respec(template, spiking_spec(sites, v0))
  return load(template, convert_params(model, sites, thresholds=thresholds, eps=eps))


def load(template: nnx.Module, tree: dict) -> nnx.Module:
  """``template`` (e.g. from ``nnx.eval_shape``) with its variables filled from the pure dict
  ``tree``, cast to the template's dtypes; recording slots stay as the template has them.
  A missing entry or a shape that differs is an error naming the path."""
  graphdef, abstract, records = nnx.split(template, nnx.Not(Record), ...)
  nnx.replace_by_pure_dict(abstract, _tree.fill(nnx.to_pure_dict(abstract), tree))
  return nnx.merge(graphdef, abstract, records)


def _respec(template: nnx.Module, spec: SpikingSpec) -> nnx.Module:
  """A copy of ``template`` whose spiking layers follow ``spec``."""
  template = nnx.clone(template)
  for _, m in _compat.iter_modules(template):
    if isinstance(m, Spiking):
      m.spec = spec
  return template


