"""Flax NNX layer: activations chosen at construction, building blocks, model zoo."""

from snnjax.nn.activations import (ActSpec, Activation, Conversion, ReLU, ReLUSpec, Spiking,
                                   SpikingSpec, as_rngs, clip_statistic, if_, lif, relu, spiking)
from snnjax.nn.calibration import capture, init_clip_from_data, modules_by_path, path_key
from snnjax.nn.layers import Flatten, GlobalAvgPool, Pool, Scale, Synapse, flatten_features
from snnjax.nn.models import (CNN, MLP, VGG, Model, ResNet, cnn4, mlp, rebuild, resnet17, resnet18,
                              resnet20, resnet34, resnet50, run_sequence, small_cnn, snn2ann_vgg13,
                              vgg11, vgg11_ws, vgg13, vgg16)
from snnjax.nn.variables import (FixedNoise, Membrane, Record, SimState, Threshold, ThresholdParam)
