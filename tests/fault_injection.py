"""SIGKILL trials: a run killed at random points (mid-step, mid-save, mid-log) and restarted
each time ends bit for bit where an uninterrupted run ends, with every step logged once.

  python -m tests.fault_injection --trials 8 --kills 3      # = make test-faults
  python -m tests.fault_injection --trials 1 --kills 2 --steps 20

Each trial runs `launch.py` on the ViT smoke config with asynchronous checkpoints every 3
steps; kill points are drawn as numbers of logged steps (distinct, uniform over the run, in
order), the process is SIGKILLed once it has restored (it records itself in the workdir lock)
and metrics.jsonl has that many rows, plus a random delay of up to 0.5 s, and restarted. After the last restart the run finishes; its params (read by load_run), its
metrics.jsonl steps and its results.json are compared with the uninterrupted run's. The
summary goes to the terminal and to benchmarks/results/fault_injection.md.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _command(workdir: str, steps: int) -> list[str]:
  return [sys.executable, "launch.py", "--config", "configs/vit.py:smoke", "--workdir", workdir,
          f"--config.total_steps={steps}", "--config.log_every=1",
          "--config.checkpoint.every_steps=3", "--config.eval.evaluators=()"]


def _env() -> dict:
  return dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
              JAX_PLATFORMS="cpu")


def _logged_rows(workdir: str) -> int:
  try:
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
      return sum(1 for line in f if line.endswith("\n"))
  except FileNotFoundError:
    return 0


def run_to_end(workdir: str, steps: int) -> None:
  p = subprocess.run(_command(workdir, steps), cwd=ROOT, env=_env(), capture_output=True,
                     timeout=900)
  if p.returncode:
    raise RuntimeError(f"run in {workdir} failed ({p.returncode}): {p.stderr.decode()[-3000:]}")


def _holds_lock(workdir: str, pid: int) -> bool:
  """Whether `pid` recorded itself in the workdir lock: it has restored and is training."""
  try:
    with open(os.path.join(workdir, ".lock")) as f:
      return json.loads(f.read() or "{}").get("pid") == pid
  except (OSError, ValueError):
    return False


def run_and_kill(workdir: str, steps: int, after_rows: int, delay: float) -> int:
  """Starts the run, SIGKILLs it once it trains and `after_rows` rows are logged (+ delay);
  returns the number of rows logged when it died (the run may also finish first)."""
  proc = subprocess.Popen(_command(workdir, steps), cwd=ROOT, env=_env(),
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.time() + 600
  while proc.poll() is None and time.time() < deadline:
    if _holds_lock(workdir, proc.pid) and _logged_rows(workdir) >= after_rows:
      time.sleep(delay)
      break
    time.sleep(0.02)
  if proc.poll() is None:
    proc.send_signal(signal.SIGKILL)
  proc.wait()
  return _logged_rows(workdir)


def compare(reference: str, workdir: str, steps: int) -> dict:
  import jax
  import numpy as np
  from lib.analysis import load_run
  a, b = load_run(reference), load_run(workdir)
  same_params = all(np.array_equal(x, y) for x, y in zip(
      jax.tree.leaves(jax.device_get(a.state.params)),
      jax.tree.leaves(jax.device_get(b.state.params)), strict=True))
  logged = [r["step"] for r in b.metrics]
  with open(os.path.join(reference, "results.json")) as f, \
       open(os.path.join(workdir, "results.json")) as g:
    same_results = json.load(f) == json.load(g)
  return {"bitwise_equal": bool(same_params), "every_step_once": logged ==
          list(range(1, steps + 1)), "results_equal": same_results}


def trial(reference: str, workdir: str, steps: int, kills: int, seed: int) -> dict:
  rng = random.Random(seed)
  points = []
  for after in sorted(rng.sample(range(1, steps), kills)):
    points.append(run_and_kill(workdir, steps, after, rng.uniform(0.0, 0.5)))
  run_to_end(workdir, steps)
  return {"seed": seed, "killed_at_rows": points, **compare(reference, workdir, steps)}


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--trials", type=int, default=8)
  parser.add_argument("--kills", type=int, default=3)
  parser.add_argument("--steps", type=int, default=30)
  parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results",
                                                    "fault_injection.md"))
  args = parser.parse_args(argv)
  sys.path.insert(0, ROOT)
  t0 = time.time()
  with tempfile.TemporaryDirectory() as tmp:
    reference = os.path.join(tmp, "reference")
    run_to_end(reference, args.steps)
    rows = []
    for i in range(args.trials):
      r = trial(reference, os.path.join(tmp, f"trial{i}"), args.steps, args.kills, seed=i)
      rows.append(r)
      print(f"trial {i}: killed at logged rows {r['killed_at_rows']}: bitwise "
            f"{'equal' if r['bitwise_equal'] else 'DIFFERENT'}, every step once "
            f"{r['every_step_once']}, results equal {r['results_equal']}", flush=True)
  ok = sum(r["bitwise_equal"] and r["every_step_once"] and r["results_equal"] for r in rows)
  summary = (f"{ok} of {len(rows)} trials ({args.kills} SIGKILLs each, {args.steps} steps) "
             f"ended bitwise equal to the uninterrupted run with every step logged once; "
             f"{time.time() - t0:.0f} s")
  print(summary)
  if args.out:
    from benchmarks.machine import machine
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
      f.write("# SIGKILL fault injection\n\n")
      f.write(f"`python -m tests.fault_injection --trials {args.trials} --kills {args.kills} "
              f"--steps {args.steps}`\n\nMachine: {machine()}\n\n{summary}.\n\n")
      f.write("| trial | killed at logged rows | params bitwise equal | every step once | "
              "results equal |\n|---|---|---|---|---|\n")
      for i, r in enumerate(rows):
        f.write(f"| {i} | {r['killed_at_rows']} | {r['bitwise_equal']} | "
                f"{r['every_step_once']} | {r['results_equal']} |\n")
  return 0 if ok == len(rows) else 1


if __name__ == "__main__":
  sys.exit(main())
