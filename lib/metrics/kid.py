"""Kernel Inception Distance (Binkowski et al. 2018, "Demystifying MMD GANs", sec. 4).

KID is the squared MMD between feature distributions under the cubic polynomial kernel
k(x, y) = (x.y / d + 1)^3, estimated without bias (the U-statistic of Gretton et al. 2012,
lemma 6, with the cross term over all m*m independent pairs) on random subsets of both sets,
then averaged over subsets. Float64 numpy; subsets drawn without replacement, seeded.
"""
from __future__ import annotations

import numpy as np


def polynomial_kernel(x, y, degree: int = 3, gamma: float | None = None, coef0: float = 1.0):
  """k(x, y) = (gamma x.y + coef0)^degree, gamma = 1/d by default; [N, M] float64."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  gamma = 1.0 / x.shape[1] if gamma is None else gamma
  return (gamma * (x @ y.T) + coef0) ** degree


def mmd2_unbiased(k_xx, k_yy, k_xy) -> float:
  """MMD^2_u = sum_{i!=j} k(x_i,x_j) / (m(m-1)) + sum_{i!=j} k(y_i,y_j) / (n(n-1))
  - 2 mean_{i,j} k(x_i,y_j)  (Gretton et al. 2012, eq. 3 with the full cross term)."""
  m, n = len(k_xx), len(k_yy)
  xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
  yy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
  return float(xx + yy - 2.0 * k_xy.mean())


def kid_subsets(x, y, subset_size: int = 1000, num_subsets: int = 100, seed: int = 0,
                **kernel_kwargs) -> np.ndarray:
  """The unbiased MMD^2 of each of `num_subsets` random subset pairs; shape [num_subsets].

  subset_size is capped at min(len(x), len(y)) (as clean-fid and torch-fidelity do)."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  if x.shape[1] != y.shape[1]:
    raise ValueError(f"feature dims differ: {x.shape} vs {y.shape}")
  m = min(subset_size, len(x), len(y))
  if m < 2:
    raise ValueError(f"KID needs subsets of at least 2 samples, got {m}")
  rng = np.random.default_rng(seed)
  out = np.empty(num_subsets, np.float64)
  for s in range(num_subsets):
    xs = x[rng.choice(len(x), m, replace=False)]
    ys = y[rng.choice(len(y), m, replace=False)]
    out[s] = mmd2_unbiased(polynomial_kernel(xs, xs, **kernel_kwargs),
                           polynomial_kernel(ys, ys, **kernel_kwargs),
                           polynomial_kernel(xs, ys, **kernel_kwargs))
  return out


def kernel_inception_distance(x, y, subset_size: int = 1000, num_subsets: int = 100,
                              seed: int = 0) -> tuple[float, float]:
  """(mean, std) over subsets of the unbiased MMD^2 with the cubic kernel; x [N, D], y [M, D]."""
  vals = kid_subsets(x, y, subset_size, num_subsets, seed)
  return float(vals.mean()), float(vals.std())
