"""Figures for spiking runs (matplotlib, the ``train`` extra).

* :func:`accuracy_vs_T` — accuracy of several runs against the number of time
  steps, on one axis (the figure the papers show), with reference lines.
* :func:`accuracy_vs_cost` — one point per method: accuracy against a cost
  (training time, memory), log scale.
* :func:`firing_rates` — spikes per neuron per step, by layer, for one or more nets.
* :func:`training_curves` — loss and train/test accuracy against the step.
* :func:`spike_raster`, :func:`rate_vs_t`, :func:`membrane_traces` — what
  :func:`snnjax.simulate.monitor` records, for one example.

Every function returns the figure and, given ``path``, saves it (and closes it).
Accuracies are fractions in the inputs and percent on the axes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["accuracy_vs_T", "accuracy_vs_cost", "firing_rates", "training_curves", "spike_raster", "rate_vs_t",
           "membrane_traces", "layer_label"]


def _plt():
  import matplotlib
  if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
    try:
      matplotlib.use("Agg")
    except Exception:  # noqa: BLE001 — keep whatever backend the process has
      pass
  import matplotlib.pyplot as plt
  return plt


def _done(fig, path):
  fig.tight_layout()
  if path is not None:
    fig.savefig(path, dpi=130)
    _plt().close(fig)
  return fig


def layer_label(path: str) -> str:
  """``"acts/0"`` → ``"acts 0"``; ``"blocks/3/act2"`` → ``"block 3 · act2"``: short and readable."""
  parts = path.split("/")
  return " · ".join(f"{a.rstrip('s')} {b}" if b.isdigit() else a
                    for a, b in zip(parts, parts[1:] + [""]) if not a.isdigit()).replace("  ", " ").strip()


def accuracy_vs_T(curves: Mapping[str, Mapping], references: Mapping[str, float] | None = None, *,
                  title: str = "", path: str | None = None, zoom: bool = True):
  """Accuracy (%) against T for several runs, with horizontal reference lines.

  Args:
    curves: ``{label: {T: accuracy}}`` (keys may be strings, as in results.json).
    references: ``{label: accuracy}``, drawn as dotted horizontal lines (the ANN, the net as trained).
    zoom: add a second panel on the top band (from 3 points below the best curve's lowest
      value at T ≥ 2), where low-latency methods differ.
  """
  plt = _plt()
  fig, axes = plt.subplots(1, 2 if zoom else 1, figsize=(11 if zoom else 6, 4.2), squeeze=False)
  axes = axes[0]
  markers = "osD^v<>p*h"
  colors = _colors(len(curves))
  for ax in axes:
    for i, (label, acc) in enumerate(curves.items()):
      Ts = sorted(int(t) for t in acc)
      ax.plot(Ts, [100 * acc[str(t)] if str(t) in acc else 100 * acc[t] for t in Ts],
              marker=markers[i % len(markers)], lw=1.6, ms=5, label=label, color=colors[i])
    for j, (label, v) in enumerate((references or {}).items()):
      ax.axhline(100 * v, color=f"C{7 + j}", ls=(0, (2, 2)), lw=1.2, label=f"{label}: {100 * v:.1f}%")
    ax.set_xscale("log", base=2)
    allT = sorted({int(t) for acc in curves.values() for t in acc})
    ax.set_xticks(allT, [str(t) for t in allT])
    ax.set_xlabel("time steps T")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
  axes[0].set_ylim(0, 100)
  axes[0].set_title(title or "accuracy vs time steps")
  if zoom:
    best = max(curves.values(), key=lambda a: max(a.values()))
    low = min(v for t, v in best.items() if int(t) >= 2) if any(int(t) >= 2 for t in best) else min(best.values())
    top = max([max(a.values()) for a in curves.values()] + list((references or {}).values()))
    axes[1].set_ylim(max(0, 100 * low - 3), min(100, 100 * top + 1.5))
    axes[1].set_title("top band")
  axes[-1].legend(fontsize=8, loc="lower right")
  return _done(fig, path)


def _colors(n: int) -> list:
  """Matplotlib's default cycle up to 10 series; tab20's distinct colours beyond."""
  plt = _plt()
  if n <= 10:
    return [f"C{i}" for i in range(n)]
  return [plt.get_cmap("tab20")(i % 20) for i in range(n)]


def accuracy_vs_cost(points: Mapping[str, tuple[float, float]], *, xlabel: str, ylabel: str,
                     title: str = "", path: str | None = None):
  """One labelled point per method: ``points = {label: (cost, accuracy)}``; cost on a log axis."""
  plt = _plt()
  fig, ax = plt.subplots(figsize=(7.5, 4.8))
  markers = "osD^v<>p*h"
  colors = _colors(len(points))
  for i, (label, (cost, acc)) in enumerate(points.items()):
    ax.scatter([cost], [100 * acc], marker=markers[i % len(markers)], s=46, color=colors[i], label=label,
               zorder=3)
  ax.set_xscale("log")
  from matplotlib.ticker import FuncFormatter
  plain = FuncFormatter(lambda v, _: f"{v:g}")  # 8, 20, 200 rather than 8×10⁰ on a short log range
  ax.xaxis.set_major_formatter(plain)
  ax.xaxis.set_minor_formatter(plain)
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  ax.grid(alpha=0.3, which="both")
  ax.set_title(title)
  ax.legend(fontsize=7.5, loc="center left", bbox_to_anchor=(1.01, 0.5))
  return _done(fig, path)


def firing_rates(rates: Mapping[str, Mapping[str, float]], *, title: str = "", path: str | None = None):
  """Spikes per neuron per step by layer; ``rates = {net label: {layer path: rate}}``."""
  plt = _plt()
  layers = list(next(iter(rates.values())))
  fig, ax = plt.subplots(figsize=(max(5.5, 0.55 * len(layers) + 2), 3.8))
  w = 0.8 / len(rates)
  x = np.arange(len(layers))
  for i, (label, r) in enumerate(rates.items()):
    ax.bar(x + (i - (len(rates) - 1) / 2) * w, [r.get(k, np.nan) for k in layers], w, label=label)
  ax.set_xticks(x, [layer_label(k) for k in layers], rotation=30, ha="right", fontsize=8)
  ax.set(xlabel="spiking layer", ylabel="spikes / neuron / step", title=title or "firing rates")
  ax.grid(axis="y", alpha=0.3)
  top = np.nanmax([v for r in rates.values() for v in r.values()] + [0.0])
  if top > 0:
    ax.set_ylim(0, top * (1.2 + 0.08 * len(rates)))  # headroom for the legend above the bars
  ax.legend(fontsize=8, loc="upper right")
  return _done(fig, path)


def training_curves(runs: Mapping[str, Sequence[Mapping]], *, title: str = "", path: str | None = None):
  """Loss (left) and train / test accuracy in % (right) against the step; ``runs = {label: history}``."""
  plt = _plt()
  fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8))
  for i, (label, h) in enumerate(runs.items()):
    steps = [r["step"] for r in h]
    a.plot(steps, [r["loss"] for r in h], color=f"C{i}", label=label)
    b.plot(steps, [100 * r["accuracy"] for r in h], color=f"C{i}", alpha=0.5, label=f"{label}: train batch")
    test = [(r["step"], 100 * r["test_accuracy"]) for r in h if "test_accuracy" in r]
    if test:
      b.plot(*zip(*test), "o-", color=f"C{i}", label=f"{label}: test")
  a.set(xlabel="training step", ylabel="loss", title=title or "training", yscale="log")
  b.set(xlabel="training step", ylabel="accuracy (%)", title="accuracy during training")
  for ax in (a, b):
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
  return _done(fig, path)


def spike_raster(spikes: np.ndarray, *, example: int = 0, neurons: int = 100, title: str = "",
                 path: str | None = None):
  """Raster of one example's spikes ``[T, B, *features]`` (the first ``neurons`` neurons)."""
  plt = _plt()
  s = np.asarray(spikes)[:, example].reshape(spikes.shape[0], -1)[:, :neurons]
  t, n = np.nonzero(s)
  fig, ax = plt.subplots(figsize=(6, 3.5))
  ax.scatter(t + 1, n, s=6, marker="|")
  ax.set(xlabel="time step", ylabel="neuron", title=title or "spike raster", xlim=(0.5, s.shape[0] + 0.5))
  return _done(fig, path)


