"""Multi-axis attention (Tu et al. 2022, "MaxViT: Multi-Axis Vision Transformer", Sec. 3.2).

Block attention: the map [B, H, W, C] is cut into (H/P) x (W/P) non-overlapping P x P windows
(local). Grid attention: a fixed G x G grid whose tokens are spaced H/G and W/G apart
(sparse, global); each group gathers x[i * H/G + a, j * W/G + b] for i, j < G. Both are
reshapes, so the cost is linear in the number of pixels for fixed P and G. Each attention
uses a 2-D relative position bias over its P x P (or G x G) group and head size 32.

The MaxViT block here is block attention + MLP followed by grid attention + MLP (pre-LN
residuals, as in the paper's Fig. 2); the MBConv that precedes them in the paper is omitted.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from lib.attention.swin import Mlp, WindowAttention, window_partition, window_reverse


def block_partition(x, block: int):
  """[B, H, W, C] -> [B * (H/P) * (W/P), P*P, C]: contiguous P x P windows (block attention)."""
  return window_partition(x, block)


def block_reverse(windows, block: int, h: int, w: int):
  return window_reverse(windows, block, h, w)


def grid_partition(x, grid: int):
  """[B, H, W, C] -> [B * (H/G) * (W/G), G*G, C]; group (a, b) holds x[i*H/G + a, j*W/G + b]
  for i, j < G, row-major over (i, j): tokens spaced H/G apart (grid attention)."""
  b, h, w, c = x.shape
  if h % grid or w % grid:
    raise ValueError(f"feature map {h}x{w} is not divisible by the grid {grid}")
  x = x.reshape(b, grid, h // grid, grid, w // grid, c)
  return x.transpose(0, 2, 4, 1, 3, 5).reshape(-1, grid * grid, c)


def grid_reverse(groups, grid: int, h: int, w: int):
  """Inverse of `grid_partition`."""
  c = groups.shape[-1]
  x = groups.reshape(-1, h // grid, w // grid, grid, grid, c)
  return x.transpose(0, 3, 1, 4, 2, 5).reshape(-1, h, w, c)


class MaxViTBlock(nn.Module):
  """Block attention (P x P) + MLP, then grid attention (G x G) + MLP, on [B, H, W, C].

  num_heads = C // head_dim (head size 32 by default). With `return_weights`, the weights of
  each attention are sown ([groups, heads, N, N]) under 'block_attn' and 'grid_attn'.
  """
  block_size: int = 7
  grid_size: int = 7
  head_dim: int = 32
  mlp_ratio: float = 4.0
  return_weights: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    _, h, w, c = x.shape
    heads = max(c // self.head_dim, 1)
    ln = lambda name: nn.LayerNorm(dtype=self.dtype, name=name)
    mlp = lambda name: Mlp(int(c * self.mlp_ratio), self.dtype, name=name)
    p, g = self.block_size, self.grid_size
    y = WindowAttention(heads, p, head_dim=self.head_dim, return_weights=self.return_weights,
                        dtype=self.dtype, name="block_attn")(block_partition(ln("norm1")(x), p))
    x = x + block_reverse(y, p, h, w)                                          # block attention
    x = x + mlp("mlp1")(ln("norm2")(x))
    y = WindowAttention(heads, g, head_dim=self.head_dim, return_weights=self.return_weights,
                        dtype=self.dtype, name="grid_attn")(grid_partition(ln("norm3")(x), g))
    x = x + grid_reverse(y, g, h, w)                                           # grid attention
    return x + mlp("mlp2")(ln("norm4")(x))
