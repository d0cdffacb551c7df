"""Dense boolean attention masks built from mask structures.

Masks follow the convention of `jax.nn.dot_product_attention` ("Attention Is All You Need",
Vaswani et al. 2017, Sec. 3.2.3: illegal connections are masked out before the softmax):
True means "query may attend to key"; shapes broadcast to [batch, heads, q_len, kv_len].
The causal mask is aligned top-left (query i sees keys j <= i), as in `jax.nn`. These
helpers serve the explicit (einsum) path and the tests; structured variants never build them
in their fast path. They are built from iota (not numpy constants), so XLA fuses them instead
of constant-folding a T x T array.
"""
from __future__ import annotations

import jax.numpy as jnp


def causal_mask(q_len: int, kv_len: int, offset: int = 0) -> jnp.ndarray:
  """[1, 1, T, S]: key j visible from query i iff j <= i + offset."""
  i = jnp.arange(q_len)[:, None]
  j = jnp.arange(kv_len)[None, :]
  return (j <= i + offset)[None, None]


def window_mask(q_len: int, kv_len: int, left: int, right: int = 0) -> jnp.ndarray:
  """[1, 1, T, S]: i - left <= j <= i + right (a contiguous band of left + 1 + right keys)."""
  i = jnp.arange(q_len)[:, None]
  j = jnp.arange(kv_len)[None, :]
  return ((j >= i - left) & (j <= i + right))[None, None]


def padding_mask(q_len: int, kv_len: int, q_lengths=None, kv_lengths=None) -> jnp.ndarray:
  """[B, 1, T, S] (or [1, 1, T, S] when both lengths are None): valid query x valid key."""
  q_ok = jnp.ones((1, q_len), bool)
  kv_ok = jnp.ones((1, kv_len), bool)
  if q_lengths is not None:
    q_ok = jnp.arange(q_len)[None, :] < jnp.asarray(q_lengths)[:, None]
  if kv_lengths is not None:
    kv_ok = jnp.arange(kv_len)[None, :] < jnp.asarray(kv_lengths)[:, None]
  return (q_ok[:, :, None] & kv_ok[:, None, :])[:, None]


def segment_mask(q_segment_ids, kv_segment_ids) -> jnp.ndarray:
  """[B, 1, T, S]: query and key belong to the same packed segment."""
  q_segment_ids = jnp.asarray(q_segment_ids)
  kv_segment_ids = jnp.asarray(kv_segment_ids)
  return (q_segment_ids[:, :, None] == kv_segment_ids[:, None, :])[:, None]


def combine_masks(*masks) -> jnp.ndarray | None:
  """Logical AND of the masks that are not None (None when all are None)."""
  masks = [jnp.asarray(m) for m in masks if m is not None]
  if not masks:
    return None
  out = masks[0]
  for m in masks[1:]:
    out = jnp.logical_and(out, m)
  return out


def make_attention_mask(q_len: int, kv_len: int, *, mask=None, is_causal: bool = False,
                        q_segment_ids=None, kv_segment_ids=None, q_lengths=None,
                        kv_lengths=None, window: tuple[int, int] | None = None):
  """The dense mask equivalent to all the given structures, or None if there is none."""
  if (q_segment_ids is None) != (kv_segment_ids is None):
    raise ValueError("q_segment_ids and kv_segment_ids must be given together")
  return combine_masks(
      mask,
      causal_mask(q_len, kv_len) if is_causal else None,
      window_mask(q_len, kv_len, *window) if window is not None else None,
      padding_mask(q_len, kv_len, q_lengths, kv_lengths)
      if q_lengths is not None or kv_lengths is not None else None,
      segment_mask(q_segment_ids, kv_segment_ids) if q_segment_ids is not None else None,
  )
