"""FeatureExtractor: preprocessing (resize convention), batched extraction and weight hashes."""
import numpy as np
import pytest

from lib.metrics import extractor as ex
from lib.metrics import frechet


def _bilinear_half_pixel(img, out_h, out_w):
  """torch F.interpolate(mode='bilinear', align_corners=False) transcribed, one HxW plane."""
  def axis(n_in, n_out):
    src = np.maximum((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(int), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, src - i0
  r0, r1, wr = axis(img.shape[0], out_h)
  c0, c1, wc = axis(img.shape[1], out_w)
  top = img[r0][:, c0] * (1 - wc) + img[r0][:, c1] * wc
  bottom = img[r1][:, c0] * (1 - wc) + img[r1][:, c1] * wc
  return top * (1 - wr)[:, None] + bottom * wr[:, None]


@pytest.mark.parametrize("size", [(9, 13), (3, 4)])  # up- and down-sampling
def test_resize_is_torch_bilinear_without_antialias(size):
  rng = np.random.default_rng(0)
  x = rng.uniform(size=(2, 6, 7, 3)).astype(np.float32)
  got = np.asarray(ex.resize_bilinear(x, size))
  ref = np.stack([np.stack([_bilinear_half_pixel(x[n, :, :, c].astype(np.float64), *size)
                            for c in range(3)], -1) for n in range(2)])
  np.testing.assert_allclose(got, ref, atol=1e-6)


def _linear_extractor(traces, d_in=4 * 4 * 3, d=5, **kw):
  w = np.random.default_rng(1).standard_normal((d_in, d)).astype(np.float32)

  def features_fn(p, x):
    traces.append(x.shape)  # runs only while tracing
    return x.reshape(len(x), -1) @ p

  return ex.FeatureExtractor(name="linear", sha256=ex.weights_sha256({"w": w}),
                             features_fn=features_fn, params=w, **kw), w


def test_chunks_of_any_size_give_the_same_features_with_one_compile():
  traces = []
  e, w = _linear_extractor(traces, input_size=(4, 4), channels=3)
  rng = np.random.default_rng(2)
  images = rng.integers(0, 256, (22, 4, 4, 1), dtype=np.uint8)  # uint8 grayscale
  expected = np.repeat(images / 255.0, 3, axis=-1).reshape(22, -1) @ w
  parts = [images[:7], images[7:10], images[10:]]
  got = ex.compute_features(e, iter(parts), batch_size=5)
  np.testing.assert_allclose(got, expected, rtol=1e-5)
  assert traces == [(5, 4, 4, 3)]  # every call padded to one shape
  got = ex.compute_features(e, images, batch_size=5, max_samples=12)
  np.testing.assert_allclose(got, expected[:12], rtol=1e-5)
  valid = np.arange(22) % 3 != 0
  dict_batches = [{"image": images[:11], "valid": valid[:11]},
                  {"image": images[11:], "valid": valid[11:]}]
  np.testing.assert_allclose(ex.compute_features(e, dict_batches, batch_size=5), expected[valid],
                             rtol=1e-5)
  with pytest.raises(NotImplementedError):
    e.logits(images)


def test_compute_stats_streams_into_running_stats():
  e, w = _linear_extractor([])
  x = np.random.default_rng(3).uniform(size=(37, 4, 4, 3)).astype(np.float32)
  stats = ex.compute_stats(e, x, batch_size=8, reference="test")
  feats = x.reshape(37, -1).astype(np.float64) @ w
  np.testing.assert_allclose(stats.cov, np.cov(feats, rowvar=False), rtol=1e-4, atol=1e-5)
  assert stats.meta == {"extractor": "linear", "extractor_sha256": e.sha256, "resize": None,
                        "num_samples": 37, "reference": "test"}
  assert isinstance(stats, frechet.RunningStats)


def test_weights_sha256_depends_on_values_not_on_order():
  a = {"conv": {"kernel": np.arange(6, dtype=np.float32)}, "fc": {"bias": np.ones(2, np.float32)}}
  b = {"fc": {"bias": np.ones(2, np.float32)}, "conv": {"kernel": np.arange(6, dtype=np.float32)}}
  assert ex.weights_sha256(a) == ex.weights_sha256(b)
  assert len(ex.weights_sha256(a)) == 64
  b["conv"]["kernel"][3] += 1e-6
  assert ex.weights_sha256(a) != ex.weights_sha256(b)
  c = {"conv": {"kernel": np.arange(6, dtype=np.float32).reshape(2, 3)}, "fc": a["fc"]}
  assert ex.weights_sha256(a) != ex.weights_sha256(c)  # same bytes, other shape
