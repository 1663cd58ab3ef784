"""SNN2ANN: an SNN branch and an ANN branch on shared weights, spiking mapping units, ATA.

Per batch, the **SNN branch** runs T steps without gradient: IF neurons with a
hard reset to 0, firing at ``u > Vth`` (strict), a per-neuron threshold ``Vth``
(initialised U(0, 1), never touched by the optimizer), membrane dropout
(p = 0.5, training only), BatchNorm folded from its running statistics with the
folded bias divided by T, direct input. It yields the spike counts ``N^l`` of
every layer. The **ANN branch** then runs once on the same weights: BatchNorm
on batch statistics, dropout, ReLU, and a *spiking mapping unit* that replaces
the ReLU output ``r`` by the spike count (STSU: ``N``; ReSU: ``N·1[r > 0]``)
with an identity backward to ``r`` and no gradient into the SNN branch. The
classifier reads ``a/T``; the loss is cross-entropy on the ANN logits.
**ATA** (adaptive threshold adjustment): per layer, where more than 10 % of the
units spike while the ANN is silent (``mean(1[r = 0]·1[N > 0]) > 0.1``), every
threshold of the layer rises by 0.01.

Inference is the SNN branch alone (:func:`to_spiking`), an ordinary spiking
model for :mod:`snnjax.simulate`.

Models (this module's own, since the method fixes where pooling and the
residual sit): :class:`SNN2ANNVGG` (VGG-13 and a small mnist variant; max-pooling
of currents before the neuron by default, or an IF → average-pool → IF pair)
and :class:`SNN2ANNResNet` (ResNet-17: stem + 8 basic blocks, flattened 8×8×512
features; the shortcut of a block without downsampling carries the previous
block's output *current* by default, as the authors' code does, or its spikes).

References:
  [Tang et al., 2022](https://arxiv.org/abs/2206.09449), "SNN2ANN: A Fast and Memory-Efficient
  Training Framework for Spiking Neural Networks", Pattern Recognition: §3 (weight-shared branches,
  spiking mapping units ReSU/STSU), §3.4 (adaptive threshold adjustment), §4 (VGG-13, ResNet-17);
  and the authors' released demo code (module.py, block.py, networks.py).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jaxtyping import Array, Float

from snnjax import _compat, _tree, convert, simulate
from snnjax.methods.common import Recipe, cross_entropy
from snnjax.nn.activations import ActSpec, Activation, Spiking, SpikingSpec, as_rngs
from snnjax.nn.calibration import modules_by_path
from snnjax.nn.layers import Flatten, Pool, Synapse
from snnjax.nn.models import BasicBlock, Model, rebuild, run_sequence
from snnjax.nn.variables import Record, SimState, record

__all__ = ["DEFAULTS", "AdaptiveThreshold", "SpikeCounts", "SMUSpec", "SMU", "IFSpec", "SNN2ANNIF",
           "stsu", "resu", "ata_update", "SNN2ANNVGG", "SNN2ANNResNet", "snn2ann_vgg13",
           "snn2ann_small", "resnet17", "to_spiking", "make_step", "recipe"]

#: Configuration fields read by this method.
DEFAULTS = {"T": 4, "smu": "ReSU", "ata_scale": 0.1, "ata_tolerance": 0.1, "ata_ema": 0.9,
            "membrane_dropout": 0.5}


class AdaptiveThreshold(nnx.BatchStat):
  """A per-neuron threshold changed by ATA, not by the optimizer (kept with the statistics)."""


class SpikeCounts(SimState):
  """The SNN branch's spike counts ``N`` for the ANN branch's mapping unit (``None``: plain ReLU)."""


# --- spiking mapping units -------------------------------------------------------------------------

def stsu(r: Float[Array, "*shape"], n: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
  """Straight-through spiking unit: forward ``N``, backward identity to ``r``, nothing to ``N``."""
  return r + jax.lax.stop_gradient(n - r)


def resu(r: Float[Array, "*shape"], n: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
  """Rectified spiking unit: forward ``N·1[r > 0]``, backward identity to ``r``, nothing to ``N``."""
  return r + jax.lax.stop_gradient(n * (r > 0).astype(r.dtype) - r)


def ata_update(vth: Array, r: Array, n: Array, *, scale: float = 0.1, tolerance: float = 0.1,
               ema: float = 0.9) -> tuple[Array, Array]:
  """ATA for one layer: ``(new Vth, noisy-spike ratio e)``.

  ``e = mean(1[r = 0]·1[N > 0])``; ``Vth ← ema·Vth + (1 − ema)·(Vth + scale·1[e > tolerance])``,
  i.e. every threshold of the layer rises by ``(1 − ema)·scale`` (0.01) when ``e > tolerance``.
  """
  e = jnp.mean(((r == 0) & (n > 0)).astype(vth.dtype))
  flag = (e > tolerance).astype(vth.dtype)
  return ema * vth + (1 - ema) * (vth + scale * flag), e


@dataclasses.dataclass(frozen=True)
class SMUSpec(ActSpec):
  """The ANN-branch activation: dropout → ReLU → mapping unit (``"ReSU"`` or ``"STSU"``).

  ``dropout`` is applied to the pre-activation in training. ``identity``: a site that exists
  only in the SNN branch (the neuron before an average pool), the identity in the ANN branch.
  """

  unit: Literal["ReSU", "STSU"] = "ReSU"
  dropout: float = 0.0
  identity: bool = False

  def __post_init__(self):
    if self.unit not in ("ReSU", "STSU"):
      raise ValueError(f"spiking mapping unit must be 'ReSU' or 'STSU', got {self.unit!r}.")
    if not 0 <= self.dropout < 1:
      raise ValueError(f"dropout must be in [0, 1), got {self.dropout}.")

  def build(self, shape, rngs):
    return SMU(self, shape, rngs)


class SMU(Activation):
  """ANN-branch activation of SNN2ANN; holds the layer's adaptive thresholds ``vth``.

  ``counts`` (``None`` unless the training step passes the SNN branch's counts)
  switches the mapping unit on; ``rec_ata`` records the noisy-spike ratio.
  """

  def __init__(self, spec: SMUSpec, shape, rngs: nnx.Rngs):
    super().__init__(shape)
    self.spec = spec
    self.vth = AdaptiveThreshold(jax.random.uniform(rngs.params(), self.shape, jnp.float32))
    self.counts = SpikeCounts(None)
    self.rec_ata = Record(None)
    self.deterministic = False  # set by model.train() / model.eval()

  def forward(self, x, *, rngs=None):
    if self.spec.identity:
      return x
    p = self.spec.dropout
    if p > 0 and not self.deterministic:
      if rngs is None:
        raise ValueError("SNN2ANN's ANN branch applies dropout in training: pass rngs= (a key), or "
                         "model.eval().")
      keep = jax.random.bernoulli(rngs.noise(), 1 - p, x.shape)
      x = jnp.where(keep, x / (1 - p), 0).astype(x.dtype)
    r = jax.nn.relu(x)
    n = _compat.get_value(self.counts)
    if n is None:
      return r
    record(self.rec_ata, r)
    return (stsu if self.spec.unit == "STSU" else resu)(r, n.astype(r.dtype))


@dataclasses.dataclass(frozen=True)
class IFSpec(SpikingSpec):
  """The SNN-branch neuron: IF, hard reset to 0, strict ``u > Vth``, per-neuron Vth, membrane dropout."""

  neuron: str = "if"
  reset: str = "hard"
  strict: bool = True
  per_neuron: bool = True
  amplitude: str = "one"
  membrane_dropout: float = 0.5

  def build(self, shape, rngs):
    return SNN2ANNIF(self, shape)


class SNN2ANNIF(Spiking):
  """:class:`~snnjax.nn.Spiking` IF layer with SNN2ANN's membrane dropout (training only)."""

  def __init__(self, spec: IFSpec, shape):
    super().__init__(spec, shape)
    self.deterministic = False

  def forward(self, x, *, rngs=None):
    p = self.spec.membrane_dropout
    if p == 0 or self.deterministic:
      return super().forward(x)
    if rngs is None:
      raise ValueError("SNN2ANN's membrane dropout needs rngs= in training (or model.eval()).")
    if x.ndim == self.feature_ndim + 2 or _compat.get_value(self.clock) is not None:
      raise ValueError("membrane dropout runs step by step: simulate with way='step'.")
    out = super().forward(x)
    v = _compat.get_value(self.v)
    keep = jax.random.bernoulli(rngs.noise(), 1 - p, v.shape)
    _compat.set_value(self.v, jnp.where(keep, v / (1 - p), 0).astype(v.dtype))
    return out


def _is_snn(act) -> bool:
  return isinstance(act, Spiking)


# --- models ----------------------------------------------------------------------------------------

class SNN2ANNVGG(Model):
  """SNN2ANN's VGG: blocks of 3×3 convs with BatchNorm, pooling in a block's last conv.

  Args:
    blocks: per block ``(convs, channels, downsample, dropout)``; dropout 0.25 in the
      authors' first blocks ("VGGBlock_1"), 0 in the others.
    pool: ``"max"`` — max-pooling of the currents before the neuron (the authors'
      default); ``"avg"`` — neuron → 2×2 average pool of its spikes → a second neuron.
  """

  def __init__(self, in_shape: Sequence[int], blocks: Sequence[Sequence[int | bool | float]],
               num_classes: int, *, act: ActSpec, norm: bool = True, pool: Literal["max", "avg"] = "max",
               rngs: nnx.Rngs):
    self._remember(in_shape=tuple(in_shape), blocks=tuple(tuple(b) for b in blocks),
                   num_classes=num_classes, act=act, norm=norm, pool=pool)
    self.in_shape = tuple(in_shape)
    if pool not in ("max", "avg"):
      raise ValueError(f"pool must be 'max' or 'avg', got {pool!r}.")
    h, w, c = in_shape
    layers, first = [], True
    for convs, ch, down, p in blocks:
      for i in range(convs):
        layers.append(Synapse(c, ch, norm=norm, analog_input=first, rngs=rngs))
        first, c = False, ch
        site = _with_dropout(act, p)
        if down and i == convs - 1:
          if pool == "max":
            layers += [Pool((2, 2), kind="max"), None]
            h, w = h // 2, w // 2
            layers[-1] = site.make((h, w, c), rngs)
          else:
            layers.append(_pre_pool(act).make((h, w, c), rngs))
            h, w = h // 2, w // 2
            layers += [Pool((2, 2), kind="avg"), site.make((h, w, c), rngs)]
        else:
          layers.append(site.make((h, w, c), rngs))
    self.layers = _compat.List(layers)
    self.head = Synapse(h * w * c, num_classes, kind="linear", rngs=rngs)

  def sequence(self) -> list[nnx.Module]:
    return list(self.layers) + [Flatten(3), self.head]

  def features(self, x, *, rngs=None):
    self._check_input(x)
    return run_sequence(list(self.layers) + [Flatten(3)], x, rngs)

  def __call__(self, x: Float[Array, "*batch"], *, rngs=None) -> Float[Array, "*batch_out"]:
    return self.head(self.features(x, rngs=rngs))


class SNN2ANNMLP(Model):
  """A fully connected SNN2ANN net: flatten → (linear [+ BatchNorm] → mapping unit) × len(hidden)
  → linear classifier; the same layout as :func:`snnjax.nn.mlp`, for comparisons on one model."""

  def __init__(self, in_shape: Sequence[int], hidden: Sequence[int], num_classes: int, *, act: ActSpec,
               norm: bool = True, rngs: nnx.Rngs):
    self._remember(in_shape=tuple(in_shape), hidden=tuple(hidden), num_classes=num_classes, act=act,
                   norm=norm)
    self.in_shape = tuple(in_shape)
    sizes = (int(np.prod(in_shape)),) + tuple(hidden)
    layers = [Flatten(len(in_shape))]
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
      layers += [Synapse(a, b, kind="linear", norm=norm, analog_input=(i == 0), rngs=rngs),
                 act.make((b,), rngs)]
    self.layers = _compat.List(layers)
    self.head = Synapse(sizes[-1], num_classes, kind="linear", rngs=rngs)

  def sequence(self) -> list[nnx.Module]:
    return list(self.layers) + [self.head]

  def features(self, x, *, rngs=None):
    self._check_input(x)
    return run_sequence(list(self.layers), x, rngs)

  def __call__(self, x: Float[Array, "*batch"], *, rngs=None) -> Float[Array, "*batch_out"]:
    return self.head(self.features(x, rngs=rngs))


def _with_dropout(act, p):
  return dataclasses.replace(act, dropout=p) if isinstance(act, SMUSpec) else act


def _pre_pool(act):
  return dataclasses.replace(act, identity=True, dropout=0.0) if isinstance(act, SMUSpec) else act


class _Block(BasicBlock):
  """SNN2ANN's basic block (two 3×3 convs; 1×1 conv + BN shortcut when the shape changes),
  dropout 0.2 after the first mapping unit, and optionally the current shortcut."""

  def __init__(self, cin, cout, stride, act, norm, hw, current_shortcut, rngs):
    super().__init__(cin, cout, stride, act, norm, hw, rngs, act1=_with_dropout(act, 0.2))
    self.current_shortcut = current_shortcut

  def __call__(self, x, x_current, *, rngs=None):
    y = self.syn2(self.act1(self.syn1(x), rngs=rngs))
    if self.shortcut is not None:
      sc = self.shortcut(x)
    elif self.current_shortcut and _is_snn(self.act2) and x_current is not None:
      sc = x_current  # the authors' code: the previous output neuron's input current
    else:
      sc = x
    z = y + sc
    return self.act2(z, rngs=rngs), z


class SNN2ANNResNet(Model):
  """SNN2ANN's ResNet-17: a 3×3 stem and 8 basic blocks, flattened into the classifier.

  Channels 64, 64, 128, 128, 256, 256, 512, 512; stage strides ``strides`` (CIFAR:
  1, 1, 2, 2 → 8×8 features from 32×32; Tiny-ImageNet: 1, 2, 2, 2 from 64×64).
  ``current_shortcut``: a block without downsampling adds the previous output
  neuron's input current (the authors' code, default) instead of its spikes. Dropout
  0.2 in the ANN branch.
  """

  def __init__(self, in_shape: Sequence[int] = (32, 32, 3), num_classes: int = 10, *,
               widths: Sequence[int] = (64, 128, 256, 512), strides: Sequence[int] = (1, 1, 2, 2),
               stem_width: int = 64, act: ActSpec, norm: bool = True, current_shortcut: bool = True,
               rngs: nnx.Rngs):
    self._remember(in_shape=tuple(in_shape), num_classes=num_classes, widths=tuple(widths),
                   strides=tuple(strides), stem_width=stem_width, act=act, norm=norm,
                   current_shortcut=current_shortcut)
    self.in_shape = tuple(in_shape)
    h, w, c = in_shape
    self.stem = Synapse(c, stem_width, norm=norm, analog_input=True, rngs=rngs)
    self.stem_act = _with_dropout(act, 0.2).make((h, w, stem_width), rngs)
    blocks, cin = [], stem_width
    for width, stride in zip(widths, strides):
      for i in range(2):
        s = stride if i == 0 else 1
        blocks.append(_Block(cin, width, s, act, norm, (h, w), current_shortcut, rngs))
        h, w = -(-h // s), -(-w // s)
        cin = width
    self.blocks = _compat.List(blocks)
    self.head = Synapse(cin * h * w, num_classes, kind="linear", rngs=rngs)

  def features(self, x, *, rngs=None):
    self._check_input(x)
    current = self.stem(x)
    x = self.stem_act(current, rngs=rngs)
    for blk in self.blocks:
      x, current = blk(x, current, rngs=rngs)
    return Flatten(3)(x)

  def __call__(self, x: Float[Array, "*batch"], *, rngs=None) -> Float[Array, "*batch_out"]:
    return self.head(self.features(x, rngs=rngs))


def snn2ann_vgg13(in_shape=(32, 32, 3), num_classes=10, *, act: ActSpec, pool="max", **kw) -> SNN2ANNVGG:
  """VGG-13: blocks of 2, 2, 3, 3, 3 convs (64, 128, 256, 512, 512 channels); pooling in the last
  three blocks on 32×32 inputs (32 → 4), the last four on 64×64 (Tiny-ImageNet); Linear(4·4·512)."""
  tiny = in_shape[0] >= 64
  down = (False, True, True, True, True) if tiny else (False, False, True, True, True)
  blocks = [(n, ch, d, 0.25 if i < 2 else 0.0)
            for i, (n, ch, d) in enumerate(zip((2, 2, 3, 3, 3), (64, 128, 256, 512, 512), down))]
  return SNN2ANNVGG(in_shape, blocks, num_classes, act=act, pool=pool, **kw)


def snn2ann_small(in_shape=(28, 28, 1), num_classes=10, *, act: ActSpec, pool="max", **kw) -> SNN2ANNVGG:
  """A small SNN2ANN VGG for 28×28 inputs: two blocks of two convs (32, 64), pooling in both."""
  return SNN2ANNVGG(in_shape, [(2, 32, True, 0.25), (2, 64, True, 0.25)], num_classes, act=act,
                    pool=pool, **kw)


def resnet17(in_shape=(32, 32, 3), num_classes=10, *, act: ActSpec, **kw) -> SNN2ANNResNet:
  """ResNet-17 (stem + 8 basic blocks, 8×8×512 features, no global pool)."""
  strides = (1, 1, 2, 2) if in_shape[0] <= 32 else (1, 2, 2, 2)
  return SNN2ANNResNet(in_shape, num_classes, strides=strides, act=act, **kw)


def snn2ann_mlp(in_shape=(28, 28, 1), num_classes=10, *, act: ActSpec, hidden=(256,) * 6, **kw) -> SNN2ANNMLP:
  """The 784-256×6-10 MLP (BatchNorm) as an SNN2ANN net."""
  return SNN2ANNMLP(in_shape, hidden, num_classes, act=act, **kw)


MODELS = {"snn2ann_vgg13": snn2ann_vgg13, "snn2ann_small": snn2ann_small, "resnet17": resnet17,
          "snn2ann_mlp": snn2ann_mlp, "snn2ann_vgg": SNN2ANNVGG}


# --- the SNN branch as an ordinary spiking model -----------------------------------------------------

def _sites(model) -> list[tuple[str, SMU]]:
  return [(k, m) for k, m in modules_by_path(model).items() if isinstance(m, SMU)]


def to_spiking(model: Model, *, T: int, membrane_dropout: float = 0.0, eps: float = 1e-5) -> Model:
  """The SNN branch of a trained SNN2ANN model, as a spiking model.

  BatchNorm is folded from its running statistics and every folded bias is
  divided by ``T`` (the training T, so that ``Σ_t I[t] = W'·N + b'``); each
  mapping unit becomes an IF layer (hard reset to 0, ``u > Vth``) with the
  layer's adaptive thresholds; the classifier is unchanged (its mean over
  steps is ``fc(N/T)``). Pure: the model is not modified.
  """
  spec = IFSpec(membrane_dropout=membrane_dropout)
  template = nnx.eval_shape(lambda: rebuild(model, act=spec, norm=False))
  tree = convert.fold_batchnorm(model, eps)
  head = simulate.head_path(model)
  for key, m in modules_by_path(model).items():
    if isinstance(m, Synapse) and key != head:
      node = _tree.get(tree, key)
      node["op"] = dict(node["op"], bias=node["op"]["bias"] / T)
    if isinstance(m, SMU):
      _tree.put(tree, key, {"threshold": m.vth[...]})
  snn = convert.load(template, tree)
  snn.eval() if membrane_dropout == 0 else snn.train()
  return snn


# --- the training step -----------------------------------------------------------------------------

def make_step(model: Model, tx, *, T: int, membrane_dropout: float = 0.5, ata_scale: float = 0.1,
              ata_tolerance: float = 0.1, ata_ema: float = 0.9):
  """SNN2ANN's training step: SNN branch (no gradient) → ANN branch → loss → update → ATA.

  Returns ``(state, step)`` for :class:`snnjax.train.Trainer`; ``state["stats"]``
  holds the BatchNorm statistics and the adaptive thresholds (checkpointed with
  them, never updated by ``tx``). Metrics: the ANN-branch loss and accuracy,
  the SNN-branch loss and accuracy, and the mean noisy-spike ratio.
  """
  graphdef, params0, stats0, rest = nnx.split(model, nnx.Param, nnx.BatchStat, ...)
  sites = [k for k, _ in _sites(model)]
  head = simulate.head_path(model)

  def step(state, batch, key):
    x, y = batch["image"], batch["label"]
    k_snn, k_ann = jax.random.split(key)
    params, stats = state["params"], state["stats"]
    frozen = nnx.merge(graphdef, params, stats, rest, copy=True)
    # SNN branch: no gradient, nothing stored across steps but the membranes
    snn = to_spiking(frozen, T=T, membrane_dropout=membrane_dropout)
    counts, snn_logits = snn_branch(snn, x, T, k_snn)

    def loss_fn(params):
      m = nnx.merge(graphdef, params, stats, rest, copy=True)
      mods = modules_by_path(m)
      for k in sites:
        _compat.set_value(mods[k].counts, counts[k])
        _compat.set_value(mods[k].rec_ata, jnp.zeros(()))
      logits = mods[head](m.features(x, rngs=as_rngs(k_ann)) / T)
      relus = {k: _compat.get_value(mods[k].rec_ata) for k in sites if not mods[k].spec.identity}
      return cross_entropy(logits, y), (logits, nnx.state(m, nnx.BatchStat), relus)

    (loss, (logits, new_stats, relus)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    with jax.numpy_dtype_promotion("standard"):
      updates, opt = tx.update(grads, state["opt"], params)
    params = optax.apply_updates(params, updates)
    # ATA, every iteration, on the thresholds the SNN branch just used
    m = nnx.merge(graphdef, params, new_stats, rest, copy=True)
    mods, ratios = modules_by_path(m), []
    for k, rel in relus.items():
      vth, e = ata_update(mods[k].vth[...], rel, counts[k], scale=ata_scale, tolerance=ata_tolerance,
                          ema=ata_ema)
      mods[k].vth[...] = vth
      ratios.append(e)
    metrics = {"loss": loss, "accuracy": (jnp.argmax(logits, -1) == y).mean(),
               "snn_loss": cross_entropy(snn_logits, y),
               "snn_accuracy": (jnp.argmax(snn_logits, -1) == y).mean(),
               "noisy_spike_ratio": jnp.mean(jnp.stack(ratios)) if ratios else jnp.zeros(())}
    return {"params": params, "stats": nnx.state(m, nnx.BatchStat), "opt": opt}, metrics

  state = {"params": params0, "stats": stats0, "opt": tx.init(params0)}
  return state, step


def snn_branch(snn: Model, x: Array, T: int, key) -> tuple[dict[str, Array], Array]:
  """Run the SNN branch for T steps: ``(spike counts N per layer, mean logits)``, no gradient.

  A ``lax.scan`` over :func:`snnjax.simulate.stepper`'s ``step`` that keeps
  only running sums, so its memory does not grow with T.
  """
  init, step = simulate.stepper(snn, record=("spikes",))
  params = simulate.params(snn)
  sites = [k for k, _ in simulate.spiking_layers(snn)]

  def spikes(state):
    return {k: _tree.get(state, f"{k}/rec_out") for k in sites}

  # step 1 outside the scan: the synapse reading the image computes its output once and reuses it
  state, total = step(params, init(x.shape, x.dtype, cache_input=True), x, jax.random.fold_in(key, 0))

  def body(carry, t):
    state, counts, total = carry
    state, y = step(params, state, x, jax.random.fold_in(key, t))
    return (state, jax.tree.map(jnp.add, counts, spikes(state)), total + y), None

  (_, counts, total), _ = jax.lax.scan(body, (state, spikes(state), total), jnp.arange(1, T))
  return jax.lax.stop_gradient(counts), jax.lax.stop_gradient(total / T)


def _loss_unavailable(model, batch, rngs=None):
  raise ValueError("SNN2ANN trains with its own two-branch step (recipe(config).make_step).")


def recipe(config) -> Recipe:
  act = SMUSpec(unit=config.smu)
  return Recipe(act=act, loss=_loss_unavailable, train_T=config.T,
                make_step=functools.partial(make_step, T=config.T, membrane_dropout=config.membrane_dropout,
                                            ata_scale=config.ata_scale, ata_tolerance=config.ata_tolerance,
                                            ata_ema=config.ata_ema),
                to_spiking=functools.partial(to_spiking, T=config.T))
