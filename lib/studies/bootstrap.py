"""Percentile bootstrap interval of the mean (Efron & Tibshirani), vectorized."""
from __future__ import annotations

import numpy as np


def mean_interval(values, level: float = 0.95, num_resamples: int = 10000,
                  seed: int = 0) -> tuple[float, float]:
  """(low, high) of the `level` percentile bootstrap interval of the mean of `values`.
  One value gives (value, value): no spread to resample."""
  x = np.asarray(values, np.float64).ravel()
  if x.size == 0:
    raise ValueError("bootstrap of no values")
  if x.size == 1:
    return float(x[0]), float(x[0])
  rng = np.random.default_rng(seed)
  idx = rng.integers(0, x.size, size=(num_resamples, x.size))
  means = x[idx].mean(axis=1)
  a = (1.0 - level) / 2.0
  return float(np.quantile(means, a)), float(np.quantile(means, 1.0 - a))
