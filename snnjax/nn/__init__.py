"""Flax NNX layer: activations chosen at construction, building blocks, model zoo."""

from snnjax.nn.activations import (QCFS, ActSpec, QCFSSpec, ReLU, ReLUSpec, Spiking, SpikingSpec,
                                   if_, init_clip_from_data, lif, qcfs, relu, spiking)
from snnjax.nn.layers import (InputCache, Membrane, OpCount, Pool, SimState, SpikeCount, Synapse,
                              Threshold, flatten_features)
from snnjax.nn.models import (CNN, MLP, VGG, Model, ResNet, cnn4, mlp, rebuild, resnet17, resnet18,
                              resnet20, resnet34, resnet50, small_cnn, snn2ann_vgg13, vgg11, vgg13,
                              vgg16)
