"""Routing attention ("Efficient Content-Based Sparse Attention with Routing Transformers",
Roy et al. 2021, Sec. 4).

Queries and keys are layer-normalized (no affine) and shared (K = Q by default). Per head, k
centroids mu live in the 'routing' variable collection. Each cluster takes its top-w nearest
tokens (smallest ||x - mu||^2; balanced clusters of static size w, default T / k), sorted by
position; attention runs inside each cluster with the causal mask taken from the original
positions, and outputs are scattered back, averaged over the clusters that chose a token
(a token chosen by none outputs 0). With k ~ sqrt(T) and w ~ sqrt(T) the cost is O(T^1.5 d).
Centroids follow mini-batch k-means by EMA (Sec. 4.1): each token is assigned to its nearest
centroid and mu <- decay * mu + (1 - decay) * mean(assigned), decay 0.99, whenever the
'routing' collection is mutable (training); gradients never flow into the centroids.

Causality: outputs are causal in the gradient sense (d out_t / d x_s = 0 for s > t) and for a
fixed routing, but, as in the paper, which tokens win a cluster's top-w slots is decided over
the whole sequence, so a later token can change an earlier token's cluster membership.
Attention logits use the normalized shared q/k (scale 1/sqrt(d)).
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lib.attention.dot_product import repeat_kv_heads


def layer_norm(x, eps: float = 1e-6):
  """Per-vector layer norm without affine parameters, in fp32."""
  x = x.astype(jnp.float32)
  mu = jnp.mean(x, -1, keepdims=True)
  return (x - mu) * jax.lax.rsqrt(jnp.var(x, -1, keepdims=True) + eps)


def squared_distances(x, centroids):
  """x [B,T,N,H], centroids [N,C,H] -> ||x_t - mu_c||^2 as [B,N,C,T]."""
  return (jnp.sum(x * x, -1).transpose(0, 2, 1)[:, :, None, :]
          + jnp.sum(centroids * centroids, -1)[None, :, :, None]
          - 2.0 * jnp.einsum("btnh,nch->bnct", x, centroids))


def route(x, centroids, window: int, valid=None):
  """Top-`window` nearest tokens of each cluster, sorted by position: [B,N,C,w] int32."""
  score = -squared_distances(x, centroids)
  if valid is not None:
    score = jnp.where(valid[:, None, None, :], score, -jnp.inf)
  _, idx = jax.lax.top_k(jax.lax.stop_gradient(score), window)
  return jnp.sort(idx, axis=-1)


def routing_attention(q, k, v, centroids, *, window: int | None = None,
                      is_causal: bool = True, share_qk: bool = True, kv_lengths=None,
                      scale: float | None = None, return_weights: bool = False):
  """Routing attention on q [B,T,N,H], k [B,T,K,H], v [B,T,K,Hv], centroids [N,C,H].

  Returns (out [B,T,N,Hv], weights [B,N,T,T] or None, qn): qn are the normalized queries
  used for routing (for the centroid update).
  """
  b, t, n, h = q.shape
  if k.shape[1] != t:
    raise ValueError("routing attention is self-attention: q_len must equal kv_len")
  num_clusters = centroids.shape[1]
  w = window or max(1, -(-t // num_clusters))
  k, v = repeat_kv_heads(k, n), repeat_kv_heads(v, n)
  qn = layer_norm(q)
  kn = qn if share_qk else layer_norm(k)
  valid = None if kv_lengths is None else jnp.arange(t)[None, :] < jnp.asarray(kv_lengths)[:, None]
  mu = jax.lax.stop_gradient(centroids.astype(jnp.float32))
  idx_q = route(qn, mu, w, valid if share_qk else None)                 # [B,N,C,w]
  idx_k = idx_q if share_qk else route(kn, mu, w, valid)
  gather = lambda x, idx: jnp.take_along_axis(
      x.transpose(0, 2, 1, 3)[:, :, None], idx[..., None], axis=3)       # [B,N,C,w,D]
  qc, kc, vc = gather(qn, idx_q), gather(kn, idx_k), gather(v, idx_k)
  scale = 1.0 / np.sqrt(h) if scale is None else scale
  logits = jnp.einsum("bncqh,bnckh->bncqk", qc, kc) * scale
  mask = jnp.ones(logits.shape, bool)
  if is_causal:
    mask = idx_k[..., None, :] <= idx_q[..., :, None]                   # original positions
  if valid is not None:
    kv_ok = jnp.take_along_axis(jnp.broadcast_to(valid[:, None, None, :], (b, n, 1, t)),
                                idx_k, axis=3)
    mask = mask & kv_ok[..., None, :]
  logits = jnp.where(mask, logits, -1e30)
  attn = jnp.where(jnp.any(mask, -1, keepdims=True), jax.nn.softmax(logits, -1), 0.0)
  oc = jnp.einsum("bncqk,bnckd->bncqd", attn.astype(v.dtype), vc,
                  preferred_element_type=jnp.float32)
  # Scatter back, averaging over the clusters that chose each query.
  bi = jnp.arange(b)[:, None, None, None]
  ni = jnp.arange(n)[None, :, None, None]
  total = jnp.zeros((b, n, t, vc.shape[-1]), jnp.float32).at[bi, ni, idx_q].add(oc)
  count = jnp.zeros((b, n, t), jnp.float32).at[bi, ni, idx_q].add(1.0)
  out = (total / jnp.maximum(count, 1.0)[..., None]).transpose(0, 2, 1, 3).astype(q.dtype)
  weights = None
  if return_weights:
    dense = jnp.zeros((b, n, t, t), jnp.float32).at[
        bi[..., None], ni[..., None], idx_q[..., :, None], idx_k[..., None, :]].add(attn)
    weights = dense / jnp.maximum(count, 1.0)[..., None]
  return out, weights, qn


def ema_centroids(centroids, x, decay: float = 0.99, valid=None):
  """Mini-batch k-means step by EMA (Sec. 4.1): x [B,T,N,H] assigned to nearest centroids."""
  d2 = squared_distances(x, centroids)                                  # [B,N,C,T]
  assign = jax.nn.one_hot(jnp.argmin(d2, axis=2), centroids.shape[1], axis=2)  # [B,N,C,T]
  if valid is not None:
    assign = assign * valid[:, None, None, :]
  sums = jnp.einsum("bnct,btnh->nch", assign, x)
  counts = jnp.sum(assign, axis=(0, 3))[..., None]                       # [N, C, 1]
  means = sums / jnp.maximum(counts, 1.0)
  return jnp.where(counts > 0, decay * centroids + (1.0 - decay) * means, centroids)


class RoutingKernel(nn.Module):
  """Kernel for `MultiHeadAttention(kernel=RoutingKernel(num_clusters=...))`.

  Centroids [heads, clusters, head_dim] are in the 'routing' collection (init: N(0, 1)
  vectors, the scale of layer-normed inputs); they are updated by EMA when that collection is
  mutable, e.g. `apply(..., mutable=['routing'])`.
  """
  num_clusters: int
  window: int | None = None
  decay: float = 0.99
  share_qk: bool = True

  @nn.compact
  def __call__(self, q, k, v, *, is_causal: bool = True, kv_lengths=None, scale=None,
               return_weights: bool = False):
    n, h = q.shape[2], q.shape[3]
    centroids = self.variable(
        "routing", "centroids",
        lambda: jax.random.normal(self.make_rng("params"), (n, self.num_clusters, h)))
    out, weights, qn = routing_attention(
        q, k, v, centroids.value, window=self.window, is_causal=is_causal,
        share_qk=self.share_qk, kv_lengths=kv_lengths, scale=scale,
        return_weights=return_weights)
    if self.is_mutable_collection("routing") and not self.is_initializing():
      valid = (None if kv_lengths is None
               else jnp.arange(q.shape[1])[None, :] < jnp.asarray(kv_lengths)[:, None])
      centroids.value = ema_centroids(centroids.value, jax.lax.stop_gradient(qn), self.decay,
                                      valid)
    return out, weights
