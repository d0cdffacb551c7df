"""Frechet distance between Gaussians fitted to features (FID; Heusel et al. 2017, eq. 6).

Statistics are accumulated in float64 with Chan et al.'s pairwise update (mean and centred
sum of outer products), so streaming over batches equals one pass over all features and
two partial statistics merge exactly. `RunningStats.save` writes `mu` and `sigma` under the
same keys as pytorch-fid's `--save-stats` files, plus `n` and a JSON `meta` record (extractor
name and hash, reference set, number of samples, resize: the protocol facts a FID needs).
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import scipy.linalg


@dataclasses.dataclass
class RunningStats:
  """Mean and covariance of feature vectors, updated batch by batch in float64."""
  dim: int
  n: int = 0
  mean: np.ndarray | None = None  # [D] float64
  m2: np.ndarray | None = None    # [D, D] float64: sum of (x - mean)(x - mean)^T
  meta: dict[str, Any] = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    if self.mean is None:
      self.mean = np.zeros(self.dim, np.float64)
    if self.m2 is None:
      self.m2 = np.zeros((self.dim, self.dim), np.float64)

  def update(self, features) -> "RunningStats":
    """Adds a batch of features [B, D] (any float dtype; accumulated in float64). In place."""
    x = np.asarray(features, np.float64)
    if x.ndim != 2 or x.shape[1] != self.dim:
      raise ValueError(f"RunningStats(dim={self.dim}).update expects [B, {self.dim}], "
                       f"got {x.shape}")
    if len(x) == 0:
      return self
    mu = x.mean(axis=0)
    xc = x - mu
    self._combine(len(x), mu, xc.T @ xc)
    return self

  def merge(self, other: "RunningStats") -> "RunningStats":
    """Adds the samples summarised by `other` (e.g. another host's shard). In place."""
    if other.dim != self.dim:
      raise ValueError(f"cannot merge statistics of dim {other.dim} into dim {self.dim}")
    if other.n:
      self._combine(other.n, other.mean, other.m2)
    return self

  def _combine(self, n_b: int, mean_b: np.ndarray, m2_b: np.ndarray):
    # Chan, Golub, LeVeque 1979: M2 = M2_a + M2_b + delta delta^T n_a n_b / n.
    n_a, n = self.n, self.n + n_b
    delta = mean_b - self.mean
    self.mean = self.mean + delta * (n_b / n)
    self.m2 = self.m2 + m2_b + np.outer(delta, delta) * (n_a * n_b / n)
    self.n = n

  @property
  def cov(self) -> np.ndarray:
    """Unbiased sample covariance (divides by n - 1, as np.cov and pytorch-fid)."""
    if self.n < 2:
      raise ValueError(f"covariance needs at least 2 samples, have {self.n}")
    return self.m2 / (self.n - 1)

  def save(self, path: str, **meta) -> None:
    """Writes mu, sigma (pytorch-fid keys), n and meta (JSON) to an npz file."""
    record = {**self.meta, **meta}
    np.savez(path, mu=self.mean, sigma=self.cov, n=np.int64(self.n),
             meta=np.array(json.dumps(record, sort_keys=True)))

  @classmethod
  def load(cls, path: str) -> "RunningStats":
    """Reads a file written by `save` (pytorch-fid stats files lack `n`: use load_mu_sigma)."""
    with np.load(path, allow_pickle=False) as f:
      if "n" not in f:
        raise ValueError(f"{path} has no sample count 'n' (a pytorch-fid stats file?); "
                         "read it with load_mu_sigma(path) instead")
      mu, sigma, n = f["mu"].astype(np.float64), f["sigma"].astype(np.float64), int(f["n"])
      meta = json.loads(str(f["meta"])) if "meta" in f else {}
    return cls(dim=len(mu), n=n, mean=mu, m2=sigma * (n - 1), meta=meta)


def load_mu_sigma(path: str) -> tuple[np.ndarray, np.ndarray]:
  """(mu, sigma) in float64 from any npz with those keys (ours or pytorch-fid's)."""
  with np.load(path, allow_pickle=False) as f:
    return f["mu"].astype(np.float64), f["sigma"].astype(np.float64)


def _psd_sqrt(c: np.ndarray) -> np.ndarray:
  """Symmetric square root of a PSD matrix by eigendecomposition (negative rounding -> 0)."""
  w, v = np.linalg.eigh((c + c.T) / 2)
  return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def trace_sqrt_product(cov1: np.ndarray, cov2: np.ndarray, method: str = "eigh",
                       eps: float = 1e-6) -> float:
  """tr sqrt(C1 C2).

  method="eigh" (default): tr sqrt(C1 C2) = tr sqrt(sqrt(C1) C2 sqrt(C1)), the second matrix
    being symmetric PSD (similar to C1 C2), so its eigenvalues are real and clipped at 0; no
    complex arithmetic and no failure on singular covariances (N < D).
  method="sqrtm": scipy.linalg.sqrtm(C1 C2) as in pytorch-fid / the TTUR code: if the result
    is not finite, retry with eps*I added to both covariances; a small imaginary part from
    rounding is dropped (an error if its diagonal exceeds 1e-3).
  """
  cov1, cov2 = np.asarray(cov1, np.float64), np.asarray(cov2, np.float64)
  if method == "eigh":
    s1 = _psd_sqrt(cov1)
    w = np.linalg.eigvalsh(s1 @ cov2 @ s1)
    return float(np.sqrt(np.clip(w, 0, None)).sum())
  if method == "sqrtm":
    covmean = scipy.linalg.sqrtm(cov1 @ cov2)
    if not np.isfinite(covmean).all():
      offset = np.eye(len(cov1)) * eps
      covmean = scipy.linalg.sqrtm((cov1 + offset) @ (cov2 + offset))
    if np.iscomplexobj(covmean):
      imag = np.abs(np.diagonal(covmean).imag).max()
      if imag > 1e-3:
        raise ValueError(f"sqrtm(C1 C2) has an imaginary component {imag:.3g}")
      covmean = covmean.real
    return float(np.trace(covmean))
  raise ValueError(f"method must be 'eigh' or 'sqrtm', got {method!r}")


def frechet_distance(mu1, cov1, mu2, cov2, method: str = "eigh") -> float:
  """d^2 = ||mu1 - mu2||^2 + tr(C1 + C2 - 2 sqrt(C1 C2)) in float64 (Dowson & Landau 1982)."""
  mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
  cov1, cov2 = np.asarray(cov1, np.float64), np.asarray(cov2, np.float64)
  if mu1.shape != mu2.shape or cov1.shape != cov2.shape:
    raise ValueError(f"shape mismatch: mu {mu1.shape} vs {mu2.shape}, "
                     f"cov {cov1.shape} vs {cov2.shape}")
  diff = mu1 - mu2
  tr = np.trace(cov1) + np.trace(cov2) - 2.0 * trace_sqrt_product(cov1, cov2, method)
  return float(diff @ diff + tr)


def frechet_distance_from_stats(a: RunningStats, b: RunningStats, method: str = "eigh") -> float:
  """FID between two accumulated statistics."""
  return frechet_distance(a.mean, a.cov, b.mean, b.cov, method)


def frechet_distance_from_features(x, y, method: str = "eigh") -> float:
  """FID between two feature arrays [N, D] and [M, D]."""
  a = RunningStats(np.shape(x)[1]).update(x)
  b = RunningStats(np.shape(y)[1]).update(y)
  return frechet_distance_from_stats(a, b, method)
