"""Talking-heads attention ("Talking-Heads Attention", Shazeer et al. 2020, Sec. 4).

Multi-head attention whose heads exchange information: the per-head logits are mixed by a
learned [h_k, h] matrix P_l before the softmax and the per-head weights by a learned [h, h_v]
matrix P_w after it (Alg. in Sec. 4: J = QK^T, L = J P_l, W = softmax(L), U = W P_w,
O = U V). Masks and biases act on the h mixed logit heads. Square mixing matrices start as
the identity, so the module starts as plain multi-head attention (the paper does not fix an
initialization); rectangular ones use normal(1/sqrt(fan_in)).
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lib.attention import masks as masks_lib
from lib.attention.dot_product import repeat_kv_heads


def _mixing_init(key, shape, dtype=jnp.float32):
  if shape[0] == shape[1]:
    return jnp.eye(shape[0], dtype=dtype)
  return jax.random.normal(key, shape, dtype) / np.sqrt(shape[0])


def talking_heads_attention(q, k, v, pre_softmax, post_softmax, *, bias=None, mask=None,
                            is_causal=False, q_segment_ids=None, kv_segment_ids=None,
                            q_lengths=None, kv_lengths=None, scale=None):
  """q [B,T,h_k,H], k [B,S,K,H], v [B,S,K',Hv]; pre_softmax [h_k, h], post_softmax [h, h_v]
  with h_v a multiple of K'. Returns (out [B,T,h_v,Hv], weights [B,h_v,T,S])."""
  h_k = q.shape[2]
  h_v = post_softmax.shape[1]
  k, v = repeat_kv_heads(k, h_k), repeat_kv_heads(v, h_v)
  scale = 1.0 / np.sqrt(q.shape[-1]) if scale is None else scale
  j = jnp.einsum("btkd,bskd->bkts", q, k, preferred_element_type=jnp.float32) * scale
  logits = jnp.einsum("bkts,kh->bhts", j, pre_softmax.astype(jnp.float32))   # L = J P_l
  if bias is not None:
    logits = logits + jnp.asarray(bias, jnp.float32)
  dense = masks_lib.make_attention_mask(
      q.shape[1], k.shape[1], mask=mask, is_causal=is_causal, q_segment_ids=q_segment_ids,
      kv_segment_ids=kv_segment_ids, q_lengths=q_lengths, kv_lengths=kv_lengths)
  if dense is not None:
    logits = jnp.where(dense, logits, -1e30)
  w = jax.nn.softmax(logits, axis=-1)                                         # W = softmax(L)
  if dense is not None:
    w = jnp.where(jnp.any(dense, -1, keepdims=True), w, 0.0)
  u = jnp.einsum("bhts,hv->bvts", w, post_softmax.astype(jnp.float32))        # U = W P_w
  out = jnp.einsum("bvts,bsvd->btvd", u.astype(v.dtype), v, preferred_element_type=jnp.float32)
  return out.astype(q.dtype), u


class TalkingHeadsKernel(nn.Module):
  """Kernel for `MultiHeadAttention(kernel=TalkingHeadsKernel())`: h = num_heads_logits and
  h_v = num_heads_weights default to the number of query heads."""
  num_heads_logits: int | None = None
  num_heads_weights: int | None = None

  @nn.compact
  def __call__(self, q, k, v, *, return_weights: bool = False, **kwargs):
    h_k = q.shape[2]
    h = self.num_heads_logits or h_k
    h_v = self.num_heads_weights or h
    pre = self.param("pre_softmax", _mixing_init, (h_k, h))
    post = self.param("post_softmax", _mixing_init, (h, h_v))
    out, weights = talking_heads_attention(q, k, v, pre, post, **kwargs)
    return out, (weights if return_weights else None)
