"""scikit-learn's bundled 8x8 handwritten digits (1797 images, labels 0..9), upsampled.

Images are upsampled bilinearly (half-pixel centers, edge clamp; see preprocess.py) from the
0..16 ink values, scaled to [-1, 1]. The train/test split (1500/297) is fixed: it depends on
nothing but the constant `SPLIT_SEED`, never on a loader seed, and is stratified (each class
gets its share of the test set within one example).
"""
from __future__ import annotations

import functools

import numpy as np

from lib.data.preprocess import resize_bilinear

NUM_CLASSES = 10
NUM_EXAMPLES = 1797
NUM_TEST = 297
SPLIT_SEED = 20240611


@functools.lru_cache(maxsize=None)
def _raw() -> tuple[np.ndarray, np.ndarray]:
  from sklearn.datasets import load_digits  # bundled with scikit-learn, no download
  d = load_digits()
  return d.images.astype(np.float32), d.target.astype(np.int32)


@functools.lru_cache(maxsize=None)
def split_indices(split: str) -> np.ndarray:
  """Indices into the 1797 digits of `split` ('train' or 'test'), sorted."""
  _, labels = _raw()
  perm = np.random.default_rng(SPLIT_SEED).permutation(len(labels))
  by_class = perm[np.argsort(labels[perm], kind="stable")]    # shuffled within each class
  picks = np.arange(NUM_TEST) * len(labels) // NUM_TEST        # evenly spread: stratified
  test = np.sort(by_class[picks])
  if split == "test":
    return test
  if split == "train":
    return np.setdiff1d(np.arange(len(labels)), test)
  raise ValueError(f"digits has splits 'train' and 'test', not {split!r}")


@functools.lru_cache(maxsize=8)
def _images(image_size: int) -> np.ndarray:
  raw, _ = _raw()
  signed = raw / 8.0 - 1.0                                      # 0..16 -> [-1, 1]
  return np.stack([resize_bilinear(x[..., None], image_size) for x in signed])


class DigitsSource:
  """Random-access source: {'image': float32 [S, S, C] in [-1, 1], 'label': int32}."""

  num_classes = NUM_CLASSES

  def __init__(self, split: str = "train", image_size: int = 32, channels: int = 1):
    if channels not in (1, 3):
      raise ValueError(f"digits: channels must be 1 or 3, got {channels}")
    self.split, self.image_size, self.channels = split, int(image_size), int(channels)
    self._index = split_indices(split)
    self._images = _images(self.image_size)
    self._labels = _raw()[1]

  @property
  def image_shape(self) -> tuple[int, int, int]:
    return (self.image_size, self.image_size, self.channels)

  def __len__(self) -> int:
    return len(self._index)

  def __getitem__(self, i: int) -> dict:
    j = self._index[i]
    image = self._images[j]
    if self.channels == 3:
      image = np.repeat(image, 3, axis=-1)
    return {"image": image.copy(), "label": np.int32(self._labels[j])}

  def __repr__(self) -> str:
    return (f"DigitsSource(split={self.split!r}, image_size={self.image_size}, "
            f"channels={self.channels})")
