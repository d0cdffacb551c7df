"""Score distributions of the GAN losses x regularizers study (configs/gan_study.py), read back
from the study folder (lib.studies.report), never typed: per loss and regularizer the metric of
every seed, its mean and std, the mean precision / recall / density / coverage where the runs
have them, and the paired difference to the same loss without a regularizer over the same seeds
(a seed fixes the init and the data order, so pairs remove the seed's share of the spread)
with its 95% bootstrap interval.

  python -m benchmarks.gan_study_summary /tmp/gan_study_digits >> results.md
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from lib.studies import report
from lib.studies.bootstrap import mean_interval

REGULARIZER_KEYS = ("gan.r1_gamma", "gan.r2_gamma", "gan.gp_weight")
EXTRA = ("precision", "recall", "density", "coverage")


def regularizer_name(row: dict) -> str:
  r1, r2, gp = (float(row.get(k) or 0.0) for k in REGULARIZER_KEYS)
  return "gp" if gp else "r1r2" if r1 and r2 else "r1" if r1 else "r2" if r2 else "none"


def summary_markdown(root: str) -> str:
  plan, rows = report.read_runs(root)
  metric = plan["metric"]
  done = [r for r in rows if r.get("status") == "finished" and metric in r]
  seeds = sorted({r["seed"] for r in done})
  by = {(r["gan.loss"], regularizer_name(r), r["seed"]): r for r in done}
  losses = list(dict.fromkeys(r["gan.loss"] for r in done))
  regs = list(dict.fromkeys(regularizer_name(r) for r in done))
  extra = [m for m in EXTRA if any(m in r for r in done)]
  head = (f"| loss | regularizer | {metric} per seed ({', '.join(map(str, seeds))}) | mean +- std"
          f" | paired diff. to none | 95% interval | " + " | ".join(f"{m} mean" for m in extra)
          + " |")
  lines = [head, "|" + "---|" * (6 + len(extra))]
  for loss in losses:
    for reg in regs:
      members = [by[(loss, reg, s)] for s in seeds if (loss, reg, s) in by]
      vals = [m[metric] for m in members]
      if not vals:
        continue
      pairs = [by[(loss, reg, s)][metric] - by[(loss, "none", s)][metric] for s in seeds
               if (loss, reg, s) in by and (loss, "none", s) in by]
      if reg != "none" and pairs:
        lo, hi = mean_interval(pairs)
        diff, interval = f"{np.mean(pairs):+.2f}", f"[{lo:+.2f}, {hi:+.2f}]"
      else:
        diff, interval = "", ""
      cells = [loss, reg, " ".join(f"{v:.2f}" for v in vals),
               f"{np.mean(vals):.2f} +- {np.std(vals, ddof=1) if len(vals) > 1 else 0:.2f}",
               diff, interval]
      cells += [f"{np.mean([m[e] for m in members if e in m]):.3f}" for e in extra]
      lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines)


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("root")
  print(summary_markdown(p.parse_args(argv).root))
  return 0


if __name__ == "__main__":
  sys.exit(main())
