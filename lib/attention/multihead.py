"""The shared multi-head attention shell ("Attention Is All You Need", Sec. 3.2.2).

MultiHead(X, C) = Concat_n(head_n) W^O with head_n = kernel(X W^Q_n, C W^K_n, C W^V_n). The
projections are here; the kernel (dot-product, linear, Performer, local, ...) is a callable
`kernel(q, k, v, **kernel_kwargs) -> (out [B,T,N,H], weights [B,N,T,S] or None)` or a linen
module with that call. Keys and values may have fewer heads (GQA / MQA) and may come from a
context sequence (cross attention). Weights returned by the kernel are sown into
'intermediates' / 'attention_weights'.
"""
from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax.numpy as jnp

from lib.attention.dot_product import dot_product_attention


def dot_product_kernel(q, k, v, *, return_weights: bool = False, **kwargs):
  """Kernel adapter: `dot_product_attention` returning (out, weights or None)."""
  if return_weights:
    return dot_product_attention(q, k, v, return_weights=True, **kwargs)
  return dot_product_attention(q, k, v, **kwargs), None


def as_kernel(fn: Callable, **fixed) -> Callable:
  """Wraps `fn(q, k, v, **kw) -> out` (a variant without weights) into the kernel protocol."""
  def kernel(q, k, v, **kwargs):
    return fn(q, k, v, **fixed, **kwargs), None
  return kernel


class MultiHeadAttention(nn.Module):
  """Projections to heads, an attention kernel, and the output projection.

  head_dim defaults to features // num_heads, num_kv_heads to num_heads, out_features to the
  input features. `qk_transform(q, k) -> (q, k)` acts on the projected heads (e.g. RoPE).
  Params are fp32; `dtype` is the compute dtype.
  """
  num_heads: int
  head_dim: int | None = None
  num_kv_heads: int | None = None
  kernel: Callable = dot_product_kernel
  out_features: int | None = None
  use_bias: bool = True
  dtype: Any = jnp.float32
  qk_transform: Callable | None = None

  @nn.compact
  def __call__(self, x, context=None, **kernel_kwargs):
    context = x if context is None else context
    features = x.shape[-1]
    head_dim = self.head_dim or features // self.num_heads
    kv_heads = self.num_kv_heads or self.num_heads
    if self.num_heads % kv_heads:
      raise ValueError(f"num_heads {self.num_heads} not a multiple of num_kv_heads {kv_heads}")
    dense = lambda heads, name: nn.DenseGeneral((heads, head_dim), use_bias=self.use_bias,
                                                dtype=self.dtype, param_dtype=jnp.float32,
                                                name=name)
    q = dense(self.num_heads, "query")(x)
    k = dense(kv_heads, "key")(context)
    v = dense(kv_heads, "value")(context)
    if self.qk_transform is not None:
      q, k = self.qk_transform(q, k)
    out, weights = self.kernel(q, k, v, **kernel_kwargs)
    if weights is not None:
      self.sow("intermediates", "attention_weights", weights)
    return nn.DenseGeneral(self.out_features or features, axis=(-2, -1), use_bias=self.use_bias,
                           dtype=self.dtype, param_dtype=jnp.float32, name="out")(out)
