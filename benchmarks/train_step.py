"""Train-step throughput of every paper config's `digits` variant (issue 10).

For each config the step is the one the loop runs: `lib.train.loop.Trainer(config, tmpdir)`
builds it (sharded init, `jax.jit` with in/out shardings and donation), and the batch comes
from its `train_iter`. Reported per config:
- steps/s: median over `repeats` timed blocks of `steps` steps each, after compilation and
  one warm-up step (the same batch every step: the input pipeline is not timed);
- GFLOP per step: XLA's cost analysis of the compiled step
  (`lib.train.observability.compiled_cost`), and the achieved GFLOP/s;
- the fraction of the machine's float32 matmul peak (`observability.cpu_peak`, a cached
  2048^3 matmul probe);
- CPU time / wall time during the timed blocks (os.times of the process: user + system),
  i.e. how many cores the step keeps busy.

  make bench-train                                   # all configs -> train_step_cpu.{csv,md}
  .venv/bin/python -m benchmarks.train_step --configs biggan,vit --quick
  .venv/bin/python -m benchmarks.train_step --compare benchmarks/results/train_step_cpu.csv

`--compare OLD.csv` prints a REGRESSION line (exit status 1) for each config whose steps/s is
more than 25% below the stored one. The machine is shared: rerun before trusting one.
"""
from __future__ import annotations

from lib.xla_cpu_flags import apply_cpu_flags

apply_cpu_flags()  # before jax starts a backend

import argparse
import csv
import importlib
import os
import statistics
import sys
import tempfile
import time

import jax

from benchmarks.machine import machine

CONFIGS = ("vit", "dcgan", "cgan", "wgan_gp", "sagan", "biggan", "stylegan2", "vitgan",
           "styleswin", "r3gan")
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
FIELDS = ("config", "batch", "steps_per_sec", "ms_per_step", "gflop_per_step",
          "gflop_per_sec", "peak_fraction", "cpu_per_wall", "compile_s")
REGRESSION = 0.25


def build(config_name: str, variant: str = "digits", batch_size: int | None = None):
  """(trainer, state, batch, rng) for `configs/<config_name>.py:<variant>`, as the loop has
  them; `batch_size` overrides config.data.batch_size."""
  from lib.train import sharding as sh
  from lib.train.loop import Trainer
  config = importlib.import_module(f"configs.{config_name}").get_config(variant)
  if batch_size:
    config.data.batch_size = int(batch_size)
  trainer = Trainer(config, tempfile.mkdtemp(prefix=f"bench_{config_name}_"))
  state = trainer.initial_state()
  batch = sh.global_batch(next(trainer.train_iter), trainer.mesh)
  return trainer, state, batch, jax.random.key(0)


def time_steps(step_fn, state, batch, rng, steps: int, repeats: int):
  """(median seconds per step, median CPU/wall, state) over `repeats` blocks of `steps`."""
  per_step, busy = [], []
  for r in range(repeats):
    c0, t0 = os.times(), time.perf_counter()
    for i in range(steps):
      state, metrics = step_fn(state, batch, jax.random.fold_in(rng, r * steps + i))
    jax.block_until_ready(metrics)
    wall = time.perf_counter() - t0
    c1 = os.times()
    per_step.append(wall / steps)
    busy.append((c1.user - c0.user + c1.system - c0.system) / wall)
  return statistics.median(per_step), statistics.median(busy), state


def measure(config_name: str, steps: int, repeats: int, peak: float) -> dict:
  from lib.train.observability import compiled_cost
  trainer, state, batch, rng = build(config_name)
  with jax.set_mesh(trainer.mesh):
    t0 = time.perf_counter()
    compiled = trainer.step_fn.lower(state, batch, rng).compile()
    compile_s = time.perf_counter() - t0
    flops = compiled_cost(compiled).get("flops", float("nan")) * trainer.mesh.size
    state, metrics = trainer.step_fn(state, batch, rng)          # warm-up
    jax.block_until_ready(metrics)
    sec, busy, _ = time_steps(trainer.step_fn, state, batch, rng, steps, repeats)
  return {"config": config_name, "batch": int(trainer.config.data.batch_size),
          "steps_per_sec": 1.0 / sec, "ms_per_step": 1000.0 * sec,
          "gflop_per_step": flops / 1e9, "gflop_per_sec": flops / sec / 1e9,
          "peak_fraction": flops / sec / peak, "cpu_per_wall": busy, "compile_s": compile_s}


