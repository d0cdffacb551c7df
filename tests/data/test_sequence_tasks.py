"""ListOps labels equal an independent evaluator; Pathfinder labels are correct by a flood
fill; the generators are deterministic for a seed."""
import collections

import numpy as np

from lib.data.listops import ListOpsSource
from lib.data.pathfinder import PathfinderSource
from lib.data.pixel_sequences import PixelSequenceSource
from lib.data.sources import make_source

NAMES = {11: "MIN", 12: "MAX", 13: "MED", 14: "SM"}


def _eval_tokens(tokens):
  """Stack evaluator over the token string (written independently of the generator)."""
  stack = []
  for t in tokens:
    if t == 0:
      break
    if t in NAMES:
      stack.append([NAMES[t]])
    elif t == 15:
      op, *args = stack.pop()
      v = {"MIN": min(args), "MAX": max(args), "SM": sum(args) % 10,
           "MED": int(np.floor(np.percentile(args, 50, method="lower")))}[op]
      if not stack:
        return v
      stack[-1].append(v)
    else:
      stack[-1].append(int(t) - 1)
  raise AssertionError("unbalanced sequence")


def _depth(tokens):
  d = m = 0
  for t in tokens:
    d += t in NAMES
    d -= t == 15
    m = max(m, d)
  return m


def test_listops_labels_match_independent_evaluator():
  src = ListOpsSource("train", length=300, max_len=96, seed=1)
  labels = []
  for i in range(len(src)):
    ex = src[i]
    assert ex["image"].shape == (96,) and ex["image"].dtype == np.int32
    assert _eval_tokens(ex["image"]) == ex["label"]
    assert _depth(ex["image"]) <= 10
    labels.append(int(ex["label"]))
  assert len(set(labels)) >= 8          # not a degenerate label distribution
  ops = collections.Counter(int(t) for i in range(50) for t in src[i]["image"] if t in NAMES)
  assert set(ops) == set(NAMES)


def _connected(image, a, b):
  on = image[..., 0] > -1
  seen, todo = {a}, [a]
  while todo:
    y, x = todo.pop()
    for dy, dx in ((0, 1), (1, 0), (0, -1), (-1, 0), (1, 1), (1, -1), (-1, 1), (-1, -1)):
      q = (y + dy, x + dx)
      if 0 <= q[0] < on.shape[0] and 0 <= q[1] < on.shape[1] and on[q] and q not in seen:
        seen.add(q)
        todo.append(q)
  return b in seen


def test_pathfinder_labels_by_flood_fill():
  for size in (16, 32):
    src = PathfinderSource("train", length=60, image_size=size, seed=2)
    labels = []
    for i in range(len(src)):
      ex = src[i]
      img = ex["image"]
      assert img.shape == (size, size, 1)
      ends = [tuple(p) for p in np.argwhere(img[..., 0] == 1.0)]
      assert len(ends) == 2
      assert _connected(img, ends[0], ends[1]) == bool(ex["label"])
      labels.append(int(ex["label"]))
    assert 0.3 < np.mean(labels) < 0.7


def _components(on):
  seen, count = set(), 0
  for start in map(tuple, np.argwhere(on)):
    if start in seen:
      continue
    count += 1
    seen.add(start)
    todo = [start]
    while todo:
      y, x = todo.pop()
      for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
          q = (y + dy, x + dx)
          if 0 <= q[0] < on.shape[0] and 0 <= q[1] < on.shape[1] and on[q] and q not in seen:
            seen.add(q)
            todo.append(q)
  return count


def test_pathfinder_has_no_path_count_shortcut_and_balanced_labels():
  """Both classes hold 2 + distractors separate paths (a model cannot count paths to find the
  label), and the labels are balanced (binomial: 400 draws, |mean - 0.5| < 0.1 is > 4 sd)."""
  src = PathfinderSource("test", length=400, image_size=16, distractors=2, seed=0)
  labels = []
  for i in range(len(src)):
    ex = src[i]
    if i < 60:
      assert _components(ex["image"][..., 0] > -1) == 4
    labels.append(int(ex["label"]))
  assert abs(np.mean(labels) - 0.5) < 0.1


def test_generators_are_deterministic_for_a_seed():
  for make in (lambda s: ListOpsSource("train", 20, seed=s),
               lambda s: PathfinderSource("train", 20, seed=s)):
    a, b, c = make(5), make(5), make(6)
    assert all(np.array_equal(a[i]["image"], b[i]["image"]) for i in range(20))
    assert any(not np.array_equal(a[i]["image"], c[i]["image"]) for i in range(20))
  assert not np.array_equal(ListOpsSource("test", 5)[0]["image"], ListOpsSource("train", 5)[0]["image"])


def test_pixel_sequences_and_registry():
  ex = PixelSequenceSource("test", image_size=8)[0]
  assert ex["image"].shape == (64, 1)
  d = make_source(dict(source="digits", image_size=8, channels=1), "test")[0]
  np.testing.assert_array_equal(ex["image"][:, 0], d["image"].reshape(-1))
  assert len(make_source(dict(source="listops", num_train=7), "train")) == 7
  assert make_source(dict(source="pathfinder", image_size=32), "test")[0]["image"].shape == (32, 32, 1)
