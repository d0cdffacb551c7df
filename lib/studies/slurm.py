"""A sweep beyond one machine: each unfinished run becomes one Slurm job through submitit.

  python launch.py --sweep configs/<paper>.py:<arg> --workdir /shared/runs/<study> --executor slurm

The job runs the same launch.py command as the local runner, so a job that Slurm preempts
or kills resumes from its checkpoint when the sweep is launched again; finished runs are
skipped. Job parameters come from the sweep's `slurm` dict (submitit's `slurm_*` names, e.g.
dict(slurm_partition="gpu", timeout_min=240, gpus_per_node=1, cpus_per_task=8)); submitit
logs go to `<study>/submitit/`. `--executor submitit_local` uses submitit's local executor
(what the tests run). The sweep process holds the study lock while it waits for its jobs.
"""
from __future__ import annotations

import os
import subprocess

from lib.errors import UserError
from lib.studies import runner


def run_command(cmd: list[str], log_path: str) -> int:
  """What one job does: the launch.py command, its output to the study's log."""
  with open(log_path, "ab") as f:
    return subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT).returncode


def run_submitit(spec: str, root: str, cluster: str = "slurm", log=print) -> dict:
  import submitit
  path, sweep, runs = runner.plan(spec)
  status: dict = {}
  with runner.SweepLock(root):
    runner.write_plan(root, spec, path, sweep, runs)
    os.makedirs(os.path.join(root, "logs"), exist_ok=True)
    executor = submitit.AutoExecutor(folder=os.path.join(root, "submitit"),
                                     cluster="local" if cluster == "submitit_local" else cluster)
    params = dict(timeout_min=60, name="sweep")
    params.update(sweep.slurm if cluster == "slurm" else
                  {k: v for k, v in sweep.slurm.items() if not k.startswith("slurm_")})
    executor.update_parameters(**params)
    jobs = []
    for r in runs:
      if runner.finished(root, r):
        status[r.name] = "skipped"
        log(f"skip (finished): {r.name}")
        continue
      cmd = runner.command(path, sweep, r, root)
      job = executor.submit(run_command, cmd, os.path.join(root, "logs", f"{r.name}.log"))
      log(f"submitted job {job.job_id}: {r.name}")
      jobs.append((r, job))
    for r, job in jobs:
      status[r.name] = job.result()
  failed = [n for n, s in status.items() if s not in (0, "skipped")]
  if failed:
    raise UserError(f"{len(failed)} of {len(runs)} runs failed: {', '.join(failed)}; logs in "
                    f"{root}/logs and {root}/submitit. Launch the sweep again to retry them.")
  return status
