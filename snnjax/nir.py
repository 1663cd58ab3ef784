"""Export to and import from NIR, the Neuromorphic Intermediate Representation.

:func:`export` turns a snnjax spiking model into a ``nir.NIRGraph`` (sequential
models and ResNets of conv / linear / average-pool / flatten / IF / LIF layers);
:func:`load` turns a graph back into a snnjax model that :mod:`snnjax.simulate`
runs. BatchNorm is folded first; layouts are converted (NHWC ↔ CHW, HWIO ↔
OIHW, and the order of flattened features); parameters are per-neuron arrays;
residual additions are graph edges (NIR sums the inputs of a node). Needs the
``nir`` extra (``pip install 'snnjax[nir]'``).

What round-trips exactly. NIR's neurons integrate with ``dt = 1``
(``IF: v ← v + r·I``; ``LIF: v ← v + (v_leak − v + r·I)/τ``), fire at
``v > v_threshold`` and reset *to* ``v_reset``, from ``v = 0``. A snnjax neuron
with a hard reset, strict firing (``u > θ``), ``v[0] = 0`` and no leak target
other than ``v_leak`` maps onto them exactly (LIF with ``decay_input=False`` as
``r = τ``, with ``decay_input=True`` as ``r = 1``); spikes of amplitude θ are an
exact ``Scale`` node after the neuron. The neurons conversion produces reset by
*subtraction*, fire at ``u ≥ θ`` and start from ``v[0] = θ/2`` — none of which
NIR can express (neuromorphs/NIR issues 137 and 138). :func:`export` refuses
them unless ``approximate=True``; then the graph holds NIR's nearest neuron and,
in each node's metadata, the exact snnjax settings, which :func:`load` restores
(``exact=True``, the default). Another NIR consumer runs the approximation;
``docs/nir.md`` measures what it costs.

References:
  [Pedersen et al., 2024](https://arxiv.org/abs/2311.14641), "Neuromorphic intermediate
  representation: A unified instruction set for interoperable brain-inspired computing",
  Nature Communications.
"""

from __future__ import annotations

import json
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from snnjax import _compat
from snnjax.convert import fold_bn_arrays
from snnjax.nn.activations import Spiking, SpikingSpec
from snnjax.nn.layers import Flatten, GlobalAvgPool, Pool, Scale, Synapse, _pair
from snnjax.nn.models import BasicBlock, Model, ResNet

__all__ = ["export", "load", "NIRModel"]


def _nir():
  try:
    import nir
  except ImportError as e:
    raise ImportError("NIR export/import needs the nir package: pip install 'snnjax[nir]'.") from e
  return nir


def _hwc_to_chw(a):
  a = np.asarray(a)
  return np.moveaxis(a, -1, 0) if a.ndim == 3 else a


def _chw_to_hwc(a):
  a = np.asarray(a)
  return np.moveaxis(a, 0, -1) if a.ndim == 3 else a


# --- export --------------------------------------------------------------------------------------

