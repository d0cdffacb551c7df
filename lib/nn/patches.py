"""Patches and fixed 2-D sin-cos positions, shared by the patch transformers (MAE, DiT).

patchify / unpatchify: [B, H, W, C] <-> [B, N, p*p*C], patches in row-major order and pixels in
(p, q, c) order (official MAE / DiT `unpatchify`: nhwpqc); a linear map of the patches is the
official Conv2d(kernel = stride = p). sincos_2d: the official util/pos_embed.py embedding
(MAE, DiT): half the channels encode the column, half the row, sin | cos in each half.
"""
from __future__ import annotations

import numpy as np

from lib.errors import ConfigError


def patchify(images, p: int):
  """[B, H, W, C] -> [B, (H/p)(W/p), p*p*C], patches in row-major order, pixels (p, q, c)."""
  b, h, w, c = images.shape
  x = images.reshape(b, h // p, p, w // p, p, c)
  x = x.transpose(0, 1, 3, 2, 4, 5)                      # b, h', w', p, q, c (official nhwpqc)
  return x.reshape(b, (h // p) * (w // p), p * p * c)


def unpatchify(x, p: int, channels: int):
  """The inverse of `patchify` for a square grid: [B, N, p*p*C] -> [B, sqrt(N) p, sqrt(N) p, C]."""
  b, n, _ = x.shape
  g = int(round(n ** 0.5))
  x = x.reshape(b, g, g, p, p, channels).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(b, g * p, g * p, channels)


def sincos_1d(dim: int, pos: np.ndarray) -> np.ndarray:
  """[M] positions -> [M, dim]: sin(pos w_k) | cos(pos w_k), w_k = 1 / 10000^(2k/dim)."""
  omega = 1.0 / 10000 ** (np.arange(dim // 2, dtype=np.float64) / (dim / 2.0))
  out = np.outer(pos.reshape(-1).astype(np.float64), omega)
  return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def sincos_2d(dim: int, grid_size: int, cls_token: bool = True) -> np.ndarray:
  """[(1 +) g*g, dim] fixed 2-D sin-cos embedding: half the channels for the column, half for
  the row (official util/pos_embed.py order); a zero row first for the [class] token."""
  if dim % 4:
    raise ValueError(f"sin-cos position embedding needs a width divisible by 4, got {dim}")
  cols, rows = np.meshgrid(np.arange(grid_size), np.arange(grid_size))   # "w goes first"
  emb = np.concatenate([sincos_1d(dim // 2, cols), sincos_1d(dim // 2, rows)], axis=1)
  if cls_token:
    emb = np.concatenate([np.zeros((1, dim)), emb], axis=0)
  return emb.astype(np.float32)


def table_size(family: str, name: str, sizes: dict, patches: tuple, example: str) -> dict:
  """'<size>/<patch>' -> dict(depth, hidden_size, num_heads, patch_size), the size names of a
  paper's table (`sizes`: name -> (depth, width, heads)) with its patch sizes; DiT and U-ViT."""
  size, _, patch = name.partition("/")
  if size not in sizes or not patch.isdigit() or int(patch) not in patches:
    raise ConfigError(f"{family} size {name!r}: use <{'|'.join(sizes)}>/"
                      f"<{'|'.join(map(str, patches))}>, e.g. {example!r}")
  depth, hidden, heads = sizes[size]
  return dict(depth=depth, hidden_size=hidden, num_heads=heads, patch_size=int(patch))
