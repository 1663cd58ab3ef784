"""Every zoo architecture builds with each kind of activation and has the right output shape."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import snnjax.nn as sn
from snnjax import data, simulate
from snnjax.train import trainer as train
from snnjax.train.configs import qcfs as qcfs_cfg

ZOO = [
    (lambda **k: sn.mlp((28, 28, 1), (32, 32), 10, **k), (28, 28, 1), 10),
    (lambda **k: sn.small_cnn((8, 8, 1), 10, **k), (8, 8, 1), 10),
    (lambda **k: sn.cnn4((28, 28, 1), 10, **k), (28, 28, 1), 10),
    (lambda **k: sn.vgg11(**k), (32, 32, 3), 10),
    (lambda **k: sn.vgg13(**k), (32, 32, 3), 10),
    (lambda **k: sn.vgg16(classifier=(4096, 4096), **k), (32, 32, 3), 10),
    (lambda **k: sn.snn2ann_vgg13(**k), (32, 32, 3), 10),
    (lambda **k: sn.resnet17(**k), (32, 32, 3), 10),
    (lambda **k: sn.resnet18(**k), (32, 32, 3), 10),
    (lambda **k: sn.resnet20(**k), (32, 32, 3), 10),
    (lambda **k: sn.resnet34(**k), (32, 32, 3), 10),
    (lambda **k: sn.resnet18(stem="imagenet", in_shape=(224, 224, 3), num_classes=1000, **k),
     (224, 224, 3), 1000),
    (lambda **k: sn.resnet50(**k), (224, 224, 3), 1000),
]


@pytest.mark.parametrize("build,shape,classes", ZOO)
@pytest.mark.parametrize("act,norm,T", [(sn.relu(), True, None), (sn.if_(), False, 3)])
def test_zoo_shapes(build, shape, classes, act, norm, T):
  model = nnx.eval_shape(lambda: build(act=act, norm=norm, rngs=nnx.Rngs(0)))
  g, s = nnx.split(model)
  if T is None:
    fn = lambda s, x: nnx.merge(g, s)(x)
  else:
    fn = lambda s, x: simulate.run(nnx.merge(g, s), x, T=T, way="layer").outputs
  out = jax.eval_shape(fn, s, jax.ShapeDtypeStruct((2,) + shape, jnp.float32))
  assert out.shape == ((2, classes) if T is None else (T, 2, classes))


def test_train_and_evaluate_on_in_memory_arrays(tmp_path):
  rng = np.random.default_rng(0)
  x = rng.random((256, 8, 8, 1)).astype(np.float32)
  y = (x.mean((1, 2, 3)) > 0.5).astype(np.int64)  # a learnable rule on the researcher's own data
  ds = data.from_arrays(x[:192], y[:192], x[192:], y[192:], name="mine")
  c = qcfs_cfg.get_config("tiny")
  with c.unlocked():
    c.model, c.num_steps = "mlp", 40
    c.hidden = (32,)
  r = train.train_and_evaluate(c, str(tmp_path), dataset=ds)
  assert r["dataset"] == "mine" and r["trained_accuracy"] > 0.6


def test_padding_given_as_lists_still_keys_a_compiled_function():
  # static module data must hash: a graph definition holding a list cannot key jit's cache
  m = nnx.Sequential(sn.Synapse(2, 3, padding=[[1, 1], [0, 0]], rngs=nnx.Rngs(0)),
                     sn.Pool((2, 2), padding=[(0, 0), (0, 0)]))
  graphdef, _ = nnx.split(m)
  hash(graphdef)
  y = nnx.jit(lambda mod, x: mod(x))(m, jnp.ones((1, 4, 4, 2)))
  # 4 rows padded by one on each side, 4 columns unpadded: 4×2 after a 3×3 kernel, pooled to 2×1
  assert y.shape == (1, 2, 1, 3)
