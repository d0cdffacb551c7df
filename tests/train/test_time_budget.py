"""config.time_budget_s: a run stops at the first log point past its budget of training seconds
(counted over resumes, evaluation excluded), saves, evaluates and says so in results.json; a
restart of a run whose budget is spent does nothing; raising the budget trains further."""
import json
import os

import pytest

from lib.errors import ConfigError
from lib.train import validate
from lib.train.checkpoint import Checkpoints
from lib.train.loop import Trainer
from lib.train.writers import read_metrics
from tests.train.smoke import smoke_config


def _config(budget: float, **kw):
  return smoke_config(total_steps=100_000, log_every=1, time_budget_s=budget,
                      **{"checkpoint.every_steps": 100_000, "eval.evaluators": ("accuracy",),
                         "eval.every_steps": 100_000, **kw})


def _results(wd):
  with open(os.path.join(wd, "results.json")) as f:
    return json.load(f)


def test_budget_ends_the_run_with_a_checkpoint_and_results(tmp_path):
  wd = str(tmp_path / "w")
  out = Trainer(_config(0.5), wd).run()
  rows = read_metrics(wd)
  step = out["step"]
  assert 1 <= step < 100_000 and out["stopped_by"] == "time_budget_s"
  assert _results(wd) == out
  assert Checkpoints(wd, read_only=True).steps() == [step]   # the budget's last step is saved
  seconds = [r["time/train_seconds"] for r in rows]
  assert seconds == sorted(seconds)                          # cumulative
  assert seconds[-1] >= 0.5 > seconds[-2]                    # stopped at the first row past it
  assert rows[-1]["step"] == step and rows[-1]["accuracy"] == out["accuracy"]


def test_budget_counts_over_resumes_and_a_spent_run_is_complete(tmp_path, caplog):
  wd = str(tmp_path / "w")
  Trainer(_config(3600.0), wd).run(stop_at=5)                # preempted at step 5
  spent = read_metrics(wd)[-1]["time/train_seconds"]
  out = Trainer(_config(spent + 0.3), wd).run()              # resumes with little time left
  rows = read_metrics(wd)
  assert rows[5]["step"] == 6 and rows[5]["time/train_seconds"] > spent   # continues the sum
  assert out["stopped_by"] == "time_budget_s" and rows[-1]["time/train_seconds"] >= spent + 0.3
  # A requeued job of the finished run trains nothing and returns the stored results.
  with caplog.at_level("WARNING"):
    again = Trainer(_config(spent + 0.3), wd).run()
  assert again == out and len(read_metrics(wd)) == len(rows)
  assert "time budget" in caplog.text
  # A larger budget trains further from the saved step.
  more = Trainer(_config(rows[-1]["time/train_seconds"] + 0.3), wd).run()
  assert more["step"] > out["step"]


def test_run_killed_after_its_budget_checkpoint_only_evaluates(tmp_path):
  wd = str(tmp_path / "w")
  out = Trainer(_config(0.3), wd).run()
  os.remove(os.path.join(wd, "results.json"))                # killed before results.json
  again = Trainer(_config(0.3), wd).run()
  assert again["step"] == out["step"] and again["stopped_by"] == "time_budget_s"
  assert [r["step"] for r in read_metrics(wd)][-1] == out["step"]


@pytest.mark.parametrize("value", [-1.0, float("nan")])
def test_bad_budget_is_refused(value):
  c = smoke_config(time_budget_s=value)
  with pytest.raises(ConfigError, match="time_budget_s"):
    validate.validate_config(c)
