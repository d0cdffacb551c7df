"""metrics.jsonl holds every step once: rows logged after the last checkpoint by a run that
died are cut on resume, a partial last line is skipped with a warning, steps are integers,
and the final row carries the results once."""
import json
import os

import pytest

from lib.train.loop import Trainer
from lib.train.writers import MetricWriter, read_metrics, truncate_metrics
from tests.train.smoke import smoke_config


def _rows(wd):
  with open(os.path.join(wd, "metrics.jsonl")) as f:
    return [json.loads(l) for l in f]


def test_resume_after_metrics_past_the_checkpoint_logs_every_step_once(tmp_path):
  wd = str(tmp_path / "w")
  c = smoke_config(total_steps=6, log_every=1,
                   **{"checkpoint.every_steps": 3, "eval.evaluators": ("accuracy",),
                      "eval.every_steps": 100})
  Trainer(c, wd).run(stop_at=3)
  # What a run killed at step 5 leaves: rows past its checkpoint and half a line.
  with open(os.path.join(wd, "metrics.jsonl"), "a") as f:
    f.write(json.dumps({"step": 4, "loss": 9.0}) + "\n")
    f.write(json.dumps({"step": 5, "loss": 9.0}) + "\n")
    f.write('{"step": 6, "lo')
  out = Trainer(c, wd).run()
  rows = _rows(wd)
  assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
  assert all(isinstance(r["step"], int) for r in rows)
  assert all(r["loss"] != 9.0 for r in rows)            # the dead run's rows are gone
  assert rows[-1]["accuracy"] == out["accuracy"] and "train_accuracy" in rows[-1]


def test_partial_last_line_is_skipped_with_a_warning(tmp_path, caplog):
  w = MetricWriter(str(tmp_path))
  w.write(1, {"loss": 1.0})
  w.write(2, {"loss": 2.0})
  w.close()
  with open(tmp_path / "metrics.jsonl", "a") as f:
    f.write('{"step": 3, "loss": 3.')
  with caplog.at_level("WARNING"):
    rows = read_metrics(str(tmp_path))
  assert [r["step"] for r in rows] == [1, 2]
  assert any("last line" in r.getMessage() for r in caplog.records)
  assert truncate_metrics(str(tmp_path), 1) == 2       # step 2 and the partial line
  assert [r["step"] for r in read_metrics(str(tmp_path))] == [1]


def test_a_key_given_twice_in_one_row_is_refused(tmp_path):
  w = MetricWriter(str(tmp_path))
  with pytest.raises(ValueError, match="given twice"):
    w.write(1, {"step": 3.0})
  w.close()


def test_rows_of_a_run_killed_before_its_first_checkpoint_are_not_kept(tmp_path):
  wd = str(tmp_path / "w")
  c = smoke_config(total_steps=3, log_every=1, **{"eval.evaluators": ()})
  os.makedirs(wd)
  with open(os.path.join(wd, "metrics.jsonl"), "w") as f:   # what the dead run left
    f.write(json.dumps({"step": 1, "loss": 9.0}) + "\n" + json.dumps({"step": 2, "loss": 9.0}))
  Trainer(c, wd).run()
  rows = _rows(wd)
  assert [r["step"] for r in rows] == [1, 2, 3] and all(r["loss"] != 9.0 for r in rows)
