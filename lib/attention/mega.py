"""Mega (Ma et al. 2023, "Mega: Moving Average Equipped Gated Attention").

Multi-dimensional damped EMA (Sec. 3.1): each of the d channels is expanded by beta to h
dims, u_t = beta x_t; h_t = alpha * u_t + (1 - alpha * delta) * h_{t-1}; y_t = eta^T h_t,
with alpha, delta in (0, 1) by sigmoids. Unrolled it is a convolution with the kernel
K_t = sum_j eta_j alpha_j beta_j (1 - alpha_j delta_j)^t, applied by FFT (O(L log L)) or by an
associative scan of the recurrence (`ema_method='scan'`, exactly causal); bidirectional mode
adds a second EMA run backwards. As in the official code, eta is scaled by h^-1/2 and the EMA
sublayer returns X' = SiLU(EMA(X) + omega * X).

Gated attention (Sec. 3): Z = SiLU(X' W_z), Q = kappa_q Z + mu_q, K = kappa_k Z + mu_k,
V = SiLU(X W_v); one head, O = softmax(Q K^T / sqrt(z) + b_rel) V; reset gate
gamma = SiLU(X' W_gamma), update gate phi = sigmoid(X' W_phi),
H = SiLU(X' W_h + (gamma * O) U_h); gated residual Y = phi * H + (1 - phi) * X.
Chunked attention ("Mega-chunk", Sec. 3): the sequence is split into chunks of c tokens and
attention stays within a chunk (cost linear in L); the EMA still runs over the whole sequence.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def ema_coefficients(alpha, delta):
  """p = sigmoid(alpha) (the paper's alpha), q = 1 - p * sigmoid(delta) (damping)."""
  p = jax.nn.sigmoid(alpha.astype(jnp.float32))
  return p, 1.0 - p * jax.nn.sigmoid(delta.astype(jnp.float32))


def ema_kernel(alpha, delta, beta, eta, length: int):
  """K [d, L]: K_t = sum_j eta_j p_j beta_j q_j^t (Sec. 3.1), eta scaled by h^-1/2.
  alpha, delta, beta, eta: [d, h] parameters (alpha, delta as logits)."""
  p, q = ema_coefficients(alpha, delta)
  t = jnp.arange(length, dtype=jnp.float32)
  vander = jnp.exp(t[None, None, :] * jnp.log(q)[..., None])                   # q^t
  scale = 1.0 / np.sqrt(alpha.shape[-1])
  return jnp.einsum("dhl,dh->dl", (p * beta)[..., None] * vander, eta * scale)


def causal_fft_conv(x, k):
  """y_t = sum_{s<=t} k_{t-s} x_s by FFT with zero padding to 2L. x [B, L, d], k [d, L]."""
  n = x.shape[1]
  xf = jnp.fft.rfft(x.astype(jnp.float32), n=2 * n, axis=1)
  kf = jnp.fft.rfft(k.T, n=2 * n, axis=0)
  return jnp.fft.irfft(xf * kf[None], n=2 * n, axis=1)[:, :n]


def ema_scan(x, alpha, delta, beta, eta):
  """The same EMA as the recurrence h_t = p beta x_t + q h_{t-1}, by associative scan."""
  p, q = ema_coefficients(alpha, delta)
  u = (p * beta)[None, None] * x.astype(jnp.float32)[..., None]                  # [B, L, d, h]
  a = jnp.broadcast_to(q, u.shape)
  combine = lambda l, r: (l[0] * r[0], r[0] * l[1] + r[1])
  _, h = jax.lax.associative_scan(combine, (a, u), axis=1)
  return jnp.einsum("bldh,dh->bld", h, eta / np.sqrt(alpha.shape[-1]))


def multi_dim_ema(x, params: dict, bidirectional: bool, method: str = "fft"):
  """MD-EMA of x [B, L, d]. params: alpha, delta, beta, eta of shape [d, h], or [2d, h] when
  bidirectional (first d rows forward, last d rows backward)."""
  d = x.shape[-1]
  parts = [jax.tree_util.tree_map(lambda a: a[:d], params)]
  if bidirectional:
    parts.append(jax.tree_util.tree_map(lambda a: a[d:], params))

  def run(x, pr):
    if method == "scan":
      return ema_scan(x, pr["alpha"], pr["delta"], pr["beta"], pr["eta"])
    k = ema_kernel(pr["alpha"], pr["delta"], pr["beta"], pr["eta"], x.shape[1])
    return causal_fft_conv(x, k)

  y = run(x, parts[0])
  if bidirectional:
    y = y + run(x[:, ::-1], parts[1])[:, ::-1]                                  # anti-causal
  return y


def _ema_beta_init(key, shape, dtype=jnp.float32):
  """Official init: expansion beta alternates +1/-1 over h, plus N(0, 0.02) noise."""
  sign = jnp.where(jnp.arange(shape[-1]) % 2 == 0, 1.0, -1.0)
  return (sign + 0.02 * jax.random.normal(key, shape)).astype(dtype)


class MultiDimEMA(nn.Module):
  """MD-EMA sublayer: [B, L, d] -> X' = SiLU(EMA(X) + omega * X) (official code)."""
  ndim: int = 16
  bidirectional: bool = False
  method: str = "fft"

  @nn.compact
  def __call__(self, x):
    rows = x.shape[-1] * (2 if self.bidirectional else 1)
    shape = (rows, self.ndim)
    params = {
        "alpha": self.param("alpha", nn.initializers.normal(0.2), shape),
        "delta": self.param("delta", nn.initializers.normal(0.2), shape),
        "beta": self.param("beta", _ema_beta_init, shape),
        "eta": self.param("eta", nn.initializers.normal(1.0), shape),
    }
    omega = self.param("omega", nn.initializers.normal(1.0), (x.shape[-1],))
    y = multi_dim_ema(x, params, self.bidirectional, self.method)
    return nn.silu(y + omega * x.astype(jnp.float32)).astype(x.dtype)


def chunked_attention(q, k, v, rel_bias, chunk_size: int, causal: bool):
  """Single-head softmax attention within chunks. q, k [B, L, z], v [B, L, e];
  rel_bias [c, c]. Returns (out [B, L, e], weights [B, L/c, c, c])."""
  b, n, _ = q.shape
  c = chunk_size
  split = lambda t: t.reshape(b, n // c, c, t.shape[-1])
  s = jnp.einsum("bncz,bnkz->bnck", split(q), split(k)).astype(jnp.float32)
  s = s / np.sqrt(q.shape[-1]) + rel_bias  # softmax(QK^T / sqrt(z) + b_rel)
  if causal:
    s = jnp.where(np.tril(np.ones((c, c), bool)), s, -jnp.inf)
  w = jax.nn.softmax(s, axis=-1)
  out = jnp.einsum("bnck,bnke->bnce", w.astype(v.dtype), split(v))
  return out.reshape(b, n, -1), w


class MegaLayer(nn.Module):
  """Mega layer (EMA + single-head gated attention + gated residual), [B, L, d] -> [B, L, d].

  z_dim (the shared representation Z) and v_dim default to d/4 and 2d as in the official
  configs; chunk_size=None attends over the whole sequence (L <= max_positions), else L must
  be a multiple of chunk_size. `prenorm` applies LayerNorm to the input of the layer (the
  residual uses the un-normalised input, as in the official code). No dropout.
  """
  z_dim: int | None = None
  v_dim: int | None = None
  ndim: int = 16
  chunk_size: int | None = None
  causal: bool = False
  max_positions: int = 1024
  prenorm: bool = True
  ema_method: str = "fft"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    b, n, d = x.shape
    z_dim, v_dim = self.z_dim or d // 4, self.v_dim or 2 * d
    c = self.chunk_size or n
    if n % c:
      raise ValueError(f"sequence length {n} is not a multiple of chunk_size {c}")
    residual = x
    if self.prenorm:
      x = nn.LayerNorm(dtype=self.dtype, name="norm")(x)
    dense = lambda f, name: nn.Dense(f, dtype=self.dtype, name=name)
    v = nn.silu(dense(v_dim, "v_proj")(x))                                      # V
    mx = MultiDimEMA(self.ndim, not self.causal, self.ema_method, name="ema")(x)  # X'
    phi = nn.sigmoid(dense(d, "phi_proj")(mx))                                  # update gate
    z = nn.silu(dense(z_dim, "z_proj")(mx))                                     # Z
    gamma = nn.silu(dense(v_dim, "gamma_proj")(mx))                             # reset gate
    kappa = self.param("kappa", nn.initializers.normal(0.02), (2, z_dim))
    mu = self.param("mu", nn.initializers.zeros, (2, z_dim))
    q, k = z * kappa[0] + mu[0], z * kappa[1] + mu[1]
    if c > self.max_positions:
      raise ValueError(f"attention span {c} exceeds max_positions {self.max_positions}")
    table = self.param("rel_pos_bias", nn.initializers.normal(0.02), (2 * self.max_positions - 1,))
    offsets = np.arange(c)[None, :] - np.arange(c)[:, None] + self.max_positions - 1
    o, w = chunked_attention(q, k, v, table[offsets], c, self.causal)
    self.sow("intermediates", "attention_weights", w)
    h = nn.silu(dense(d, "h_proj")(mx) + dense(d, "u_proj")(gamma * o.astype(gamma.dtype)))
    y = phi * h + (1.0 - phi) * residual  # gated residual
    if not self.prenorm:
      y = nn.LayerNorm(dtype=self.dtype, name="norm")(y)
    return y.astype(x.dtype)
