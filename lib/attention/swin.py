"""Shifted-window attention (Liu et al. 2021, "Swin Transformer", Sec. 3.2).

The feature map [B, H, W, C] is cut into non-overlapping M x M windows by a reshape
(`window_partition`); attention runs inside each window with a learned relative position
bias B from a (2M-1)^2 x heads table (Eq. 4). Every other block shifts the map by
(-M//2, -M//2) with `jnp.roll` before partitioning (Fig. 4, "cyclic shift") and masks pairs
of tokens that come from different regions of the un-shifted map with -100, then rolls back.
When the input is not larger than the window, the window becomes the whole map and there is
no shift (official code). Block (Eq. 3): z = x + (S)W-MSA(LN(x)); z + MLP(LN(z)).
LayerNorm epsilon 1e-5, the official code's (PyTorch nn.LayerNorm; flax's default is 1e-6).
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from lib.attention.multihead import MultiHeadAttention, dot_product_kernel
from lib.attention.position_2d import RelativePositionBias2D


def window_partition(x, window: int):
  """[B, H, W, C] -> [B * (H/M) * (W/M), M*M, C]; windows in row-major order per image.
  Works on numpy arrays too (used for the static masks)."""
  b, h, w, c = x.shape
  if h % window or w % window:
    raise ValueError(f"feature map {h}x{w} is not divisible by the window {window}")
  x = x.reshape(b, h // window, window, w // window, window, c)
  return x.transpose(0, 1, 3, 2, 4, 5).reshape(-1, window * window, c)


def window_reverse(windows, window: int, h: int, w: int):
  """Inverse of `window_partition`: [B * nW, M*M, C] -> [B, H, W, C]."""
  c = windows.shape[-1]
  x = windows.reshape(-1, h // window, w // window, window, window, c)
  return x.transpose(0, 1, 3, 2, 4, 5).reshape(-1, h, w, c)


def effective_window(h: int, w: int, window: int, shift: int) -> tuple[int, int]:
  """(window, shift) actually used: no shift and one window when min(H, W) <= M."""
  if min(h, w) <= window:
    return min(h, w), 0
  return window, shift


def shifted_window_mask(h: int, w: int, window: int, shift: int) -> np.ndarray:
  """[nW, M*M, M*M] additive mask for SW-MSA: -100 between tokens of different regions.

  The rolled map is cut into 3 x 3 regions by the slices [0, H-M), [H-M, H-s), [H-s, H) per
  axis (official code); pairs inside a window from different regions were not neighbours
  before the cyclic shift. Static numpy, computed at trace time.
  """
  region = np.zeros((h, w), np.int32)
  cnt = 0
  for hs in (slice(0, h - window), slice(h - window, h - shift), slice(h - shift, h)):
    for ws in (slice(0, w - window), slice(w - window, w - shift), slice(w - shift, w)):
      region[hs, ws] = cnt
      cnt += 1
  ids = window_partition(region[None, :, :, None], window)[..., 0]
  return np.where(ids[:, :, None] != ids[:, None, :], -100.0, 0.0).astype(np.float32)


class WindowAttention(nn.Module):
  """W-MSA inside windows [B * nW, M*M, C] with the 2-D relative position bias (Eq. 4).

  `mask` [nW, M*M, M*M] is added per window (SW-MSA). Projections and the kernel come from
  the shared multi-head shell; with `return_weights` the weights [B*nW, heads, N, N] are
  sown under 'attn/intermediates/attention_weights' (the explicit einsum path).
  """
  num_heads: int
  window_size: int
  head_dim: int | None = None
  qkv_bias: bool = True
  return_weights: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, windows, mask=None):
    n_windows = windows.shape[0]
    bias = RelativePositionBias2D(self.window_size, self.num_heads, name="rel_pos")()[None]
    if mask is not None:                                          # [1, nW, 1, N, N] + [heads]
      nw = mask.shape[0]
      bias = bias[:, None] + jnp.asarray(mask)[None, :, None]
      bias = jnp.broadcast_to(bias, (n_windows // nw,) + bias.shape[1:])
      bias = bias.reshape((n_windows,) + bias.shape[2:])
    return MultiHeadAttention(self.num_heads, head_dim=self.head_dim, kernel=dot_product_kernel,
                              use_bias=self.qkv_bias, dtype=self.dtype, name="attn")(
                                  windows, bias=bias, return_weights=self.return_weights)


class Mlp(nn.Module):
  """Two-layer MLP with exact GELU (the official Swin / MaxViT MLP)."""
  hidden: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    y = nn.gelu(nn.Dense(self.hidden, dtype=self.dtype, name="fc1")(x), approximate=False)
    return nn.Dense(x.shape[-1], dtype=self.dtype, name="fc2")(y)


LN_EPS = 1e-5          # official Swin (torch.nn.LayerNorm default)


class SwinBlock(nn.Module):
  """Swin Transformer block on [B, H, W, C]: W-MSA (shift_size=0) or SW-MSA (shift_size=M//2)."""
  num_heads: int
  window_size: int = 7
  shift_size: int = 0
  mlp_ratio: float = 4.0
  return_weights: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    b, h, w, c = x.shape
    window, shift = effective_window(h, w, self.window_size, self.shift_size)
    y = nn.LayerNorm(epsilon=LN_EPS, dtype=self.dtype, name="norm1")(x)
    mask = None
    if shift:
      y = jnp.roll(y, (-shift, -shift), axis=(1, 2))                           # cyclic shift
      mask = shifted_window_mask(h, w, window, shift)
    y = WindowAttention(self.num_heads, window, return_weights=self.return_weights,
                        dtype=self.dtype, name="attn")(window_partition(y, window), mask)
    y = window_reverse(y, window, h, w)
    if shift:
      y = jnp.roll(y, (shift, shift), axis=(1, 2))
    x = x + y                                                                  # Eq. 3
    y = Mlp(int(c * self.mlp_ratio), self.dtype, name="mlp")(
        nn.LayerNorm(epsilon=LN_EPS, dtype=self.dtype, name="norm2")(x))
    return x + y
