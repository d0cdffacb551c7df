"""Where a config's train step spends its time on XLA:CPU: a jax.profiler trace of a few
steps, each XLA thunk's time matched to its instruction in the compiled HLO, summed by kind
(convolution forward / input gradient / filter gradient, YNNPACK or XLA's own; dot; reduce;
transpose/copy; elementwise loop fusions) and written as a short Markdown summary under
benchmarks/results/profiles/ (the raw multi-MB trace stays in --trace_dir).

  .venv/bin/python -m benchmarks.step_profile --configs biggan,vit --tag after
  ATTENTION_GEN_CPU_FLAGS=0 .venv/bin/python -m benchmarks.step_profile --configs biggan --tag before

Times are summed over the threads an op ran on (XLA splits loop fusions over the cores), so
the shares are shares of busy CPU time, and their sum can exceed the step's wall time.
"""
from __future__ import annotations

from lib.xla_cpu_flags import apply_cpu_flags

apply_cpu_flags()  # before jax starts a backend

import argparse
import collections
import glob
import gzip
import json
import os
import re
import tempfile
import time

import jax

from benchmarks.machine import machine
from benchmarks.train_step import build

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "profiles")
_SKIP = re.compile(r"^(ThreadpoolListener|Wait for|ThunkExecutor|SlinkyThreadPool|\$|end: |"
                   r"PjitFunction|CommonPjRt|ParseArguments|PjRt)")


def hlo_instructions(hlo: str) -> tuple[dict, dict]:
  """(instruction name -> its line, computation name -> its lines) of compiled HLO text."""
  lines_of, comps, cur = {}, {}, None
  for line in hlo.splitlines():
    m = re.match(r"^(?:ENTRY )?%?([\w.\-]+) .*\{$", line)
    if m:
      cur = m.group(1)
      comps[cur] = []
      continue
    m = re.match(r"^\s+(?:ROOT )?%([\w.\-]+) = ", line)
    if m:
      lines_of[m.group(1)] = line
      if cur is not None:
        comps[cur].append(line)
  return lines_of, comps


def _conv_kind(conv_line: str, op_name: str) -> str:
  if "transpose(" not in op_name:
    return "forward"
  window = re.search(r"window=\{size=([\dx]+)", conv_line)
  out = re.search(r"= \w+\[([\d,]+)\]", conv_line)
  if window and out:
    win = [int(v) for v in window.group(1).split("x")]
    dims = [int(v) for v in out.group(1).split(",")]
    if len(dims) == len(win) + 2 and all(w > d for w, d in zip(win, dims[1:-1])):
      return "filter grad"
  return "input grad"


def classify(name: str, lines_of: dict, comps: dict) -> str:
  line = lines_of.get(name, "")
  op_name = (re.search(r'op_name="([^"]*)"', line) or [None, ""])[1]
  callee = re.search(r"calls=%([\w.\-]+)", line)
  body = comps.get(callee.group(1), []) if callee else []
  where = "ynn " if "__ynn_fusion" in line else ""
  conv = [l for l in body + [line] if " convolution(" in l]
  if conv:
    return f"{where}conv {_conv_kind(conv[0], op_name)}"
  text = "\n".join(body + [line])
  if re.search(r" (dot|custom-call)\(", text):
    return f"{where}dot"
  if re.search(r" (reduce|reduce-window|select-and-scatter)\(", text):
    return f"{where}reduce"
  if where:
    return "ynn other"
  if re.search(r" (transpose|copy)\(", text) or name.startswith(("copy", "transpose")):
    return "transpose/copy"
  if " fusion(" in line or name.startswith("wrapped_"):
    return "elementwise/loop fusion"
  return "other"


