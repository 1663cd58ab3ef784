"""snnjax: fast training of spiking neural networks in JAX/Flax.

Layer 1 (pure JAX, no Flax): :mod:`snnjax.neurons`, :mod:`snnjax.surrogate`,
:mod:`snnjax.traces`, :mod:`snnjax.encoders`, :mod:`snnjax.quant`,
:mod:`snnjax.noise`, :mod:`snnjax.xla`.
"""

from snnjax import encoders, neurons, noise, quant, surrogate, traces
from snnjax.neurons import (NeuronParams, NeuronSpec, NeuronState, if_neuron, init_state,
                            lif_neuron, plif_neuron, run, step)
from snnjax.surrogate import Surrogate, spike

__version__ = "0.2.0"
