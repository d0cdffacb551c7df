"""1-D position schemes for attention.

- Sinusoidal ("Attention Is All You Need", Vaswani et al. 2017, Sec. 3.5):
  PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d)) (interleaved,
  as in the paper; `interleave=False` gives the [sin | cos] concatenation many codes use).
- Learned absolute embeddings (BERT/GPT style): a [max_len, features] table added to tokens.
- RoPE ("RoFormer", Su et al. 2021, Sec. 3.4): rotate pairs of q/k coordinates by
  m * theta_i with theta_i = base^(-2i/d). Two pairings exist: 'adjacent' rotates
  (x_{2i}, x_{2i+1}) (the paper, Eq. 34) and 'half' rotates (x_i, x_{i+d/2}) (GPT-NeoX /
  LLaMA-style codes). The default is the paper's 'adjacent'; the two are the same map up to a
  fixed permutation of the head dimension, so checkpoints are not interchangeable.
- T5 relative position bias (Raffel et al. 2020, Sec. 2.1): a learned scalar per head and
  bucket of the offset key - query; half the buckets exact, the rest logarithmic up to
  max_distance; bidirectional buckets split by the offset's sign.
- ALiBi ("Train Short, Test Long", Press et al. 2022, Sec. 3): bias -m_h * (i - j) with
  head slopes m_h a geometric sequence starting at 2^(-8/n) for n heads (a power of two);
  otherwise the slopes of the closest lower power of two followed by every other slope of the
  next power of two.
"""
from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def sinusoidal_positions(length: int, dim: int, max_timescale: float = 10000.0,
                         interleave: bool = True) -> jnp.ndarray:
  """[length, dim] table of Sec. 3.5; dim must be even."""
  if dim % 2:
    raise ValueError(f"dim {dim} must be even")
  pos = np.arange(length, dtype=np.float64)[:, None]
  inv = max_timescale ** (-np.arange(0, dim, 2, dtype=np.float64) / dim)        # 1/10000^(2i/d)
  angles = pos * inv[None, :]
  if interleave:
    table = np.stack([np.sin(angles), np.cos(angles)], axis=-1).reshape(length, dim)
  else:
    table = np.concatenate([np.sin(angles), np.cos(angles)], axis=-1)
  return jnp.asarray(table, jnp.float32)


class LearnedPositionalEmbedding(nn.Module):
  """x + P[:T] with a learned table P [max_len, features] (normal(0.02) init)."""
  max_len: int
  init_std: float = 0.02

  @nn.compact
  def __call__(self, x, offset: int = 0):
    table = self.param("embedding", nn.initializers.normal(self.init_std),
                       (self.max_len, x.shape[-1]))
    return x + jax.lax.dynamic_slice_in_dim(table, offset, x.shape[-2], 0).astype(x.dtype)


# --- RoPE -------------------------------------------------------------------------------------

def rope_angles(positions, head_dim: int, base: float = 10000.0) -> jnp.ndarray:
  """[..., T, head_dim // 2] angles m * theta_i, theta_i = base^(-2i/d) (RoFormer Eq. 15)."""
  theta = base ** (-jnp.arange(0, head_dim, 2, dtype=jnp.float32) / head_dim)
  return jnp.asarray(positions, jnp.float32)[..., None] * theta