def op_times(trace_dir: str) -> tuple[collections.Counter, collections.Counter]:
  path = sorted(glob.glob(os.path.join(trace_dir, "plugins", "profile", "*", "*.trace.json.gz")))[-1]
  with gzip.open(path) as f:
    events = json.load(f)["traceEvents"]
  total, count = collections.Counter(), collections.Counter()
  for e in events:
    if e.get("ph") == "X" and not _SKIP.match(e["name"]):
      total[e["name"]] += e["dur"]
      count[e["name"]] += 1
  return total, count


def profile(config_name: str, steps: int, trace_dir: str) -> dict:
  trainer, state, batch, rng = build(config_name)
  with jax.set_mesh(trainer.mesh):
    compiled = trainer.step_fn.lower(state, batch, rng).compile()
    for i in range(2):
      state, m = trainer.step_fn(state, batch, jax.random.fold_in(rng, i))
    jax.block_until_ready(m)
    t0 = time.perf_counter()
    for i in range(steps):
      state, m = trainer.step_fn(state, batch, jax.random.fold_in(rng, 10 + i))
    jax.block_until_ready(m)
    untraced = (time.perf_counter() - t0) / steps
    jax.profiler.start_trace(trace_dir)
    for i in range(steps):
      state, m = trainer.step_fn(state, batch, jax.random.fold_in(rng, 100 + i))
    jax.block_until_ready(m)
    jax.profiler.stop_trace()
  lines_of, comps = hlo_instructions(compiled.as_text())
  total, count = op_times(trace_dir)
  return {"config": config_name, "steps": steps, "step_ms": 1000 * untraced,
          "flops": (compiled.cost_analysis() or {}).get("flops", float("nan")),
          "total": total, "count": count, "kind": {n: classify(n, lines_of, comps) for n in total},
          "op_name": {n: (re.search(r'op_name="([^"]*)"', lines_of.get(n, "")) or [None, ""])[1]
                      for n in total}}


def markdown(p: dict, tag: str, top: int = 20) -> str:
  steps, total = p["steps"], p["total"]
  busy = sum(total.values()) / steps / 1000
  by_kind = collections.Counter()
  for n, t in total.items():
    by_kind[p["kind"][n]] += t
  lines = [f"# Train-step profile: {p['config']} digits ({tag})", "",
           f"Machine: {machine()}", "", f"XLA_FLAGS: `{os.environ.get('XLA_FLAGS', '')}`", "",
           f"Step (untraced, mean of {steps}): {p['step_ms']:.1f} ms; XLA cost analysis "
           f"{p['flops'] / 1e9:.2f} GFLOP/step; op time summed over threads {busy:.1f} ms/step; "
           f"{len(total)} distinct thunks.", "",
           "| kind | ms / step (all threads) | share |", "|---|---|---|"]
  for k, t in by_kind.most_common():
    lines.append(f"| {k} | {t / steps / 1000:.2f} | {100 * t / sum(total.values()):.1f}% |")
  lines += ["", f"Top {top} ops:", "", "| op | kind | ms / step | share | from |", "|---|---|---|---|---|"]
  for n, t in total.most_common(top):
    src = p["op_name"][n].replace("jit(counted_step)/", "")[-90:]
    lines.append(f"| {n} | {p['kind'][n]} | {t / steps / 1000:.2f} | "
                 f"{100 * t / sum(total.values()):.1f}% | `{src}` |")
  return "\n".join(lines) + "\n"


def main(argv=None) -> None:
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--configs", default="biggan,vit")
  ap.add_argument("--tag", default="after")
  ap.add_argument("--steps", type=int, default=5)
  ap.add_argument("--trace_dir", default="")
  a = ap.parse_args(argv)
  os.makedirs(OUT, exist_ok=True)
  for name in a.configs.split(","):
    trace_dir = a.trace_dir or tempfile.mkdtemp(prefix=f"trace_{name}_")
    p = profile(name, a.steps, trace_dir)
    path = os.path.join(OUT, f"{name}_digits_{a.tag}.md")
    with open(path, "w") as f:
      f.write(markdown(p, a.tag))
    print(f"wrote {path} (trace in {trace_dir})")


if __name__ == "__main__":
  main()
