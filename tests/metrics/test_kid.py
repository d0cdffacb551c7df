"""KID: the unbiased MMD^2 estimator with the cubic kernel, against exact expectations."""
import numpy as np
import pytest

from lib.metrics import kid


def _cubic(x, y):  # k(x, y) = (x.y / d + 1)^3, Binkowski et al. 2018
  return (x @ y.T / x.shape[1] + 1.0) ** 3


def test_matches_double_loop_transcription():
  rng = np.random.default_rng(0)
  x, y = rng.standard_normal((6, 4)), 0.3 + rng.standard_normal((6, 4))
  m = len(x)
  kxx = sum(_cubic(x[i:i + 1], x[j:j + 1])[0, 0] for i in range(m) for j in range(m) if i != j)
  kyy = sum(_cubic(y[i:i + 1], y[j:j + 1])[0, 0] for i in range(m) for j in range(m) if i != j)
  kxy = sum(_cubic(x[i:i + 1], y[j:j + 1])[0, 0] for i in range(m) for j in range(m))
  expected = kxx / (m * (m - 1)) + kyy / (m * (m - 1)) - 2 * kxy / m ** 2
  # One subset of the full size is a permutation of each set: the estimate is the same.
  mean, std = kid.kernel_inception_distance(x, y, subset_size=m, num_subsets=1, seed=3)
  np.testing.assert_allclose(mean, expected, rtol=1e-12)
  assert std == 0.0


def test_unbiased_for_exact_mmd_of_discrete_distributions():
  # P, Q uniform on 10 fixed points each: MMD^2 = E k(x,x') + E k(y,y') - 2 E k(x,y) exactly,
  # the expectations being plain means over all pairs of support points (x, x' independent).
  rng = np.random.default_rng(1)
  a = rng.standard_normal((10, 8))
  b = a[rng.permutation(10)] + 0.4
  exact = _cubic(a, a).mean() + _cubic(b, b).mean() - 2 * _cubic(a, b).mean()
  m, reps = 10, 1000
  est, biased = np.empty(reps), np.empty(reps)
  for r in range(reps):  # independent samples of size m: the mean of estimates has SE std/sqrt(R)
    x, y = a[rng.integers(0, 10, m)], b[rng.integers(0, 10, m)]
    est[r] = kid.kernel_inception_distance(x, y, subset_size=m, num_subsets=1, seed=r)[0]
    biased[r] = _cubic(x, x).mean() + _cubic(y, y).mean() - 2 * _cubic(x, y).mean()
  se = est.std() / np.sqrt(reps)
  assert abs(est.mean() - exact) < 4 * se, (est.mean(), exact, se)
  # The test has power: the biased V-statistic misses by many standard errors at m = 10.
  assert abs(biased.mean() - exact) > 10 * biased.std() / np.sqrt(reps)


def test_identical_distributions_give_zero_with_both_signs():
  rng = np.random.default_rng(2)
  x, y = rng.standard_normal((1000, 16)), rng.standard_normal((1000, 16))
  vals = kid.kid_subsets(x, y, subset_size=100, num_subsets=100, seed=0)
  assert vals.min() < 0 < vals.max()
  assert abs(vals.mean()) < 4 * vals.std() / np.sqrt(len(vals))
  shifted = kid.kernel_inception_distance(x, y + 0.5, subset_size=100, num_subsets=100)
  assert shifted[0] > 20 * abs(vals.mean())


def test_seeded_and_subset_size_capped():
  rng = np.random.default_rng(3)
  x, y = rng.standard_normal((50, 8)), rng.standard_normal((40, 8)) + 0.2
  assert kid.kernel_inception_distance(x, y, 20, 10, seed=5) == \
      kid.kernel_inception_distance(x, y, 20, 10, seed=5)
  assert kid.kernel_inception_distance(x, y, 20, 10, seed=5) != \
      kid.kernel_inception_distance(x, y, 20, 10, seed=6)
  # subset_size above the smaller set is capped to it: y is then used whole in every subset.
  vals = kid.kid_subsets(x[:40], y, subset_size=1000, num_subsets=3, seed=0)
  np.testing.assert_allclose(vals, vals[0], rtol=1e-12)
  with pytest.raises(ValueError):
    kid.kid_subsets(x, y[:, :4])
