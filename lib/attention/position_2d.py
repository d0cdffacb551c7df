"""Position schemes on 2-D token grids.

- 2-D relative position bias (Swin Transformer, Liu et al. 2021, Sec. 3.2 "Relative position
  bias"; reused by MaxViT): a learned table of (2M_h-1)(2M_w-1) x heads indexed by the
  offset between two tokens of an M_h x M_w window.
- PEG (Chu et al. 2021, "Conditional Positional Encodings for Vision Transformers", CPVT,
  Sec. 3.2): a depthwise 3x3 conv on the token grid added to the tokens, applied after the
  first encoder block of a stage.
- GPSA (d'Ascoli et al. 2021, "ConViT", Sec. 3): gated positional self-attention, a
  per-head gate sigmoid(lambda) mixing content and positional attention; the locality
  initialisation makes each head attend to one offset of a sqrt(H) x sqrt(H) kernel.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def _pair(size) -> tuple[int, int]:
  return (size, size) if isinstance(size, int) else tuple(size)


def relative_position_index(window_size) -> np.ndarray:
  """[M_h*M_w, M_h*M_w] index into the (2M_h-1)(2M_w-1) bias table (Swin Sec. 3.2).

  Token i at (y_i, x_i) (row-major) and token j: index of (y_i - y_j, x_i - x_j), each offset
  shifted to be non-negative. Static numpy, computed at trace time.
  """
  mh, mw = _pair(window_size)
  ys, xs = np.meshgrid(np.arange(mh), np.arange(mw), indexing="ij")
  ys, xs = ys.reshape(-1), xs.reshape(-1)
  dy = ys[:, None] - ys[None, :] + (mh - 1)
  dx = xs[:, None] - xs[None, :] + (mw - 1)
  return (dy * (2 * mw - 1) + dx).astype(np.int32)


def relative_position_bias(table: jax.Array, window_size) -> jax.Array:
  """Gather the bias B [heads, N, N] from table [(2M_h-1)(2M_w-1), heads] (Swin Eq. 4's B)."""
  mh, mw = _pair(window_size)
  idx = relative_position_index((mh, mw)).reshape(-1)
  return jnp.take(table, idx, axis=0).reshape(mh * mw, mh * mw, -1).transpose(2, 0, 1)


class RelativePositionBias2D(nn.Module):
  """Learned 2-D relative position bias; returns [heads, M_h*M_w, M_h*M_w]."""
  window_size: Any
  num_heads: int

  @nn.compact
  def __call__(self):
    mh, mw = _pair(self.window_size)
    table = self.param("relative_position_bias_table", nn.initializers.truncated_normal(0.02),
                       ((2 * mh - 1) * (2 * mw - 1), self.num_heads))
    return relative_position_bias(table, (mh, mw))


class PEG(nn.Module):
  """Positional encoding generator (CPVT Sec. 3.2): x + DWConv3x3(x) on the token grid.

  Accepts NHWC [B, H, W, C], or tokens [B, P + H*W, C] with `hw=(H, W)` where the first
  `num_prefix_tokens` (e.g. a class token) pass through unchanged.
  """
  kernel_size: int = 3
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, hw: tuple[int, int] | None = None, num_prefix_tokens: int = 0):
    k = self.kernel_size
    conv = nn.Conv(x.shape[-1], (k, k), padding="SAME", feature_group_count=x.shape[-1],
                   dtype=self.dtype, name="proj")
    if x.ndim == 4:
      return x + conv(x)
    b, _, c = x.shape
    prefix, tokens = x[:, :num_prefix_tokens], x[:, num_prefix_tokens:]
    grid = tokens.reshape(b, hw[0], hw[1], c)
    tokens = (grid + conv(grid)).reshape(b, hw[0] * hw[1], c)
    return jnp.concatenate([prefix, tokens.astype(x.dtype)], axis=1)


def relative_indices(hw: tuple[int, int]) -> np.ndarray:
  """r_ij = (dx, dy, dx^2 + dy^2) from query i to key j, [N, N, 3] (ConViT Sec. 3)."""
  h, w = hw
  ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
  ys, xs = ys.reshape(-1), xs.reshape(-1)
  dx = (xs[None, :] - xs[:, None]).astype(np.float32)
  dy = (ys[None, :] - ys[:, None]).astype(np.float32)
  return np.stack([dx, dy, dx ** 2 + dy ** 2], axis=-1)