class _Exporter:
  def __init__(self, approximate: bool):
    self.nir = _nir()
    self.nodes: dict[str, Any] = {}
    self.edges: list[tuple[str, str]] = []
    self.approximate = approximate
    self.count = 0

  def add(self, name, node, inputs):
    name = f"{self.count:03d}_{name}"
    self.count += 1
    self.nodes[name] = node
    self.edges += [(i, name) for i in inputs]
    return name

  def synapse(self, syn: Synapse, inp, shape, flat_from=None):
    """A conv/linear (BatchNorm folded). ``flat_from``: the HWC shape flattened into a linear's input."""
    kernel = np.asarray(syn.kernel(), np.float64)
    bias = None if syn.bias() is None else np.asarray(syn.bias(), np.float64)
    if syn.norm is not None:
      bn = syn.norm
      kernel, bias = fold_bn_arrays(kernel, bias, bn.scale[...], bn.bias[...], bn.mean[...], bn.var[...],
                                    bn.epsilon)
      kernel, bias = np.asarray(kernel, np.float64), np.asarray(bias, np.float64)
    if bias is None:
      bias = np.zeros(kernel.shape[-1])
    dtype = np.asarray(syn.op.kernel[...]).dtype
    if syn.kind == "linear":
      w = kernel.T  # [out, in]
      if flat_from is not None:  # the features arrive flattened in CHW order
        h, wd, c = flat_from
        w = w.reshape(-1, h, wd, c).transpose(0, 3, 1, 2).reshape(w.shape[0], -1)
      node = self.nir.Affine(weight=w.astype(dtype), bias=bias.astype(dtype))
      return self.add("affine", node, inp), (kernel.shape[-1],)
    h, wd, c = shape
    pads = jax.lax.padtype_to_pads((h, wd), syn.op.kernel_size, _pair(syn.op.strides), syn.op.padding) \
        if isinstance(syn.op.padding, str) else [tuple(p) for p in syn.op.padding]
    if any(lo != hi for lo, hi in pads):
      if not self.approximate:
        raise ValueError(f"a convolution pads asymmetrically ({pads}: stride {syn.op.strides} with "
                         f"'{syn.op.padding}' padding), which NIR's symmetric padding cannot express; "
                         "pass approximate=True to export the nearest symmetric padding.")
    padding = tuple(int(lo) for lo, _ in pads)
    node = self.nir.Conv2d(input_shape=(h, wd), weight=kernel.transpose(3, 2, 0, 1).astype(dtype),
                           stride=_pair(syn.op.strides), padding=padding, dilation=1, groups=1,
                           bias=bias.astype(dtype),
                           metadata=_meta({"padding": [list(map(int, p)) for p in pads]}))
    out = jax.eval_shape(syn.op, jax.ShapeDtypeStruct((1, h, wd, c), jnp.float32)).shape[1:]
    return self.add("conv", node, inp), tuple(out)

  def neuron(self, layer: Spiking, inp, shape):
    spec: SpikingSpec = layer.spec
    theta = np.broadcast_to(np.asarray(layer.threshold[...], np.float64), shape)
    chw = lambda a: _hwc_to_chw(np.broadcast_to(np.asarray(a, np.float64), shape)).astype(np.float32)
    exact = {"reset": spec.reset, "strict": spec.strict, "v0": spec.v0, "reset_amount": spec.reset_amount,
             "decay_input": spec.decay_input}
    issues = []
    if spec.reset != "hard":
      issues.append("reset by subtraction (NIR resets to v_reset)")
    if not spec.strict:
      issues.append("firing at u ≥ θ (NIR fires at v > v_threshold)")
    if spec.v0 != "zero":
      issues.append(f"initial potential v[0] = {spec.v0!r} (NIR starts from 0)")
    if issues and not self.approximate:
      raise ValueError(f"NIR cannot express this neuron exactly: {'; '.join(issues)}. Export with "
                       "approximate=True to write NIR's nearest neuron (its exact settings go into the "
                       "node's metadata, which snnjax.nir.load restores).")
    v_reset = chw(spec.v_reset if spec.reset == "hard" else 0.0)
    if spec.neuron == "if":
      node = self.nir.IF(r=chw(1.0), v_threshold=chw(theta), v_reset=v_reset, metadata=_meta(exact))
    else:
      tau = float(spec.tau)
      r = 1.0 if spec.decay_input else tau
      node = self.nir.LIF(tau=chw(tau), r=chw(r), v_leak=chw(spec.v_rest or 0.0), v_threshold=chw(theta),
                          v_reset=v_reset, metadata=_meta(exact))
    name = self.add("lif" if spec.neuron == "lif" else "if", node, inp)
    if spec.amplitude == "threshold":  # spikes of amplitude θ: an exact scale after the neuron
      name = self.add("scale", self.nir.Scale(scale=chw(theta)), [name])
    return name

  def linear_op(self, layer, inp, shape):
    if isinstance(layer, Pool):
      if layer.kind != "avg":
        raise ValueError("NIR export supports average pooling only.")
      node = self.nir.AvgPool2d(kernel_size=np.array(layer.window), stride=np.array(layer.strides),
                                padding=np.array([0, 0]))
      if layer.padding != "VALID":
        raise ValueError("NIR export supports VALID average pooling only.")
      return self.add("avgpool", node, inp), layer.output_shape(shape), None
    if isinstance(layer, Scale):
      return self.add("scale", self.nir.Scale(scale=np.full(_hwc_to_chw(np.zeros(shape)).shape,
                                                           layer.factor, np.float32)), inp), shape, None
    if isinstance(layer, GlobalAvgPool):
      h, w, c = shape
      pool = self.add("avgpool", self.nir.AvgPool2d(kernel_size=np.array([h, w]), stride=np.array([h, w]),
                                                     padding=np.array([0, 0])), inp)
      flat = self.add("flatten", self.nir.Flatten(input_type={"input": np.array([c, 1, 1])}, start_dim=0),
                      [pool])
      return flat, (c,), None
    if isinstance(layer, Flatten):
      if len(shape) == 1:
        return inp[0], shape, None
      return self.add("flatten", self.nir.Flatten(input_type={"input": np.array(_hwc_to_chw(
          np.zeros(shape)).shape)}, start_dim=0), inp), (int(np.prod(shape)),), shape
    raise ValueError(f"NIR export does not support {type(layer).__name__} layers.")


