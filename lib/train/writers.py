"""Metric writers: metrics.jsonl (one JSON object per logged step) and TensorBoard events."""
from __future__ import annotations

import json
import math
import os
import time

import numpy as np


class MetricWriter:
  """Writes scalars to workdir/metrics.jsonl and workdir/tb/ (only on process 0)."""

  def __init__(self, workdir: str, enabled: bool = True):
    self.enabled = enabled
    self._tb = None
    if not enabled:
      return
    self._jsonl = open(os.path.join(workdir, "metrics.jsonl"), "a")
    try:
      from tensorboardX import SummaryWriter
      self._tb = SummaryWriter(os.path.join(workdir, "tb"))
    except ImportError:  # TensorBoard events are optional; metrics.jsonl is always written.
      self._tb = None

  def write(self, step: int, metrics: dict) -> None:
    if not self.enabled:
      return
    row = {"step": int(step), "time": time.time()}
    for k, v in metrics.items():
      v = float(np.asarray(v))
      row[k] = v if math.isfinite(v) else str(v)
      if self._tb is not None:
        self._tb.add_scalar(k, v, int(step))
    self._jsonl.write(json.dumps(row) + "\n")
    self._jsonl.flush()

  def write_image(self, step: int, tag: str, image: np.ndarray) -> None:
    if self.enabled and self._tb is not None:
      self._tb.add_image(tag, image, int(step), dataformats="HWC")

  def close(self) -> None:
    if not self.enabled:
      return
    self._jsonl.close()
    if self._tb is not None:
      self._tb.close()


def read_metrics(workdir: str) -> list[dict]:
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]
