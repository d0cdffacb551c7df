"""Runs a sweep on this machine: one workdir per run under the study folder, one process per
run (launch.py), sequentially or `parallel` at a time; resumable and locked.

- `<study>/.sweep_lock` (fcntl) is held for the whole sweep: a second sweep there is refused.
- `<study>/sweep.json` records the plan (spec, every run's name, overrides and seed).
- A run whose workdir has results.json is skipped; any other is (re)launched, and launch.py
  resumes it from its newest verified checkpoint.
- Each child gets SIGTERM if the sweep process dies (PR_SET_PDEATHSIG), so a killed sweep
  leaves checkpoints, not orphans racing the next sweep. Logs: `<study>/logs/<run>.log`.
"""
from __future__ import annotations

import ctypes
import fcntl
import json
import os
import signal
import subprocess
import sys
import time

from lib.errors import UserError, WorkdirError
from lib.studies import sweep as sweep_lib
from lib.train.workdir import write_json_atomically

LAUNCH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "launch.py")
LOCK_NAME = ".sweep_lock"


class SweepLock:
  def __init__(self, root: str):
    self.root, self.path, self._fd = root, os.path.join(root, LOCK_NAME), None

  def __enter__(self):
    os.makedirs(self.root, exist_ok=True)
    fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      holder = os.pread(fd, 4096, 0).decode(errors="replace")
      os.close(fd)
      raise WorkdirError(f"study {self.root!r} is being swept by another process ({holder}); "
                         f"wait for it or stop it, or pass another --workdir.") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()}: {' '.join(sys.argv)[:300]}".encode(), 0)
    self._fd = fd
    return self

  def __exit__(self, *exc):
    os.ftruncate(self._fd, 0)
    fcntl.flock(self._fd, fcntl.LOCK_UN)
    os.close(self._fd)
    return False


def plan(spec: str) -> tuple[str, sweep_lib.Sweep, list[sweep_lib.Run]]:
  """Loads and validates the sweep; raises ConfigError before anything is written."""
  path, sweep = sweep_lib.load_sweep(spec)
  return path, sweep, sweep_lib.expand(path, sweep)


def write_plan(root: str, spec: str, path: str, sweep: sweep_lib.Sweep, runs) -> None:
  os.makedirs(root, exist_ok=True)
  keys = list(dict.fromkeys(k for r in runs for k in r.setting))
  write_json_atomically(os.path.join(root, "sweep.json"), dict(
      spec=spec, config=path, config_arg=sweep.config_arg, keys=keys, metric=sweep.metric,
      mode=sweep.mode, curve=sweep.curve, fixed=dict(sweep.fixed),
      columns=list(sweep.columns), baseline=dict(sweep.baseline),
      runs=[dict(name=r.name, overrides=r.overrides, seed=r.seed) for r in runs]))


def command(path: str, sweep: sweep_lib.Sweep, run: sweep_lib.Run, root: str) -> list[str]:
  return ([sys.executable, LAUNCH, "--config", f"{path}:{sweep.config_arg}",
           "--workdir", os.path.join(root, run.name)] +
          [sweep_lib.override_flag(k, v) for k, v in run.overrides.items()])


def finished(root: str, run: sweep_lib.Run) -> bool:
  return os.path.exists(os.path.join(root, run.name, "results.json"))


def _die_with_parent():
  libc = ctypes.CDLL("libc.so.6", use_errno=True)
  libc.prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG


def run_local(spec: str, root: str, parallel: int = 1, log=print) -> dict:
  """Runs every unfinished run of the sweep; returns {run name: exit status or 'skipped'}."""
  if parallel < 1:
    raise UserError(f"--parallel must be >= 1, got {parallel}")
  path, sweep, runs = plan(spec)
  status: dict = {}
  with SweepLock(root):
    write_plan(root, spec, path, sweep, runs)
    os.makedirs(os.path.join(root, "logs"), exist_ok=True)
    todo = []
    for r in runs:
      if finished(root, r):
        status[r.name] = "skipped"
        log(f"skip (finished): {r.name}")
      else:
        todo.append(r)
    active: dict = {}
    try:
      while todo or active:
        while todo and len(active) < parallel:
          r = todo.pop(0)
          logf = open(os.path.join(root, "logs", f"{r.name}.log"), "ab")
          log(f"start: {r.name}")
          p = subprocess.Popen(command(path, sweep, r, root), stdout=logf,
                               stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
          active[p] = (r, logf, time.time())
        for p in list(active):
          if p.poll() is not None:
            r, logf, t0 = active.pop(p)
            logf.close()
            status[r.name] = p.returncode
            log(f"{'done' if p.returncode == 0 else 'FAILED'} ({p.returncode}, "
                f"{time.time() - t0:.0f}s): {r.name}")
        time.sleep(0.2)
    finally:
      for p in active:   # an interrupted sweep stops its runs at a checkpoint
        p.send_signal(signal.SIGTERM)
      for p in active:
        p.wait()
  failed = [n for n, s in status.items() if s not in (0, "skipped")]
  if failed:
    raise UserError(f"{len(failed)} of {len(runs)} runs failed: {', '.join(failed)}; their "
                    f"logs are in {root}/logs. Relaunch the sweep to retry them (finished "
                    f"runs are skipped).")
  return status
