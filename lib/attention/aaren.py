"""Attention as an RNN ("Attention as an RNN", Feng et al. 2024, Sec. 3).

For a query q fixed over time, the many-to-many outputs o_t = softmax(s_1..s_t) . v_1..v_t
with s_i = q . k_i / sqrt(d) are prefix reductions of triples (m, u, w): the running max m,
the sum u = sum_i exp(s_i - m) and w = sum_i exp(s_i - m) v_i, combined associatively by
(m_A, u_A, w_A) + (m_B, u_B, w_B) = (m, u_A e^{m_A-m} + u_B e^{m_B-m},
w_A e^{m_A-m} + w_B e^{m_B-m}) with m = max(m_A, m_B) (Sec. 3.2). `jax.lax.associative_scan`
computes all prefixes in O(log T) depth, and o_t = w_t / u_t. The Aaren module uses a
learned query token per head (Sec. 3.3), so it can run as an RNN (one triple per step) at
inference.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lib.attention.dot_product import repeat_kv_heads

_EMPTY = -1e30      # m of a masked element: finite so that e^{m_A - m} never gives inf - inf


def combine(a, b):
  """The associative operator on (m, u, w) triples (Sec. 3.2)."""
  m_a, u_a, w_a = a
  m_b, u_b, w_b = b
  m = jnp.maximum(m_a, m_b)
  ea, eb = jnp.exp(m_a - m), jnp.exp(m_b - m)
  return m, u_a * ea + u_b * eb, w_a * ea[..., None] + w_b * eb[..., None]


def prefix_softmax_attention(scores, v, valid=None):
  """scores [B,T,N], v [B,T,N,D] -> o [B,T,N,D], o_t = sum_{i<=t} softmax(s)_i v_i.

  valid [B,T] (optional) drops positions; a prefix with no valid position outputs 0.
  """
  s = scores.astype(jnp.float32)
  vf = v.astype(jnp.float32)
  u = jnp.ones_like(s)
  if valid is not None:
    keep = jnp.asarray(valid)[:, :, None]
    s, u = jnp.where(keep, s, _EMPTY), jnp.where(keep, u, 0.0)
    vf = vf * keep[..., None]
  # Each element is the triple (s_i, 1, v_i) (Sec. 3.2).
  _, u_t, w_t = jax.lax.associative_scan(combine, (s, u, vf), axis=1)
  ok = u_t > 0
  return jnp.where(ok[..., None], w_t / jnp.where(ok, u_t, 1.0)[..., None], 0.0)


def aaren_attention(q, k, v, *, kv_lengths=None, scale: float | None = None):
  """q [B,N,H] (one query per head, fixed in time), k [B,T,K,H], v [B,T,K,Hv] ->
  outputs at every prefix [B,T,N,Hv] (causal)."""
  n = q.shape[1]
  k, v = repeat_kv_heads(k, n), repeat_kv_heads(v, n)
  scale = 1.0 / np.sqrt(q.shape[-1]) if scale is None else scale
  scores = jnp.einsum("bnh,btnh->btn", q, k, preferred_element_type=jnp.float32) * scale
  valid = None
  if kv_lengths is not None:
    valid = jnp.arange(k.shape[1])[None, :] < jnp.asarray(kv_lengths)[:, None]
  return prefix_softmax_attention(scores, v, valid).astype(v.dtype)


class Aaren(nn.Module):
  """Aaren layer: learned query token per head, projected keys/values, output projection."""
  num_heads: int
  head_dim: int | None = None
  out_features: int | None = None
  use_bias: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, *, kv_lengths=None):
    features = x.shape[-1]
    head_dim = self.head_dim or features // self.num_heads
    query = self.param("query", nn.initializers.normal(1.0), (self.num_heads, head_dim))
    dense = lambda name: nn.DenseGeneral((self.num_heads, head_dim), use_bias=self.use_bias,
                                         dtype=self.dtype, param_dtype=jnp.float32, name=name)
    k, v = dense("key")(x), dense("value")(x)
    q = jnp.broadcast_to(query.astype(k.dtype), (x.shape[0],) + query.shape)
    o = aaren_attention(q, k, v, kv_lengths=kv_lengths)
    return nn.DenseGeneral(self.out_features or features, axis=(-2, -1), use_bias=self.use_bias,
                           dtype=self.dtype, param_dtype=jnp.float32, name="out")(o)
