"""Linear probe of an MAE pre-trained encoder vs the same encoder at random init (issue 13,
claim 2), from a finished run of configs/mae.py.

The `linear_probe` evaluator already stores both accuracies in the run's results.json (the
random init being the run's own init). This re-probes the checkpoint (lib.analysis.load_run)
and adds what one run cannot say: the random-init baseline over several init seeds, and both
poolings ([class] token, the paper's linear probe; mean of the patch tokens), and the same
probe on the raw pixels as the floor any encoder is measured against. The probe is
lib/analysis/probes.linear_probe (softmax regression, full-batch Adam, standardised
features) on the whole train split, accuracy on the whole test split.

  .venv/bin/python -m benchmarks.mae_probe runs/mae_digits    # -> results/mae_probe_<src>.{csv,md}
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time

import jax
import numpy as np

from benchmarks.machine import machine

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
FIELDS = ("encoder", "init_seed", "pool", "test_accuracy", "train_accuracy", "num_train",
          "num_test")


def split_arrays(config, split: str):
  from lib.data.sources import make_source
  src = make_source(config.data, split)
  ex = [src[i] for i in range(len(src))]
  return np.stack([e["image"] for e in ex]), np.array([e["label"] for e in ex])


def probe_state(config, task, state, data, pool: str) -> dict:
  from lib.analysis.probes import linear_probe
  config = config.copy_and_resolve_references()
  config.probe.pool = pool
  feats = jax.jit(lambda s, x: task.features(config, s, x))
  f = {k: np.concatenate([np.asarray(feats(state, x[i:i + 256])) for i in range(0, len(x), 256)])
       for k, (x, _) in data.items()}
  out = linear_probe(f["train"], data["train"][1], f["test"], data["test"][1],
                     steps=int(config.probe.steps), learning_rate=float(config.probe.learning_rate),
                     l2=float(config.probe.l2), seed=int(config.seed))
  return out


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("workdir")
  p.add_argument("--init_seeds", type=int, default=3, help="random-init encoders to probe")
  p.add_argument("--out", default="")
  a = p.parse_args(argv)
  from lib.analysis import load_run
  t0 = time.perf_counter()
  run = load_run(a.workdir)
  c, task = run.config, run.task
  data = {"train": split_arrays(c, c.data.train_split), "test": split_arrays(c, c.data.eval_split)}
  n_train, n_test = len(data["train"][1]), len(data["test"][1])
  from lib.analysis.probes import linear_probe
  pixels = linear_probe(data["train"][0], data["train"][1], data["test"][0], data["test"][1],
                        steps=int(c.probe.steps), learning_rate=float(c.probe.learning_rate),
                        l2=float(c.probe.l2), seed=int(c.seed))
  rows = [dict(encoder="raw pixels (no encoder)", init_seed="", pool="",
               test_accuracy=pixels["accuracy"], train_accuracy=pixels["train_accuracy"])]
  for pool in ("cls", "mean"):
    out = probe_state(c, task, run.state, data, pool)
    rows.append(dict(encoder=f"mae step {run.step}", init_seed=c.seed, pool=pool,
                     test_accuracy=out["accuracy"], train_accuracy=out["train_accuracy"]))
    for s in range(a.init_seeds):
      # seed 0: the run's own init (the loop's init rng), then other draws
      rng = jax.random.split(jax.random.key(c.seed))[0] if s == 0 else jax.random.key(1000 + s)
      state = task.init(c, rng, {"image": data["train"][0][:1]})
      out = probe_state(c, task, state, data, pool)
      rows.append(dict(encoder="random init", init_seed=s, pool=pool,
                       test_accuracy=out["accuracy"], train_accuracy=out["train_accuracy"]))
  for r in rows:
    r.update(num_train=n_train, num_test=n_test)
    print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()),
          flush=True)
  stem = a.out or os.path.join(RESULTS, f"mae_probe_{c.data.source}")
  with open(stem + ".csv", "w", newline="") as f:
    w = csv.DictWriter(f, FIELDS)
    w.writeheader()
    w.writerows(rows)
  lines = [f"# MAE linear probe vs random init, {c.data.source} (benchmarks/mae_probe.py)", "",
           f"Command: `python -m benchmarks.mae_probe {' '.join(sys.argv[1:] if argv is None else argv)}` "
           f"({time.perf_counter() - t0:.0f} s wall)", "",
           f"Machine: {machine()}", "",
           "| " + " | ".join(FIELDS) + " |", "|" + "---|" * len(FIELDS)]
  for r in rows:
    lines.append("| " + " | ".join(f"{r[k]:.4f}" if isinstance(r[k], float) else str(r[k])
                                   for k in FIELDS) + " |")
  with open(stem + ".md", "w") as f:
    f.write("\n".join(lines) + "\n")
  print(f"wrote {stem}.csv and {stem}.md")
  return 0


if __name__ == "__main__":
  sys.exit(main())
