"""SpikingJelly (PyTorch) in multi-step mode: time folded into the batch for conv/BN/linear,
the LIF node looping over T (``step_mode='m'``, torch backend on CPU)."""

from __future__ import annotations

from benchmarks.peers import _torch
from benchmarks.peers._worker import main


def build(w):
  import torch
  from spikingjelly.activation_based import functional, layer, neuron, surrogate

  def lif():
    return neuron.LIFNode(tau=2.0, v_reset=None, detach_reset=True, step_mode="m",
                          surrogate_function=surrogate.Sigmoid(alpha=4.0))

  x = _torch.inputs(w)
  if w["name"] == "cnn":
    mods, c = [], 3
    for ch, pool in zip(w["channels"], w["pools"]):
      mods += [layer.Conv2d(c, ch, 3, padding=1, bias=False), layer.BatchNorm2d(ch), lif()]
      mods += [layer.AvgPool2d(2)] if pool else []
      c = ch
    side = w["size"] // 2 ** sum(w["pools"])
    net = torch.nn.Sequential(*mods, layer.Flatten(), layer.Linear(c * side * side, w["classes"]))
    functional.set_step_mode(net, "m")

    def forward(x):  # direct input: the image at every step
      return net(x.unsqueeze(0).expand(w["T"], *x.shape)).mean(0)
  else:
    net = torch.nn.Sequential(layer.Linear(w["n"], w["n"]), lif())
    functional.set_step_mode(net, "m")
    forward = net
  return _torch.trainer(net, forward, x, w, reset=functional.reset_net, library="spikingjelly")


if __name__ == "__main__":
  main(build, preload=("torch", "spikingjelly.activation_based.neuron", "spikingjelly.activation_based.layer"))
