"""Shapes source: determinism per (seed, split, index), exact mask partition that agrees with
the pixels, labels from the masks, and equal-area geometry."""
import numpy as np
import pytest

from lib.data.shapes import ShapesSource, shape_mask


def _same(a: dict, b: dict) -> bool:
  return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_deterministic_per_seed_split_index():
  a, b = ShapesSource("train", 50, 16), ShapesSource("train", 50, 16)
  late = b[7]
  first = [a[i] for i in range(10)]
  assert _same(first[7], late)                  # independent of access order and instance
  assert not _same(first[3], first[4])
  assert not _same(first[3], ShapesSource("test", 50, 16)[3])
  assert not _same(first[3], ShapesSource("train", 50, 16, seed=1)[3])
  with pytest.raises(IndexError):
    a[50]


@pytest.mark.parametrize("size,max_objects", [(16, 3), (32, 4), (9, 2)])
def test_masks_partition_and_agree_with_pixels(size, max_objects):
  src = ShapesSource("train", 40, size, max_objects=max_objects)
  counts = set()
  for i in range(40):
    ex = src[i]
    img, masks, n = (ex["image"] + 1) / 2, ex["masks"], int(ex["num_objects"])
    counts.add(n)
    assert img.shape == (size, size, 3) and masks.shape == (max_objects + 1, size, size)
    assert set(np.unique(masks).tolist()) <= {0.0, 1.0}
    np.testing.assert_array_equal(masks.sum(0), np.ones((size, size)))
    assert 1 <= n <= max_objects
    assert all(masks[k].sum() > 0 for k in range(1, n + 1))
    assert all(masks[k].sum() == 0 for k in range(n + 1, max_objects + 1))
    lm = ex["labels_multi"]
    assert set(lm[:n].tolist()) <= {0, 1, 2} and np.all(lm[n:] == -1)
    colors = []
    for k in range(n + 1):
      pixels = img[masks[k] == 1]
      if len(pixels):
        np.testing.assert_allclose(pixels, np.broadcast_to(pixels[0], pixels.shape), atol=1e-6)
        colors.append(pixels[0])
    assert np.all(colors[0] <= 0.15 + 1e-6)                   # dark background
    assert all(c.max() >= 0.7 - 1e-6 for c in colors[1:])     # bright objects
    areas = masks[1:n + 1].sum((1, 2))
    assert ex["label"] == lm[int(np.argmax(areas))]            # largest, first on ties
  assert len(counts) > 1


def test_equal_area_shapes_match_closed_form():
  size, r = 600, 0.2
  expected = np.pi * r * r * size * size
  for cls in range(3):
    area = shape_mask(cls, 0.5, 0.5, r, 0.3, size).sum()
    assert abs(area / expected - 1) < 0.01, (cls, area, expected)
  circle = shape_mask(0, 0.5, 0.5, r, 0.0, size)
  np.testing.assert_array_equal(circle, circle.T)
  square = shape_mask(1, 0.5, 0.5, r, 0.0, size)               # axis-aligned at angle 0
  rows = np.flatnonzero(square.any(1))
  assert abs(len(rows) - r * np.sqrt(np.pi) * size) <= 2


def test_gray_channel_and_lengths():
  ex = ShapesSource("test", 5, 12, channels=1)[0]
  assert ex["image"].shape == (12, 12, 1)
  assert len(ShapesSource("test", 5, 12)) == 5
