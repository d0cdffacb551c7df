"""HiLo attention (Pan et al. 2022, "Fast Vision Transformers with HiLo Attention", Sec. 3).

The heads are split in two groups. Lo-Fi (a fraction alpha of the heads): every query
attends to keys and values computed from the s x s average-pooled map (N / s^2 tokens),
which carries the low frequencies. Hi-Fi (the other heads): self-attention inside each
non-overlapping s x s window, which keeps the high frequencies. The two outputs are
concatenated along channels. As in the official code (LITv2), each branch has its own output
projection (a block-diagonal projection of the concatenation), qkv have no bias by default,
and the concatenation order is (Hi-Fi, Lo-Fi); window_size=1 is plain multi-head attention.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from lib.attention.dot_product import dot_product_attention
from lib.attention.swin import window_partition, window_reverse
from lib.nn.pooling import pool


def hilo_split(num_heads: int, alpha: float, window_size: int) -> tuple[int, int]:
  """(Lo-Fi heads, Hi-Fi heads): int(num_heads * alpha) Lo-Fi; all Lo-Fi when s == 1."""
  if window_size == 1:
    return num_heads, 0
  lo = int(num_heads * alpha)
  return lo, num_heads - lo


class HiLo(nn.Module):
  """HiLo attention over [B, H, W, C] (or [B, N, C] with `hw=(H, W)`); same shape out.

  H and W must be multiples of window_size (the official code pads the Hi-Fi branch).
  With `return_weights`, the Hi-Fi weights [B*nW, h_heads, s^2, s^2] then the Lo-Fi weights
  [B, l_heads, N, N/s^2] are sown into 'intermediates'/'attention_weights' in that order.
  """
  dim: int
  num_heads: int = 8
  window_size: int = 2
  alpha: float = 0.5
  qkv_bias: bool = False
  return_weights: bool = False
  dtype: Any = jnp.float32

  def _attend(self, q, k, v):
    out = dot_product_attention(q, k, v, return_weights=self.return_weights)
    if self.return_weights:
      out, w = out
      self.sow("intermediates", "attention_weights", w)
    return out

  @nn.compact
  def __call__(self, x, hw: tuple[int, int] | None = None):
    shape = x.shape
    if x.ndim == 3:
      x = x.reshape(shape[0], hw[0], hw[1], shape[-1])
    b, h, w, _ = x.shape
    s = self.window_size
    head_dim = self.dim // self.num_heads
    l_heads, h_heads = hilo_split(self.num_heads, self.alpha, s)
    heads_dense = lambda n, name: nn.DenseGeneral((n, head_dim), use_bias=self.qkv_bias,
                                                  dtype=self.dtype, name=name)
    proj = lambda heads, name: nn.DenseGeneral(heads * head_dim, axis=(-2, -1),
                                               dtype=self.dtype, name=name)
    outs = []
    if h_heads:                                           # Hi-Fi: attention in s x s windows
      win = window_partition(x, s)                                            # [B*nW, s*s, C]
      qkv = heads_dense(3 * h_heads, "h_qkv")(win)
      q, k, v = jnp.split(qkv, 3, axis=2)
      o = proj(h_heads, "h_proj")(self._attend(q, k, v))
      outs.append(window_reverse(o, s, h, w))
    if l_heads:                                           # Lo-Fi: queries vs pooled keys
      tokens = x.reshape(b, h * w, -1)
      pooled = pool(x, s, "avg")
      pooled = pooled.reshape(b, -1, x.shape[-1])
      q = heads_dense(l_heads, "l_q")(tokens)
      k, v = jnp.split(heads_dense(2 * l_heads, "l_kv")(pooled), 2, axis=2)
      outs.append(proj(l_heads, "l_proj")(self._attend(q, k, v)).reshape(b, h, w, -1))
    return jnp.concatenate(outs, axis=-1).reshape(shape[:-1] + (-1,))
