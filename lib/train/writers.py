"""Metric writers: metrics.jsonl (one JSON object per logged step) and TensorBoard events.

metrics.jsonl holds every logged step once, with an integer `step`: a resumed run first cuts
the file back to the restored step (`truncate_metrics`, atomic rename), so rows written after
the last checkpoint by a run that died are not repeated. Each row is one `write` of one whole
line on an O_APPEND descriptor, and `read_metrics` skips a partial last line (a kill in the
middle of a write) with a warning instead of failing. The metrics of one step (training means,
evaluators, the final results) are one row; a key given twice in a row is a bug and raises.
The last step's training row is written before its checkpoint, like every other row, and the
final results are merged into it afterwards (`MetricWriter.update`, an atomic rewrite), so a run
killed between its last checkpoint and its results finishes on restart without losing that row.
"""
from __future__ import annotations

import json
import math
import os
import time

import numpy as np
from absl import logging

FILE = "metrics.jsonl"


class MetricWriter:
  """Writes scalars to workdir/metrics.jsonl and workdir/tb/ (only on process 0)."""

  def __init__(self, workdir: str, enabled: bool = True):
    self.enabled = enabled
    self._tb = None
    self._fd = None
    if not enabled:
      return
    self._path = os.path.join(workdir, FILE)
    self._fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
      from tensorboardX import SummaryWriter
      self._tb = SummaryWriter(os.path.join(workdir, "tb"))
    except ImportError:  # TensorBoard events are optional; metrics.jsonl is always written.
      self._tb = None

  def write(self, step: int, metrics: dict) -> None:
    if not self.enabled:
      return
    row = {"step": int(step), "time": time.time()}
    self._add(row, step, metrics, replace=False)
    os.write(self._fd, (json.dumps(row) + "\n").encode())

  def update(self, step: int, metrics: dict, replace: bool = False) -> None:
    """Adds `metrics` to the row of `step` (written before); appends a row when there is none.
    `replace` lets them overwrite keys the row has (a restart adding again the results that a
    killed run had added). Atomic: the file is rewritten beside and renamed over, then reopened
    for appending."""
    if not self.enabled:
      return
    path = self._path
    with open(path) as f:
      rows = _parse(f.read().split("\n"), path)
    mine = [r for r in rows if int(r.get("step", -1)) == int(step)]
    if not mine:
      self.write(step, metrics)
      return
    row = mine[-1]
    self._add(row, step, metrics, replace)
    _rewrite(path, rows)
    os.close(self._fd)
    self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)

  def _add(self, row: dict, step: int, metrics: dict, replace: bool) -> None:
    for k, v in metrics.items():
      if k in row and not replace:
        raise ValueError(f"metric {k!r} given twice for step {step}")
      v = float(np.asarray(v))
      row[k] = v if math.isfinite(v) else str(v)
      if self._tb is not None:
        self._tb.add_scalar(k, v, int(step))

  def write_image(self, step: int, tag: str, image: np.ndarray) -> None:
    if self.enabled and self._tb is not None:
      self._tb.add_image(tag, image, int(step), dataformats="HWC")

  def close(self) -> None:
    if not self.enabled or self._fd is None:
      return
    os.close(self._fd)
    self._fd = None
    if self._tb is not None:
      self._tb.close()


def _parse(lines: list[str], path: str) -> list[dict]:
  rows = []
  for i, line in enumerate(lines):
    if not line.strip():
      continue
    try:
      rows.append(json.loads(line))
    except ValueError:
      where = "last line" if i == len(lines) - 1 else f"line {i + 1}"
      logging.warning("%s: %s is not a whole JSON row (an interrupted write); skipped", path, where)
  return rows


def read_metrics(workdir: str) -> list[dict]:
  path = os.path.join(workdir, FILE)
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return _parse(f.read().split("\n"), path)


def truncate_metrics(workdir: str, step: int) -> int:
  """Keeps the rows with step <= `step` (and drops unreadable ones); returns how many rows
  were removed. Atomic: the file is rewritten beside and renamed over."""
  path = os.path.join(workdir, FILE)
  if not os.path.exists(path):
    return 0
  with open(path) as f:
    lines = f.read().split("\n")
  rows = _parse(lines, path)
  kept = [r for r in rows if int(r.get("step", 0)) <= step]
  removed = sum(1 for l in lines if l.strip()) - len(kept)
  if removed:
    _rewrite(path, kept)
  return removed


def _rewrite(path: str, rows: list[dict]) -> None:
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in rows)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)