def write(rows: list[dict], stem: str, peak: float, peak_source: str, argv: str) -> None:
  os.makedirs(os.path.dirname(stem), exist_ok=True)
  with open(stem + ".csv", "w", newline="") as f:
    w = csv.DictWriter(f, FIELDS)
    w.writeheader()
    w.writerows(rows)
  fmt = {"steps_per_sec": "{:.2f}", "ms_per_step": "{:.1f}", "gflop_per_step": "{:.3f}",
         "gflop_per_sec": "{:.1f}", "peak_fraction": "{:.3f}", "cpu_per_wall": "{:.2f}",
         "compile_s": "{:.1f}"}
  lines = ["# Train-step throughput, digits variants (benchmarks/train_step.py)", "",
           f"Command: `{argv}`", "",
           f"Machine: {machine()}", "",
           f"XLA_FLAGS: `{os.environ.get('XLA_FLAGS', '')}`", "",
           f"Matmul peak: {peak / 1e9:.1f} GFLOP/s ({peak_source})", "",
           "| " + " | ".join(FIELDS) + " |", "|" + "---|" * len(FIELDS)]
  for r in rows:
    lines.append("| " + " | ".join(fmt.get(k, "{}").format(r[k]) for k in FIELDS) + " |")
  lines += ["", "steps/s: median of timed blocks after compile and warm-up (same batch); "
            "GFLOP from XLA's cost analysis of the compiled step; peak_fraction = achieved "
            "FLOP/s / matmul peak; cpu_per_wall = process CPU time / wall time while stepping "
            "(2.0 = both cores busy). A shared machine: compare medians of reruns."]
  with open(stem + ".md", "w") as f:
    f.write("\n".join(lines) + "\n")


def compare(rows: list[dict], old_path: str) -> list[str]:
  with open(old_path) as f:
    old = {r["config"]: r for r in csv.DictReader(f)}
  out = []
  for r in rows:
    o = old.get(r["config"])
    if o is None:
      continue
    ratio = r["steps_per_sec"] / float(o["steps_per_sec"])
    tag = "REGRESSION" if ratio < 1.0 - REGRESSION else "ok"
    out.append(f"{tag} {r['config']}: {r['steps_per_sec']:.2f} steps/s vs "
               f"{float(o['steps_per_sec']):.2f} stored ({ratio:.2f}x)")
  return out


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--configs", default=",".join(CONFIGS))
  p.add_argument("--quick", action="store_true", help="3 blocks of 3 steps")
  p.add_argument("--steps", type=int, default=5)
  p.add_argument("--repeats", type=int, default=5)
  p.add_argument("--compare", default="")
  p.add_argument("--out", default="")
  a = p.parse_args(argv)
  from lib.train.observability import peak_flops
  steps, repeats = (3, 3) if a.quick else (a.steps, a.repeats)
  peak, peak_source = peak_flops(jax.devices()[0], "float32")
  rows = []
  for name in [c.strip() for c in a.configs.split(",") if c.strip()]:
    row = measure(name, steps, repeats, peak)
    print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                   for k, v in row.items()), flush=True)
    rows.append(row)
  stem = a.out or os.path.join(RESULTS, f"train_step_{jax.devices()[0].platform}"
                               + ("_quick" if a.quick else ""))
  write(rows, stem, peak, peak_source, "python -m benchmarks.train_step " + " ".join(
      sys.argv[1:] if argv is None else argv))
  print(f"wrote {stem}.csv and {stem}.md")
  if a.compare:
    lines = compare(rows, a.compare)
    print("\n".join(lines))
    return 1 if any(l.startswith("REGRESSION") for l in lines) else 0
  return 0


if __name__ == "__main__":
  sys.exit(main())
