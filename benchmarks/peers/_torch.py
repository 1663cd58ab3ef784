"""Shared torch plumbing for the torch peers: threads, the training step, versions."""

from __future__ import annotations

import importlib.metadata
import os

from benchmarks.peers._worker import Built


def dist_version(name: str) -> str:
  try:
    return importlib.metadata.version(name)
  except importlib.metadata.PackageNotFoundError:
    return "?"


def inputs(w):
  """The workload's input: images ``[B, 3, H, W]`` for the CNN, currents ``[T, B, n]`` for
  the Linear + LIF layer (random in [0, 1), seed 0)."""
  import torch
  torch.manual_seed(0)
  torch.set_num_threads(int(os.environ.get("PEER_THREADS", os.cpu_count() or 1)))
  if w["name"] == "cnn":
    return torch.rand(w["batch"], 3, w["size"], w["size"])
  return torch.rand(w["T"], w["batch"], w["n"])


def trainer(net, forward, x, w, *, reset=None, library: str) -> Built:
  """One step of ``forward`` on ``x``. CNN: cross-entropy of the time-mean output and an SGD
  step with momentum 0.9. Linear + LIF: the gradient of the spike sum with respect to the
  parameters (forward + backward, as the open-neuromorphic benchmark)."""
  import torch
  opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9) if w["name"] == "cnn" else None
  labels = torch.arange(w["batch"]) % w.get("classes", 10)

  def step():
    if reset is not None:
      reset(net)
    net.zero_grad(set_to_none=True)
    out = forward(x)
    loss = torch.nn.functional.cross_entropy(out, labels) if opt is not None else out.sum()
    loss.backward()
    if opt is not None:
      opt.step()
    return loss

  return Built(step=step, block=lambda r: r.item(),
               version=f"{library} {dist_version(library)}, torch {torch.__version__}, "
                       f"{torch.get_num_threads()} threads")
