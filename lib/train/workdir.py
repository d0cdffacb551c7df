"""The workdir: created, checked writable, and bound to the config that made it."""
from __future__ import annotations

import json
import os

import ml_collections

from lib.train.nested_dict import flatten

# Keys a resumed run may change without becoming a different experiment.
RESUMABLE_KEYS = ("total_steps", "log_every", "eval", "checkpoint", "init_from", "nan_guard", "sharding",
                  "mesh", "data.batch_size")


class WorkdirError(RuntimeError):
  pass


def config_to_json(config: ml_collections.ConfigDict) -> dict:
  return json.loads(config.to_json_best_effort())


def config_differences(old: dict, new: dict) -> list[str]:
  a, b = flatten(old, sep="."), flatten(new, sep=".")
  diffs = []
  for key in sorted(set(a) | set(b)):
    if any(key == r or key.startswith(r + ".") for r in RESUMABLE_KEYS):
      continue
    if a.get(key, "<absent>") != b.get(key, "<absent>"):
      diffs.append(f"{key}: {a.get(key, '<absent>')!r} -> {b.get(key, '<absent>')!r}")
  return diffs


def prepare(workdir: str, config: ml_collections.ConfigDict, is_main: bool = True) -> None:
  """Creates the workdir, checks it is writable and that it belongs to this config."""
  try:
    os.makedirs(workdir, exist_ok=True)
    probe = os.path.join(workdir, f".write_probe_{os.getpid()}")
    with open(probe, "w") as f:
      f.write("ok")
    os.remove(probe)
  except OSError as e:
    raise WorkdirError(f"workdir {workdir!r} is not writable ({e.strerror}); pass a "
                       f"--workdir you can write to.") from e
  path = os.path.join(workdir, "config.json")
  new = config_to_json(config)
  if os.path.exists(path):
    with open(path) as f:
      old = json.load(f)
    diffs = config_differences(old, new)
    if diffs:
      raise WorkdirError(
          f"workdir {workdir!r} holds a run made by a different config, so it is not resumed "
          f"and its checkpoints are left untouched. Differences: " + "; ".join(diffs[:10]) +
          f". Use a new --workdir, or start a new run from its weights on purpose with "
          f"--config.init_from={workdir}.")
  if is_main:
    with open(path, "w") as f:
      json.dump(new, f, indent=2, sort_keys=True)