def apply_rope(x, positions=None, *, base: float = 10000.0, pairing: str = "adjacent"):
  """Rotates x [B, T, N, H] by its positions ([T] or [B, T], default arange(T)) (Eq. 34).

  pairing 'adjacent': (x_{2i}, x_{2i+1}) share angle theta_i; 'half': (x_i, x_{i+H/2}).
  Computed in fp32, returned in x's dtype.
  """
  b, t, _, h = x.shape
  if h % 2:
    raise ValueError(f"head_dim {h} must be even for RoPE")
  positions = jnp.arange(t) if positions is None else positions
  ang = rope_angles(positions, h, base)
  ang = jnp.broadcast_to(ang, (b, t, h // 2))[:, :, None, :]                     # [B, T, 1, H/2]
  cos, sin = jnp.cos(ang), jnp.sin(ang)
  xf = x.astype(jnp.float32)
  if pairing == "adjacent":
    x1, x2 = xf[..., 0::2], xf[..., 1::2]
    out = jnp.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1).reshape(xf.shape)
  elif pairing == "half":
    x1, x2 = xf[..., : h // 2], xf[..., h // 2:]
    out = jnp.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1)
  else:
    raise ValueError(f"pairing must be 'adjacent' or 'half', got {pairing!r}")
  return out.astype(x.dtype)


def rope_qk_transform(base: float = 10000.0, pairing: str = "adjacent"):
  """A `MultiHeadAttention.qk_transform` applying RoPE at positions arange(T) to q and k."""
  def transform(q, k):
    return apply_rope(q, base=base, pairing=pairing), apply_rope(k, base=base, pairing=pairing)
  return transform


# --- T5 relative position bias ----------------------------------------------------------------

def t5_relative_position_bucket(relative_position, *, bidirectional: bool = True,
                                num_buckets: int = 32, max_distance: int = 128):
  """Bucket of relative_position = key_pos - query_pos (T5 Sec. 2.1, Mesh-TF definition).

  Bidirectional: the upper half of the buckets is for keys after the query. Causal: keys
  after the query share bucket 0. Within a half, distances below half of it are exact; larger
  ones are spaced logarithmically up to max_distance and clipped to the last bucket.
  """
  rel = jnp.asarray(relative_position)
  n = -rel                                                   # distance looking back
  bucket = jnp.zeros_like(rel)
  if bidirectional:
    num_buckets //= 2
    bucket = bucket + (n < 0).astype(rel.dtype) * num_buckets
    n = jnp.abs(n)
  else:
    n = jnp.maximum(n, 0)
  max_exact = num_buckets // 2
  log_ratio = jnp.log(jnp.maximum(n, 1).astype(jnp.float32) / max_exact) / math.log(
      max_distance / max_exact)
  large = max_exact + (log_ratio * (num_buckets - max_exact)).astype(rel.dtype)
  large = jnp.minimum(large, num_buckets - 1)
  return bucket + jnp.where(n < max_exact, n, large)


class T5RelativePositionBias(nn.Module):
  """Learned bias [1, heads, q_len, kv_len] from bucketed offsets (shared across layers in T5)."""
  num_heads: int
  num_buckets: int = 32
  max_distance: int = 128
  bidirectional: bool = True

  @nn.compact
  def __call__(self, q_len: int, kv_len: int, q_offset: int = 0):
    table = self.param("rel_embedding", nn.initializers.normal(1.0),
                       (self.num_buckets, self.num_heads))
    rel = (jnp.arange(kv_len)[None, :] - (jnp.arange(q_len) + q_offset)[:, None]).astype(jnp.int32)
    buckets = t5_relative_position_bucket(rel, bidirectional=self.bidirectional,
                                          num_buckets=self.num_buckets,
                                          max_distance=self.max_distance)
    return jnp.transpose(table[buckets], (2, 0, 1))[None]


# --- ALiBi ------------------------------------------------------------------------------------

def alibi_slopes(num_heads: int) -> np.ndarray:
  """Head slopes m_h (ALiBi Sec. 3): 2^(-8h/n) for h = 1..n when n is a power of two."""
  def power_of_two(n):
    start = 2.0 ** (-8.0 / n)
    return [start ** (h + 1) for h in range(n)]
  if num_heads & (num_heads - 1) == 0:
    return np.asarray(power_of_two(num_heads), np.float32)
  p = 2 ** int(math.floor(math.log2(num_heads)))
  extra = power_of_two(2 * p)[0::2][: num_heads - p]
  return np.asarray(power_of_two(p) + extra, np.float32)


def alibi_bias(num_heads: int, q_len: int, kv_len: int, *, causal: bool = True,
               q_offset: int = 0) -> jnp.ndarray:
  """[1, heads, q_len, kv_len] bias -m_h * (i - j) (Sec. 3, Fig. 3).

  causal: the paper's form; keys after the query get a positive bias and must be masked by
  the causal mask. Non-causal: -m_h * |i - j| (a common symmetric extension, not in the paper).
  """
  i = np.arange(q_len)[:, None] + q_offset
  j = np.arange(kv_len)[None, :]
  dist = (i - j) if causal else np.abs(i - j)
  return jnp.asarray(-alibi_slopes(num_heads)[:, None, None] * dist[None], jnp.float32)[None]