def gpsa_offsets(num_heads: int) -> np.ndarray:
  """Assigned offsets Delta_h = (dx, dy) of the heads in the locality init, [heads, 2].

  Heads tile a sqrt(H) x sqrt(H) kernel centred on the query (ConViT Sec. 3, official
  `local_init`: head h1 + k*h2 gets (dx, dy) = (h2 - c, h1 - c)).
  """
  k = int(round(num_heads ** 0.5))
  if k * k != num_heads:
    raise ValueError(f"GPSA locality init needs a square number of heads, got {num_heads}")
  center = (k - 1) / 2 if k % 2 == 0 else k // 2
  off = np.zeros((num_heads, 2), np.float32)
  for h1 in range(k):
    for h2 in range(k):
      off[h1 + k * h2] = (h2 - center, h1 - center)
  return off


def _locality_init(num_heads: int, strength: float):
  """v_pos = -alpha (-2 Delta_x, -2 Delta_y, 1): softmax peaks at offset Delta (Sec. 3)."""
  def init(key, shape, dtype=jnp.float32):
    del key
    off = gpsa_offsets(num_heads)
    w = np.stack([2 * off[:, 0], 2 * off[:, 1], -np.ones(num_heads, np.float32)], axis=0)
    return jnp.asarray(strength * w, dtype).reshape(shape)
  return init


def gpsa_attention(q, k, v, v_pos, rel, gating):
  """Gated positional self-attention (ConViT Sec. 3, GPSA). q, k, v: [B, N, H, D]; v_pos: [3, H];
  rel: [N, N, 3]; gating: [H] (lambda). Returns (out [B, N, H, D], weights [B, H, N, N])."""
  d = q.shape[-1]
  content = jnp.einsum("bqhd,bkhd->bhqk", q, k).astype(jnp.float32) / np.sqrt(d)
  content = jax.nn.softmax(content, axis=-1)
  pos = jax.nn.softmax(jnp.einsum("qkr,rh->hqk", rel, v_pos.astype(jnp.float32)), axis=-1)
  g = jax.nn.sigmoid(gating.astype(jnp.float32))[None, :, None, None]
  w = (1.0 - g) * content + g * pos[None]   # rows already sum to one
  out = jnp.einsum("bhqk,bkhd->bqhd", w.astype(v.dtype), v)
  return out, w


class GPSA(nn.Module):
  """Gated positional self-attention over [B, H*W, C] tokens (or NHWC) of a grid `hw`.

  Parameters: `qk`, `v`, `pos_proj` (v_pos, [3, heads], no bias: a bias cancels in the
  softmax), `gating_param` (lambda, init 1), `proj`. With `use_local_init`, v is the
  identity and v_pos follows the locality init with `locality_strength` (alpha).
  """
  num_heads: int
  locality_strength: float = 1.0
  use_local_init: bool = True
  qkv_bias: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, hw: tuple[int, int] | None = None):
    shape = x.shape
    if x.ndim == 4:
      hw = shape[1:3]
      x = x.reshape(shape[0], -1, shape[-1])
    b, n, c = x.shape
    h = self.num_heads
    qk = nn.Dense(2 * c, use_bias=self.qkv_bias, dtype=self.dtype, name="qk")(x)
    q, k = jnp.split(qk.reshape(b, n, 2, h, c // h), 2, axis=2)
    v_init = nn.initializers.lecun_normal()
    if self.use_local_init:
      v_init = lambda key, s, dt=jnp.float32: jnp.eye(s[0], s[1], dtype=dt)
    v = nn.Dense(c, use_bias=self.qkv_bias, kernel_init=v_init, dtype=self.dtype, name="v")(x)
    pos_init = (_locality_init(h, self.locality_strength) if self.use_local_init
                else nn.initializers.lecun_normal())
    v_pos = self.param("pos_proj", pos_init, (3, h))
    gating = self.param("gating_param", nn.initializers.ones, (h,))
    out, w = gpsa_attention(q[:, :, 0], k[:, :, 0], v.reshape(b, n, h, c // h), v_pos,
                            jnp.asarray(relative_indices(hw)), gating)
    self.sow("intermediates", "attention_weights", w)
    out = nn.Dense(c, dtype=self.dtype, name="proj")(out.reshape(b, n, c))
    return out.reshape(shape)
