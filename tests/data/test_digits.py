"""Digits source: shapes, range, labels, the fixed stratified split, bilinear upsampling."""
import hashlib

import numpy as np
import pytest
from sklearn.datasets import load_digits

from lib.data.digits import DigitsSource, split_indices


def bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
  """Reference: rows interpolate at half-pixel centers (i + .5) n_in / n_out - .5, clamped."""
  a = np.zeros((n_out, n_in))
  for i in range(n_out):
    c = min(max((i + 0.5) * n_in / n_out - 0.5, 0.0), n_in - 1.0)
    lo = int(np.floor(c))
    hi = min(lo + 1, n_in - 1)
    a[i, lo] += 1 - (c - lo)
    a[i, hi] += c - lo
  return a


@pytest.mark.parametrize("size", [16, 32])
def test_upsampling_matches_numpy_reference(size):
  ref_digits = load_digits()
  src = DigitsSource("test", image_size=size)
  a = bilinear_matrix(8, size)
  for i in [0, 7, 100, 296]:
    j = split_indices("test")[i]
    expected = a @ (ref_digits.images[j] / 8.0 - 1.0) @ a.T
    ex = src[i]
    assert ex["image"].shape == (size, size, 1) and ex["image"].dtype == np.float32
    np.testing.assert_allclose(ex["image"][..., 0], expected, atol=1e-5)
    assert ex["label"] == ref_digits.target[j] and ex["label"].dtype == np.int32


def test_shapes_range_labels_and_channels():
  train, test = DigitsSource("train", 16), DigitsSource("test", 16)
  assert (len(train), len(test)) == (1500, 297)
  images = np.stack([train[i]["image"] for i in range(len(train))])
  labels = np.array([train[i]["label"] for i in range(len(train))])
  assert images.min() == -1.0 and 0.9 < images.max() <= 1.0
  assert set(labels.tolist()) == set(range(10))
  rgb = DigitsSource("train", 16, channels=3)[5]["image"]
  assert rgb.shape == (16, 16, 3)
  for c in range(3):
    np.testing.assert_array_equal(rgb[..., c], images[5][..., 0])
  with pytest.raises(ValueError, match="splits"):
    DigitsSource("validation")


def test_split_is_fixed_disjoint_and_stratified():
  train, test = split_indices("train"), split_indices("test")
  assert len(np.intersect1d(train, test)) == 0
  np.testing.assert_array_equal(np.union1d(train, test), np.arange(1797))
  target = load_digits().target
  share = np.bincount(target) * 297 / 1797
  assert np.all(np.abs(np.bincount(target[test], minlength=10) - share) <= 1.0)
  # Pinned: the split must never change (results and checkpoints refer to it).
  assert hashlib.sha256(test.astype(np.int64).tobytes()).hexdigest()[:16] == "9b74d3582de87ede"
  assert test[:4].tolist() == [13, 17, 25, 38]
