"""FSQ against VQ at equal codebook size on digits (issue 14's check; FSQ paper, Sec. 4 / Fig. 4:
FSQ uses almost all of its codebook where VQ leaves most codes dead).

Each quantizer trains the same tokenizer (configs/vqgan.py's builder: the same encoder, decoder,
optimizer, data and number of steps) with a codebook of the same size: FSQ levels (8, 5, 5, 5)
= 1000 codes against VQ (and, with --quantizers, EMA-VQ) with num_codes = 1000. The scores are
the `reconstruction` evaluator's on the eval split: codebook usage (fraction of codes used at
least once), perplexity, L1 and PSNR.

  .venv/bin/python -m benchmarks.quantizer_usage --workdir runs/quantizer_usage \\
      --out benchmarks/results/quantizer_usage_digits
"""
from __future__ import annotations

from lib.xla_cpu_flags import apply_cpu_flags

apply_cpu_flags()  # before jax starts a backend

import argparse
import csv
import json
import math
import os
import sys
import time

from benchmarks.machine import machine

FIELDS = ("quantizer", "codebook_size", "steps", "eval_codebook_usage", "codes_used",
          "eval_perplexity", "l1", "psnr", "train_seconds")


def quantizer_config(name: str, codebook_size: int, steps: int):
  from configs.vqgan import tokenizer_config
  c = tokenizer_config(f"digits,quantizer={name},steps={steps}", name, "configs/vqgan.py")
  if name == "fsq":
    levels = tuple(c.model.quantizer_kwargs.levels)
    if math.prod(levels) != codebook_size:
      raise SystemExit(f"FSQ levels {levels} give {math.prod(levels)} codes, not "
                       f"--codebook_size {codebook_size}")
  else:
    c.model.quantizer_kwargs.num_codes = codebook_size
  c.eval.every_steps = steps
  c.checkpoint.every_steps = steps
  c.checkpoint.async_save = False
  return c


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--workdir", required=True, help="one run per quantizer goes under it")
  p.add_argument("--quantizers", default="vq,fsq")
  p.add_argument("--codebook_size", type=int, default=1000, help="FSQ (8,5,5,5) = 1000")
  p.add_argument("--steps", type=int, default=300)
  p.add_argument("--out", required=True, help="path prefix of the .csv and .md")
  a = p.parse_args(argv)
  from lib.train.loop import Trainer
  rows = []
  for name in a.quantizers.split(","):
    config = quantizer_config(name, a.codebook_size, a.steps)
    wd = os.path.join(a.workdir, name)
    if os.path.exists(os.path.join(wd, "results.json")):
      raise SystemExit(f"{wd} already holds a finished run: give a new --workdir")
    t0 = time.perf_counter()
    Trainer(config, wd).run()
    sec = time.perf_counter() - t0
    with open(os.path.join(wd, "results.json")) as f:
      r = json.load(f)
    rows.append({"quantizer": name, "codebook_size": a.codebook_size, "steps": r["step"],
                 "eval_codebook_usage": r["eval_codebook_usage"],
                 "codes_used": round(r["eval_codebook_usage"] * a.codebook_size),
                 "eval_perplexity": r["eval_perplexity"], "l1": r["recon_l1"], "psnr": r["psnr"],
                 "train_seconds": round(sec, 1)})
    print(rows[-1], flush=True)
  os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
  with open(a.out + ".csv", "w", newline="") as f:
    w = csv.DictWriter(f, FIELDS)
    w.writeheader()
    w.writerows(rows)
  cmd = "python -m benchmarks.quantizer_usage " + " ".join(argv if argv else sys.argv[1:])
  lines = [f"# Codebook usage at equal codebook size ({a.codebook_size} codes), digits", "",
           f"Command: `{cmd}`", "", f"Machine: {machine()}", "",
           f"The tokenizer of configs/vqgan.py:digits, {a.steps} steps each, the same seed; "
           "scores on the eval split (the `reconstruction` evaluator).", "",
           "| quantizer | codes used | usage | perplexity | L1 | PSNR (dB) | wall s |",
           "|---|---|---|---|---|---|---|"]
  for r in rows:
    lines.append(f"| {r['quantizer']} | {r['codes_used']} / {r['codebook_size']} | "
                 f"{r['eval_codebook_usage']:.3f} | {r['eval_perplexity']:.1f} | {r['l1']:.4f} | "
                 f"{r['psnr']:.2f} | {r['train_seconds']:.0f} |")
  with open(a.out + ".md", "w") as f:
    f.write("\n".join(lines) + "\n")
  print(f"wrote {a.out}.csv and {a.out}.md")
  return 0


if __name__ == "__main__":
  sys.exit(main())
