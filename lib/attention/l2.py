"""L2 self-attention (Kim et al. 2021, "The Lipschitz Constant of Self-Attention", Sec. 3;
as used in the ViTGAN discriminator, Lee et al. 2022, Sec. 4.1 Eq. 5).

Attention logits are negative squared distances, -||q_i - k_j||^2 / sqrt(d), with the query
and key projections tied (W_q = W_k): then self-attention is Lipschitz, whereas dot-product
self-attention is not (its Jacobian grows with the input scale). Values use their own
projection W_v, as in ViTGAN; Kim et al.'s fully bounded form also ties the value map to W_q
(X A with A = W_q W_q^T / sqrt(d)), which is not done here. The ViTGAN public code's L2
attention (untied, cdist on separate projections) is not the paper's; this follows the paper.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lib.attention import masks as masks_lib
from lib.attention.dot_product import repeat_kv_heads


def l2_attention(q, k, v, *, mask=None, is_causal=False, q_lengths=None, kv_lengths=None,
                 scale: float | None = None, return_weights: bool = False):
  """Softmax(-||q_i - k_j||^2 * scale) v on q [B,T,N,H], k/v [B,S,K,H] (Kim et al. Eq. 5)."""
  n = q.shape[2]
  k, v = repeat_kv_heads(k, n), repeat_kv_heads(v, n)
  scale = 1.0 / np.sqrt(q.shape[-1]) if scale is None else scale
  qf, kf = q.astype(jnp.float32), k.astype(jnp.float32)
  sq = (jnp.sum(qf * qf, -1).transpose(0, 2, 1)[..., :, None]          # ||q||^2 [B,N,T,1]
        + jnp.sum(kf * kf, -1).transpose(0, 2, 1)[..., None, :]        # ||k||^2 [B,N,1,S]
        - 2.0 * jnp.einsum("btnh,bsnh->bnts", qf, kf))
  logits = -jnp.maximum(sq, 0.0) * scale
  dense = masks_lib.make_attention_mask(q.shape[1], k.shape[1], mask=mask, is_causal=is_causal,
                                        q_lengths=q_lengths, kv_lengths=kv_lengths)
  if dense is not None:
    logits = jnp.where(dense, logits, -1e30)
  w = jax.nn.softmax(logits, axis=-1)
  if dense is not None:
    w = jnp.where(jnp.any(dense, -1, keepdims=True), w, 0.0)
  out = jnp.einsum("bnts,bsnd->btnd", w.astype(v.dtype), v,
                   preferred_element_type=jnp.float32).astype(q.dtype)
  return (out, w) if return_weights else out


def l2_kernel(q, k, v, *, return_weights: bool = False, **kwargs):
  """Kernel protocol; pass the same projection for q and k to keep the Lipschitz property."""
  if return_weights:
    return l2_attention(q, k, v, return_weights=True, **kwargs)
  return l2_attention(q, k, v, **kwargs), None


class L2SelfAttention(nn.Module):
  """Multi-head L2 self-attention with tied query/key projection `query_key`."""
  num_heads: int
  head_dim: int | None = None
  out_features: int | None = None
  use_bias: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, **kernel_kwargs):
    features = x.shape[-1]
    head_dim = self.head_dim or features // self.num_heads
    dense = lambda name: nn.DenseGeneral((self.num_heads, head_dim), use_bias=self.use_bias,
                                         dtype=self.dtype, param_dtype=jnp.float32, name=name)
    qk = dense("query_key")(x)                                              # W_q = W_k
    v = dense("value")(x)
    out, w = l2_attention(qk, qk, v, return_weights=True, **kernel_kwargs)
    self.sow("intermediates", "attention_weights", w)
    return nn.DenseGeneral(self.out_features or features, axis=(-2, -1), use_bias=self.use_bias,
                           dtype=self.dtype, param_dtype=jnp.float32, name="out")(out)
