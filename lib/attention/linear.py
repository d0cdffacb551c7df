"""Linear attention ("Transformers are RNNs", Katharopoulos et al. 2020, Sec. 3).

V'_i = phi(Q_i)^T sum_j phi(K_j) V_j^T / (phi(Q_i)^T sum_j phi(K_j) + eps) with
phi(x) = elu(x) + 1 (Eq. 5-7), eps = 1e-6. The causal form (Eq. 8-10) sums only j <= i; it is
computed chunk by chunk: a lax.scan carries the running state S = sum phi(K_j) V_j^T and
Z = sum phi(K_j) over finished chunks, and each chunk adds its own masked quadratic part, so
memory is O(T * chunk + heads * d * d_v) rather than the O(T * d * d_v) of a full cumsum.
Padding is handled by zeroing phi(K) of padded keys. Everything runs in fp32.

`causal_feature_attention` is the shared chunked prefix-sum engine (also used by the
Performer); it accepts a per-key log-scale so that a running-max stabilizer never crosses the
causal boundary.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from lib.attention.dot_product import repeat_kv_heads


def elu_feature_map(x):
  """phi(x) = elu(x) + 1 (Sec. 3.2.1, Eq. 7)."""
  return jax.nn.elu(x) + 1.0


def key_padding(kv_len: int, kv_lengths):
  """[B, S, 1, 1] (or None): 1 for valid keys, 0 for padding."""
  if kv_lengths is None:
    return None
  return (jnp.arange(kv_len)[None, :] < jnp.asarray(kv_lengths)[:, None])[:, :, None, None]


def normalize(num, den, eps: float, floor: float):
  """num / (den + eps) where den + eps > floor, else 0 (with finite gradients): eps is the
  paper's additive constant; the floor (0 here, tiny for the Performer) catches empty rows."""
  d = den + eps
  ok = d > floor
  return jnp.where(ok[..., None], num / jnp.where(ok, d, 1.0)[..., None], 0.0)


def noncausal_feature_attention(phi_q, phi_k, v, *, eps: float = 1e-6, floor: float = 0.0):
  """phi_q [B,T,N,M], phi_k [B,S,N,M], v [B,S,N,D] -> [B,T,N,D] (Eq. 6)."""
  kv = jnp.einsum("bsnm,bsnd->bnmd", phi_k, v)
  z = jnp.sum(phi_k, axis=1)                                                   # [B, N, M]
  num = jnp.einsum("btnm,bnmd->btnd", phi_q, kv)
  den = jnp.einsum("btnm,bnm->btn", phi_q, z)
  return normalize(num, den, eps, floor)


def causal_feature_attention(phi_q, phi_k, v, *, chunk_size: int = 64, eps: float = 1e-6,
                             floor: float = 0.0, key_log_scale=None):
  """Causal Eq. 8-10 by chunks: out_i = sum_{j<=i} a_ij v_j / (sum_{j<=i} a_ij + eps).

  a_ij = phi_q_i . phi_k_j * exp(c_j - c_i), where key_log_scale c [B,T,N] (default 0) must be
  nondecreasing in T: it is a running-max stabilizer (Performer) whose value at i only uses
  keys j <= i, so the true key features are phi_k_j e^{c_j} and each output is rescaled by
  e^{-c_i}. Shapes: phi_q, phi_k [B,T,N,M]; v [B,T,N,D].
  """
  b, t, n, m = phi_q.shape
  d = v.shape[-1]
  c = jnp.zeros((b, t, n), phi_q.dtype) if key_log_scale is None else key_log_scale
  chunk = min(chunk_size, t)
  pad = (-t) % chunk
  if pad:
    zeros = lambda x: jnp.pad(x, [(0, 0), (0, pad)] + [(0, 0)] * (x.ndim - 2))
    phi_q, phi_k, v = zeros(phi_q), zeros(phi_k), zeros(v)
    c = jnp.pad(c, [(0, 0), (0, pad), (0, 0)], mode="edge")
  nc = (t + pad) // chunk
  split = lambda x: jnp.moveaxis(x.reshape((b, nc, chunk) + x.shape[2:]), 1, 0)
  causal = jnp.tril(jnp.ones((chunk, chunk), bool))

  def step(carry, xs):
    s_state, z_state, c_prev = carry              # [B,N,M,D], [B,N,M], [B,N]
    fq, fk, vc, cc = xs                           # [B,C,N,M], [B,C,N,M], [B,C,N,D], [B,C,N]
    decay_prev = jnp.exp(c_prev[:, None, :] - cc)                              # <= 1
    num = jnp.einsum("bcnm,bnmd->bcnd", fq, s_state) * decay_prev[..., None]
    den = jnp.einsum("bcnm,bnm->bcn", fq, z_state) * decay_prev
    rel = cc.transpose(0, 2, 1)[:, :, None, :] - cc.transpose(0, 2, 1)[:, :, :, None]
    a = jnp.einsum("btnm,bsnm->bnts", fq, fk) * jnp.exp(jnp.where(causal, rel, -jnp.inf))
    num = num + jnp.einsum("bnts,bsnd->btnd", a, vc)
    den = den + jnp.sum(a, axis=-1).transpose(0, 2, 1)
    out = normalize(num, den, eps, floor)
    c_last = cc[:, -1]
    w = jnp.exp(cc - c_last[:, None, :])                                       # [B, C, N]
    s_state = (s_state * jnp.exp(c_prev - c_last)[..., None, None]
               + jnp.einsum("bsnm,bsnd,bsn->bnmd", fk, vc, w))
    z_state = z_state * jnp.exp(c_prev - c_last)[..., None] + jnp.einsum("bsnm,bsn->bnm", fk, w)
    return (s_state, z_state, c_last), out

  init = (jnp.zeros((b, n, m, d), phi_q.dtype), jnp.zeros((b, n, m), phi_q.dtype), c[:, 0])
  _, out = jax.lax.scan(step, init, (split(phi_q), split(phi_k), split(v), split(c)))
  return jnp.moveaxis(out, 0, 1).reshape(b, nc * chunk, n, d)[:, :t]


def linear_attention(q, k, v, *, is_causal: bool = False, kv_lengths=None, q_lengths=None,
                     eps: float = 1e-6, chunk_size: int = 64):
  """Linear attention on q [B,T,N,H], k/v [B,S,K,H] (GQA by repeating kv heads)."""
  n = q.shape[2]
  k, v = repeat_kv_heads(k, n), repeat_kv_heads(v, n)
  phi_q = elu_feature_map(q.astype(jnp.float32))
  phi_k = elu_feature_map(k.astype(jnp.float32))
  keep = key_padding(k.shape[1], kv_lengths)
  if keep is not None:
    phi_k = phi_k * keep                                   # padding: phi(K) = 0 (Sec. 3.2)
  vf = v.astype(jnp.float32)
  if is_causal:
    if q.shape[1] != k.shape[1]:
      raise ValueError("causal linear attention needs q_len == kv_len")
    out = causal_feature_attention(phi_q, phi_k, vf, chunk_size=chunk_size, eps=eps)
  else:
    out = noncausal_feature_attention(phi_q, phi_k, vf, eps=eps)
  if q_lengths is not None:
    out = out * key_padding(q.shape[1], q_lengths)
  return out.astype(q.dtype)


def linear_kernel(q, k, v, **kwargs):
  """MultiHeadAttention kernel protocol: (out, None)."""
  return linear_attention(q, k, v, **kwargs), None
