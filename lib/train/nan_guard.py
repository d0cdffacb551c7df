"""Stops training at the first non-finite metric, naming the step and the metric."""
from __future__ import annotations

import math


class NonFiniteError(FloatingPointError):
  pass


def check_finite(step: int, metrics: dict, last_checkpoint: int | None, workdir: str) -> None:
  for name, value in metrics.items():
    if not math.isfinite(float(value)):
      where = (f"the last good checkpoint is step {last_checkpoint} in {workdir}/checkpoints"
               if last_checkpoint is not None else "no checkpoint was written yet")
      raise NonFiniteError(
          f"metric {name!r} is {float(value)} at step {step}; stopped before saving it "
          f"({where}). Lower --config.optimizer.learning_rate, enable clipping with "
          f"--config.optimizer.clip_norm=1.0, or train with --config.compute_dtype=float32.")
