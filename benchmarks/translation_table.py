"""The translation table (issue 16): reads finished translation runs' results.json and
metrics.jsonl and writes benchmarks/results/translation_digits.{csv,md} and the grid of the
first run (its samples/final.png) as translation_digits.png; a run with CAM heatmaps
(U-GAT-IT) also gets its heatmap grid as translation_<NAME>_cam.png.

  python -m benchmarks.translation_table NAME=WORKDIR [NAME=WORKDIR ...]
e.g. cyclegan=/work/runs/cyclegan_digits pix2pix=/work/runs/pix2pix_edges

The stored CSV's rows of runs not named are kept (their workdirs may be gone); a named run
replaces its row.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import sys

from benchmarks.machine import machine
from lib.train.writers import read_metrics

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "translation_digits")
COLUMNS = ("run", "config", "step", "fid_ab", "fid_input_ab", "fid_ba", "label_preservation_ab",
           "label_preservation_ba", "classifier_acc_a", "classifier_acc_b", "cycle_l1", "l1",
           "psnr", "ssim", "cam_object_fraction", "foreground_fraction",
           "protocol/label_classifier_b", "train_seconds")


def row_of(name: str, workdir: str) -> dict:
  with open(os.path.join(workdir, "results.json")) as f:
    results = json.load(f)
  evals = sorted(p for p in os.listdir(workdir) if p.startswith("results_eval_step"))
  for p in evals:                          # a later --mode eval adds metrics (cycle_l1)
    with open(os.path.join(workdir, p)) as f:
      results = {**json.load(f), **results}
  with open(os.path.join(workdir, "config.json")) as f:
    cfg = json.load(f)
  seconds = [r["time/train_seconds"] for r in read_metrics(workdir) if "time/train_seconds" in r]
  if seconds:
    results = {**results, "train_seconds": float(round(seconds[-1]))}
  row = {"run": name, "config": f"{cfg.get('generator', {}).get('name', '')}:"
                                f"{cfg['data'].get('pair', '')}"}
  for k in COLUMNS[2:]:
    v = results.get(k, "")
    row[k] = f"{v:.4g}" if isinstance(v, float) else v
  return row


def stored_rows() -> list[dict]:
  """The rows of the stored CSV (columns it lacks left empty)."""
  if not os.path.exists(OUT + ".csv"):
    return []
  with open(OUT + ".csv", newline="") as f:
    return [{c: r.get(c) or "" for c in COLUMNS} for r in csv.DictReader(f)]


def merge(old: list[dict], new: list[dict]) -> list[dict]:
  """The old rows in order, each replaced by the new row of the same run; new runs last."""
  by_name = {r["run"]: r for r in new}
  out = [by_name.pop(r["run"], r) for r in old]
  return out + [r for r in new if r["run"] in by_name]


def main(argv):
  named = [row_of(*a.split("=", 1)) for a in argv]
  rows = merge(stored_rows(), named)
  os.makedirs(os.path.dirname(OUT), exist_ok=True)
  with open(OUT + ".csv", "w", newline="") as f:
    w = csv.DictWriter(f, COLUMNS)
    w.writeheader()
    w.writerows(rows)
  with open(OUT + ".md", "w") as f:
    f.write("# Image-to-image translation on the embedded digit pairs\n\n")
    f.write(f"Machine: {machine()}\n\n")
    f.write("Runs: " + ", ".join(argv) + " (other rows: kept from the stored CSV; rows "
            "without protocol/label_classifier_b read labels with eval.extractor, "
            "vit_digits)\n\n")
    f.write("| " + " | ".join(COLUMNS) + " |\n|" + "---|" * len(COLUMNS) + "\n")
    for r in rows:
      f.write("| " + " | ".join(str(r[c]) for c in COLUMNS) + " |\n")
  first = argv[0].split("=", 1)[1]
  shutil.copyfile(os.path.join(first, "samples", "final.png"), OUT + ".png")
  for a in argv:
    name, workdir = a.split("=", 1)
    cam = os.path.join(workdir, "samples", "cam_heatmaps_final.png")
    if os.path.exists(cam):
      shutil.copyfile(cam, os.path.join(os.path.dirname(OUT), f"translation_{name}_cam.png"))
  print(open(OUT + ".md").read())


if __name__ == "__main__":
  main(sys.argv[1:])