def _meta(d: dict) -> dict:
  """snnjax's own settings, as one JSON string (NIR files store metadata in HDF5)."""
  return {"snnjax": json.dumps(d)}


def _read_meta(obj) -> dict:
  m = getattr(obj, "metadata", None) or {}
  v = m.get("snnjax") if isinstance(m, dict) else None
  if isinstance(v, bytes):
    v = v.decode()
  return json.loads(v) if isinstance(v, str) else (v or {})


def export(model: nnx.Module, input_shape, *, approximate: bool = False):
  """A spiking model as a ``nir.NIRGraph``.

  Args:
    model: a spiking snnjax model: sequential (MLP, CNN, VGG) or a zoo ResNet.
    input_shape: one example's shape, ``(H, W, C)`` or ``(features,)``.
    approximate: write NIR's nearest neuron where NIR cannot express a snnjax
      neuron exactly (reset by subtraction, ``u ≥ θ``, ``v[0] ≠ 0``); the exact
      settings go into the node metadata.
  """
  ex = _Exporter(approximate)
  nir = ex.nir
  shape = tuple(int(s) for s in input_shape)
  inp = ex.add("input", nir.Input(input_type={"input": np.array(_hwc_to_chw(np.zeros(shape)).shape)}), [])
  if isinstance(model, ResNet):
    last, shape = _export_resnet(ex, model, inp, shape)
  else:
    seq = getattr(model, "sequence", None)
    if seq is None:
      raise ValueError(f"NIR export supports sequential models and zoo ResNets, not {type(model).__name__}.")
    last, shape = _export_sequence(ex, seq(), inp, shape)
  ex.add("output", nir.Output(output_type={"output": np.array(shape)}), [last])
  return nir.NIRGraph(nodes=ex.nodes, edges=ex.edges, type_check=False,
                      metadata=_meta({"input_shape": list(input_shape), "layout": "CHW"}))


def _export_sequence(ex, layers, name, shape, flat_from=None):
  for layer in layers:
    if isinstance(layer, Synapse):
      name, shape = ex.synapse(layer, [name], shape, flat_from)
      flat_from = None
    elif isinstance(layer, Spiking):
      name = ex.neuron(layer, [name], shape)
    else:
      # a flatten of a feature map: the next linear reads CHW order (kept across scalings)
      name, shape, flat = ex.linear_op(layer, [name], shape)
      flat_from = flat or flat_from
  return name, shape


def _export_resnet(ex, m: ResNet, name, shape):
  name, shape = ex.synapse(m.stem, [name], shape)
  name = ex.neuron(m.stem_act, [name], shape)
  if m.stem_pool is not None:
    raise ValueError("NIR export of the ImageNet stem (3×3 stride-2 pooling with padding) is not supported.")
  for blk in m.blocks:
    if not isinstance(blk, BasicBlock):
      raise ValueError("NIR export supports ResNets of basic blocks.")
    a, s1 = ex.synapse(blk.syn1, [name], shape)
    a = ex.neuron(blk.act1, [a], s1)
    b, s2 = ex.synapse(blk.syn2, [a], s1)
    sc = ex.synapse(blk.shortcut, [name], shape)[0] if blk.shortcut is not None else name
    name = ex.neuron(blk.act2, [b, sc], s2)  # NIR sums a node's inputs: the residual addition
    shape = s2
  if m.global_pool:
    name, shape, _ = ex.linear_op(GlobalAvgPool(), [name], shape)
    name, shape = ex.synapse(m.head, [name], shape)
  else:
    name, shape, flat = ex.linear_op(Flatten(3), [name], shape)
    name, shape = ex.synapse(m.head, [name], shape, flat)
  return name, shape


