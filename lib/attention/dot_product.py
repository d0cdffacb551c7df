"""Scaled dot-product attention ("Attention Is All You Need", Vaswani et al. 2017, Sec. 3.2).

softmax(Q K^T / sqrt(d) + bias) V over the BTNH layout, with grouped-query / multi-query
attention (kv heads repeated, query head n reads kv head n // (heads // kv_heads)), cross
attention (q_len != kv_len) and masks given as structures (causal, packed segments, padding
lengths) or a dense boolean. The fast path is `jax.nn.dot_product_attention` ('cudnn' flash
kernel on GPU when dtype and head size allow, 'xla' otherwise); the explicit einsum path is
used when the weights are wanted; on CPU, long sequences take the blocked online-softmax
kernel of blocked_softmax.py ('blocked', FlashAttention-style tiles). The softmax runs in fp32
whatever the input dtype, and a query row with no visible key returns zeros instead of NaN or
an average.
"""
from __future__ import annotations

import logging

import jax
import jax.numpy as jnp
import numpy as np

from lib.attention import blocked_softmax
from lib.attention import masks as masks_lib

logger = logging.getLogger(__name__)

# Module-level override of the dispatch: None (automatic), 'xla', 'cudnn', 'explicit' or
# 'blocked'.
IMPLEMENTATION: str | None = None
_CUDNN_DTYPES = (jnp.bfloat16, jnp.float16)
# CPU: the blocked kernel once the [B, N, T, S] logits would hold this many elements (16 MiB
# in fp32: batch 1, 8 heads, from 725 x 725 tokens). Below it XLA's path was as fast; above it the
# logits leave the caches and the blocked kernel was faster (benchmarks/attention.py, suite
# "dense"; benchmarks/results/attention_vs_torch_cpu.md).
BLOCKED_MIN_LOGITS = 1 << 22
# ... and at least this many keys: with fewer the keys fit one tile, nothing is blocked, and
# HiLo / PVT / Twins shapes (49 keys, batch 64) ran 0.8-1.1x of XLA's time; 98+ keys gained.
BLOCKED_MIN_KEYS = 128


def chosen_implementation(q, *, implementation: str | None = None, has_dense_mask: bool = False,
                          return_weights: bool = False, kv_len: int | None = None,
                          has_bias: bool = False) -> str:
  """Which path `dot_product_attention` takes for a query q [B, T, N, H] and kv_len keys.

  'explicit' when the weights are returned; else the argument, else the module flag
  `IMPLEMENTATION`, else 'cudnn' on GPU for bf16/fp16 with head_dim % 8 == 0 and <= 128 and
  no dense mask (cuDNN's flash kernel takes causal and length masks as structures), 'blocked'
  on CPU with no dense mask or bias when B * N * T * kv_len >= BLOCKED_MIN_LOGITS and
  kv_len >= BLOCKED_MIN_KEYS (and q is not sharded over an Explicit mesh axis), 'xla'
  otherwise.
  """
  if return_weights:
    return "explicit"
  forced = implementation or IMPLEMENTATION
  if forced is not None:
    if forced not in ("xla", "cudnn", "explicit", "blocked"):
      raise ValueError(f"unknown attention implementation {forced!r}")
    return forced
  head_dim = q.shape[-1]
  if (jax.default_backend() == "gpu" and q.dtype in _CUDNN_DTYPES and head_dim % 8 == 0
      and head_dim <= 128 and not has_dense_mask):
    return "cudnn"
  b, t, n = q.shape[0], q.shape[1], q.shape[2]
  s = t if kv_len is None else kv_len
  if (jax.default_backend() == "cpu" and not has_dense_mask and not has_bias
      and b * n * t * s >= BLOCKED_MIN_LOGITS and s >= BLOCKED_MIN_KEYS
      and not _explicitly_sharded(q)):
    return "blocked"
  return "xla"


def _explicitly_sharded(x) -> bool:
  """True when x's type carries a sharding over an Explicit mesh axis: the blocked kernel's
  reshapes have no sharding rule there (the project's meshes use Auto axes)."""
  try:
    return any(axis is not None for axis in jax.typeof(x).sharding.spec)
  except (AttributeError, TypeError):
    return False


