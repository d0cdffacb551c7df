"""Manifold metrics on features: improved precision and recall (Kynkaanniemi et al. 2019,
eq. 1-3, k = 3) and density and coverage (Naeem et al. 2020, eq. 3-4, k = 5).

Each sample set defines a manifold as the union of balls around its points, each ball's
radius being the distance to the point's k-th nearest neighbour in its own set (the point
itself excluded). Distances are computed in float32 JAX blocks of `block_size` x `block_size`
(features centred on the real mean first, which keeps ||a||^2 + ||b||^2 - 2 a.b accurate),
so memory stays O(block_size^2 + N k) whatever N; every block has one shape (padded), so
each set size compiles once. Boundary conventions follow the official code: precision and
recall count a point on the sphere as inside (<=), density and coverage do not (<).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np


def _sq_dist(a, b):
  d = jnp.sum(a * a, 1)[:, None] + jnp.sum(b * b, 1)[None, :] - 2.0 * a @ b.T
  return jnp.maximum(d, 0.0)


@functools.partial(jax.jit, static_argnames="k")
def _knn_block(rows, row_ids, cols, col_ids, n_valid, best, k):
  """Merges one column block into the running k smallest squared distances of `rows`."""
  d = _sq_dist(rows, cols)
  exclude = (row_ids[:, None] == col_ids[None, :]) | (col_ids[None, :] >= n_valid)
  d = jnp.where(exclude, jnp.inf, d)
  merged = jnp.concatenate([best, d], axis=1)
  return -jax.lax.top_k(-merged, k)[0]


@functools.partial(jax.jit, static_argnames="strict")
def _ball_block(q, q_valid, c, c_r2, c_valid, strict):
  """inside[i, j] = query i lies in the ball of center j; counts per query and per center."""
  d = _sq_dist(q, c)
  inside = (d < c_r2[None, :]) if strict else (d <= c_r2[None, :])
  inside = inside & q_valid[:, None] & c_valid[None, :]
  return inside.sum(1, dtype=jnp.int32), inside.sum(0, dtype=jnp.int32)


def _padded_blocks(x: np.ndarray, block: int):
  """(block array, global ids, valid mask) for consecutive blocks, the last one zero-padded."""
  n = len(x)
  for start in range(0, n, block):
    chunk = x[start:start + block]
    ids = np.arange(start, start + block)
    if len(chunk) < block:
      chunk = np.concatenate([chunk, np.zeros((block - len(chunk), x.shape[1]), x.dtype)])
    yield chunk, ids, ids < n


def _block_size(n: int, block_size: int) -> int:
  return max(1, min(block_size, n))


def knn_sq_distances(x, k: int, block_size: int = 2048) -> np.ndarray:
  """[N, k] ascending squared distances from each row of x to its k nearest other rows."""
  x = np.asarray(x, np.float32)
  n = len(x)
  if n <= k:
    raise ValueError(f"k-NN with k={k} needs more than k samples, got {n}")
  b = _block_size(n, block_size)
  out = []
  for rows, row_ids, _ in _padded_blocks(x, b):
    best = jnp.full((b, k), jnp.inf, jnp.float32)
    for cols, col_ids, _ in _padded_blocks(x, b):
      best = _knn_block(rows, row_ids, cols, col_ids, n, best, k)
    out.append(np.asarray(best))
  return np.concatenate(out)[:n]


def ball_counts(queries, centers, radii_sq, strict: bool, block_size: int = 2048):
  """(per-query count of balls containing it [Nq], per-center count of queries inside [Nc])."""
  queries, centers = np.asarray(queries, np.float32), np.asarray(centers, np.float32)
  radii_sq = np.asarray(radii_sq, np.float32)
  bq, bc = _block_size(len(queries), block_size), _block_size(len(centers), block_size)
  per_query, per_center = [], np.zeros(len(centers), np.int64)
  for q, _, q_valid in _padded_blocks(queries, bq):
    acc = np.zeros(bq, np.int64)
    for c, c_ids, c_valid in _padded_blocks(centers, bc):
      r2 = np.pad(radii_sq, (0, bc))[c_ids]
      nq, nc = _ball_block(q, q_valid, c, r2, c_valid, strict)
      acc += np.asarray(nq)
      per_center[c_ids[c_valid]] += np.asarray(nc)[c_valid]
    per_query.append(acc)
  return np.concatenate(per_query)[:len(queries)], per_center


def _centre(real, fake):
  real, fake = np.asarray(real, np.float32), np.asarray(fake, np.float32)
  mu = real.mean(axis=0, dtype=np.float64).astype(np.float32)
  return real - mu, fake - mu


def precision_recall(real, fake, k: int = 3, block_size: int = 2048) -> dict[str, float]:
  """precision = share of fakes inside the real manifold; recall = share of reals inside the
  fake manifold (Kynkaanniemi et al. 2019, eq. 1-3)."""
  real, fake = _centre(real, fake)
  r_real = knn_sq_distances(real, k, block_size)[:, k - 1]
  r_fake = knn_sq_distances(fake, k, block_size)[:, k - 1]
  in_real, _ = ball_counts(fake, real, r_real, strict=False, block_size=block_size)
  in_fake, _ = ball_counts(real, fake, r_fake, strict=False, block_size=block_size)
  return {"precision": float((in_real > 0).mean()), "recall": float((in_fake > 0).mean())}


def density_coverage(real, fake, k: int = 5, block_size: int = 2048) -> dict[str, float]:
  """density = sum_j #{real balls containing fake j} / (k M); coverage = share of real balls
  holding at least one fake (Naeem et al. 2020, eq. 3-4); real radii only."""
  real, fake = _centre(real, fake)
  r_real = knn_sq_distances(real, k, block_size)[:, k - 1]
  per_fake, per_real = ball_counts(fake, real, r_real, strict=True, block_size=block_size)
  return {"density": float(per_fake.sum() / (k * len(fake))),
          "coverage": float((per_real > 0).mean())}


def manifold_metrics(real, fake, k_pr: int = 3, k_dc: int = 5,
                     block_size: int = 2048) -> dict[str, float]:
  """precision, recall (k_pr) and density, coverage (k_dc), sharing the real k-NN pass."""
  real, fake = _centre(real, fake)
  knn_real = knn_sq_distances(real, max(k_pr, k_dc), block_size)
  r_fake = knn_sq_distances(fake, k_pr, block_size)[:, k_pr - 1]
  in_real, _ = ball_counts(fake, real, knn_real[:, k_pr - 1], strict=False, block_size=block_size)
  in_fake, _ = ball_counts(real, fake, r_fake, strict=False, block_size=block_size)
  per_fake, per_real = ball_counts(fake, real, knn_real[:, k_dc - 1], strict=True,
                                   block_size=block_size)
  return {"precision": float((in_real > 0).mean()), "recall": float((in_fake > 0).mean()),
          "density": float(per_fake.sum() / (k_dc * len(fake))),
          "coverage": float((per_real > 0).mean())}
