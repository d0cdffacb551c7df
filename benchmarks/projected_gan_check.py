"""Projected GAN check: "Projected GAN reaches a given FID in fewer G steps than the same G
with a plain D" (Sauer et al. 2021, Sec. 5 and Fig. 1: convergence in images seen).

Two runs of the same DCGAN G, seed, steps, batch 64, hinge loss, DiffAugment
'color,translation,cutout', Adam (2e-4, betas 0, 0.99) and EMA of G, that differ only in D:

  projected  configs/projected_gan.py:digits          frozen vit_digits + CCM/CSM + 4 mini-Ds
  plain      configs/projected_gan.py:digits,d=plain  the DCGAN D (BatchNorm, width 32)

Domain FID (1000 samples of the EMA G against 1000 train digits) every `--every` steps and at
the end. Caveat: the evaluators' feature space (vit_digits) is the projected D's own feature
network, so its FID may favour Projected GAN for a reason other than convergence (Kynkaanniemi
et al. 2023 on FID and ImageNet features); each evaluation therefore also reports FID in the
features of a second, independent classifier, vit_digits_thick (trained on the thick-stroke
digits, never seen by either D): `fid_thick`.

  flock /tmp/heavy.lock .venv/bin/python -m benchmarks.projected_gan_check --steps 600 --every 150

Writes benchmarks/results/projected_gan_check.{csv,md}.
"""
from __future__ import annotations

from lib.xla_cpu_flags import apply_cpu_flags

apply_cpu_flags()  # before jax starts a backend

import argparse
import csv
import dataclasses
import json
import os
import time

import ml_collections
import numpy as np

from benchmarks.machine import machine
from lib.train import generator_evaluators as gev
from lib.train.evaluators import register
from lib.train.writers import read_metrics

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "projected_gan_check")
SECOND = "vit_digits_thick"
RUNS = {"projected": "digits", "plain": "digits,d=plain"}


@register("fid_thick")
def _fid_second_extractor(ctx):
  """FID of the same fixed-noise samples in the features of `SECOND`."""
  config = ml_collections.ConfigDict(ctx.config.to_dict())
  config.eval.extractor = SECOND
  sh = gev.shared(dataclasses.replace(ctx, config=config))

  def run(state, step, final):
    feats, _, _ = sh.samples(state, step)
    return {"fid_thick": float(gev.frechet_distance_from_features(feats,
                                                                  sh.reference_features()))}
  return run


def config_of(arg: str, steps: int, every: int, samples: int = 1000):
  from configs import projected_gan
  c = projected_gan.get_config(arg)
  c.total_steps = steps
  c.log_every = min(50, every)
  c.eval.every_steps = every
  c.checkpoint.every_steps = steps
  c.checkpoint.async_save = False
  c.eval.evaluators = ("samples", "fid", "fid_thick")
  c.eval.metric_samples = samples
  return c


def train(name: str, arg: str, steps: int, every: int, root: str,
          samples: int) -> tuple[str, float]:
  from lib.train.loop import Trainer
  workdir = os.path.join(root, name)
  wall_file = os.path.join(workdir, "check_wall.json")
  if not os.path.exists(os.path.join(workdir, "results.json")):
    start = time.time()
    Trainer(config_of(arg, steps, every, samples), workdir).run()
    with open(wall_file, "w") as f:
      json.dump({"wall_s": time.time() - start}, f)
  if os.path.exists(wall_file):
    with open(wall_file) as f:
      return workdir, json.load(f)["wall_s"]
  # a finished run from before the wall file: its config.json to its results.json
  mtime = lambda n: os.path.getmtime(os.path.join(workdir, n))
  return workdir, mtime("results.json") - mtime("config.json")


def curve(workdir: str) -> list[dict]:
  """(step, fid, fid_thick) at every evaluation, from metrics.jsonl (the final one included)."""
  out = [{"step": int(r["step"]), "fid": r["fid"], "fid_thick": r.get("fid_thick", float("nan"))}
         for r in read_metrics(workdir) if "fid" in r]
  return sorted(out, key=lambda r: r["step"])


def seconds_per_step(workdir: str) -> float:
  rates = [r["steps_per_sec"] for r in read_metrics(workdir) if "steps_per_sec" in r][1:]
  return float(1.0 / np.median(rates)) if rates else float("nan")


def first_step_at(points: list[dict], key: str, target: float):
  for p in points:
    if p[key] <= target:
      return p["step"]
  return None


