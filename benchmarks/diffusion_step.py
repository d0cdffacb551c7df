"""DiT train-step throughput and achieved FLOP/s against the machine's matmul peak (issue 15).

The step is the loop's own (`lib.train.loop.Trainer`: sharded init, jit with donation), for
`configs/dit.py:shapes,size=<S/2|B/2>`: 32x32x3 inputs with patch 2 give 256 tokens, the
token count of the paper's 256 px models (their 32x32x4 latents); DDPM with the learned
variance (hybrid loss), AdamW, EMA. FLOPs per step from XLA's cost analysis of the compiled
step, peak from `lib.train.observability.peak_flops` (on CPU the cached float32 2048^3 matmul
probe; on GPU the vendor table). Attention: `jax.nn.dot_product_attention` with
implementation=None (XLA on CPU; cuDNN on GPU when the dtype and head size allow).

  make bench-diffusion
  .venv/bin/python -m benchmarks.diffusion_step --sizes S/2 --batch 8 --steps 3 --repeats 3
"""
from __future__ import annotations

from lib.xla_cpu_flags import apply_cpu_flags

apply_cpu_flags()  # before jax starts a backend

import argparse
import os
import sys
import time

import jax

from benchmarks import train_step as ts

FIELDS = ("config", "batch", "steps_per_sec", "ms_per_step", "gflop_per_step",
          "gflop_per_sec", "peak_fraction", "cpu_per_wall", "compile_s")


def measure(size: str, batch: int, steps: int, repeats: int, peak: float) -> dict:
  from lib.train.observability import compiled_cost
  trainer, state, b, rng = ts.build("dit", f"shapes,size={size}", batch)
  with jax.set_mesh(trainer.mesh):
    t0 = time.perf_counter()
    compiled = trainer.step_fn.lower(state, b, rng).compile()
    compile_s = time.perf_counter() - t0
    flops = compiled_cost(compiled).get("flops", float("nan")) * trainer.mesh.size
    state, metrics = trainer.step_fn(state, b, rng)               # warm-up
    jax.block_until_ready(metrics)
    sec, busy, _ = ts.time_steps(trainer.step_fn, state, b, rng, steps, repeats)
  return {"config": f"DiT-{size}", "batch": batch, "steps_per_sec": 1.0 / sec,
          "ms_per_step": 1000.0 * sec, "gflop_per_step": flops / 1e9,
          "gflop_per_sec": flops / sec / 1e9, "peak_fraction": flops / sec / peak,
          "cpu_per_wall": busy, "compile_s": compile_s}


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--sizes", default="S/2,B/2")
  p.add_argument("--batch", type=int, default=8)
  p.add_argument("--steps", type=int, default=3)
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--out", default="")
  a = p.parse_args(argv)
  from lib.train.observability import peak_flops
  peak, peak_source = peak_flops(jax.devices()[0], "float32")
  rows = []
  for size in [s.strip() for s in a.sizes.split(",") if s.strip()]:
    row = measure(size, a.batch, a.steps, a.repeats, peak)
    print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                   for k, v in row.items()), flush=True)
    rows.append(row)
  stem = a.out or os.path.join(ts.RESULTS, f"diffusion_step_{jax.devices()[0].platform}")
  ts.write(rows, stem, peak, peak_source, "python -m benchmarks.diffusion_step " + " ".join(
      sys.argv[1:] if argv is None else argv))
  # the shared writer titles the table for train_step.py: name this benchmark instead
  with open(stem + ".md") as f:
    text = f.read()
  text = text.replace("# Train-step throughput, digits variants (benchmarks/train_step.py)",
                      "# DiT train-step throughput, 256 tokens (benchmarks/diffusion_step.py)")
  text += ("\nDiT-S/2 and DiT-B/2 of Table 1 on 32x32x3 shapes with patch 2 (256 tokens); "
           "DDPM, learned variance, AdamW, EMA. Attention: jax.nn.dot_product_attention, "
           f"XLA path on {jax.devices()[0].platform}.\n")
  with open(stem + ".md", "w") as f:
    f.write(text)
  print(f"wrote {stem}.csv and {stem}.md")
  return 0


if __name__ == "__main__":
  sys.exit(main())
