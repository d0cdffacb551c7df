"""The report's run statistics (steps/s, step memory) are read from each run's metrics.jsonl,
and a sweep's columns are shown with their ratio to the baseline setting."""
import json
import os

import numpy as np
import pytest

from lib.errors import ConfigError
from lib.studies import report
from lib.studies.sweep import Sweep, expand, grid


def _write(path, obj):
  with open(path, "w") as f:
    f.write(obj if isinstance(obj, str) else json.dumps(obj))


def _study(root, rates_of):
  runs = []
  for kernel, per_seed in rates_of.items():
    for seed, (rates, memory) in enumerate(per_seed):
      name = f"model.attention={kernel},seed={seed}"
      wd = os.path.join(root, name)
      os.makedirs(wd)
      _write(os.path.join(wd, "config.json"), {"model": {"attention": kernel}, "seed": seed})
      _write(os.path.join(wd, "results.json"), {"step": 10, "accuracy": 0.5 + 0.1 * seed})
      rows = [{"step": 1, "steps_per_sec": 0.01, "compile/total_bytes_per_device": memory}]
      rows += [{"step": i + 2, "steps_per_sec": r} for i, r in enumerate(rates)]
      _write(os.path.join(wd, "metrics.jsonl"),
             "".join(json.dumps(r) + "\n" for r in rows) + '{"step": 99, "steps_per')
      runs.append(dict(name=name, overrides={}, seed=seed))
  _write(os.path.join(root, "sweep.json"), dict(
      spec="t", config="c", config_arg="a", keys=["model.attention"], metric="accuracy",
      mode="max", curve="loss", fixed={}, runs=runs, columns=["steps_per_sec",
                                                             "step_memory_bytes"],
      baseline={"model.attention": "dot_product"}))


def test_run_statistics_and_ratios_to_the_baseline(tmp_path):
  rates = {"dot_product": [([10.0, 12.0, 11.0], 4e6), ([9.0, 13.0], 4e6)],
           "linear": [([30.0, 33.0, 31.0, 35.0], 1e6), ([29.0, 28.0, 40.0], 1e6)]}
  _study(str(tmp_path), rates)
  plan, rows = report.read_runs(str(tmp_path))
  by_run = {r["run"]: r for r in rows}
  assert by_run["model.attention=dot_product,seed=0"]["steps_per_sec"] == 11.0  # the first row,
  assert by_run["model.attention=linear,seed=0"]["steps_per_sec"] == 32.0       # compiling, out
  assert by_run["model.attention=linear,seed=1"]["step_memory_bytes"] == 1e6
  md = report.markdown(plan, report.summarize(plan, rows), rows)
  line = next(l for l in md.splitlines() if l.startswith("| linear"))
  base = np.mean([np.median(r) for r, _ in rates["dot_product"]])
  mine = np.mean([np.median(r) for r, _ in rates["linear"]])
  assert f"{mine / base:.2f}x" in line and "0.25x" in line        # speed and memory ratios
  assert "| dot_product" in md and "1.00x" in md


def test_a_baseline_that_is_no_setting_is_refused():
  sweep = Sweep(config_arg="smoke", settings=grid({"model.attention": ["linear"]}),
                baseline={"model.attention": "dot_product"})
  with pytest.raises(ConfigError, match="baseline"):
    expand("configs/lra.py", sweep)
