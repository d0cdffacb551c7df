"""The one entry point: train, evaluate or sample a config.

  python launch.py --config configs/vit.py:digits --workdir runs/vit
  python launch.py --config configs/vit.py:smoke --config.total_steps=10 --workdir runs/x
  python launch.py --mode eval --workdir runs/vit       # re-scores the latest checkpoint
  python launch.py --mode sample --workdir runs/sagan   # writes a sample grid

Several processes (Slurm, TPU pod, manual): see README "Launching on several hosts".
"""
from __future__ import annotations

import json
import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "configs/<paper>.py:<arg>",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "where checkpoints, metrics and samples go")
_MODE = flags.DEFINE_enum("mode", "train", ["train", "eval", "sample"], "what to do")
_STEP = flags.DEFINE_integer("step", -1, "checkpoint step for eval/sample (-1: latest)")
_COORD = flags.DEFINE_string("coordinator_address", "", "host:port of process 0")
_NPROC = flags.DEFINE_integer("num_processes", 0, "number of processes (0: from environment)")
_PID = flags.DEFINE_integer("process_id", -1, "this process's id (-1: from environment)")


def _config_for(workdir: str):
  if _CONFIG.value is not None:
    return _CONFIG.value
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise app.UsageError(f"--config is required: {path} does not exist")
  from lib.train.config_io import config_from_json
  with open(path) as f:
    return config_from_json(json.load(f))


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if not _WORKDIR.value:
    raise app.UsageError("--workdir is required")
  from lib.train import distributed
  distributed.maybe_initialize(_COORD.value, _NPROC.value, _PID.value)
  config = _config_for(_WORKDIR.value)
  from lib.train import loop, offline
  if _MODE.value == "train":
    results = loop.train(config, _WORKDIR.value)
  else:
    step = None if _STEP.value < 0 else _STEP.value
    results = offline.evaluate(config, _WORKDIR.value, step,
                               only=("samples",) if _MODE.value == "sample" else None)
  logging.info("results: %s", results)
  print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
  flags.mark_flags_as_required([])
  app.run(main)
