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


def test_a_run_killed_after_its_last_checkpoint_finishes_on_restart(tmp_path, caplog):
  """Killed between the final checkpoint and results.json (the final row is then the training
  row alone): the restart does not train, adds the final results to that row, writes
  results.json, and a further restart of the finished run is a no-op, not a failure."""
  wd = str(tmp_path / "w")
  c = smoke_config(total_steps=4, log_every=1,
                   **{"checkpoint.every_steps": 2, "eval.evaluators": ("accuracy",),
                      "eval.every_steps": 100})
  first = Trainer(c, wd).run()
  train_row = {k: v for k, v in _rows(wd)[-1].items() if k == "step" or k not in first}
  os.remove(os.path.join(wd, "results.json"))
  truncate_metrics(wd, 3)
  with open(os.path.join(wd, "metrics.jsonl"), "a") as f:
    f.write(json.dumps(train_row) + "\n")
  with caplog.at_level("WARNING"):
    again = Trainer(c, wd).run()
  assert any("before its final evaluation" in r.getMessage() for r in caplog.records)
  assert again == first
  rows = _rows(wd)
  assert [r["step"] for r in rows] == [1, 2, 3, 4]
  assert rows[-1]["accuracy"] == first["accuracy"] and rows[-1]["loss"] == train_row["loss"]
  caplog.clear()
  with caplog.at_level("WARNING"):
    assert Trainer(c, wd).run() == first
  assert any("already complete" in r.getMessage() for r in caplog.records)
  assert len(_rows(wd)) == 4
  os.remove(os.path.join(wd, "results.json"))     # killed after the row got its results
  assert Trainer(c, wd).run() == first
  assert _rows(wd)[-1]["accuracy"] == first["accuracy"] and len(_rows(wd)) == 4


def test_update_merges_into_the_row_and_keeps_appending(tmp_path):
  w = MetricWriter(str(tmp_path))
  w.write(1, {"loss": 1.0})
  w.write(2, {"loss": 2.0})
  w.update(2, {"fid": 3.0})
  w.write(3, {"loss": 4.0})
  w.update(7, {"fid": 5.0})                 # no row for step 7: appended
  with pytest.raises(ValueError, match="given twice"):
    w.update(2, {"loss": 0.0})
  w.close()
  rows = [{k: v for k, v in r.items() if k != "time"} for r in read_metrics(str(tmp_path))]
  assert rows == [{"step": 1, "loss": 1.0}, {"step": 2, "loss": 2.0, "fid": 3.0},
                  {"step": 3, "loss": 4.0}, {"step": 7, "fid": 5.0}]
