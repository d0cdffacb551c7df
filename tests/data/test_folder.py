"""Folder source: class subfolders -> sorted label ids, resizing, splits and clear errors."""
import ml_collections
import numpy as np
import pytest
from PIL import Image

from lib.data import make_iterator, make_source, num_classes

COLORS = {"cat": (200, 10, 10), "dog": (10, 200, 10), "ant": (10, 10, 200)}


def write(path, color, size=(20, 12)):
  path.parent.mkdir(parents=True, exist_ok=True)
  Image.new("RGB", size, color).save(path)


def config(path, **kw):
  return ml_collections.ConfigDict({**dict(source="folder", path=str(path), image_size=8,
                                           channels=3, prefetch=0), **kw})


def test_class_subfolders_give_sorted_labels(tmp_path):
  for name, n in [("dog", 2), ("cat", 3), ("ant", 1)]:
    for i in range(n):
      sub = "nested/" if name == "dog" and i else ""
      write(tmp_path / "train" / name / f"{sub}{i}.png", COLORS[name])
  write(tmp_path / "test" / "cat" / "0.jpg", COLORS["cat"])
  (tmp_path / "train" / "notes.txt").write_text("not an image")
  src = make_source(config(tmp_path), "train")
  assert len(src) == 6 and num_classes(config(tmp_path)) == 3
  names = ["ant", "cat", "dog"]                          # sorted -> 0, 1, 2
  for i in range(len(src)):
    ex = src[i]
    assert ex["image"].shape == (8, 8, 3)
    color = np.array(COLORS[names[ex["label"]]], np.float32) / 127.5 - 1
    np.testing.assert_allclose(ex["image"], np.broadcast_to(color, (8, 8, 3)), atol=1e-5)
  assert sorted(int(src[i]["label"]) for i in range(6)) == [0, 1, 1, 1, 2, 2]
  test = make_source(config(tmp_path), "test")
  assert len(test) == 1 and abs(test[0]["image"][..., 0].mean() - (200 / 127.5 - 1)) < 0.05
  gray = make_source(config(tmp_path, channels=1), "train")[0]["image"]
  assert gray.shape == (8, 8, 1)
  batch = next(make_iterator(config(tmp_path), "train", global_batch_size=4, seed=0))
  assert batch["image"].shape == (4, 8, 8, 3) and batch["label"].shape == (4,)


def test_flat_folder_has_no_labels(tmp_path):
  for i in range(3):
    write(tmp_path / f"{i}.png", COLORS["cat"], size=(9, 9))
  src = make_source(config(tmp_path), "train")
  assert len(src) == 3 and src.num_classes == 0 and "label" not in src[0]
  with pytest.raises(FileNotFoundError, match="no 'test' subfolder"):
    make_source(config(tmp_path), "test")


def test_clear_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match="does not exist"):
    make_source(config(tmp_path / "missing"), "train")
  (tmp_path / "empty" / "sub").mkdir(parents=True)
  with pytest.raises(FileNotFoundError, match="no images"):
    make_source(config(tmp_path / "empty"), "train")
  write(tmp_path / "mixed" / "a.png", COLORS["cat"])
  write(tmp_path / "mixed" / "cls" / "b.png", COLORS["dog"])
  with pytest.raises(ValueError, match="both at its top and in"):
    make_source(config(tmp_path / "mixed"), "train")
  with pytest.raises(ValueError, match="data.path"):
    make_source(config(""), "train")
