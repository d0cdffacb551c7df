"""Spatial-reduction attention (Wang et al. 2021, "Pyramid Vision Transformer", PVT, Sec. 3.3)
and the two attentions of Twins-SVT (Chu et al. 2021, "Twins", Sec. 2.2).

- SRA / Twins GSA (global sub-sampled attention): queries from every token; keys and values
  from the map reduced by a conv with kernel = stride = R (sr_ratio) followed by LayerNorm,
  so there are N / R^2 keys (PVT Eq. 3-4).
- Twins LSA (locally-grouped self-attention): attention inside non-overlapping k x k windows
  (a reshape; no relative position bias, as in the official code).
Twins-SVT alternates them: block 0 of a stage is LSA, block 1 GSA, and so on; the PEG of
CPVT follows the first block of each stage (`TwinsSVTStage`).
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from lib.attention.dot_product import dot_product_attention
from lib.attention.position_2d import PEG
from lib.attention.swin import Mlp, window_partition, window_reverse


def _as_image(x, hw):
  return x if x.ndim == 4 else x.reshape(x.shape[0], hw[0], hw[1], x.shape[-1])


class SpatialReductionAttention(nn.Module):
  """PVT SRA = Twins GSA over [B, H, W, C] (or [B, N, C] with `hw`); same shape out.

  Parameters: `q`, `kv` (no bias unless qkv_bias), `sr` (conv R x R, stride R) and `norm`
  when sr_ratio > 1, `proj`. Weights [B, heads, N, N/R^2] are sown when return_weights.
  """
  dim: int
  num_heads: int = 8
  sr_ratio: int = 1
  qkv_bias: bool = False
  return_weights: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, hw: tuple[int, int] | None = None):
    shape = x.shape
    img = _as_image(x, hw)
    b, h, w, c = img.shape
    hd = self.dim // self.num_heads
    tokens = img.reshape(b, h * w, c)
    q = nn.DenseGeneral((self.num_heads, hd), use_bias=self.qkv_bias, dtype=self.dtype,
                        name="q")(tokens)
    r = self.sr_ratio
    if r > 1:                                                   # SR(x) = Norm(Reshape(x) W^S)
      red = nn.Conv(c, (r, r), strides=(r, r), padding="VALID", dtype=self.dtype,
                    name="sr")(img)
      kv_in = nn.LayerNorm(epsilon=1e-5, dtype=self.dtype, name="norm")(red.reshape(b, -1, c))
    else:
      kv_in = tokens
    kv = nn.DenseGeneral((2 * self.num_heads, hd), use_bias=self.qkv_bias, dtype=self.dtype,
                         name="kv")(kv_in)
    k, v = jnp.split(kv, 2, axis=2)
    out = dot_product_attention(q, k, v, return_weights=self.return_weights)
    if self.return_weights:
      out, wts = out
      self.sow("intermediates", "attention_weights", wts)
    out = nn.DenseGeneral(self.dim, axis=(-2, -1), dtype=self.dtype, name="proj")(out)
    return out.reshape(shape[:-1] + (self.dim,))


class LocallyGroupedAttention(nn.Module):
  """Twins LSA over [B, H, W, C] (or [B, N, C] with `hw`): attention in k x k windows.
  H and W must be multiples of window_size (the official code pads)."""
  dim: int
  num_heads: int = 8
  window_size: int = 7
  qkv_bias: bool = False
  return_weights: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, hw: tuple[int, int] | None = None):
    shape = x.shape
    img = _as_image(x, hw)
    _, h, w, _ = img.shape
    hd = self.dim // self.num_heads
    win = window_partition(img, self.window_size)                            # [B*nW, k*k, C]
    qkv = nn.DenseGeneral((3 * self.num_heads, hd), use_bias=self.qkv_bias, dtype=self.dtype,
                          name="qkv")(win)
    q, k, v = jnp.split(qkv, 3, axis=2)
    out = dot_product_attention(q, k, v, return_weights=self.return_weights)
    if self.return_weights:
      out, wts = out
      self.sow("intermediates", "attention_weights", wts)
    out = nn.DenseGeneral(self.dim, axis=(-2, -1), dtype=self.dtype, name="proj")(out)
    return window_reverse(out, self.window_size, h, w).reshape(shape[:-1] + (self.dim,))


class TwinsBlock(nn.Module):
  """Pre-LN block x + Attn(LN(x)); x + MLP(LN(x)) with LSA (`use_global=False`) or GSA."""
  num_heads: int
  use_global: bool
  window_size: int = 7
  sr_ratio: int = 1
  mlp_ratio: float = 4.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    y = nn.LayerNorm(dtype=self.dtype, name="norm1")(x)
    if self.use_global:
      y = SpatialReductionAttention(c, self.num_heads, self.sr_ratio, dtype=self.dtype,
                                    name="attn")(y)
    else:
      y = LocallyGroupedAttention(c, self.num_heads, self.window_size, dtype=self.dtype,
                                  name="attn")(y)
    x = x + y
    y = nn.LayerNorm(dtype=self.dtype, name="norm2")(x)
    return x + Mlp(int(c * self.mlp_ratio), self.dtype, name="mlp")(y)


class TwinsSVTStage(nn.Module):
  """`depth` blocks alternating LSA (even index) and GSA (odd index) on [B, H, W, C], with
  the PEG after block 0 (Twins-SVT, official `ws=1 if i % 2 == 1`)."""
  depth: int
  num_heads: int
  window_size: int = 7
  sr_ratio: int = 1
  mlp_ratio: float = 4.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    for i in range(self.depth):
      x = TwinsBlock(self.num_heads, use_global=i % 2 == 1, window_size=self.window_size,
                     sr_ratio=self.sr_ratio, mlp_ratio=self.mlp_ratio, dtype=self.dtype,
                     name=f"block_{i}")(x)
      if i == 0:
        x = PEG(dtype=self.dtype, name="peg")(x)
    return x
