"""The workdir: bound to the config that made it, written by one run at a time.

Order of a start (nothing is written before the checks pass):
1. `check_usable` and `check_same_experiment` only read: the nearest existing folder must be a
   writable directory, and an existing config.json must describe the same experiment.
2. `WorkdirLock` creates the workdir and takes an exclusive lock on `<workdir>/.lock`
   (fcntl.flock, released by the kernel when the process dies); once the run is sure to
   train, it records host, pid, start time and command there. A second run is refused with the holder named; a lock file left by a run
   that died is taken over with a warning.
3. `write_config` writes config.json atomically (temp file, fsync, rename).
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time

import ml_collections
from absl import logging

from lib.errors import WorkdirError
from lib.train.nested_dict import flatten

# Keys a resumed run may change without becoming a different experiment. The batch size is
# not one: the data stream's position is counted in batches of that size.
RESUMABLE_KEYS = ("total_steps", "time_budget_s", "log_every", "eval", "checkpoint", "init_from",
                  "nan_guard", "sharding", "mesh", "profile",
                  "probe", "fine_tune")   # the last two configure evaluators only
LOCK_NAME = ".lock"


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


def check_usable(workdir: str) -> None:
  """The workdir exists as a writable directory, or could be created; writes nothing."""
  path = os.path.abspath(workdir)
  if os.path.exists(path) and not os.path.isdir(path):
    raise WorkdirError(f"workdir {workdir!r} is a file, not a folder; pass a --workdir that "
                       f"is a folder (or does not exist yet).")
  parent = path
  while not os.path.exists(parent):
    parent = os.path.dirname(parent)
  if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
    what = "a file" if not os.path.isdir(parent) else "not writable"
    raise WorkdirError(f"workdir {workdir!r} is not writable ({parent} is {what}); pass a "
                       f"--workdir you can write to.")


def read_config_json(workdir: str) -> dict | None:
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    return None
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError) as e:
    raise WorkdirError(f"{path} is unreadable ({e}); it was not written by this project or "
                       f"was damaged. Use a new --workdir, or move {path} aside if you are "
                       f"sure the checkpoints there belong to this config.") from e


def check_same_experiment(workdir: str, config: ml_collections.ConfigDict) -> None:
  old = read_config_json(workdir)
  if old is None:
    return
  diffs = config_differences(old, config_to_json(config))
  if diffs:
    raise WorkdirError(
        f"workdir {workdir!r} holds a run made by a different config, so it is not resumed "
        f"and its checkpoints are left untouched. Differences: " + "; ".join(diffs[:10]) +
        f". Use a new --workdir, or start a new run from its weights on purpose with "
        f"--config.init_from={workdir}.")


def write_config(workdir: str, config: ml_collections.ConfigDict) -> None:
  write_json_atomically(os.path.join(workdir, "config.json"), config_to_json(config))


def write_json_atomically(path: str, obj) -> None:
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "w") as f:
    json.dump(obj, f, indent=2, sort_keys=True)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)


def _pid_alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


class WorkdirLock:
  """An exclusive lock on the workdir for the life of one run (a context manager)."""

  def __init__(self, workdir: str):
    self.workdir = workdir
    self.path = os.path.join(workdir, LOCK_NAME)
    self._fd: int | None = None
    self._recorded = False

  def acquire(self) -> "WorkdirLock":
    try:
      os.makedirs(self.workdir, exist_ok=True)
      fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
      raise WorkdirError(f"workdir {self.workdir!r} is not writable ({e.strerror}); pass a "
                         f"--workdir you can write to.") from e
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      holder = self._read(fd)
      os.close(fd)
      raise WorkdirError(
          f"workdir {self.workdir!r} is in use by another run ({_describe(holder)}); two runs "
          f"in one workdir would overwrite each other's checkpoints and metrics. Wait for it "
          f"to finish or stop it, or pass another --workdir.") from None
    previous = self._read(fd)
    if previous:
      same_host = previous.get("host") == socket.gethostname()
      if same_host and _pid_alive(int(previous.get("pid", -1))) and previous.get(
          "pid") != os.getpid():
        logging.warning("lock of %s records pid %s, which is alive but does not hold the lock "
                        "(pid reused?): taking it over", self.workdir, previous.get("pid"))
      else:
        logging.warning("taking over the stale lock of %s left by %s", self.workdir,
                        _describe(previous))
    self._fd = fd
    return self

  def record(self) -> None:
    """Writes this run as the holder. Separate from acquire() so that a run refused after
    taking the lock (nothing to train) leaves the lock file as it found it."""
    me = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time(),
          "command": " ".join(sys.argv)[:500]}
    os.ftruncate(self._fd, 0)
    os.pwrite(self._fd, json.dumps(me).encode(), 0)
    os.fsync(self._fd)
    self._recorded = True

  @staticmethod
  def _read(fd: int) -> dict:
    try:
      raw = os.pread(fd, 65536, 0)
      return json.loads(raw) if raw.strip() else {}
    except (OSError, ValueError):
      return {}

  def release(self) -> None:
    if self._fd is None:
      return
    if self._recorded:
      try:
        os.ftruncate(self._fd, 0)   # a clean exit leaves no holder to call stale
      except OSError:
        pass
    fcntl.flock(self._fd, fcntl.LOCK_UN)
    os.close(self._fd)
    self._fd = None

  def __enter__(self):
    self.acquire().record()
    return self

  def __exit__(self, *exc):
    self.release()
    return False


def _describe(holder: dict) -> str:
  if not holder:
    return "holder unknown"
  started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("started", 0)))
  return (f"pid {holder.get('pid')} on host {holder.get('host')}, started {started}: "
          f"{holder.get('command', '')}")
