"""Every config's smoke variant trains end to end through the real loop (data, sharded step,
checkpoint, evaluators, results.json)."""
import glob
import importlib
import json
import math
import os

import pytest

from lib.train.loop import Trainer
from lib.train.writers import read_metrics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "configs", "*.py"))
                 if not os.path.basename(p).startswith(("_", "common")))


@pytest.mark.parametrize("name", CONFIGS)
def test_smoke_variant_trains(tmp_path, name):
  config = importlib.import_module(f"configs.{name}").get_config("smoke")
  config.checkpoint.async_save = False
  assert config.total_steps <= 50, "a smoke variant trains a few steps"
  wd = str(tmp_path / name)
  results = Trainer(config, wd).run()
  assert results["step"] == config.total_steps
  with open(os.path.join(wd, "results.json")) as f:
    assert json.load(f)["step"] == config.total_steps
  rows = read_metrics(wd)
  losses = [v for r in rows for k, v in r.items() if "loss" in k]
  assert losses and all(isinstance(v, float) and math.isfinite(v) for v in losses)
  assert os.listdir(os.path.join(wd, "checkpoints"))
