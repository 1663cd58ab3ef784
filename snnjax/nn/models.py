"""Model zoo: one definition per architecture, any activation.

Every model takes ``act`` (an activation spec) and ``norm`` (BatchNorm after
each hidden synapse), and is called as ``model(x, *, rngs=None)``; ``rngs``
(an ``nnx.Rngs`` or a key) feeds activations that draw noise. Layers accept
extra leading axes, so the same model runs as an ANN on ``[B, ...]``, as one
step of a spiking net on ``[B, ...]``, and as a whole spiking run on
``[T, B, ...]`` (layer by layer). The classifier (``head``) never spikes; in a
spiking run it produces one output per step, and the read-out is their mean.

Pooling is average pooling by default (max-pooling of spikes does not convert;
``pool="max"`` builds, trains as an ANN, and is refused by the converter).

Models remember their constructor arguments (``model.hparams``) so that
:func:`snnjax.convert.to_spiking` can build the spiking counterpart; a model of
your own does the same by subclassing :class:`Model` and calling
``self._remember(...)`` (see ``docs/guide.md``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from flax import nnx
from jaxtyping import Array, Float, Shaped

from snnjax import _checks, _compat
from snnjax.nn.activations import ActSpec, Activation, ReLUSpec
from snnjax.nn.layers import Flatten, GlobalAvgPool, Pool, Scale, Synapse, _freeze, flatten_features

__all__ = ["Model", "MLP", "CNN", "VGG", "ResNet", "mlp", "small_cnn", "cnn4", "vgg11", "vgg11_ws",
           "vgg13", "vgg16", "snn2ann_vgg13", "resnet17", "resnet18", "resnet20", "resnet34", "resnet50",
           "rebuild", "run_sequence"]


class Model(nnx.Module):
  """Base of zoo models: keeps hashable constructor hyperparameters.

  Sequential models (MLP, CNN, VGG) also list their layers in forward order
  with ``sequence()``; methods that run their own forward (OTTT, SAF, SNN2ANN)
  walk that list.
  """

  def _remember(self, **kwargs):
    self.hparams = tuple(sorted((k, _freeze(v)) for k, v in kwargs.items()))

  def _check_input(self, x) -> None:
    """Float input whose examples have the model's ``in_shape`` (a trace-time check)."""
    _checks.check_images(x, f"{type(self).__name__} input", getattr(self, "in_shape", None),
                         finite=False)

  def sequence(self) -> list[nnx.Module]:
    raise ValueError(f"{type(self).__name__} is not a sequential model (it has residual blocks); "
                    "this needs an MLP, CNN or VGG.")


def run_sequence(layers, x, rngs=None):
  """Apply ``layers`` in order (activations get ``rngs``)."""
  for layer in layers:
    x = layer(x, rngs=rngs) if isinstance(layer, Activation) else layer(x)
  return x


def _scaled(act, scale):
  return [act] if scale is None else [act, Scale(scale)]


def rebuild(model: nnx.Module, *, rngs: nnx.Rngs | None = None, **overrides) -> Model:
  """A new model of the same class and hyperparameters, with ``overrides``."""
  hparams = getattr(model, "hparams", None)
  if hparams is None:
    raise ValueError(
        f"{type(model).__name__} does not record its hyperparameters: subclass snnjax.nn.Model "
        "and call self._remember(...) in __init__ (docs/guide.md, 'Your own model'), or pass "
        "template= (the spiking model to fill).")
  kwargs = dict(hparams)
  kwargs.update(overrides)
  return type(model)(**kwargs, rngs=rngs or nnx.Rngs(0))


