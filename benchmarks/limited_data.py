"""Limited data (issue 11): StyleGAN2 digits on a fixed subset of `--examples` training digits
(data.train_examples) with no augmentation, ADA, DiffAugment and Diffusion-GAN, the same steps
and seed, one run at a time. ADA's claim (Karras et al. 2020, Sec. 3): without augmentation D
overfits the few reals (r_t = E sign D(x_real) climbs towards 1) and FID degrades; adaptive
augmentation holds r_t near its target (0.6) and lowers FID. Diffusion-GAN's adaptive T is the
same control loop on instance noise.

  python -m benchmarks.limited_data --examples 200 --steps 600 --root /tmp/limited

FID and the other metrics are measured against 1000 digits of the full training split (the
evaluators' reference, not the subset), so they read generalisation, as the paper's FID on
the full dataset does. ADA's adaptation speed is scaled to this length: `--ada-kimg` (default
10: p can move by 1 in 10k images, 312 steps of 32; the paper's 500 kimg is for runs of
10-25M images) for both ADA's p and Diffusion-GAN's T (official 100 kimg, same ratio kept
out: one speed for both controllers, so the comparison is the augmentation, not the gain).
Writes benchmarks/results/limited_data_digits.{csv,md} (`_n<examples>` for other sizes),
the r_t curves (limited_data_digits_rt.png) and the four final sample grids side by side
(limited_data_digits_samples.png).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time

import numpy as np

from benchmarks.machine import machine
from lib.train.writers import read_metrics

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def out_stem(examples: int) -> str:
  """benchmarks/results/limited_data_digits (200 examples) or ..._n<examples>."""
  suffix = "" if examples == 200 else f"_n{examples}"
  return os.path.join(RESULTS, "limited_data_digits" + suffix)


METRICS = ("fid", "kid", "precision", "recall", "density", "coverage")


def runs(examples: int, steps: int, ada_kimg: float) -> dict[str, tuple[str, list[str]]]:
  common = [f"--config.data.train_examples={examples}", f"--config.total_steps={steps}",
            f"--config.eval.every_steps={steps}", f"--config.checkpoint.every_steps={steps}",
            f"--config.log_every={max(steps // 20, 1)}"]
  return {
      "none": ("configs/stylegan2.py:digits", common),
      "ada": ("configs/stylegan2.py:digits",
              common + ["--config.gan.augment=ada", f"--config.gan.ada_kimg={ada_kimg}"]),
      "diffaugment": ("configs/stylegan2.py:digits",
                      common + ["--config.gan.augment=diffaugment",
                                "--config.gan.augment_policy=color,translation,cutout"]),
      "diffusion_gan": ("configs/diffusion_gan.py:digits",
                        common + [f"--config.gan.ada_kimg={ada_kimg}"]),
  }


def train(name: str, config: str, flags: list[str], root: str) -> tuple[str, float]:
  workdir = os.path.join(root, name)
  cmd = [sys.executable, "launch.py", "--config", config, "--workdir", workdir] + flags
  start = time.time()
  if not os.path.exists(os.path.join(workdir, "results.json")):
    subprocess.run(cmd, check=True)
  return workdir, time.time() - start


def rt_curve(workdir: str) -> list[tuple[int, float]]:
  """(step, mean sign of D on the augmented / diffused reals) from the logged rows."""
  return [(int(r["step"]), float(r["d_real_sign"])) for r in read_metrics(workdir)
          if "d_real_sign" in r and "step" in r]


def train_seconds(workdir: str) -> float:
  seconds = [r["time/train_seconds"] for r in read_metrics(workdir) if "time/train_seconds" in r]
  return float(seconds[-1]) if seconds else float("nan")


def row_of(name: str, workdir: str, seconds: float) -> dict:
  with open(os.path.join(workdir, "results.json")) as f:
    res = json.load(f)
  curve = rt_curve(workdir)
  rows = [r for r in read_metrics(workdir) if "step" in r]
  last = rows[-1] if rows else {}
  tail = [v for _, v in curve[-max(len(curve) // 4, 1):]]
  row = {"run": name, "r_t_last_quarter": f"{np.mean(tail):.3f}" if tail else "",
         "p_or_T": (f"T={last['diffusion_T']:.0f}" if "diffusion_T" in last
                    else f"p={last['ada_p']:.3f}" if "ada_p" in last else ""),
         "train_s": f"{train_seconds(workdir):.0f}", "wall_s": f"{seconds:.0f}"}
  for m in METRICS:
    v = res.get(m, "")
    row[m] = f"{v:.4g}" if isinstance(v, float) else v
  return row


def write(rows: list[dict], curves: dict, grids: dict, args) -> str:
  """Writes the table, the r_t plot and the grids; returns the Markdown path."""
  stem = out_stem(args.examples)
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  from PIL import Image
  os.makedirs(os.path.dirname(stem), exist_ok=True)
  cols = ["run"] + list(METRICS) + ["r_t_last_quarter", "p_or_T", "train_s", "wall_s"]
  with open(stem + ".csv", "w", newline="") as f:
    w = csv.DictWriter(f, cols)
    w.writeheader()
    w.writerows(rows)
  with open(stem + ".md", "w") as f:
    f.write(f"# StyleGAN2 digits on {args.examples} training examples\n\n")
    f.write(f"Machine: {machine()}\n\n")
    f.write(f"Command: `python -m benchmarks.limited_data --examples {args.examples} "
            f"--steps {args.steps} --ada-kimg {args.ada_kimg}`; seed 0, batch 32; metrics on "
            "vit_digits features, 1000 samples of the EMA G against 1000 digits of the full "
            "training split. r_t: mean sign of D on what it saw of the reals (augmented / "
            "diffused), last quarter of the logged steps; train_s: training seconds; wall_s: the "
            "whole command with evaluation (0 when the run was already there).\n\n")
    f.write("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n")
    for r in rows:
      f.write("| " + " | ".join(str(r[c]) for c in cols) + " |\n")
    f.write(f"\nSample grids ({os.path.basename(stem)}_samples.png), left to right: "
            + ", ".join(r["run"] for r in rows) + ".\n")
  fig, ax = plt.subplots(figsize=(6, 3.5))
  for name, curve in curves.items():
    if curve:
      s, v = zip(*curve)
      ax.plot(s, v, label=name)
  ax.axhline(0.6, color="gray", ls=":", label="ADA target")
  ax.set(xlabel="G step", ylabel="r_t = E sign D(x_real)", ylim=(-1.05, 1.05))
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(stem + "_rt.png", dpi=120)
  images = [Image.open(p).convert("RGB") for p in grids.values() if os.path.exists(p)]
  if images:
    h = max(i.height for i in images)
    canvas = Image.new("RGB", (sum(i.width for i in images) + 8 * (len(images) - 1), h), "white")
    x = 0
    for im in images:
      canvas.paste(im, (x, 0))
      x += im.width + 8
    canvas.save(stem + "_samples.png")
  return stem + ".md"


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("--examples", type=int, default=200)
  ap.add_argument("--steps", type=int, default=600)
  ap.add_argument("--ada-kimg", type=float, default=10.0)
  ap.add_argument("--root", default="runs/limited_data")
  ap.add_argument("--only", default="", help="comma-separated run names (default: all)")
  args = ap.parse_args(argv)
  plan = runs(args.examples, args.steps, args.ada_kimg)
  names = [n for n in plan if not args.only or n in args.only.split(",")]
  rows, curves, grids = [], {}, {}
  for name in names:
    config, flags = plan[name]
    workdir, seconds = train(name, config, flags, args.root)
    rows.append(row_of(name, workdir, seconds))
    curves[name] = rt_curve(workdir)
    grids[name] = os.path.join(workdir, "samples", "final.png")
  with open(write(rows, curves, grids, args)) as f:
    print(f.read())


if __name__ == "__main__":
  main()
