"""A sweep killed halfway resumes without rerunning finished runs and ends with the table of an
uninterrupted sweep (run through submitit's local executor); a second sweep on a running
study is refused; the report's numbers are the runs' results.json (read here independently)."""
import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from lib.studies import report

SPEC = "tests/studies/tiny_sweep_config.py:w=16,seeds=2"


def _sweep(root, *extra, **kw):
  return subprocess.run([sys.executable, "launch.py", "--sweep", SPEC, "--workdir", str(root),
                         *extra], capture_output=True, text=True, **kw)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
  # the reference sweep goes through submitit's local executor (jobs run side by side)
  root = tmp_path_factory.mktemp("study") / "plain"
  p = _sweep(root, "--executor", "submitit_local")
  assert p.returncode == 0, p.stderr + p.stdout
  assert (root / "submitit").is_dir()
  report.write_report(str(root))
  return root


def _table(root):
  return [l for l in open(os.path.join(root, "results.md")) if l.startswith("|")]


def test_killed_sweep_resumes_and_matches(uninterrupted, tmp_path):
  root = tmp_path / "killed"
  proc = subprocess.Popen([sys.executable, "launch.py", "--sweep", SPEC, "--workdir", str(root)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
  first = root / "model.hidden_size=16,seed=0" / "results.json"
  deadline = time.time() + 120
  while not first.exists() and time.time() < deadline:
    time.sleep(0.2)
  assert first.exists()
  again = _sweep(root)                       # the study is locked while it runs
  assert again.returncode == 2 and "being swept" in " ".join(again.stderr.split())  # wrapped
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  time.sleep(3)   # the orphaned run gets SIGTERM from PR_SET_PDEATHSIG and checkpoints
  stamp = first.stat().st_mtime_ns
  p = _sweep(root)
  assert p.returncode == 0, p.stderr
  assert "skip (finished): model.hidden_size=16,seed=0" in p.stdout
  assert first.stat().st_mtime_ns == stamp
  report.write_report(str(root))
  assert _table(root) == _table(uninterrupted)


def test_report_numbers_are_the_results_json(uninterrupted):
  rows = list(csv.DictReader(open(uninterrupted / "results.csv")))
  accs = []
  for row in rows:
    res = json.load(open(uninterrupted / row["run"] / "results.json"))
    cfg = json.load(open(uninterrupted / row["run"] / "config.json"))
    assert float(row["accuracy"]) == res["accuracy"]
    assert int(row["seed"]) == cfg["seed"] and int(row["model.hidden_size"]) == cfg["model"]["hidden_size"]
    accs.append(res["accuracy"])
  assert len(rows) == 2
  line = _table(uninterrupted)[2]
  assert f"{np.mean(accs):.4f}" in line and f"{np.std(accs, ddof=1):.4f}" in line
  assert (uninterrupted / "accuracy_vs_model.hidden_size.png").exists()
  assert (uninterrupted / "curves_loss.png").exists()

