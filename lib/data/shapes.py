"""Procedural scenes of 1..max_objects flat-colored shapes (circle, square, triangle) on a dark
background, at any resolution; each example is a pure function of (dataset seed, split, index).

Objects never overlap (a placement touching an earlier object is re-drawn, up to
`_ATTEMPTS` times, else that object is dropped), and edges are hard (a pixel belongs to a
shape when its center is inside), so `masks` partitions the image exactly: slot 0 is the
background and slot k (1..max_objects) the k-th object, and every pixel has the color of its
slot. Shapes of one size parameter have equal area whatever their class. `label` is the
class of the object covering the most pixels (ties: the earlier object).
"""
from __future__ import annotations

import colorsys

import numpy as np

from lib.data.preprocess import set_channels

CLASSES = ("circle", "square", "triangle")
NUM_CLASSES = len(CLASSES)
SPLIT_STREAMS = {"train": 0, "test": 1, "validation": 2}
_ATTEMPTS = 50
_MIN_RADIUS, _MAX_RADIUS = 0.08, 0.18      # radius of the equal-area circle, image width = 1
# Circumradius of each class for an area of pi r^2: square (2 h)^2 with h = r sqrt(pi) / 2,
# corner at h sqrt(2); equilateral triangle (3 sqrt 3 / 4) R^2.
_EXTENT = np.array([1.0, np.sqrt(np.pi / 2.0), np.sqrt(4 * np.pi / (3 * np.sqrt(3)))])


def shape_mask(cls: int, cx: float, cy: float, r: float, angle: float, size: int) -> np.ndarray:
  """Boolean [size, size]: pixel centers inside shape `cls` of equal-area radius r, center
  (cx, cy) and rotation `angle`, in coordinates where the image spans [0, 1]."""
  t = (np.arange(size) + 0.5) / size
  dy, dx = t[:, None] - cy, t[None, :] - cx
  if cls == 0:
    return dx * dx + dy * dy <= r * r
  c, s = np.cos(angle), np.sin(angle)
  u, v = c * dx + s * dy, -s * dx + c * dy                     # rotate into the shape's frame
  if cls == 1:
    h = r * np.sqrt(np.pi) / 2.0
    return (np.abs(u) <= h) & (np.abs(v) <= h)
  if cls == 2:
    big_r = r * _EXTENT[2]
    inside = np.ones((size, size), bool)
    for k in range(3):                                         # three half-planes, inradius R/2
      a = 2 * np.pi * k / 3
      inside &= np.cos(a) * u + np.sin(a) * v <= big_r / 2.0
    return inside
  raise ValueError(f"unknown shape class {cls}")


def _color(rng: np.random.Generator) -> np.ndarray:
  h, s, v = rng.uniform(0, 1), rng.uniform(0.6, 1.0), rng.uniform(0.7, 1.0)
  return np.array(colorsys.hsv_to_rgb(h, s, v), np.float32)


def render_scene(rng: np.random.Generator, size: int, max_objects: int) -> dict:
  """One scene: image float32 [size, size, 3] in [-1, 1], masks float32 [max_objects + 1,
  size, size], labels_multi int32 [max_objects] (-1 padded), num_objects and label."""
  background = rng.uniform(0.0, 0.15, 3).astype(np.float32)
  wanted = int(rng.integers(1, max_objects + 1))
  occupied = np.zeros((size, size), bool)
  masks, classes, colors = [], [], []
  for _ in range(wanted):
    for _ in range(_ATTEMPTS):
      cls = int(rng.integers(NUM_CLASSES))
      r = rng.uniform(_MIN_RADIUS, _MAX_RADIUS)
      ext = r * _EXTENT[cls]
      cx, cy = rng.uniform(ext, 1 - ext, 2)
      m = shape_mask(cls, cx, cy, r, rng.uniform(0, 2 * np.pi), size)
      if m.any() and not (m & occupied).any():
        masks.append(m), classes.append(cls), colors.append(_color(rng))
        occupied |= m
        break
  if not masks:                       # tiny images only: a centered circle always has pixels
    m = shape_mask(0, 0.5, 0.5, 0.3, 0.0, size)
    masks, classes, colors = [m], [0], [_color(rng)]
  n = len(masks)
  out_masks = np.zeros((max_objects + 1, size, size), np.float32)
  out_masks[0] = ~occupied
  image = np.broadcast_to(background, (size, size, 3)).copy()
  for k, (m, col) in enumerate(zip(masks, colors)):
    out_masks[k + 1] = m
    image[m] = col
  labels_multi = np.full((max_objects,), -1, np.int32)
  labels_multi[:n] = classes
  areas = [int(m.sum()) for m in masks]
  return {"image": image * 2.0 - 1.0, "label": np.int32(classes[int(np.argmax(areas))]),
          "num_objects": np.int32(n), "masks": out_masks, "labels_multi": labels_multi}


class ShapesSource:
  """Random-access source of `length` scenes; example i of `split` is rendered from
  np.random.default_rng([seed, stream(split), i]), so splits never share a scene stream."""

  num_classes = NUM_CLASSES

  def __init__(self, split: str = "train", length: int = 10000, image_size: int = 32,
               max_objects: int = 3, channels: int = 3, seed: int = 0):
    if split not in SPLIT_STREAMS:
      raise ValueError(f"shapes has splits {sorted(SPLIT_STREAMS)}, not {split!r}")
    if channels not in (1, 3):
      raise ValueError(f"shapes: channels must be 1 or 3, got {channels}")
    if max_objects < 1:
      raise ValueError(f"shapes: max_objects must be >= 1, got {max_objects}")
    self.split, self.length, self.image_size = split, int(length), int(image_size)
    self.max_objects, self.channels, self.seed = int(max_objects), int(channels), int(seed)

  @property
  def image_shape(self) -> tuple[int, int, int]:
    return (self.image_size, self.image_size, self.channels)

  def __len__(self) -> int:
    return self.length

  def __getitem__(self, i: int) -> dict:
    if not 0 <= i < self.length:
      raise IndexError(f"shapes {self.split}: index {i} out of range [0, {self.length})")
    rng = np.random.default_rng([self.seed, SPLIT_STREAMS[self.split], int(i)])
    ex = render_scene(rng, self.image_size, self.max_objects)
    if self.channels == 1:
      ex["image"] = set_channels(ex["image"], 1)
    return ex

  def __repr__(self) -> str:
    return (f"ShapesSource(split={self.split!r}, length={self.length}, "
            f"image_size={self.image_size}, max_objects={self.max_objects})")
