"""FID: float64 streaming statistics and the Frechet distance against closed forms."""
import json
import warnings

import numpy as np
import pytest
import scipy.linalg
from scipy.ndimage import gaussian_filter
from sklearn.datasets import load_digits

from lib.metrics import frechet


def _random_cov(rng, d, rank=None):
  a = rng.standard_normal((d, rank or d))
  return a @ a.T / d + (0 if rank else 0.1) * np.eye(d)


def test_streaming_stats_equal_one_shot():
  rng = np.random.default_rng(0)
  # A large offset makes a naive sum-of-squares accumulation lose digits; Chan's update must not.
  x = 1e4 + rng.standard_normal((1000, 12)) * rng.uniform(0.1, 3, 12)
  stats = frechet.RunningStats(12)
  x[:7] = x[:7].astype(np.float32)  # the first chunk arrives as float32
  for i, chunk in enumerate(np.split(x, [7, 300, 301, 999])):
    stats.update(chunk.astype(np.float32) if i == 0 else chunk)
  stats.update(np.zeros((0, 12)))
  ref_x = x
  np.testing.assert_allclose(stats.mean, ref_x.mean(0), rtol=1e-13)
  np.testing.assert_allclose(stats.cov, np.cov(ref_x, rowvar=False), rtol=1e-9, atol=1e-11)
  assert stats.n == 1000


def test_merge_equals_concatenation():
  rng = np.random.default_rng(1)
  x, y = rng.standard_normal((300, 5)), 3 + 2 * rng.standard_normal((77, 5))
  a, b = frechet.RunningStats(5).update(x), frechet.RunningStats(5).update(y)
  a.merge(b).merge(frechet.RunningStats(5))
  both = np.concatenate([x, y])
  np.testing.assert_allclose(a.mean, both.mean(0), rtol=1e-12)
  np.testing.assert_allclose(a.cov, np.cov(both, rowvar=False), rtol=1e-12)
  with pytest.raises(ValueError):
    a.merge(frechet.RunningStats(4))
  with pytest.raises(ValueError):
    a.update(np.zeros((3, 4)))


def test_save_load_roundtrip_and_pytorch_fid_keys(tmp_path):
  rng = np.random.default_rng(2)
  x = rng.standard_normal((200, 6))
  s = frechet.RunningStats(6, meta={"extractor": "pca"}).update(x[:120])
  path = str(tmp_path / "stats.npz")
  s.save(path, reference="digits/test")
  with np.load(path) as f:  # the keys pytorch-fid's fid_score reads
    np.testing.assert_allclose(f["mu"], x[:120].mean(0))
    np.testing.assert_allclose(f["sigma"], np.cov(x[:120], rowvar=False))
    assert json.loads(str(f["meta"])) == {"extractor": "pca", "reference": "digits/test"}
  loaded = frechet.RunningStats.load(path)
  assert loaded.n == 120 and loaded.meta["reference"] == "digits/test"
  loaded.update(x[120:])  # a loaded file keeps accumulating exactly
  np.testing.assert_allclose(loaded.cov, np.cov(x, rowvar=False), rtol=1e-12)
  mu, sigma = frechet.load_mu_sigma(path)
  np.testing.assert_allclose(sigma, np.cov(x[:120], rowvar=False))
  np.savez(tmp_path / "pt.npz", mu=mu, sigma=sigma)
  with pytest.raises(ValueError, match="load_mu_sigma"):
    frechet.RunningStats.load(str(tmp_path / "pt.npz"))


@pytest.mark.parametrize("method", ["eigh", "sqrtm"])
def test_fid_closed_form_diagonal(method):
  rng = np.random.default_rng(3)
  mu1, mu2 = rng.standard_normal(16), rng.standard_normal(16)
  s1, s2 = rng.uniform(0.1, 4, 16), rng.uniform(0.1, 4, 16)
  expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
  got = frechet.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2), method)
  np.testing.assert_allclose(got, expected, rtol=1e-10)