def repeat_kv_heads(x, num_heads: int):
  """[B, S, K, H] -> [B, S, num_heads, H]; kv head k serves query heads k*G .. k*G + G - 1."""
  kv_heads = x.shape[2]
  if num_heads % kv_heads:
    raise ValueError(f"num heads {num_heads} is not a multiple of kv heads {kv_heads}")
  return jnp.repeat(x, num_heads // kv_heads, axis=2) if kv_heads != num_heads else x


def explicit_attention(q, k, v, *, bias=None, mask=None, scale=None):
  """Einsum attention returning (out [B,T,N,H], weights [B,N,T,S] fp32); rows with no visible
  key have zero weights and zero output."""
  num_heads = q.shape[2]
  k, v = repeat_kv_heads(k, num_heads), repeat_kv_heads(v, num_heads)
  scale = 1.0 / np.sqrt(q.shape[-1]) if scale is None else scale
  logits = jnp.einsum("btnh,bsnh->bnts", q, k, preferred_element_type=jnp.float32)
  logits = logits * scale                                                      # Eq. 1
  if bias is not None:
    logits = logits + jnp.asarray(bias, jnp.float32)
  if mask is not None:
    logits = jnp.where(mask, logits, jnp.float32(-1e30))
  weights = jax.nn.softmax(logits, axis=-1)
  if mask is not None:
    weights = jnp.where(jnp.any(mask, axis=-1, keepdims=True), weights, 0.0)
  out = jnp.einsum("bnts,bsnh->btnh", weights.astype(v.dtype), v,
                   preferred_element_type=jnp.float32)
  return out.astype(q.dtype), weights


def dot_product_attention(q, k, v, *, bias=None, mask=None, is_causal: bool = False,
                          q_segment_ids=None, kv_segment_ids=None, q_lengths=None,
                          kv_lengths=None, scale: float | None = None,
                          implementation: str | None = None, return_weights: bool = False):
  """Multi-head softmax attention (Sec. 3.2.1, Eq. 1) on q [B,T,N,H], k/v [B,S,K,H].

  bias and mask broadcast to [B, N, T, S] (mask True = attend). is_causal: query i sees keys
  j <= i. Segment ids [B, T] / [B, S] restrict attention to equal ids (packing); lengths [B]
  mark the valid prefix of queries / keys (padded queries output zeros). Returns out
  [B, T, N, H], or (out, weights [B, N, T, S]) when return_weights.
  """
  b, t, n, _ = q.shape
  s = k.shape[1]
  if n % k.shape[2]:
    raise ValueError(f"num heads {n} is not a multiple of kv heads {k.shape[2]}")
  has_segments = q_segment_ids is not None or kv_segment_ids is not None
  path = chosen_implementation(q, implementation=implementation,
                               has_dense_mask=mask is not None or has_segments,
                               return_weights=return_weights, kv_len=s,
                               has_bias=bias is not None)
  logger.info("dot_product_attention: %s path (dtype=%s, head_dim=%d, q_len=%d, kv_len=%d)",
              path, q.dtype, q.shape[-1], t, s)

  if path == "explicit":
    dense = masks_lib.make_attention_mask(
        t, s, mask=mask, is_causal=is_causal, q_segment_ids=q_segment_ids,
        kv_segment_ids=kv_segment_ids, q_lengths=q_lengths, kv_lengths=kv_lengths)
    out, weights = explicit_attention(q, k, v, bias=bias, mask=dense, scale=scale)
    return (out, weights) if return_weights else out

  if path == "blocked":
    if mask is not None or has_segments or bias is not None:
      raise ValueError("the 'blocked' attention path takes causal and length masks only; pass "
                       "no mask, segment ids or bias, or choose implementation='xla'")
    return blocked_softmax.blocked_attention(q, k, v, is_causal=is_causal, q_lengths=q_lengths,
                                             kv_lengths=kv_lengths, scale=scale)

  # Fast path: structures that jax.nn takes natively stay structures; segments become a mask.
  dense = masks_lib.combine_masks(
      mask, masks_lib.segment_mask(q_segment_ids, kv_segment_ids) if has_segments else None)
  q_len_arr = None if q_lengths is None else jnp.asarray(q_lengths, jnp.int32)
  kv_len_arr = None if kv_lengths is None else jnp.asarray(kv_lengths, jnp.int32)
  if path == "cudnn" and (q_len_arr is not None) != (kv_len_arr is not None):
    # cuDNN wants both lengths when either is given.
    q_len_arr = jnp.full((b,), t, jnp.int32) if q_len_arr is None else q_len_arr
    kv_len_arr = jnp.full((b,), s, jnp.int32) if kv_len_arr is None else kv_len_arr
  if bias is not None:
    bias = jnp.asarray(bias)
    bias = bias.reshape((1,) * (4 - bias.ndim) + bias.shape)
    # The xla path adds the bias to fp32 logits; cuDNN wants the input dtype.
    bias = bias.astype(q.dtype if path == "cudnn" else jnp.promote_types(bias.dtype, jnp.float32))
  if dense is not None:
    dense = dense.reshape((1,) * (4 - dense.ndim) + dense.shape)
  out = jax.nn.dot_product_attention(
      q, k, v, bias=bias, mask=dense, scale=scale, is_causal=is_causal,
      query_seq_lengths=q_len_arr, key_value_seq_lengths=kv_len_arr, implementation=path)

  # A row with no visible key: jax.nn averages all values there; the definition here is 0.
  row_valid = None
  if dense is not None:
    full = masks_lib.combine_masks(
        dense, masks_lib.causal_mask(t, s) if is_causal else None,
        masks_lib.padding_mask(t, s, None, kv_len_arr) if kv_len_arr is not None else None)
    row_valid = jnp.any(full, axis=-1)                                         # [B|1, N|1, T]
    row_valid = jnp.broadcast_to(row_valid, (b, n, t) if row_valid.shape[1] != 1
                                 else (b, 1, t)).transpose(0, 2, 1)[..., None]  # [B, T, N|1, 1]
  elif kv_len_arr is not None:
    row_valid = (kv_len_arr > 0)[:, None, None, None]
  if row_valid is not None:
    out = jnp.where(row_valid, out, jnp.zeros((), out.dtype))
  return out
