"""Norse: ``torch.nn.Linear`` over all steps, then ``LIFBoxCell`` (a LIF without synaptic
current) stepped over T. Linear + LIF workload only."""

from __future__ import annotations

from benchmarks.peers import _torch
from benchmarks.peers._worker import main


def build(w):
  import norse.torch as norse
  import torch
  if w["name"] != "linear":
    raise SystemExit("unsupported")
  x = _torch.inputs(w)
  lin = torch.nn.Linear(w["n"], w["n"])
  cell = norse.LIFBoxCell()

  def forward(x):
    y, state, out = lin(x), None, []
    for t in range(w["T"]):
      z, state = cell(y[t], state)
      out.append(z)
    return torch.stack(out)

  return _torch.trainer(lin, forward, x, w, library="norse")


if __name__ == "__main__":
  main(build, preload=("torch", "norse.torch"))