@pytest.mark.parametrize("method", ["eigh", "sqrtm"])
def test_fid_closed_form_rotated_and_2x2(method):
  rng = np.random.default_rng(4)
  q, _ = np.linalg.qr(rng.standard_normal((10, 10)))
  a, b = rng.uniform(0.1, 3, 10), rng.uniform(0.1, 3, 10)
  # Commuting covariances Q diag(a) Q^T, Q diag(b) Q^T: sqrt(C1 C2) = Q diag(sqrt(ab)) Q^T.
  got = frechet.frechet_distance(np.zeros(10), (q * a) @ q.T, np.ones(10), (q * b) @ q.T, method)
  np.testing.assert_allclose(got, 10 + np.sum(a + b - 2 * np.sqrt(a * b)), rtol=1e-9)
  # Non-commuting 2x2: tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)) for M with eigenvalues >= 0.
  c1, c2 = _random_cov(rng, 2), _random_cov(rng, 2)
  m = c1 @ c2
  expected = np.trace(c1) + np.trace(c2) - 2 * np.sqrt(np.trace(m) + 2 * np.sqrt(np.linalg.det(m)))
  got = frechet.frechet_distance(np.zeros(2), c1, np.zeros(2), c2, method)
  np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_methods_agree_on_rank_deficient_covariances():
  rng = np.random.default_rng(5)
  x, y = rng.standard_normal((20, 32)), 0.5 + rng.standard_normal((25, 32))  # N < D: singular
  e = frechet.frechet_distance_from_features(x, y, "eigh")
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # scipy may call the singular product inaccurate
    s = frechet.frechet_distance_from_features(x, y, "sqrtm")
  np.testing.assert_allclose(e, s, rtol=1e-4)


def test_sqrtm_retries_with_eps_offset_when_not_finite(monkeypatch):
  rng = np.random.default_rng(6)
  c1, c2 = _random_cov(rng, 4), _random_cov(rng, 4)
  calls, real_sqrtm = [], scipy.linalg.sqrtm

  def flaky_sqrtm(a):
    calls.append(a)
    return np.full_like(a, np.nan) if len(calls) == 1 else real_sqrtm(a)

  monkeypatch.setattr(scipy.linalg, "sqrtm", flaky_sqrtm)
  got = frechet.trace_sqrt_product(c1, c2, "sqrtm", eps=1e-3)
  np.testing.assert_allclose(calls[1], (c1 + 1e-3 * np.eye(4)) @ (c2 + 1e-3 * np.eye(4)))
  np.testing.assert_allclose(got, np.trace(real_sqrtm(calls[1])).real, rtol=1e-12)


def _digits_split():
  images = load_digits().images.astype(np.float64)  # [1797, 8, 8] in [0, 16], embedded in sklearn
  perm = np.random.default_rng(0).permutation(len(images))
  return images[perm[:900]], images[perm[900:]]


@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")
def test_fid_of_a_set_with_itself_is_zero():
  real, _ = _digits_split()
  f = real.reshape(len(real), -1)
  scale = np.trace(np.cov(f, rowvar=False))
  assert abs(frechet.frechet_distance_from_features(f, f)) < 1e-9 * scale
  assert abs(frechet.frechet_distance_from_features(f, f[::-1], "sqrtm")) < 1e-6 * scale


def test_fid_rises_monotonically_with_noise_and_blur():
  real, other = _digits_split()
  feat = lambda im: im.reshape(len(im), -1)  # pixels as a stand-in feature space
  rng = np.random.default_rng(1)
  noise = [frechet.frechet_distance_from_features(
      feat(real), feat(other + s * rng.standard_normal(other.shape))) for s in [0, 1, 2, 4, 8]]
  blur = [frechet.frechet_distance_from_features(
      feat(real), feat(np.stack([gaussian_filter(im, s) for im in other])))
          for s in [0, 0.5, 1, 1.5, 2]]
  for scores in (noise, blur):
    assert all(b > a for a, b in zip(scores, scores[1:])), scores
  assert noise[0] < 0.2 * noise[-1] and blur[0] < 0.2 * blur[-1]
