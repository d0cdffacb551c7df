"""Relative representations against a per-pair cosine transcription and their invariances."""
import numpy as np
import pytest

from lib.analysis import relative
from lib.errors import DataError


def test_relative_projection_is_the_cosine_to_each_anchor():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(6, 4))
  anchors = x[relative.choose_anchors(6, 3)]
  got = relative.relative_projection(x, anchors)
  for i in range(6):
    for j in range(3):
      a = anchors[j]
      assert got[i, j] == pytest.approx(x[i] @ a / (np.linalg.norm(x[i]) * np.linalg.norm(a)))


def test_invariant_to_orthogonal_maps_and_scaling():
  rng = np.random.default_rng(1)
  x = rng.normal(size=(50, 16))
  q, _ = np.linalg.qr(rng.normal(size=(16, 16)))
  idx = relative.choose_anchors(50, 10, seed=3)
  rel = relative.relative_projection(x, x[idx])
  y = 4.2 * x @ q
  np.testing.assert_allclose(relative.relative_projection(y, y[idx]), rel, atol=1e-12)
  assert relative.relative_similarity(rel, relative.relative_projection(y, y[idx])) == \
      pytest.approx(1.0)
  # a translation breaks the plain projection, not the centred one
  shifted = y + 3.0
  assert np.abs(relative.relative_projection(shifted, shifted[idx]) - rel).max() > 1e-2
  np.testing.assert_allclose(relative.relative_projection(shifted, shifted[idx], center=True),
                             relative.relative_projection(x, x[idx], center=True), atol=1e-12)
  # a non-orthogonal map is not angle preserving
  z = x @ rng.normal(size=(16, 16))
  assert relative.relative_similarity(rel, relative.relative_projection(z, z[idx])) < 0.999
  with pytest.raises(DataError, match="same space"):
    relative.relative_projection(x, x[:3, :8])
