"""Rank collapse of token representations (Dong, Cordonnier & Loukas 2021, "Attention is Not
All You Need: Pure Attention Loses Rank Doubly Exponentially with Depth").

res(X) = X - 1 x^T with x = argmin_x ||X - 1 x^T|| (Sec. 2.2). This module uses the Frobenius
norm, whose argmin is the mean token x = X^T 1 / n, and reports the relative residual
||res(X)||_F / ||X||_F, as the authors' experiments do (twistedcubic/attention-rank-collapse,
modeling_san.py: sqrt(sum((X - X.mean(0))^2) / sum(X^2))). `composite_norm` is the paper's
||X||_{1,inf} = sqrt(||X||_1 ||X||_inf) (Sec. 2.2; the authors' code omits the square root);
applied to the mean-centred residual it bounds the l1,inf-optimal residual from above.

`attention_stack` builds the pure self-attention network of Sec. 2 (SAN: SA(X) = sum_h
P_h X W_h, no MLP, no norm), with or without skip connections, for the claim check: pure
attention loses rank doubly exponentially with depth (Sec. 2, the main theorem), skip
connections keep it (Sec. 3).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lib.errors import DataError


def residual(x) -> np.ndarray:
  """res(X) = X - 1 x^T with x the token mean, the Frobenius argmin (Sec. 2.2); x [..., T, D]."""
  x = np.asarray(x, np.float64)
  if x.ndim < 2:
    raise DataError(f"representations of shape {x.shape} are not [..., tokens, features]")
  return x - x.mean(-2, keepdims=True)


def relative_residual(x) -> np.ndarray:
  """||res(X)||_F / ||X||_F per [T, D] matrix of x [..., T, D] (0: rank one of the form 1 x^T)."""
  x = np.asarray(x, np.float64)
  num = np.sqrt((residual(x) ** 2).sum((-2, -1)))
  return num / np.maximum(np.sqrt((x ** 2).sum((-2, -1))), np.finfo(np.float64).tiny)


def composite_norm(x) -> np.ndarray:
  """||X||_{1,inf} = sqrt(||X||_1 ||X||_inf) (Sec. 2.2): max column and max row abs sums."""
  a = np.abs(np.asarray(x, np.float64))
  return np.sqrt(a.sum(-2).max(-1) * a.sum(-1).max(-1))


def residual_per_layer(streams) -> np.ndarray:
  """relative_residual of each layer's tokens: streams [L, ..., T, D] -> [L, ...]."""
  return np.stack([relative_residual(s) for s in streams])


def init_attention_stack(rng: jax.Array, depth: int, dim: int, heads: int,
                         head_dim: int | None = None) -> list[dict]:
  """Random SAN weights, N(0, 1/dim) entries: per layer W^Q, W^K, W^V [heads, dim, head_dim]
  and W^O [heads, head_dim, dim]."""
  head_dim = head_dim or dim // heads
  layers = []
  for key in jax.random.split(rng, depth):
    kq, kk, kv, ko = jax.random.split(key, 4)
    shape = (heads, dim, head_dim)
    layers.append({"query": jax.random.normal(kq, shape) / np.sqrt(dim),
                   "key": jax.random.normal(kk, shape) / np.sqrt(dim),
                   "value": jax.random.normal(kv, shape) / np.sqrt(dim),
                   "out": jax.random.normal(ko, (heads, head_dim, dim)) / np.sqrt(head_dim)})
  return layers


def self_attention(layer: dict, x: jax.Array) -> jax.Array:
  """SA(X) = sum_h softmax(X W^Q_h (X W^K_h)^T / sqrt(d_qk)) X W^V_h W^O_h (Sec. 2, Eq. 1)."""
  q = jnp.einsum("td,hde->hte", x, layer["query"])
  k = jnp.einsum("td,hde->hte", x, layer["key"])
  v = jnp.einsum("td,hde->hte", x, layer["value"])
  p = jax.nn.softmax(jnp.einsum("hte,hse->hts", q, k) / np.sqrt(q.shape[-1]), axis=-1)
  return jnp.einsum("hts,hse,hed->td", p, v, layer["out"])


def attention_stack(layers: list[dict], x, skip: bool = False) -> np.ndarray:
  """Token representations after each layer of the SAN, [depth + 1, T, D] (entry 0: the input):
  X_l = SA_l(X_{l-1}) (pure attention) or X_l = X_{l-1} + SA_l(X_{l-1}) (skip)."""
  x = jnp.asarray(x, jnp.float32)
  out = [x]
  for layer in layers:
    y = self_attention(layer, out[-1])
    out.append(out[-1] + y if skip else y)
  return np.stack([np.asarray(o, np.float64) for o in out])