# --- load ----------------------------------------------------------------------------------------

class NIRModel(Model):
  """A model read from a NIR graph: its nodes run in topological order, inputs summed."""

  def __init__(self, layers, names, inputs, output, in_shape):
    self.layers = _compat.List(layers)
    self.names = tuple(names)
    self.inputs = tuple(tuple(i) for i in inputs)
    self.output = int(output)
    self.in_shape = tuple(in_shape)

  def __call__(self, x, *, rngs=None):
    self._check_input(x)
    values = []
    for layer, ins in zip(self.layers, self.inputs):
      h = x if not ins else values[ins[0]]
      for i in ins[1:]:  # NIR sums a node's inputs (residual additions)
        h = h + values[i]
      values.append(layer(h, rngs=rngs) if isinstance(layer, Spiking) else layer(h))
    return values[self.output]


class _Identity(nnx.Module):
  def __call__(self, x):
    return x


def load(graph, *, exact: bool = True) -> NIRModel:
  """A snnjax model from a ``nir.NIRGraph`` (e.g. ``nir.read(path)``).

  ``exact``: restore the snnjax neuron settings an approximate export stored in
  the metadata; ``False`` runs NIR's own neuron semantics.
  """
  nir = _nir()
  order = _topological(graph)
  index = {n: i for i, n in enumerate(order)}
  preds = {n: [a for a, b in graph.edges if b == n] for n in order}
  meta = _read_meta(graph)
  in_node = next(n for n in order if isinstance(graph.nodes[n], nir.Input))
  in_chw = tuple(int(v) for v in np.asarray(graph.nodes[in_node].input_type["input"]))
  in_shape = tuple(meta.get("input_shape") or (tuple(_chw_to_hwc(np.zeros(in_chw)).shape)))
  shapes = {in_node: in_shape}
  layers, inputs, flat_from = [], [], {}
  for n in order:
    node = graph.nodes[n]
    ins = [index[p] for p in preds[n]]
    shape = shapes[preds[n][0]] if preds[n] else in_shape
    # the synapses that read the graph's input: their operations are multiply-accumulates
    reads_input = preds[n] == [in_node]
    layer = None
    if isinstance(node, nir.Input) or isinstance(node, nir.Output):
      layer = _Identity()
    elif isinstance(node, nir.Affine):
      w = np.asarray(node.weight)
      src = flat_from.get(preds[n][0])
      if src is not None:  # back from CHW to HWC feature order
        h, wd, c = src
        w = w.reshape(-1, c, h, wd).transpose(0, 2, 3, 1).reshape(w.shape[0], -1)
      layer = Synapse(w.shape[1], w.shape[0], kind="linear", analog_input=reads_input, rngs=nnx.Rngs(0))
      layer.op.kernel[...] = jnp.asarray(w.T, layer.op.kernel[...].dtype)
      layer.op.bias[...] = jnp.asarray(node.bias, layer.op.bias[...].dtype)
      shape = (w.shape[0],)
    elif isinstance(node, nir.Conv2d):
      w = np.asarray(node.weight)
      pad = _read_meta(node).get("padding") if exact else None
      if pad is None:
        p = node.padding
        pad = [(p, p), (p, p)] if isinstance(p, int) else [(int(q), int(q)) for q in p]
      layer = Synapse(w.shape[1], w.shape[0], kernel_size=w.shape[2:], strides=tuple(node.stride),
                      padding=[tuple(q) for q in pad], analog_input=reads_input, rngs=nnx.Rngs(0))
      layer.op.kernel[...] = jnp.asarray(w.transpose(2, 3, 1, 0), layer.op.kernel[...].dtype)
      layer.op.bias[...] = jnp.asarray(node.bias, layer.op.bias[...].dtype)
      shape = tuple(jax.eval_shape(layer.op, jax.ShapeDtypeStruct((1,) + shape, jnp.float32)).shape[1:])
    elif isinstance(node, (nir.IF, nir.LIF)):
      layer = _neuron(node, shape, exact)
    elif isinstance(node, nir.Scale):
      vals = np.unique(np.asarray(node.scale))
      if len(vals) == 1:
        layer = Scale(float(vals[0]))
      else:
        layer = _ScaleArray(_chw_to_hwc(node.scale))
    elif isinstance(node, nir.AvgPool2d):
      k, s = tuple(int(v) for v in np.asarray(node.kernel_size)), tuple(int(v) for v in np.asarray(node.stride))
      if np.any(np.asarray(node.padding) != 0):
        raise ValueError("NIR import supports average pooling without padding.")
      if k == tuple(shape[:2]) and k == s:
        layer = _KeepDimsGlobalPool()
        shape = (1, 1, shape[2])
      else:
        layer = Pool(k, s, kind="avg")
        shape = layer.output_shape(shape)
    elif isinstance(node, nir.Flatten):
      layer = Flatten(len(shape))
      if len(shape) == 3 and shape[:2] != (1, 1):
        flat_from[n] = shape
      shape = (int(np.prod(shape)),)
    else:
      raise ValueError(f"NIR import does not support {type(node).__name__} nodes.")
    shapes[n] = shape
    layers.append(layer)
    inputs.append(ins)
  out = next(i for i, n in enumerate(order) if isinstance(graph.nodes[n], nir.Output))
  return NIRModel(layers, order, inputs, out, in_shape)


