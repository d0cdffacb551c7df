"""One table for the miniature LRA study (the paper's Tables 1 and 2 side by side): per task and
attention kernel, accuracy (mean and 95% bootstrap interval over seeds), steps/s and the
compiled step's memory relative to the vanilla transformer; read back from the study folders
that `make study-lra` wrote (lib.studies.report), never typed.

  python -m benchmarks.lra_summary runs/lra_study --out benchmarks/results/studies/lra_attention
"""
from __future__ import annotations

import argparse
import os
import shutil

from lib.studies import report

TASKS = ("listops", "digits", "pathfinder")
KEY = "model.attention"


def task_rows(folder: str) -> list[dict]:
  plan, rows = report.read_runs(folder)
  summary = report.summarize(plan, rows)
  base = next(s for s in summary if s["setting"][KEY] == "dot_product")
  out = []
  for s in summary:
    acc = s["metrics"]["accuracy"]
    ratio = lambda m: s["metrics"][m]["mean"] / base["metrics"][m]["mean"]  # noqa: E731
    out.append(dict(kernel=s["setting"][KEY], n=s["n"], acc=acc["mean"], low=acc["low"],
                    high=acc["high"], speed=ratio("steps_per_sec"),
                    memory=ratio("step_memory_bytes"),
                    steps_per_sec=s["metrics"]["steps_per_sec"]["mean"]))
  return out


def markdown(root: str) -> str:
  lines = ["| task | attention | seeds | accuracy | 95% interval | steps/s | speed vs vanilla | "
           "step memory vs vanilla |", "|---|---|---|---|---|---|---|---|"]
  for task in TASKS:
    folder = os.path.join(root, task)
    if not os.path.exists(os.path.join(folder, "sweep.json")):
      continue
    for r in task_rows(folder):
      lines.append(f"| {task} | {r['kernel']} | {r['n']} | {r['acc']:.3f} | "
                   f"[{r['low']:.3f}, {r['high']:.3f}] | {r['steps_per_sec']:.1f} | "
                   f"{r['speed']:.2f}x | {r['memory']:.2f}x |")
  return "\n".join(lines) + "\n"


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("root")
  p.add_argument("--out", default="")
  args = p.parse_args(argv)
  table = markdown(args.root)
  print(table)
  if args.out:
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "summary_table.md"), "w") as f:
      f.write(table)
    for task in TASKS:     # each task's own report: results.csv, results.md, sweep.json, PNGs
      src, dst = os.path.join(args.root, task), os.path.join(args.out, task)
      if not os.path.isdir(src):
        continue
      os.makedirs(dst, exist_ok=True)
      for name in os.listdir(src):
        if name.endswith((".csv", ".md", ".png")) or name == "sweep.json":
          shutil.copy(os.path.join(src, name), os.path.join(dst, name))
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