def plot(csv_path: str, png_path: str, root: str) -> None:
  """FID against G step per run (both feature spaces) from the stored CSV, and the runs' final
  sample grids (root/<run>/samples/final.png, where the workdirs still exist) beside it."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  with open(csv_path, newline="") as f:
    rows = list(csv.DictReader(f))
  runs = list(dict.fromkeys(r["run"] for r in rows))
  grids = [(n, os.path.join(root, n, "samples", "final.png")) for n in runs]
  grids = [(n, p) for n, p in grids if os.path.exists(p)]
  fig, axes = plt.subplots(1, 1 + len(grids), figsize=(4.5 + 3 * len(grids), 3.5))
  axes = list(axes) if grids else [axes]
  for name in runs:
    pts = [r for r in rows if r["run"] == name]
    steps = [int(r["step"]) for r in pts]
    axes[0].plot(steps, [float(r["fid"]) for r in pts], "o-", label=f"{name}: fid")
    axes[0].plot(steps, [float(r["fid_thick"]) for r in pts], "s--", label=f"{name}: fid_thick")
  axes[0].set(xlabel="G step", ylabel="domain FID", yscale="log")
  axes[0].legend(fontsize=7)
  for ax, (name, path) in zip(axes[1:], grids):
    ax.imshow(plt.imread(path), cmap="gray")
    ax.set_title(f"{name}: final samples", fontsize=9)
    ax.axis("off")
  fig.tight_layout()
  fig.savefig(png_path, dpi=120)


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--steps", type=int, default=600)
  ap.add_argument("--every", type=int, default=150)
  ap.add_argument("--root", default="/tmp/projected_gan_check")
  ap.add_argument("--samples", type=int, default=1000, help="samples per FID (and reals)")
  ap.add_argument("--out", default=OUT, help="results path without .csv / .md")
  ap.add_argument("--plot-only", action="store_true",
                  help="redraw the PNG from the stored CSV (and the workdirs under --root)")
  a = ap.parse_args(argv)
  if a.plot_only:
    plot(a.out + ".csv", a.out + ".png", a.root)
    return 0
  results = {}
  for name, arg in RUNS.items():
    workdir, wall = train(name, arg, a.steps, a.every, a.root, a.samples)
    results[name] = {"points": curve(workdir), "wall_s": wall,
                     "s_per_step": seconds_per_step(workdir), "arg": arg}
    print(name, json.dumps(results[name]), flush=True)
  total = sum(r["wall_s"] for r in results.values())

  os.makedirs(os.path.dirname(a.out), exist_ok=True)
  with open(a.out + ".csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["run", "config", "step", "fid", "fid_thick", "s_per_step", "wall_s"])
    for name, r in results.items():
      for p in r["points"]:
        w.writerow([name, f"configs/projected_gan.py:{r['arg']}", p["step"], f"{p['fid']:.3f}",
                    f"{p['fid_thick']:.3f}", f"{r['s_per_step']:.3f}", f"{r['wall_s']:.0f}"])

  pg, pl = results["projected"]["points"], results["plain"]["points"]
  lines = [
      "# Projected GAN check: FID against G steps, projected D vs plain D (same G)", "",
      f"Machine: {machine()}. Command: `flock /tmp/heavy.lock .venv/bin/python -m "
      f"benchmarks.projected_gan_check --steps {a.steps} --every {a.every} "
      f"--samples {a.samples}` "
      f"({total / 60:.1f} min wall for both runs, evaluation included).", "",
      "Both runs: DCGAN G (width 32, z 100), batch 64, hinge loss, DiffAugment "
      "'color,translation,cutout', Adam 2e-4 betas (0, 0.99), EMA of G (official half-life "
      "batch x 10 / 32 kimg, ramp-up 0.05), seed 0; only D differs. FID: 1000 samples of the "
      "EMA G against 1000 train digits, in the features of vit_digits (`fid`: the evaluators' "
      "default, which is also the projected D's feature network) and of vit_digits_thick "
      "(`fid_thick`: a classifier neither D uses). One seed: differences of a few FID points "
      "at one step are within seed noise.", "",
      "| step | projected fid | plain fid | projected fid_thick | plain fid_thick |",
      "|---|---|---|---|---|"]
  by_step = {p["step"]: p for p in pl}
  for p in pg:
    q = by_step.get(p["step"], {"fid": float("nan"), "fid_thick": float("nan")})
    lines.append(f"| {p['step']} | {p['fid']:.2f} | {q['fid']:.2f} | {p['fid_thick']:.2f} | "
                 f"{q['fid_thick']:.2f} |")
  lines += ["", "| run | s / step | wall (s, eval and compile included) |", "|---|---|---|"]
  for name, r in results.items():
    lines.append(f"| {name} | {r['s_per_step']:.3f} | {r['wall_s']:.0f} |")
  lines += [""]
  for key in ("fid", "fid_thick"):
    target = pl[-1][key]
    s_pg = first_step_at(pg, key, target)
    at = f"step {s_pg}" if s_pg is not None else "no evaluated step of the run"
    lines.append(f"- {key}: the plain D's final {target:.2f} (step {pl[-1]['step']}) is reached "
                 f"by Projected GAN at {at}"
                 f"; Projected GAN's final {pg[-1][key]:.2f}.")
  lines += ["", "Curves and final sample grids: projected_gan_check.png."]
  with open(a.out + ".md", "w") as f:
    f.write("\n".join(lines) + "\n")
  plot(a.out + ".csv", a.out + ".png", a.root)
  print("\n".join(lines))
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
