"""Digits as pixel sequences (sequential MNIST-style, LRA's image task on the embedded digits):
the digits images read row by row, 'image' float32 [size * size, 1] in [-1, 1]."""
from __future__ import annotations

from lib.data.digits import DigitsSource


class PixelSequenceSource:
  num_classes = 10

  def __init__(self, split: str = "train", image_size: int = 8):
    self._digits = DigitsSource(split, image_size=image_size, channels=1)
    self.size = int(image_size)

  @property
  def image_shape(self):
    return (self.size * self.size, 1)

  def __len__(self):
    return len(self._digits)

  def __getitem__(self, i: int) -> dict:
    ex = self._digits[i]
    return {"image": ex["image"].reshape(-1, 1), "label": ex["label"]}
