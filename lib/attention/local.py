"""Local (sliding-window) attention as a blocked reshape.

Each query i attends to the contiguous keys i - left .. i + right (right = 0 when causal), as in
the local attention of "Generating Long Sequences with Sparse Transformers" (Child et al. 2019,
Sec. 4.2, A(1)), "Longformer" (Beltagy et al. 2020, Sec. 3.1) and "Image Transformer"
(Parmar et al. 2018, Sec. 3.2). The sequence is cut into blocks of size >= the window; a
query block attends to its own block and the previous one (and the next one when
bidirectional), masked to the exact window, so cost and memory are O(T * window) and no
T x T mask is ever built. (A dense mask, or `local_window_size` in jax.nn on CPU, still
computes all T x T logits.)
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lib.attention.dot_product import repeat_kv_heads


def window_sides(window, is_causal: bool) -> tuple[int, int]:
  """(left, right) from an int (symmetric unless causal) or a pair."""
  left, right = (window, window) if isinstance(window, int) else tuple(window)
  return (left, 0) if is_causal else (left, right)


def local_attention(q, k, v, *, window, is_causal: bool = True, block_size: int | None = None,
                    kv_lengths=None, q_lengths=None, scale: float | None = None):
  """Sliding-window attention on q [B,T,N,H], k [B,T,K,H], v [B,T,K,Hv] (self-attention).

  window: keys i - left .. i + right; an int means (w, 0) if causal, (w, w) otherwise.
  block_size defaults to max(left, right, 1) and must be at least that.
  """
  b, t, n, h = q.shape
  if k.shape[1] != t:
    raise ValueError("local attention is self-attention: q_len must equal kv_len")
  left, right = window_sides(window, is_causal)
  blk = block_size or max(left, right, 1)
  if blk < max(left, right):
    raise ValueError(f"block_size {blk} smaller than the window {(left, right)}")
  k, v = repeat_kv_heads(k, n), repeat_kv_heads(v, n)
  nb = -(-t // blk)
  tp = nb * blk
  after = blk if right > 0 else 0
  pad = lambda x, front, back: jnp.pad(x, [(0, 0), (front, back)] + [(0, 0)] * (x.ndim - 2))
  qb = pad(q, 0, tp - t).reshape(b, nb, blk, n, h)

  def context(x):                      # [B, nb, ctx, N, D]: previous, own (, next) block
    xb = pad(x, blk, tp - t + after).reshape((b, nb + 1 + (1 if after else 0), blk) + x.shape[2:])
    parts = [xb[:, :nb], xb[:, 1:nb + 1]] + ([xb[:, 2:]] if after else [])
    return jnp.concatenate(parts, axis=2)

  kc, vc = context(k), context(v)
  ctx = kc.shape[2]
  a = np.arange(blk)[:, None]                                 # query offset inside its block
  j = np.arange(ctx)[None, :]                                 # key slot: position (r-1)*blk + j
  rel = j - blk - a                                           # key_pos - query_pos
  in_window = (rel >= -left) & (rel <= right)                 # [blk, ctx], static
  key_pos = (np.arange(nb)[:, None] - 1) * blk + np.arange(ctx)[None, :]     # [nb, ctx]
  limit = t if kv_lengths is None else jnp.minimum(jnp.asarray(kv_lengths), t)
  key_ok = (key_pos >= 0)[None] & (key_pos[None] < jnp.reshape(jnp.asarray(limit), (-1, 1, 1)))
  mask = jnp.asarray(in_window)[None, None, None] & key_ok[:, None, :, None, :]  # [B,1,nb,blk,ctx]

  scale = 1.0 / np.sqrt(h) if scale is None else scale
  logits = jnp.einsum("brqnh,brknh->bnrqk", qb, kc, preferred_element_type=jnp.float32) * scale
  logits = jnp.where(mask, logits, -1e30)
  weights = jax.nn.softmax(logits, axis=-1)
  weights = jnp.where(jnp.any(mask, -1, keepdims=True), weights, 0.0)        # empty rows -> 0
  out = jnp.einsum("bnrqk,brknd->brqnd", weights.astype(v.dtype), vc,
                   preferred_element_type=jnp.float32)
  out = out.reshape(b, tp, n, v.shape[-1])[:, :t]
  if q_lengths is not None:
    out = out * (jnp.arange(t)[None, :] < jnp.asarray(q_lengths)[:, None])[:, :, None, None]
  return out.astype(q.dtype)


def local_kernel(q, k, v, **kwargs):
  """MultiHeadAttention kernel protocol: (out, None)."""
  return local_attention(q, k, v, **kwargs), None
