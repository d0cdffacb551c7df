"""Domain pairs: seeded, paired to their own counterpart, unpaired by a seeded permutation."""
import numpy as np
import pytest

from lib.data.domain_pairs import DomainPairSource, edge_map, grey_dilation
from lib.data.sources import make_source
from lib.errors import DataError


def test_paired_digits_edges_and_thick_are_counterparts():
  edges = DomainPairSource("digits_edges", "test", 16, paired=True)
  thick = DomainPairSource("digits_thick", "test", 16, paired=True, thick_radius=2)
  for i in (0, 7, 100):
    e, t = edges[i], thick[i]
    np.testing.assert_array_equal(e["target"], t["image"])            # B of edges = the digit
    np.testing.assert_array_equal(e["image"], edge_map(e["target"]))
    assert set(np.unique(e["image"])) <= {-1.0, 1.0}
    # edges lie on the ink boundary: every edge pixel is within 1 px of ink
    assert np.all(grey_dilation(e["foreground"] * 2 - 1, 1)[e["image"] > 0] > 0)
    np.testing.assert_array_equal(t["target"], grey_dilation(t["image"], 2))
    assert (t["target"] >= t["image"]).all() and (t["target"] > t["image"]).any()
    assert e["label"] == e["target_label"] == t["label"]


def test_shapes_palette_keeps_the_layout():
  s = DomainPairSource("shapes_palette", "test", 16, paired=True, length=20)
  for i in range(5):
    ex = s[i]
    fg = ex["foreground"][..., 0] > 0.5
    bg_b = ex["target"][~fg]
    np.testing.assert_allclose(bg_b, 0.85 * 2 - 1, atol=1e-6)         # B background: flat
    assert not np.allclose(ex["target"][fg], 0.85 * 2 - 1)            # objects repainted
    assert not np.allclose(ex["image"][fg], ex["target"][fg])


def test_unpaired_is_a_seeded_permutation():
  paired = DomainPairSource("digits_thick", "train", 16, paired=True)
  a = DomainPairSource("digits_thick", "train", 16, paired=False, seed=3)
  b = DomainPairSource("digits_thick", "train", 16, paired=False, seed=3)
  c = DomainPairSource("digits_thick", "train", 16, paired=False, seed=4)
  assert sorted(a._partner.tolist()) == list(range(len(a)))
  assert (a._partner == b._partner).all() and not (a._partner == c._partner).all()
  for i in (0, 5, 200):
    np.testing.assert_array_equal(a[i]["image"], paired[i]["image"])   # A untouched
    np.testing.assert_array_equal(a[i]["target"], paired[int(a._partner[i])]["target"])
    np.testing.assert_array_equal(a[i]["target"], b[i]["target"])
  assert np.mean([a._partner[i] == i for i in range(len(a))]) < 0.01


def test_config_source_and_folder_layout(tmp_path):
  from ml_collections import ConfigDict
  cfg = ConfigDict(dict(source="domain_pair", pair="digits_edges", paired=True, image_size=16,
                        channels=0))
  ex = make_source(cfg, "train")[0]
  assert ex["image"].shape == ex["target"].shape == (16, 16, 1)
  from PIL import Image
  for d, n in (("trainA", 3), ("trainB", 2)):
    (tmp_path / d).mkdir()
    for i in range(n):
      Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(tmp_path / d / f"{i}.png")
  src = DomainPairSource("folder", "train", 8, paired=False, path=str(tmp_path))
  assert len(src) == 3 and src[2]["target"].shape == (8, 8, 3) and src[0]["label"] == -1
  with pytest.raises(DataError, match="pair them"):
    DomainPairSource("folder", "train", 8, paired=True, path=str(tmp_path))
  with pytest.raises(DataError, match="testA"):
    DomainPairSource("folder", "test", 8, paired=False, path=str(tmp_path))
