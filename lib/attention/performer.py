"""FAVOR+ attention ("Rethinking Attention with Performers", Choromanski et al. 2021).

Softmax attention estimated with positive orthogonal random features (Sec. 2.3-2.4):
phi(x) = exp(W x - ||x||^2 / 2) / sqrt(m), where x = q * d^-1/4 (or k * d^-1/4) so that
E[phi(q') . phi(k')] = exp(q . k / sqrt(d)) (Lemma 1), and the m rows of W are Gaussian
vectors made orthogonal in blocks of d (QR) and rescaled to chi-distributed norms (Sec. 2.4).
Attention is then the linear form phi(Q) (phi(K)^T V) / (phi(Q) phi(K)^T 1) (Eq. 4-6).

Stabilizers (exp can overflow): each query's features are divided by their own max (exact,
it cancels in the ratio); keys use the max over all keys in the bidirectional form, and in the
causal form a running max c_t over keys j <= t with the prefix sums rescaled by e^{c_j - c_t},
so no key after t influences output t. (A global max over all keys, as in some public causal
code, leaks the future through the stabilizer.) The stabilizers are `stop_gradient`-ed: they
cancel mathematically, so gradients stay exact.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lib.attention.dot_product import repeat_kv_heads
from lib.attention.linear import causal_feature_attention, key_padding, noncausal_feature_attention


def orthogonal_random_features(rng, num_features: int, dim: int, scaling: str = "chi"):
  """W [num_features, dim]: blocks of `dim` orthonormal rows (QR of a Gaussian matrix), rows
  rescaled by the norms of independent Gaussian vectors ('chi', Sec. 2.4) or by sqrt(dim)."""
  num_blocks = -(-num_features // dim)
  rng_q, rng_norm = jax.random.split(rng)
  gauss = jax.random.normal(rng_q, (num_blocks, dim, dim), jnp.float32)
  q_mats, _ = jnp.linalg.qr(gauss)                          # columns orthonormal
  w = jnp.transpose(q_mats, (0, 2, 1)).reshape(num_blocks * dim, dim)[:num_features]
  if scaling == "chi":
    norms = jnp.linalg.norm(jax.random.normal(rng_norm, (num_features, dim)), axis=-1)
  elif scaling == "sqrt_d":
    norms = jnp.full((num_features,), np.sqrt(dim), jnp.float32)
  else:
    raise ValueError(f"scaling must be 'chi' or 'sqrt_d', got {scaling!r}")
  return w * norms[:, None]


def softmax_feature_logits(x, projection):
  """log of phi+ without the 1/sqrt(m): W x' - ||x'||^2 / 2, x' = x d^-1/4 (Lemma 1)."""
  x = x.astype(jnp.float32) * x.shape[-1] ** -0.25
  return (jnp.einsum("btnh,mh->btnm", x, projection)
          - 0.5 * jnp.sum(x * x, axis=-1, keepdims=True))


def favor_attention(q, k, v, projection, *, is_causal: bool = False, kv_lengths=None,
                    q_lengths=None, chunk_size: int = 64, eps: float = 0.0):
  """FAVOR+ on q [B,T,N,H], k/v [B,S,K,H] with random features projection [m, H].

  The features are positive, so the denominator is > 0 whenever a key is visible; it is
  floored at 1e-30 so rows without keys give zeros. No additive eps by default: after the
  stabilizers the denominator has an arbitrary scale, so an eps would bias the output.
  """
  n = q.shape[2]
  k, v = repeat_kv_heads(k, n), repeat_kv_heads(v, n)
  inv_sqrt_m = projection.shape[0] ** -0.5
  a_q = softmax_feature_logits(q, projection)
  phi_q = jnp.exp(a_q - jax.lax.stop_gradient(jnp.max(a_q, -1, keepdims=True))) * inv_sqrt_m
  a_k = softmax_feature_logits(k, projection)                                  # [B, S, N, m]
  valid = key_padding(k.shape[1], kv_lengths)
  valid = jnp.ones(a_k.shape[:2] + (1, 1), bool) if valid is None else valid
  key_max = jnp.where(valid[..., 0], jnp.max(a_k, -1), -1e30)                  # [B, S, N]
  vf = v.astype(jnp.float32)
  if is_causal:
    if q.shape[1] != k.shape[1]:
      raise ValueError("causal FAVOR+ needs q_len == kv_len")
    c = jax.lax.stop_gradient(jax.lax.cummax(key_max, axis=1))                 # keys j <= t only
    phi_k = jnp.where(valid, jnp.exp(a_k - c[..., None]), 0.0) * inv_sqrt_m
    out = causal_feature_attention(phi_q, phi_k, vf, chunk_size=chunk_size, eps=eps,
                                   floor=1e-30, key_log_scale=c)
  else:
    c = jax.lax.stop_gradient(jnp.max(key_max, axis=1, keepdims=True))        # [B, 1, N]
    phi_k = jnp.where(valid, jnp.exp(a_k - c[..., None]), 0.0) * inv_sqrt_m
    out = noncausal_feature_attention(phi_q, phi_k, vf, eps=eps, floor=1e-30)
  if q_lengths is not None:
    out = out * key_padding(q.shape[1], q_lengths)
  return out.astype(q.dtype)


def performer_kernel(q, k, v, *, num_features: int = 256, seed: int = 0, rng=None,
                     scaling: str = "chi", **kwargs):
  """MultiHeadAttention kernel: features drawn from `rng` (redraw) or a fixed `seed`."""
  rng = jax.random.key(seed) if rng is None else rng
  projection = orthogonal_random_features(rng, num_features, q.shape[-1], scaling)
  return favor_attention(q, k, v, projection, **kwargs), None
