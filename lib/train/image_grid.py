"""Writes a batch of images in [-1, 1] as one PNG grid."""
from __future__ import annotations

import numpy as np
from PIL import Image


def make_grid(images: np.ndarray, ncol: int | None = None, pad: int = 1) -> np.ndarray:
  """[N, H, W, C] in [-1, 1] -> uint8 [rows*(H+pad)+pad, cols*(W+pad)+pad, C]."""
  images = np.asarray(images, dtype=np.float32)
  n, h, w, c = images.shape
  ncol = ncol or int(np.ceil(np.sqrt(n)))
  nrow = int(np.ceil(n / ncol))
  grid = np.zeros((nrow * (h + pad) + pad, ncol * (w + pad) + pad, c), np.uint8)
  pixels = np.clip((images + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
  for i in range(n):
    r, col = divmod(i, ncol)
    grid[pad + r * (h + pad):pad + r * (h + pad) + h, pad + col * (w + pad):pad + col * (w + pad) + w] = pixels[i]
  return grid


def save_grid(path: str, images: np.ndarray, ncol: int | None = None) -> np.ndarray:
  grid = make_grid(images, ncol)
  Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(path)
  return grid