class MLP(Model):
  """Fully connected net ``in → hidden... → classes``.

  ``in_shape`` is the shape of one example (flattened on entry).
  """

  def __init__(self, in_shape: Sequence[int], hidden: Sequence[int], num_classes: int, *,
               act: ActSpec = ReLUSpec(), norm: bool = False, ws: bool = False,
               act_scale: float | None = None, rngs: nnx.Rngs):
    self._remember(in_shape=tuple(in_shape), hidden=tuple(hidden), num_classes=num_classes,
                   act=act, norm=norm, ws=ws, act_scale=act_scale)
    self.in_shape = tuple(in_shape)
    self.act_scale = act_scale
    sizes = (math.prod(in_shape),) + tuple(hidden)
    self.syns = _compat.List([
        Synapse(a, b, kind="linear", norm=norm, ws=ws, analog_input=(i == 0), rngs=rngs)
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))])
    self.acts = _compat.List([act.make((h,), rngs) for h in hidden])
    self.head = Synapse(sizes[-1], num_classes, kind="linear", analog_input=not hidden, rngs=rngs)

  def sequence(self) -> list[nnx.Module]:
    out = [Flatten(len(self.in_shape))]
    for syn, act in zip(self.syns, self.acts):
      out += [syn, *_scaled(act, self.act_scale)]
    return out + [self.head]

  def __call__(self, x: Shaped[Array, "*batch"], *, rngs=None) -> Float[Array, "*batch_out"]:
    self._check_input(x)
    return run_sequence(self.sequence(), x, rngs)


class CNN(Model):
  """A plain conv net: ``[conv → act → (pool)] × n → flatten → [linear → act]* → head``.

  Args:
    in_shape: ``(H, W, C)`` of one example.
    channels: output channels of each 3×3 conv.
    pools: per conv, whether a 2×2 pool follows its activation.
    hidden: widths of hidden linear layers after flattening.
    pool: ``"avg"`` (default) or ``"max"``.
    ws: scaled weight standardisation in the hidden synapses (instead of BatchNorm).
    act_scale: multiply every activation's output by this constant (OTTT: 2.74).
    global_pool: average over space before the head instead of flattening.
    head_std: the head's kernel ~ N(0, head_std²) (Flax's default init when ``None``).
  """

  def __init__(self, in_shape: Sequence[int], channels: Sequence[int], pools: Sequence[bool],
               num_classes: int, *, hidden: Sequence[int] = (), act: ActSpec = ReLUSpec(),
               norm: bool = True, pool: Literal["avg", "max"] = "avg", ws: bool = False,
               act_scale: float | None = None, global_pool: bool = False,
               head_std: float | None = None, rngs: nnx.Rngs):
    self._remember(in_shape=tuple(in_shape), channels=tuple(channels), pools=tuple(pools),
                   num_classes=num_classes, hidden=tuple(hidden), act=act, norm=norm, pool=pool,
                   ws=ws, act_scale=act_scale, global_pool=global_pool, head_std=head_std)
    if len(pools) != len(channels):
      raise ValueError(f"pools ({len(pools)}) must have one entry per conv ({len(channels)}).")
    self.in_shape = tuple(in_shape)
    self.act_scale, self.global_pool = act_scale, global_pool
    h, w, c = in_shape
    convs, acts, pls = [], [], []
    for i, (ch, p) in enumerate(zip(channels, pools)):
      convs.append(Synapse(c, ch, kind="conv", norm=norm, ws=ws, analog_input=(i == 0), rngs=rngs))
      acts.append(act.make((h, w, ch), rngs))
      pls.append(Pool((2, 2), kind=pool) if p else None)
      c = ch
      if p:
        h, w = h // 2, w // 2
    self.convs, self.acts, self.pools = _compat.List(convs), _compat.List(acts), _compat.List(pls)
    sizes = (c if global_pool else h * w * c,) + tuple(hidden)
    self.fcs = _compat.List([Synapse(a, b, kind="linear", norm=norm, ws=ws, rngs=rngs)
                             for a, b in zip(sizes[:-1], sizes[1:])])
    self.fc_acts = _compat.List([act.make((b,), rngs) for b in hidden])
    head_init = None if head_std is None else nnx.initializers.normal(head_std)
    self.head = Synapse(sizes[-1], num_classes, kind="linear", kernel_init=head_init, rngs=rngs)

  def sequence(self) -> list[nnx.Module]:
    out = []
    for conv, act, pool in zip(self.convs, self.acts, self.pools):
      out += [conv, *_scaled(act, self.act_scale)] + ([pool] if pool is not None else [])
    out.append(GlobalAvgPool() if self.global_pool else Flatten(3))
    for fc, act in zip(self.fcs, self.fc_acts):
      out += [fc, *_scaled(act, self.act_scale)]
    return out + [self.head]

  def __call__(self, x: Shaped[Array, "*batch"], *, rngs=None) -> Float[Array, "*batch_out"]:
    self._check_input(x)
    return run_sequence(self.sequence(), x, rngs)


