"""End-to-end fine-tuning of an MAE pre-trained encoder vs the same architecture fine-tuned
from its random init (the `fine_tune` evaluator, configs/mae.py's fine_tune keys), from a
finished run of configs/mae.py. MAE's claim beyond the linear probe: pre-training helps
fine-tuning too.

  .venv/bin/python -m benchmarks.mae_fine_tune runs/mae_digits   # -> results/mae_fine_tune_digits.{csv,md}
"""
from __future__ import annotations

from lib.xla_cpu_flags import apply_cpu_flags

apply_cpu_flags()  # before jax starts a backend

import argparse
import csv
import os
import sys
import tempfile
import time

import jax

from benchmarks.machine import machine

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def _config(workdir: str, steps: int):
  from configs import mae
  from lib.train.config_io import config_from_json
  from lib.train.workdir import read_config_json
  config = config_from_json(read_config_json(workdir))
  variant = config.data.source
  fresh = mae.get_config(variant)
  config.unlock()
  config.fine_tune = fresh.fine_tune
  config.fine_tune.steps = steps
  config.eval.evaluators = ("fine_tune",)
  return config, variant


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("workdir")
  p.add_argument("--steps", type=int, default=300)
  args = p.parse_args(argv)
  from lib.train import evaluators as evaluators_lib
  from lib.train.loop import Trainer
  from lib.train.offline import evaluate
  config, variant = _config(args.workdir, args.steps)
  rows = []
  t0 = time.time()
  out = evaluate(config, args.workdir, only=("fine_tune",))
  rows.append(dict(encoder="MAE pre-trained", **out))
  trainer = Trainer(config, tempfile.mkdtemp(prefix="mae_ft_random_"))
  state = trainer.initial_state()
  (_, fine_tune), = evaluators_lib.make_evaluators(config, trainer.task, trainer.mesh,
                                                   trainer.state_shardings, trainer.workdir)
  with jax.set_mesh(trainer.mesh):
    rows.append(dict(encoder="random init", step=0, **fine_tune(state, 0, True)))
  wall = time.time() - t0
  name = f"mae_fine_tune_{variant}"
  os.makedirs(RESULTS, exist_ok=True)
  fields = ("encoder", "step", "fine_tune_accuracy", "fine_tune_loss")
  with open(os.path.join(RESULTS, name + ".csv"), "w", newline="") as f:
    w = csv.DictWriter(f, fields, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
  f = config.fine_tune
  lines = [f"# MAE fine-tuning on {variant}: pre-trained vs random init", "",
           f"Command: `python -m benchmarks.mae_fine_tune {args.workdir} --steps {args.steps}` "
           f"({wall:.0f} s wall)", "", f"Machine: {machine()}", "",
           f"Recipe (`fine_tune` evaluator): {f.steps} steps of batch {f.batch_size}, AdamW "
           f"lr {f.learning_rate} (warm-up + cosine), weight decay {f.weight_decay}, label "
           f"smoothing {f.label_smoothing}; encoder + a new linear head on the [class] token; "
           f"accuracy on the whole test split.", "",
           "| encoder | checkpoint step | fine-tune test accuracy | last train loss |",
           "|---|---|---|---|"]
  lines += [f"| {r['encoder']} | {r['step']} | {r['fine_tune_accuracy']:.3f} | "
            f"{r['fine_tune_loss']:.3f} |" for r in rows]
  with open(os.path.join(RESULTS, name + ".md"), "w") as fh:
    fh.write("\n".join(lines) + "\n")
  print("\n".join(lines))
  return 0


if __name__ == "__main__":
  sys.exit(main())
