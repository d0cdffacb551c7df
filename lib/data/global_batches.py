"""Index maps from one stream of global batches to one process's share of each batch.

Global batch b holds stream positions [b G, (b + 1) G). Process p of P reads the contiguous
block [b G + p L, b G + (p + 1) L) with L = G / P, so the processes' blocks are disjoint, their
concatenation in process order is the global batch, and the global batches are the same
whatever P is (an iterator state can be resumed with another process count).
"""
from __future__ import annotations

import sys

import grain
import numpy as np


class ProcessBlocks(grain.MapDataset):
  """Element k of this dataset is element (k // L) G + p L + k % L of `parent`; whole global
  batches only (a trailing partial one is dropped; pad first to keep it)."""

  def __init__(self, parent: grain.MapDataset, global_batch_size: int, process_index: int,
               process_count: int):
    super().__init__(parent)
    if global_batch_size % process_count:
      raise ValueError(f"global batch size {global_batch_size} is not divisible by the "
                       f"process count {process_count}")
    if not 0 <= process_index < process_count:
      raise ValueError(f"process_index {process_index} not in [0, {process_count})")
    self._global, self._index = global_batch_size, process_index
    self._local = global_batch_size // process_count
    n = len(parent)
    self._length = sys.maxsize if n >= sys.maxsize else (n // global_batch_size) * self._local

  def __len__(self) -> int:
    return self._length

  def __getitem__(self, k):
    if isinstance(k, slice):
      return self.slice(k)
    b, j = divmod(int(k), self._local)
    return self._parents[0][b * self._global + self._index * self._local + j]

  def __str__(self) -> str:
    return f"ProcessBlocks(global={self._global}, local={self._local}, index={self._index})"


class PadWithValid(grain.MapDataset):
  """`parent` padded with all-zero examples up to a multiple of `multiple`; every element
  gets 'valid' (bool): True for real examples, False for padding."""

  def __init__(self, parent: grain.MapDataset, multiple: int):
    super().__init__(parent)
    self._n = len(parent)
    if self._n >= sys.maxsize:
      raise ValueError("cannot pad an infinite dataset")
    self._length = -(-self._n // multiple) * multiple
    self._blank = None

  def __len__(self) -> int:
    return self._length

  def __getitem__(self, i):
    if isinstance(i, slice):
      return self.slice(i)
    i = int(i) % self._length
    if i < self._n:
      return {**self._parents[0][i], "valid": np.bool_(True)}
    if self._blank is None:
      self._blank = {k: np.zeros_like(v) for k, v in self._parents[0][0].items()}
    return {**self._blank, "valid": np.bool_(False)}

  def __str__(self) -> str:
    return f"PadWithValid(n={self._n}, length={self._length})"
