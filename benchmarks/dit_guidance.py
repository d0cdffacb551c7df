"""Classifier-free guidance sweep of a trained class-conditional diffusion run (issue 15).

For each guidance scale s, `metric_samples` samples with the same noise and the same labels
(cycling through the classes), scored as the loop's evaluators score them
(lib/train/generator_evaluators.generated_features): conditional accuracy of the project's
domain classifier and domain FID against the run's reference split; one grid per scale
(a row per class, the same noise across scales) beside the table.

  make bench-diffusion   (after training runs/dit_digits, see configs/dit.py)
  .venv/bin/python -m benchmarks.dit_guidance --workdir /work/runs/dit_digits \
      --scales 1,1.5,2,3,4,6 --out benchmarks/results/dit_guidance_digits
"""
from __future__ import annotations

from lib.xla_cpu_flags import apply_cpu_flags

apply_cpu_flags()  # before jax starts a backend

import argparse
import csv
import os
import sys
import time

import jax
import numpy as np

from benchmarks.machine import machine

FIELDS = ("guidance_scale", "conditional_accuracy", "fid", "num_samples", "sample_seconds")


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--workdir", required=True)
  p.add_argument("--scales", default="1,1.5,2,3,4,6")
  p.add_argument("--samples", type=int, default=0, help="0: the run's eval.metric_samples")
  p.add_argument("--out", required=True)
  a = p.parse_args(argv)
  from lib.metrics.extractor import compute_features
  from lib.metrics.frechet import frechet_distance_from_features
  from lib.train import generator_evaluators as ge
  from lib.train.image_grid import save_grid
  from lib.train.restore import restore_run
  config, task, state, step = restore_run(a.workdir)
  n = a.samples or int(config.eval.metric_samples)
  batch = min(250, n)
  k = task.num_conditional_classes(config)
  extractor = ge.load_extractor(config.eval.extractor)
  ref = np.asarray(compute_features(extractor, ge.reference_images(config, n, batch)),
                   np.float64)
  rng = jax.random.key(config.seed + 12345)           # the evaluators' fixed noise
  rows = []
  for s in [float(v) for v in a.scales.split(",")]:
    fn = jax.jit(lambda st, r, l, s=s: task.sample(config, st, r, batch, l, guidance_scale=s))
    t0 = time.perf_counter()
    feats, logits, labels = ge.generated_features(lambda r, l: fn(state, r, l), extractor, n,
                                                  batch, k, rng)
    sec = time.perf_counter() - t0
    acc = float(np.mean(np.argmax(logits, -1) == labels))
    fid = float(frechet_distance_from_features(feats, ref))
    rows.append({"guidance_scale": s, "conditional_accuracy": acc, "fid": fid,
                 "num_samples": n, "sample_seconds": sec})
    print(rows[-1], flush=True)
    grid_labels = np.repeat(np.arange(k), 10).astype(np.int32)
    grid = jax.jit(lambda st, r, l, s=s: task.sample(config, st, r, len(grid_labels), l,
                                                     guidance_scale=s))(
        state, jax.random.key(7919), grid_labels)
    save_grid(f"{a.out}_s{s:g}.png", np.asarray(jax.device_get(grid)), 10)
  os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
  with open(a.out + ".csv", "w", newline="") as f:
    w = csv.DictWriter(f, FIELDS)
    w.writeheader()
    w.writerows(rows)
  cmd = "python -m benchmarks.dit_guidance " + " ".join(sys.argv[1:] if argv is None else argv)
  lines = [f"# Classifier-free guidance sweep: {a.workdir} at step {step}", "",
           f"Command: `{cmd}`", "", f"Machine: {machine()}", "",
           f"Sampler: {config.diffusion.formulation} "
           f"({config.diffusion.ddpm.sampler if config.diffusion.formulation == 'ddpm' else config.diffusion.edm.solver}); "
           f"EMA params; {n} samples per scale, the same noise and labels at every scale; "
           f"classifier and FID features: {extractor.name} (domain FID against {n} "
           f"{config.eval.reference_split} digits).", "",
           "| guidance scale | conditional accuracy | domain FID | sampling s |", "|---|---|---|---|"]
  for r in rows:
    lines.append(f"| {r['guidance_scale']:g} | {r['conditional_accuracy']:.3f} | "
                 f"{r['fid']:.2f} | {r['sample_seconds']:.1f} |")
  lines += ["", "s = 1 is the conditional model without guidance; grids: "
            f"{os.path.basename(a.out)}_s<scale>.png (a row per class, the same noise)."]
  with open(a.out + ".md", "w") as f:
    f.write("\n".join(lines) + "\n")
  print(f"wrote {a.out}.csv and {a.out}.md")
  return 0


if __name__ == "__main__":
  sys.exit(main())
