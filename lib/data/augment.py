"""Random crop with reflect padding and horizontal flip, seeded per example by grain.

Reflect padding copies real pixels, so for shapes the masks (cropped and flipped the same
way) still partition the image and agree with its pixels. Every call draws the same random
numbers in the same order, so an example's augmentation depends only on (seed, index).
"""
from __future__ import annotations

import numpy as np

# Keys holding [H, W, C] images and [K, H, W] masks; others pass through unchanged.
_HWC_KEYS = ("image",)
_KHW_KEYS = ("masks",)


def crop_and_flip(x: np.ndarray, dy: int, dx: int, flip: bool, pad: int, spatial: tuple[int, int]
                  ) -> np.ndarray:
  """Reflect-pads the two `spatial` axes by `pad`, crops back at offset (dy, dx), then flips
  the width axis when `flip`."""
  ay, ax = spatial
  if pad:
    widths = [(0, 0)] * x.ndim
    widths[ay] = widths[ax] = (pad, pad)
    x = np.pad(x, widths, mode="reflect")
    x = np.take(x, np.arange(dy, dy + x.shape[ay] - 2 * pad), axis=ay)
    x = np.take(x, np.arange(dx, dx + x.shape[ax] - 2 * pad), axis=ax)
  if flip:
    x = np.flip(x, axis=ax)
  return np.ascontiguousarray(x)


def augment_example(example: dict, rng: np.random.Generator, *, flip: bool,
                    crop_padding: int) -> dict:
  """Applies one random (crop offset, flip) to every image-like array of `example`."""
  dy, dx = (int(v) for v in rng.integers(0, 2 * crop_padding + 1, size=2))
  do_flip = bool(rng.random() < 0.5) and flip
  out = dict(example)
  for key in _HWC_KEYS + _KHW_KEYS:
    if key in out:
      spatial = (0, 1) if key in _HWC_KEYS else (1, 2)
      out[key] = crop_and_flip(out[key], dy, dx, do_flip, crop_padding, spatial)
  return out
