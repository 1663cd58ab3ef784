"""snnTorch: ``Leaky`` neurons stepped in a Python loop over T (its documented usage)."""

from __future__ import annotations

from benchmarks.peers import _torch
from benchmarks.peers._worker import main


def build(w):
  import snntorch as snn
  import torch
  from snntorch import surrogate, utils

  def lif():  # β = 1 − 1/τ = 0.5, θ = 1, subtract reset, sigmoid surrogate of slope 4
    return snn.Leaky(beta=0.5, threshold=1.0, spike_grad=surrogate.sigmoid(slope=4),
                     reset_mechanism="subtract", init_hidden=True)

  x = _torch.inputs(w)
  if w["name"] == "cnn":
    mods, c = [], 3
    for ch, pool in zip(w["channels"], w["pools"]):
      mods += [torch.nn.Conv2d(c, ch, 3, padding=1, bias=False), torch.nn.BatchNorm2d(ch), lif()]
      mods += [torch.nn.AvgPool2d(2)] if pool else []
      c = ch
    side = w["size"] // 2 ** sum(w["pools"])
    net = torch.nn.Sequential(*mods, torch.nn.Flatten(), torch.nn.Linear(c * side * side, w["classes"]))

    def forward(x):
      return torch.stack([net(x) for _ in range(w["T"])]).mean(0)
  else:
    net = torch.nn.Sequential(torch.nn.Linear(w["n"], w["n"]), lif())

    def forward(x):
      return torch.stack([net(x[t]) for t in range(w["T"])])

  def reset(_):
    utils.reset(net)

  return _torch.trainer(net, forward, x, w, reset=reset, library="snntorch")


if __name__ == "__main__":
  main(build, preload=("torch", "snntorch"))
