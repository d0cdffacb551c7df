"""launch.py --mode eval re-scores a checkpoint: the same accuracy the run reported."""
import json
import os

from lib.train import offline
from lib.train.loop import Trainer
from tests.train.smoke import smoke_config


def test_eval_mode_rescoring_matches_final_results(tmp_path):
  wd = str(tmp_path / "w")
  c = smoke_config(**{"eval.evaluators": ("accuracy",)})
  final = Trainer(c, wd).run()
  again = offline.evaluate(c, wd)
  assert again["step"] == final["step"] == c.total_steps
  assert again["accuracy"] == final["accuracy"] and again["eval_examples"] == 297
  assert os.path.exists(os.path.join(wd, f"results_eval_step{c.total_steps}.json"))
  with open(os.path.join(wd, "config.json")) as f:
    assert tuple(json.load(f)["eval"]["evaluators"]) == ("accuracy",)
