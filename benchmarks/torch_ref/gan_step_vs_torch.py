"""BigGAN digits train step (one D + one G Adam update, float32): JAX (the project's jitted
step, built by the Trainer) against the PyTorch eager port of benchmarks/torch_ref/biggan.py,
and torch.compile of the same port when `--compile`.

  make bench-torch        # = .venv/bin/python -m benchmarks.torch_ref.gan_step_vs_torch
  .venv/bin/python -m benchmarks.torch_ref.gan_step_vs_torch --batches 32 --rounds 1

torch comes from a separate, gitignored venv (not a project requirement):
  python3 -m venv .venv-bench && .venv-bench/bin/pip install torch numpy
Each measurement is its own process (JAX and torch never share the 2 cores); the sides are
interleaved round by round and the table gives, per side and batch, the median over rounds of
each process's median step time. Results: benchmarks/results/gan_step_vs_torch.{csv,md}.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS = os.path.join(ROOT, "benchmarks", "results")
TORCH_PY = os.path.join(ROOT, ".venv-bench", "bin", "python")


def _timed(step, steps: int, repeats: int, sync=lambda out: None):
  import numpy as np
  times, busy = [], []
  for _ in range(repeats):
    c0, t0 = os.times(), time.perf_counter()
    for _ in range(steps):
      out = step()
    sync(out)
    wall = time.perf_counter() - t0
    c1 = os.times()
    times.append(wall / steps)
    busy.append((c1.user - c0.user + c1.system - c0.system) / wall)
  return float(np.median(times)), float(np.median(busy))


def side_jax(batch: int, steps: int, repeats: int) -> dict:
  sys.path.insert(0, ROOT)
  from lib.xla_cpu_flags import apply_cpu_flags
  apply_cpu_flags()
  import jax
  from benchmarks.train_step import build
  trainer, state, data, rng = build("biggan", batch_size=batch)
  holder = {"state": state, "i": 0}

  def step():
    holder["i"] += 1
    holder["state"], m = trainer.step_fn(holder["state"], data, jax.random.fold_in(rng, holder["i"]))
    return m

  with jax.set_mesh(trainer.mesh):
    jax.block_until_ready(step())
    sec, busy = _timed(step, steps, repeats, jax.block_until_ready)
  return {"side": "jax", "ms": 1000 * sec, "cpu_per_wall": busy,
          "xla_flags": os.environ.get("XLA_FLAGS", "")}


def side_torch(batch: int, steps: int, repeats: int, compiled: bool) -> dict:
  sys.path.insert(0, ROOT)
  import torch
  from benchmarks.torch_ref.biggan import Step
  s = Step(batch)
  step = torch.compile(s.__call__) if compiled else s
  for _ in range(3 if compiled else 2):
    step()
  sec, busy = _timed(step, steps, repeats)
  return {"side": "torch.compile" if compiled else "torch eager", "ms": 1000 * sec,
          "cpu_per_wall": busy, "torch": torch.__version__, "threads": torch.get_num_threads()}


def run_side(side: str, batch: int, steps: int, repeats: int) -> dict:
  py = sys.executable if side == "jax" else TORCH_PY
  cmd = [py, "-m", "benchmarks.torch_ref.gan_step_vs_torch", "--side", side,
         "--batches", str(batch), "--steps", str(steps), "--repeats", str(repeats)]
  out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
  if out.returncode:
    raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
  row = json.loads(out.stdout.strip().splitlines()[-1])
  row["batch"] = batch
  return row


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--side", default="", help="internal: jax | eager | compile")
  p.add_argument("--batches", default="32,64")
  p.add_argument("--rounds", type=int, default=3)
  p.add_argument("--steps", type=int, default=5)
  p.add_argument("--repeats", type=int, default=5)
  p.add_argument("--compile", action="store_true", help="also torch.compile")
  p.add_argument("--out", default=os.path.join(RESULTS, "gan_step_vs_torch"))
  a = p.parse_args(argv)
  batches = [int(b) for b in a.batches.split(",")]
  if a.side:
    b = batches[0]
    row = (side_jax(b, a.steps, a.repeats) if a.side == "jax" else
           side_torch(b, a.steps, a.repeats, a.side == "compile"))
    print(json.dumps(row))
    return 0
  if not os.path.exists(TORCH_PY):
    sys.exit(f"{TORCH_PY} is missing: python3 -m venv .venv-bench && "
             ".venv-bench/bin/pip install torch numpy")
  sides = ["jax", "eager"] + (["compile"] if a.compile else [])
  rows = []
  for r in range(a.rounds):
    for b in batches:
      for side in sides:
        row = run_side(side, b, a.steps, a.repeats)
        row["round"] = r
        print(json.dumps(row), flush=True)
        rows.append(row)
  sys.path.insert(0, ROOT)
  from benchmarks.machine import machine
  summary = []
  for b in batches:
    med = {}
    for side in {r["side"] for r in rows}:
      ms = [r["ms"] for r in rows if r["batch"] == b and r["side"] == side]
      busy = [r["cpu_per_wall"] for r in rows if r["batch"] == b and r["side"] == side]
      med[side] = (statistics.median(ms), statistics.median(busy), len(ms))
    for side, (ms, busy, n) in sorted(med.items()):
      summary.append({"batch": b, "side": side, "median_ms": ms, "cpu_per_wall": busy,
                      "rounds": n, "jax_speedup": med["torch eager"][0] / med["jax"][0]
                      if side == "jax" else ms / med["jax"][0]})
  os.makedirs(os.path.dirname(a.out), exist_ok=True)
  with open(a.out + ".csv", "w", newline="") as f:
    w = csv.DictWriter(f, ["batch", "side", "median_ms", "cpu_per_wall", "rounds", "jax_speedup"])
    w.writeheader()
    w.writerows(summary)
  torch_v = next((r.get("torch") for r in rows if "torch" in r), "?")
  lines = ["# BigGAN digits train step: JAX vs PyTorch (benchmarks/torch_ref/)", "",
           f"Command: `python -m benchmarks.torch_ref.gan_step_vs_torch {' '.join(sys.argv[1:])}`",
           "", f"Machine: {machine()}", "", f"torch {torch_v}; JAX XLA_FLAGS: "
           f"`{next((r['xla_flags'] for r in rows if r['side'] == 'jax'), '')}`", "",
           "| batch | side | median ms / step | CPU / wall | rounds | speed-up of JAX over this side |",
           "|---|---|---|---|---|---|"]
  for s in summary:
    speedup = "" if s["side"] == "jax" else f"{s['jax_speedup']:.2f}x"
    lines.append(f"| {s['batch']} | {s['side']} | {s['median_ms']:.1f} | {s['cpu_per_wall']:.2f} "
                 f"| {s['rounds']} | {speedup} |")
  lines += ["", "One step = one D update on [32 reals; 32 fakes] (per batch 32) + one G update "
            "(hinge, orthogonal penalty, Adam, EMA of G), float32, same architecture "
            "(G 160,578 and D 149,362 parameters in both). Each number: median over rounds of "
            "one process's median of timed blocks; sides interleaved; a shared 2-core machine."]
  with open(a.out + ".md", "w") as f:
    f.write("\n".join(lines) + "\n")
  print(f"wrote {a.out}.csv and {a.out}.md")
  return 0


if __name__ == "__main__":
  sys.exit(main())
