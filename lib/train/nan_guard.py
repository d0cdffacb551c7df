"""Stops training at the first non-finite metric, naming the step, the metric and the keys of
this run's task that would fix it."""
from __future__ import annotations

import math

from lib.errors import NonFiniteError


def check_finite(step: int, metrics: dict, last_checkpoint: int | None, workdir: str,
                 learning_rate_keys=("optimizer.learning_rate",)) -> None:
  for name, value in metrics.items():
    if not math.isfinite(float(value)):
      where = (f"the newest checkpoint written is step {last_checkpoint} in {workdir}/checkpoints"
               if last_checkpoint is not None else "no checkpoint was written yet")
      lrs = " and ".join(f"--config.{k}" for k in learning_rate_keys)
      clips = " and ".join(f"--config.{k.rsplit('.', 1)[0]}.clip_norm=1.0"
                           for k in learning_rate_keys)
      raise NonFiniteError(
          f"metric {name!r} is {float(value)} at step {step}; stopped before saving it "
          f"({where}; rerunning resumes from the newest that verifies). Lower {lrs}, enable "
          f"clipping with {clips}, or train with --config.compute_dtype=float32.")
