"""MAE's train step vs the same model with every token through the encoder (issue 13, claim 1).

He et al. 2022 (Sec. 3 and Table 2) run the encoder on the visible 25% of the patches only
and report a 3x or larger wall-clock pre-training speed-up for large encoders (ViT-L/H, an
8-block x 512 decoder). Here, for each size, two train steps as the loop runs them
(`lib.train.loop.Trainer` of `configs/mae.py:digits`: sharded init, jit with donation):
- `mae`: mask_ratio 0.75 (16 of 64 patch tokens + [class] through the encoder; the decoder
  sees all 65 tokens);
- `full`: mask_ratio 0 (all 65 tokens through the encoder and the decoder; loss on all
  patches), the same encoder and decoder otherwise.
Timing: `repeats` rounds, each one timed block of `steps` steps of every variant in turn
(interleaved, so the shared machine's load hits both alike), after compile and one warm-up
step on the same batch; the median ms/step per variant and the median of the per-round
ratios full/mae. GFLOP per step from XLA's cost analysis of each compiled step.

  .venv/bin/python -m benchmarks.mae_step                 # -> results/mae_step_cpu.{csv,md}
  .venv/bin/python -m benchmarks.mae_step --quick
"""
from __future__ import annotations

from lib.xla_cpu_flags import apply_cpu_flags

apply_cpu_flags()  # before jax starts a backend

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time

import jax

from benchmarks.machine import machine
from benchmarks.train_step import time_steps

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
# (name, encoder overrides): the digits config, and a 2x deeper, 2x wider encoder with the
# same light decoder (the paper's regime: encoder >> decoder)
SIZES = (("digits", {}),
         ("digits_enc8x128", dict(hidden_size=128, depth=8, num_heads=4, mlp_dim=512)))
VARIANTS = (("mae", 0.75), ("full", 0.0))
FIELDS = ("size", "variant", "mask_ratio", "encoder_tokens", "batch", "ms_per_step",
          "steps_per_sec", "gflop_per_step", "speedup_vs_full")


def build(model_overrides: dict, mask_ratio: float):
  from lib.train import sharding as sh
  from lib.train.loop import Trainer
  from configs.mae import get_config
  config = get_config("digits")
  config.model.update(model_overrides)
  config.model.mask_ratio = mask_ratio
  config.eval.evaluators = ()
  trainer = Trainer(config, tempfile.mkdtemp(prefix="bench_mae_"))
  state = trainer.initial_state()
  batch = sh.global_batch(next(trainer.train_iter), trainer.mesh)
  return trainer, state, batch


def measure_size(name: str, overrides: dict, steps: int, repeats: int) -> list[dict]:
  from lib.train.observability import compiled_cost
  from research.mae.model import num_kept
  runs = {}
  for variant, ratio in VARIANTS:
    trainer, state, batch = build(overrides, ratio)
    rng = jax.random.key(0)
    with jax.set_mesh(trainer.mesh):
      compiled = trainer.step_fn.lower(state, batch, rng).compile()
      flops = compiled_cost(compiled).get("flops", float("nan")) * trainer.mesh.size
      state, metrics = trainer.step_fn(state, batch, rng)           # warm-up
      jax.block_until_ready(metrics)
    runs[variant] = dict(trainer=trainer, state=state, batch=batch, flops=flops, times=[])
  for r in range(repeats):                                         # interleaved rounds
    for variant, _ in VARIANTS:
      run = runs[variant]
      with jax.set_mesh(run["trainer"].mesh):
        sec, _, run["state"] = time_steps(run["trainer"].step_fn, run["state"], run["batch"],
                                          jax.random.key(r), steps, 1)
      run["times"].append(sec)
  ratios = [f / m for f, m in zip(runs["full"]["times"], runs["mae"]["times"])]
  rows = []
  for variant, ratio in VARIANTS:
    run, c = runs[variant], runs[variant]["trainer"].config
    n = (c.data.image_size // c.model.patch_size) ** 2
    sec = statistics.median(run["times"])
    rows.append({"size": name, "variant": variant, "mask_ratio": ratio,
                 "encoder_tokens": 1 + num_kept(n, ratio), "batch": int(c.data.batch_size),
                 "ms_per_step": 1000 * sec, "steps_per_sec": 1 / sec,
                 "gflop_per_step": run["flops"] / 1e9,
                 "speedup_vs_full": statistics.median(ratios) if variant == "mae" else 1.0})
  return rows


def write(rows: list[dict], stem: str, argv: str, wall_s: float) -> None:
  os.makedirs(os.path.dirname(stem), exist_ok=True)
  with open(stem + ".csv", "w", newline="") as f:
    w = csv.DictWriter(f, FIELDS)
    w.writeheader()
    w.writerows(rows)
  fmt = {"ms_per_step": "{:.1f}", "steps_per_sec": "{:.2f}", "gflop_per_step": "{:.3f}",
         "speedup_vs_full": "{:.2f}"}
  lines = ["# MAE train step vs a full-token encoder of the same size (benchmarks/mae_step.py)",
           "", f"Command: `{argv}` (under `flock /tmp/heavy.lock`; {wall_s:.0f} s wall)", "",
           f"Machine: {machine()}", "",
           f"XLA_FLAGS: `{os.environ.get('XLA_FLAGS', '')}`", "",
           "| " + " | ".join(FIELDS) + " |", "|" + "---|" * len(FIELDS)]
  for r in rows:
    lines.append("| " + " | ".join(fmt.get(k, "{}").format(r[k]) for k in FIELDS) + " |")
  lines += ["", "ms/step: median over interleaved timed blocks (same batch, after compile and "
            "warm-up); speedup_vs_full: median over rounds of full ms / mae ms. `mae` runs "
            "the encoder on 1 + 16 tokens, `full` on 1 + 64; both decoders see 65 tokens. "
            "GFLOP from XLA's cost analysis of the compiled step. A shared machine: compare "
            "medians of reruns."]
  with open(stem + ".md", "w") as f:
    f.write("\n".join(lines) + "\n")


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--quick", action="store_true", help="3 rounds of 3 steps, digits size only")
  p.add_argument("--steps", type=int, default=5)
  p.add_argument("--repeats", type=int, default=7)
  p.add_argument("--out", default="")
  a = p.parse_args(argv)
  steps, repeats = (3, 3) if a.quick else (a.steps, a.repeats)
  t0 = time.perf_counter()
  rows = []
  for name, overrides in (SIZES[:1] if a.quick else SIZES):
    for row in measure_size(name, overrides, steps, repeats):
      print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in row.items()), flush=True)
      rows.append(row)
  stem = a.out or os.path.join(RESULTS, f"mae_step_{jax.devices()[0].platform}"
                               + ("_quick" if a.quick else ""))
  write(rows, stem, "python -m benchmarks.mae_step " + " ".join(
      sys.argv[1:] if argv is None else argv), time.perf_counter() - t0)
  print(f"wrote {stem}.csv and {stem}.md")
  return 0


if __name__ == "__main__":
  sys.exit(main())