def rate_vs_t(spikes: Mapping[str, np.ndarray], *, title: str = "", path: str | None = None):
  """Firing rate of each layer at every step; ``spikes = {layer: [T, B, *features]}``."""
  plt = _plt()
  fig, ax = plt.subplots(figsize=(6, 3.5))
  for k, s in spikes.items():
    s = np.asarray(s) != 0
    ax.plot(np.arange(1, s.shape[0] + 1), s.reshape(s.shape[0], -1).mean(1), "o-", ms=3, label=layer_label(k))
  ax.set(xlabel="time step", ylabel="spikes / neuron", title=title or "firing rate per step")
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  return _done(fig, path)


def membrane_traces(membrane: np.ndarray, threshold: float | None = None, *, example: int = 0,
                    neurons: Sequence[int] | None = None, title: str = "", path: str | None = None):
  """Potential before reset of a few neurons of one example, ``membrane = [T, B, *features]``.

  By default the first four neurons that neither stay silent nor fire at every step.
  """
  plt = _plt()
  u = np.asarray(membrane)[:, example].reshape(membrane.shape[0], -1)
  if neurons is None:
    above = (u >= threshold).mean(0) if threshold is not None else np.full(u.shape[1], 0.5)
    neurons = list(np.flatnonzero((above > 0) & (above < 1))[:4]) or list(range(min(4, u.shape[1])))
  fig, ax = plt.subplots(figsize=(6, 3.5))
  for n in neurons:
    ax.plot(np.arange(1, u.shape[0] + 1), u[:, n], "o-", ms=3, label=f"neuron {n}")
  if threshold is not None:
    ax.axhline(threshold, color="gray", ls=":", label="θ")
  ax.set(xlabel="time step", ylabel="potential before reset", title=title or "membrane potential")
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  return _done(fig, path)
