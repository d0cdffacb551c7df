"""The truncation trick trades recall for precision (BigGAN, Brock et al. 2019, Sec. 3.1 and
Fig. 17): sample a trained class-conditional GAN with z drawn from a normal truncated at
+-t (values outside resampled) for several t, and score each setting with the domain
precision/recall (k = 3), density/coverage (k = 5) and FID of lib/metrics.

Usage (from the repository root, after training a run, e.g. BigGAN on digits):
  python launch.py --config configs/biggan.py:digits --workdir runs/digits_biggan
  python -m benchmarks.truncation --workdir runs/digits_biggan
writes benchmarks/results/truncation_<run name>.{csv,md}. t = 0 means no truncation.
"""
from __future__ import annotations

import argparse
import csv
import os

import jax
import numpy as np

from benchmarks.machine import machine
from lib.analysis import load_run
from lib.metrics import domain_classifier
from lib.metrics.extractor import compute_features
from lib.metrics.frechet import frechet_distance_from_features
from lib.metrics.precision_recall import manifold_metrics
from lib.train.generator_evaluators import generated_features, reference_images

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
TRUNCATIONS = (0.0, 2.0, 1.0, 0.5, 0.25)
BATCH = 250


def truncated_features(run, extractor, n: int, truncation: float, seed: int) -> np.ndarray:
  config = run.config.copy_and_resolve_references()
  config.gan.truncation = truncation
  sample = jax.jit(lambda rng, labels: run.task.sample(config, run.state, rng, BATCH, labels))
  feats, _, _ = generated_features(sample, extractor, n, BATCH,
                                   run.task.num_conditional_classes(config), jax.random.key(seed))
  return feats


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--workdir", required=True)
  ap.add_argument("--num_samples", type=int, default=1000)
  ap.add_argument("--seed", type=int, default=0)
  ap.add_argument("--out", help="output stem (default results/truncation_<run name>)")
  args = ap.parse_args(argv)
  run = load_run(args.workdir)
  extractor = domain_classifier.load(run.config.eval.extractor)
  real = compute_features(extractor, reference_images(run.config, args.num_samples, BATCH))
  rows = []
  for t in TRUNCATIONS:
    fake = truncated_features(run, extractor, args.num_samples, t, args.seed)
    m = manifold_metrics(real, fake)
    rows.append({"truncation": t, "fid": frechet_distance_from_features(fake, real), **m})
    print(rows[-1], flush=True)
  stem = args.out or os.path.join(RESULTS, f"truncation_{os.path.basename(args.workdir.rstrip('/'))}")
  os.makedirs(os.path.dirname(stem), exist_ok=True)
  with open(stem + ".csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
  md = [f"# Truncation trick: {args.workdir}, step {run.step}", "",
        f"Machine: {machine()}. Command: `python -m benchmarks.truncation --workdir "
        f"{args.workdir}`. {args.num_samples} samples of the EMA generator per row against "
        f"{args.num_samples} images of the {run.config.eval.reference_split} split; features of "
        f"{extractor.name} (sha256 {extractor.sha256[:12]}). Truncation 0 = plain N(0, I).", "",
        "| truncation | FID | precision | recall | density | coverage |", "|---|---|---|---|---|---|"]
  md += [f"| {r['truncation']:g} | {r['fid']:.2f} | {r['precision']:.3f} | {r['recall']:.3f} | "
         f"{r['density']:.3f} | {r['coverage']:.3f} |" for r in rows]
  with open(stem + ".md", "w") as f:
    f.write("\n".join(md) + "\n")
  print(f"wrote {stem}.csv, .md")


if __name__ == "__main__":
  main()
