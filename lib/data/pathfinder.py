"""A Pathfinder-like task (Linsley et al. 2018; LRA): are the two marked endpoints joined by
one path? Generated offline on a size x size grid (16 or 32 px) with distractor paths.

Paths are 4-connected walks with momentum; a new path never comes within one pixel (8-nbhd)
of an earlier one, so distinct paths never touch. Every image has 2 + distractors paths.
Positive (label 1): both endpoints are the two ends of one path; negative (label 0): one end
each of two different paths. Pixels: -1
background, 0.5 path, 1.0 endpoint; 'image' float32 [size, size, 1]. Example i depends only
on (seed, split, i).
"""
from __future__ import annotations

import numpy as np

_SPLIT_IDS = {"train": 0, "test": 1, "validation": 2}
_MOVES = ((0, 1), (1, 0), (0, -1), (-1, 0))


def _walk(rng, size, blocked, length):
  free = np.argwhere(~blocked)
  if len(free) == 0:
    return None
  y, x = free[int(rng.integers(len(free)))]
  path, seen, d = [(int(y), int(x))], {(int(y), int(x))}, int(rng.integers(4))
  for _ in range(length - 1):
    options = [d] * 3 + [(d + 1) % 4, (d + 3) % 4]
    rng.shuffle(options)
    for nd in options:
      ny, nx = path[-1][0] + _MOVES[nd][0], path[-1][1] + _MOVES[nd][1]
      if 0 <= ny < size and 0 <= nx < size and not blocked[ny, nx] and (ny, nx) not in seen \
          and sum((ny + a, nx + b) in seen for a, b in _MOVES) == 1:   # no self-contact
        path.append((ny, nx))
        seen.add((ny, nx))
        d = nd
        break
    else:
      break
  return path


def _block(blocked, path, size):
  for y, x in path:
    blocked[max(0, y - 1):min(size, y + 2), max(0, x - 1):min(size, x + 2)] = True


def generate(rng, size: int = 16, distractors: int = 2):
  """(image [size, size, 1], label, endpoints ((y, x), (y, x))).

  Every image holds 2 + distractors paths whatever its label (as in Linsley et al.: only the
  markers differ), so neither the count of paths nor of path pixels gives the label away; the
  label is drawn once, before the retries, so the classes stay balanced."""
  min_len, max_len = (size * 3) // 4, size * 2
  label = int(rng.integers(2))
  while True:
    blocked = np.zeros((size, size), bool)
    paths = []
    for _ in range(2 + distractors):
      p = _walk(rng, size, blocked, int(rng.integers(min_len, max_len + 1)))
      if p is None or len(p) < min_len // 2 + 2:
        break
      paths.append(p)
      _block(blocked, p, size)
    else:
      break
  image = -np.ones((size, size, 1), np.float32)
  for p in paths:
    for y, x in p:
      image[y, x, 0] = 0.5
  ends = (paths[0][0], paths[0][-1]) if label else (paths[0][0], paths[1][-1])
  for y, x in ends:
    image[y, x, 0] = 1.0
  return image, label, ends


class PathfinderSource:
  num_classes = 2

  def __init__(self, split: str = "train", length: int = 10000, image_size: int = 16,
               distractors: int = 2, seed: int = 0):
    if split not in _SPLIT_IDS:
      raise ValueError(f"pathfinder has splits {sorted(_SPLIT_IDS)}, not {split!r}")
    self.split, self.length, self.size = split, int(length), int(image_size)
    self.distractors, self.seed = int(distractors), int(seed)

  @property
  def image_shape(self):
    return (self.size, self.size, 1)

  def __len__(self):
    return self.length

  def __getitem__(self, i: int) -> dict:
    rng = np.random.default_rng([self.seed, _SPLIT_IDS[self.split], int(i)])
    image, label, _ = generate(rng, self.size, self.distractors)
    return {"image": image, "label": np.int32(label)}