class _KeepDimsGlobalPool(nnx.Module):
  def __call__(self, x):
    return x.mean(axis=(-3, -2), keepdims=True)


class _ScaleArray(nnx.Module):
  def __init__(self, a):
    self.a = nnx.Variable(jnp.asarray(a, jnp.float32))

  def __call__(self, x):
    return x * self.a[...].astype(x.dtype)


def _uniform(a, what):
  vals = np.unique(np.asarray(a))
  if len(vals) != 1:
    raise ValueError(f"NIR import supports one {what} per layer, got {len(vals)} different values.")
  return float(vals[0])


def _neuron(node, shape, exact):
  nir = _nir()
  extra = _read_meta(node) if exact else {}
  if isinstance(node, nir.IF):
    if not np.allclose(np.asarray(node.r), 1.0):
      raise ValueError("NIR import supports IF neurons with r = 1.")
    kw = dict(neuron="if")
  else:
    tau = _uniform(node.tau, "tau")
    r = _uniform(node.r, "r")
    if not (math.isclose(r, tau) or math.isclose(r, 1.0)):
      raise ValueError(f"NIR import supports LIF neurons with r = τ or r = 1, got r = {r}, τ = {tau}.")
    v_leak = _uniform(node.v_leak, "v_leak")
    kw = dict(neuron="lif", tau=tau, decay_input=math.isclose(r, 1.0) and not math.isclose(tau, 1.0),
              v_rest=v_leak if v_leak != 0 else None)
  reset = extra.get("reset", "hard")
  spec = SpikingSpec(reset=reset, strict=extra.get("strict", True), v0=extra.get("v0", "zero"),
                     v_reset=_uniform(node.v_reset, "v_reset") if reset == "hard" else 0.0,
                     reset_amount=extra.get("reset_amount"), amplitude="one", per_neuron=True,
                     surrogate="sigmoid", **kw)
  layer = Spiking(spec, shape)
  layer.threshold[...] = jnp.asarray(_chw_to_hwc(node.v_threshold), jnp.float32).reshape(shape)
  return layer


def _topological(graph):
  names = list(graph.nodes)
  indeg = {n: 0 for n in names}
  for _, b in graph.edges:
    indeg[b] += 1
  ready = sorted(n for n in names if indeg[n] == 0)
  order = []
  while ready:
    n = ready.pop(0)
    order.append(n)
    for a, b in graph.edges:
      if a == n:
        indeg[b] -= 1
        if indeg[b] == 0:
          ready.append(b)
    ready.sort()
  if len(order) != len(names):
    raise ValueError("the NIR graph has a cycle (recurrent graphs are not supported).")
  return order
