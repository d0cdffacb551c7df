"""The bootstrap interval of a known distribution covers its mean at about the stated rate."""
import numpy as np

from lib.studies.bootstrap import mean_interval


def test_coverage_of_normal_mean():
  rng = np.random.default_rng(0)
  trials, n, hits = 400, 30, 0
  for t in range(trials):
    x = rng.normal(2.0, 3.0, size=n)
    lo, hi = mean_interval(x, 0.95, num_resamples=2000, seed=t)
    hits += lo <= 2.0 <= hi
  rate = hits / trials
  # percentile bootstrap at n=30 covers slightly under 0.95; 3 binomial sds ~ 0.033
  assert 0.90 <= rate <= 0.98, rate


def test_interval_brackets_sample_mean_and_single_value():
  x = np.array([1.0, 2.0, 4.0, 7.0])
  lo, hi = mean_interval(x)
  assert lo <= x.mean() <= hi and x.min() <= lo and hi <= x.max()
  assert mean_interval([3.5]) == (3.5, 3.5)