_VGG = {11: (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
        13: (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
        16: (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")}


class VGG(Model):
  """VGG-11/13/16 with BN and average pooling (QCFS's CIFAR VGG).

  ``cfg`` overrides the layer list (ints are 3×3 convs, ``"M"`` a 2×2 pool);
  ``classifier`` lists hidden widths of the fully connected head
  (``(4096, 4096)`` for QCFS's VGG-16; ``()`` for a single linear layer).

  References:
    [Simonyan & Zisserman, 2015](https://arxiv.org/abs/1409.1556);
    [Bu et al., 2022](https://arxiv.org/abs/2303.04347) (avg-pool CIFAR variant).
  """

  def __init__(self, depth: int = 16, *, in_shape: Sequence[int] = (32, 32, 3), num_classes: int = 10,
               cfg: Sequence[int | str] | None = None, classifier: Sequence[int] = (),
               act: ActSpec = ReLUSpec(), norm: bool = True, pool: Literal["avg", "max"] = "avg",
               rngs: nnx.Rngs):
    if cfg is None:
      if depth not in _VGG:
        raise ValueError(f"VGG depth must be one of {sorted(_VGG)}, got {depth}.")
      cfg = _VGG[depth]
    self._remember(depth=depth, in_shape=tuple(in_shape), num_classes=num_classes, cfg=tuple(cfg),
                   classifier=tuple(classifier), act=act, norm=norm, pool=pool)
    self.body = CNN(in_shape, [v for v in cfg if v != "M"],
                    [i + 1 < len(cfg) and cfg[i + 1] == "M" for i, v in enumerate(cfg) if v != "M"],
                    num_classes, hidden=classifier, act=act, norm=norm, pool=pool, rngs=rngs)

  def sequence(self) -> list[nnx.Module]:
    return self.body.sequence()

  def __call__(self, x: Shaped[Array, "*batch"], *, rngs=None) -> Float[Array, "*batch_out"]:
    return self.body(x, rngs=rngs)


class BasicBlock(nnx.Module):
  """Two 3×3 convs; the residual is added to the current before the last neuron."""

  expansion = 1

  def __init__(self, cin, cout, stride, act: ActSpec, norm, hw, rngs, act1: ActSpec | None = None):
    h, w = -(-hw[0] // stride), -(-hw[1] // stride)
    self.syn1 = Synapse(cin, cout, strides=stride, norm=norm, rngs=rngs)
    self.act1 = (act1 or act).make((h, w, cout), rngs)  # act1: another first activation
    self.syn2 = Synapse(cout, cout, norm=norm, rngs=rngs)
    self.shortcut = (Synapse(cin, cout, kernel_size=(1, 1), strides=stride, norm=norm, rngs=rngs)
                     if stride != 1 or cin != cout else None)
    self.act2 = act.make((h, w, cout), rngs)

  def __call__(self, x, *, rngs=None):
    y = self.syn2(self.act1(self.syn1(x), rngs=rngs))
    return self.act2(y + (self.shortcut(x) if self.shortcut is not None else x), rngs=rngs)


class Bottleneck(nnx.Module):
  """1×1 → 3×3 (stride) → 1×1 (×4) with a residual before the last neuron."""

  expansion = 4

  def __init__(self, cin, width, stride, act: ActSpec, norm, hw, rngs):
    h, w = -(-hw[0] // stride), -(-hw[1] // stride)
    cout = width * 4
    self.syn1 = Synapse(cin, width, kernel_size=(1, 1), norm=norm, rngs=rngs)
    self.act1 = act.make((hw[0], hw[1], width), rngs)
    self.syn2 = Synapse(width, width, strides=stride, norm=norm, rngs=rngs)
    self.act2 = act.make((h, w, width), rngs)
    self.syn3 = Synapse(width, cout, kernel_size=(1, 1), norm=norm, rngs=rngs)
    self.shortcut = (Synapse(cin, cout, kernel_size=(1, 1), strides=stride, norm=norm, rngs=rngs)
                     if stride != 1 or cin != cout else None)
    self.act3 = act.make((h, w, cout), rngs)

  def __call__(self, x, *, rngs=None):
    y = self.syn3(self.act2(self.syn2(self.act1(self.syn1(x), rngs=rngs)), rngs=rngs))
    return self.act3(y + (self.shortcut(x) if self.shortcut is not None else x), rngs=rngs)


class ResNet(Model):
  """ResNet with a CIFAR stem (3×3 stride 1, no pooling) or an ImageNet stem
  (7×7 stride 2 + 3×3 stride-2 *average* pool).

  Args:
    stage_sizes: blocks per stage, e.g. ``(2, 2, 2, 2)`` for ResNet-18.
    block: ``"basic"`` or ``"bottleneck"``.
    widths: channels per stage (before bottleneck expansion).
    strides: stride of each stage's first block.
    stem: ``"cifar"`` or ``"imagenet"``; ``stem_width`` its channels.
    global_pool: global average pooling before the head (False: flatten, as
      SNN2ANN's ResNet-17).

  References:
    [He et al., 2016](https://arxiv.org/abs/1512.03385);
    [Bu et al., 2022](https://arxiv.org/abs/2303.04347) (CIFAR stem).
  """

  def __init__(self, stage_sizes: Sequence[int], *, block: Literal["basic", "bottleneck"] = "basic",
               widths: Sequence[int] = (64, 128, 256, 512), strides: Sequence[int] = (1, 2, 2, 2),
               stem: Literal["cifar", "imagenet"] = "cifar", stem_width: int = 64,
               in_shape: Sequence[int] = (32, 32, 3), num_classes: int = 10, global_pool: bool = True,
               act: ActSpec = ReLUSpec(), norm: bool = True, rngs: nnx.Rngs):
    self._remember(stage_sizes=tuple(stage_sizes), block=block, widths=tuple(widths),
                   strides=tuple(strides), stem=stem, stem_width=stem_width, in_shape=tuple(in_shape),
                   num_classes=num_classes, global_pool=global_pool, act=act, norm=norm)
    if not len(stage_sizes) == len(widths) == len(strides):
      raise ValueError("stage_sizes, widths and strides must have the same length.")
    self.in_shape = tuple(in_shape)
    h, w, c = in_shape
    if stem == "cifar":
      self.stem = Synapse(c, stem_width, norm=norm, analog_input=True, rngs=rngs)
      self.stem_act = act.make((h, w, stem_width), rngs)
      self.stem_pool = None
    elif stem == "imagenet":
      self.stem = Synapse(c, stem_width, kernel_size=(7, 7), strides=2, norm=norm,
                          analog_input=True, rngs=rngs)
      h, w = -(-h // 2), -(-w // 2)
      self.stem_act = act.make((h, w, stem_width), rngs)
      self.stem_pool = Pool((3, 3), (2, 2), padding="SAME")
      h, w = -(-h // 2), -(-w // 2)
    else:
      raise ValueError(f"stem must be 'cifar' or 'imagenet', got {stem!r}.")
    Block = {"basic": BasicBlock, "bottleneck": Bottleneck}[block]
    blocks, cin = [], stem_width
    for n, width, stride in zip(stage_sizes, widths, strides):
      for i in range(n):
        s = stride if i == 0 else 1
        blocks.append(Block(cin, width, s, act, norm, (h, w), rngs))
        h, w = -(-h // s), -(-w // s)
        cin = width * Block.expansion
    self.blocks = _compat.List(blocks)
    self.global_pool = global_pool
    self.head = Synapse(cin if global_pool else cin * h * w, num_classes, kind="linear", rngs=rngs)

  def __call__(self, x: Shaped[Array, "*batch"], *, rngs=None) -> Float[Array, "*batch_out"]:
    self._check_input(x)
    x = self.stem_act(self.stem(x), rngs=rngs)
    if self.stem_pool is not None:
      x = self.stem_pool(x)
    for blk in self.blocks:
      x = blk(x, rngs=rngs)
    x = x.mean(axis=(-3, -2)) if self.global_pool else flatten_features(x, 3)
    return self.head(x)


# --- named architectures -----------------------------------------------------------------------

def mlp(in_shape=(28, 28, 1), hidden=(256, 256), num_classes=10, **kw) -> MLP:
  return MLP(in_shape, hidden, num_classes, **kw)


def small_cnn(in_shape=(28, 28, 1), num_classes=10, **kw) -> CNN:
  """2 convs (16, 32) with pooling: for 8×8 and 28×28 inputs."""
  pools = (True, True) if in_shape[0] >= 16 else (False, True)
  return CNN(in_shape, (16, 32), pools, num_classes, **kw)


def cnn4(in_shape=(28, 28, 1), num_classes=10, **kw) -> CNN:
  """4 convs (32, 32, 64, 64), pooling after the 2nd and 4th."""
  return CNN(in_shape, (32, 32, 64, 64), (False, True, False, True), num_classes, **kw)


def vgg11(**kw) -> VGG:
  return VGG(11, **kw)


def vgg11_ws(in_shape=(32, 32, 3), num_classes=10, **kw) -> CNN:
  """OTTT's CIFAR VGG-11: 8 convs with scaled weight standardisation (no BatchNorm), each
  activation followed by ×2.74, average pooling, global average pooling, one linear layer.

  Layers ``64, 128, M, 256, 256, M, 512, 512, M, 512, 512`` (M: 2×2 average pool); the head's
  kernel ~ N(0, 0.01²).

  References: [Xiao et al., 2022](https://arxiv.org/abs/2210.04195), §5 and the released
  ``online_spiking_vgg11_ws``; [Brock et al., 2021](https://arxiv.org/abs/2101.08692).
  """
  kw.setdefault("norm", False)
  return CNN(in_shape, (64, 128, 256, 256, 512, 512, 512, 512),
             (False, True, False, True, False, True, False, False), num_classes, ws=True,
             act_scale=2.74, global_pool=True, head_std=0.01, **kw)


def vgg13(**kw) -> VGG:
  return VGG(13, **kw)


def vgg16(**kw) -> VGG:
  return VGG(16, **kw)


def snn2ann_vgg13(in_shape=(32, 32, 3), **kw) -> VGG:
  """SNN2ANN's VGG-13: pools in blocks 3–5 on CIFAR (32→4), Linear(4·4·512) head.

  References: [Tang et al., 2022](https://arxiv.org/abs/2206.09449), network description.
  """
  tiny = in_shape[0] >= 64
  cfg = (64, 64, *(("M",) if tiny else ()), 128, 128, "M", 256, 256, 256, "M",
         512, 512, 512, "M", 512, 512, 512)
  return VGG(13, in_shape=in_shape, cfg=cfg, **kw)


def resnet17(in_shape=(32, 32, 3), **kw) -> ResNet:
  """SNN2ANN's ResNet-17: stem + 8 basic blocks, no global pool.

  References: [Tang et al., 2022](https://arxiv.org/abs/2206.09449), network description.
  """
  strides = (1, 1, 2, 2) if in_shape[0] <= 32 else (1, 2, 2, 2)
  return ResNet((2, 2, 2, 2), strides=strides, in_shape=in_shape, global_pool=False, **kw)


def resnet18(stem="cifar", **kw) -> ResNet:
  return ResNet((2, 2, 2, 2), stem=stem, **kw)


def resnet34(stem="cifar", **kw) -> ResNet:
  return ResNet((3, 4, 6, 3), stem=stem, **kw)


def resnet50(stem="imagenet", **kw) -> ResNet:
  kw.setdefault("in_shape", (224, 224, 3) if stem == "imagenet" else (32, 32, 3))
  kw.setdefault("num_classes", 1000 if stem == "imagenet" else 10)
  return ResNet((3, 4, 6, 3), block="bottleneck", stem=stem, **kw)


def resnet20(**kw) -> ResNet:
  """QCFS's "ResNet4Cifar": 16/32/64 channels, [3, 3, 3] basic blocks."""
  return ResNet((3, 3, 3), widths=(16, 32, 64), strides=(1, 2, 2), stem_width=16, **kw)
