"""Precision/recall (k-NN manifolds, k=3) and density/coverage (k=5) against brute force and
against properties proven in the papers."""
import numpy as np
from scipy.spatial.distance import cdist

from lib.metrics import precision_recall as pr


def _reference(real, fake, k_pr=3, k_dc=5):
  """Transcription of Kynkaanniemi et al. 2019 eq. 1-3 and Naeem et al. 2020 eq. 3-4."""
  d_rr, d_ff, d_rf = cdist(real, real), cdist(fake, fake), cdist(real, fake)
  radius = lambda d, k: np.sort(d, axis=1)[:, k]  # column 0 is the point itself
  r3, f3, r5 = radius(d_rr, k_pr), radius(d_ff, k_pr), radius(d_rr, k_dc)
  precision = np.mean([(d_rf[:, j] <= r3).any() for j in range(len(fake))])
  recall = np.mean([(d_rf[i, :] <= f3).any() for i in range(len(real))])
  inside = d_rf < r5[:, None]  # [real i, fake j]
  density = inside.sum() / (k_dc * len(fake))
  coverage = inside.any(axis=1).mean()
  return {"precision": precision, "recall": recall, "density": density, "coverage": coverage}


def test_matches_brute_force_with_small_blocks():
  rng = np.random.default_rng(0)
  real = rng.standard_normal((300, 8)) + 5.0
  fake = 1.2 * rng.standard_normal((250, 8)) + 5.3
  got = pr.manifold_metrics(real, fake, block_size=64)  # several blocks, the last ones padded
  ref = _reference(real, fake)
  for key in ref:
    np.testing.assert_allclose(got[key], ref[key], atol=1e-12, err_msg=key)
  assert pr.precision_recall(real, fake, block_size=1000) == \
      {k: got[k] for k in ("precision", "recall")}
  assert pr.density_coverage(real, fake, block_size=100) == \
      {k: got[k] for k in ("density", "coverage")}
  knn = pr.knn_sq_distances(real, 4, block_size=64)
  np.testing.assert_allclose(knn, np.sort(cdist(real, real), 1)[:, 1:5] ** 2, rtol=2e-4)


def test_shrinking_raises_precision_lowers_recall_and_widening_the_opposite():
  rng = np.random.default_rng(1)
  real = rng.standard_normal((1000, 16))
  scores = [pr.precision_recall(real, s * rng.standard_normal((1000, 16)), block_size=512)
            for s in (0.6, 1.0, 1.5)]
  p, r = [s["precision"] for s in scores], [s["recall"] for s in scores]
  assert p[0] > p[1] > p[2] and r[0] < r[1] < r[2], scores
  assert p[0] > 0.9 > r[0] and r[2] > 0.9 > p[2]


def test_identical_distributions_match_naeem_expectations():
  # Naeem et al. 2020: for identical real and fake distributions E[density] = 1 and
  # E[coverage] = 1 - prod_{j<k} (N-1-j) / (N+M-1-j) (~ 1 - 2^-k for M = N).
  n, k = 1000, 5
  rng = np.random.default_rng(2)
  runs = [pr.density_coverage(rng.standard_normal((n, 16)), rng.standard_normal((n, 16)), k=k)
          for _ in range(3)]
  expected_cov = 1 - np.prod([(n - 1 - j) / (2 * n - 1 - j) for j in range(k)])
  assert abs(np.mean([r["density"] for r in runs]) - 1.0) < 0.05
  assert abs(np.mean([r["coverage"] for r in runs]) - expected_cov) < 0.01
  # Power: fakes piled at the mode raise density; fakes from half the space lower coverage.
  narrow = pr.density_coverage(rng.standard_normal((n, 16)), 0.5 * rng.standard_normal((n, 16)))
  half = rng.standard_normal((n, 16))
  half[:, 0] = np.abs(half[:, 0])
  dropped = pr.density_coverage(rng.standard_normal((n, 16)), half)
  assert narrow["density"] > 3.0 and dropped["coverage"] < expected_cov - 0.05
