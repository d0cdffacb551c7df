"""Causal factorized sparse attention ("Generating Long Sequences with Sparse Transformers",
Child et al. 2019, Sec. 4.2-4.3).

Two patterns with stride / block l (default ceil(sqrt(n))), as one merged head attending to
the union of its two index sets (Sec. 4.3, "merged head"):
- strided: A(1)_i = the l most recent positions (i-l, i]; A(2)_i = {j < i : (i - j) mod l = 0}.
- fixed: A(1)_i = {j <= i : floor(j/l) = floor(i/l)}; A(2)_i = {j : j mod l >= l - c} in
  earlier blocks (the "summary" columns; c = 1 by default).
With l ~ sqrt(n) each row sees at most ~2 sqrt(n) keys, so cost is O(n sqrt n). The fast path
is blocked reshapes and a static gather, never an n x n mask: the local part is a block
attending to itself and its previous block; the strided part views the sequence as
[n/l rows, l columns] and attends down each column; the fixed summary part gathers the
summary positions once. Both parts share one softmax per query.
`strided_key_sets` / `fixed_key_sets` give the index sets themselves (for tests and analysis).
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from lib.attention.dot_product import repeat_kv_heads


def default_stride(n: int) -> int:
  return max(1, math.ceil(math.sqrt(n)))


def strided_key_sets(n: int, stride: int | None = None) -> list[np.ndarray]:
  """For each query i, the sorted keys of the strided pattern (A(1) union A(2))."""
  l = stride or default_stride(n)
  return [np.array(sorted(set(range(max(0, i - l + 1), i + 1)) | set(range(i % l, i, l))))
          for i in range(n)]


def fixed_key_sets(n: int, block: int | None = None, summary: int = 1) -> list[np.ndarray]:
  """For each query i, the sorted keys of the fixed pattern (A(1) union A(2))."""
  l = block or default_stride(n)
  out = []
  for i in range(n):
    own = set(range((i // l) * l, i + 1))
    summ = {j for j in range((i // l) * l) if j % l >= l - summary}
    out.append(np.array(sorted(own | summ)))
  return out


def _pad_to(x, length):
  return jnp.pad(x, [(0, 0), (0, length - x.shape[1])] + [(0, 0)] * (x.ndim - 2))


def sparse_attention(q, k, v, *, pattern: str = "strided", stride: int | None = None,
                     summary: int = 1, kv_lengths=None, q_lengths=None,
                     scale: float | None = None):
  """Causal sparse attention on q [B,T,N,H], k [B,T,K,H], v [B,T,K,Hv] (self-attention)."""
  b, t, n, h = q.shape
  if k.shape[1] != t:
    raise ValueError("sparse attention is causal self-attention: q_len must equal kv_len")
  l = stride or default_stride(t)
  if pattern == "fixed" and not 1 <= summary <= l:
    raise ValueError(f"summary {summary} must be in [1, {l}]")
  k, v = repeat_kv_heads(k, n), repeat_kv_heads(v, n)
  nb = -(-t // l)
  tp = nb * l
  scale = 1.0 / np.sqrt(h) if scale is None else scale
  qb = _pad_to(q, tp).reshape(b, nb, l, n, h)
  kb = _pad_to(k, tp).reshape(b, nb, l, n, h)
  vb = _pad_to(v, tp).reshape(b, nb, l, n, v.shape[-1])
  limit = t if kv_lengths is None else jnp.minimum(jnp.asarray(kv_lengths), t)
  limit = jnp.reshape(jnp.asarray(limit), (-1, 1, 1, 1))                       # [B|1,1,1,1]
  logit = lambda eq, x, y: jnp.einsum(eq, x, y, preferred_element_type=jnp.float32) * scale
  a = np.arange(l)[:, None]                                  # query offset in its block

  if pattern == "strided":
    # A(1): previous and own block, masked to 0 <= i - j < l.   [B, N, nb, l, 2l]
    prev = lambda x: jnp.concatenate([jnp.pad(x[:, :-1], [(0, 0), (1, 0)] + [(0, 0)] * 3), x], 2)
    kl, vl = prev(kb), prev(vb)
    j = np.arange(2 * l)[None, :]
    rel = a + l - j                                          # i - j
    local_pos = (np.arange(nb)[:, None] - 1) * l + np.arange(2 * l)[None, :]   # [nb, 2l]
    local_mask = (jnp.asarray((rel >= 0) & (rel < l))[None, None]
                  & (local_pos >= 0)[None, :, None, :] & (local_pos[None, :, None, :] < limit))
    local_logits = logit("brqnh,brknh->bnrqk", qb, kl)
    # A(2): same column, strictly earlier rows (i - j a positive multiple of l). [B,N,nb,l,nb]
    rows = np.arange(nb)
    col_pos = rows[None, None, :] * l + a[None]              # [1, l, nb]: key (s, c) position
    far_mask = (jnp.asarray(rows[None, :] < rows[:, None])[:, None, :][None]
                & (col_pos[None] < limit[..., 0][..., None]))              # [B|1, nb, l, nb]
    far_logits = logit("brcnh,bscnh->bnrcs", qb, kb)
    far_v = vb                                               # indexed by (s, c)
    far_mask = far_mask[:, None]
    local_mask = local_mask[:, None]
  elif pattern == "fixed":
    # A(1): own block, causal.   [B, N, nb, l, l]
    own_pos = np.arange(nb)[:, None] * l + np.arange(l)[None, :]
    local_mask = (jnp.asarray(np.arange(l)[None, :] <= a)[None, None]
                  & (own_pos[None, :, None, :] < limit))[:, None]
    local_logits = logit("brqnh,brknh->bnrqk", qb, kb)
    kl, vl = kb, vb
    # A(2): the `summary` last positions of every earlier block, gathered once.
    summ = np.array([r * l + l - summary + u for r in range(nb) for u in range(summary)])
    ks = _pad_to(k, tp)[:, summ]
    far_v = _pad_to(v, tp)[:, summ]                          # [B, nb*summary, N, Hv]
    summ_block = summ // l
    far_mask = (jnp.asarray(summ_block[None, :] < np.arange(nb)[:, None])[None, :, None, :]
                & (summ[None, None, None, :] < limit))[:, None]           # [B|1,1,nb,1,S']
    far_logits = logit("brqnh,bsnh->bnrqs", qb, ks)
  else:
    raise ValueError(f"pattern must be 'strided' or 'fixed', got {pattern!r}")

  # One softmax over the union of both index sets (merged head, Sec. 4.3).
  logits = jnp.concatenate([jnp.where(local_mask, local_logits, -1e30),
                            jnp.where(far_mask, far_logits, -1e30)], axis=-1)
  mask_any = jnp.any(local_mask, -1, keepdims=True) | jnp.any(far_mask, -1, keepdims=True)
  weights = jnp.where(mask_any, jax.nn.softmax(logits, axis=-1), 0.0)
  w_local, w_far = weights[..., :local_logits.shape[-1]], weights[..., local_logits.shape[-1]:]
  out = jnp.einsum("bnrqk,brknd->brqnd", w_local.astype(v.dtype), vl,
                   preferred_element_type=jnp.float32)
  if pattern == "strided":
    out = out + jnp.einsum("bnrcs,bscnd->brcnd", w_far.astype(v.dtype), far_v,
                           preferred_element_type=jnp.float32)
  else:
    out = out + jnp.einsum("bnrqs,bsnd->brqnd", w_far.astype(v.dtype), far_v,
                           preferred_element_type=jnp.float32)
  out = out.reshape(b, tp, n, v.shape[-1])[:, :t]
  if q_lengths is not None:
    out = out * (jnp.arange(t)[None, :] < jnp.asarray(q_lengths)[:, None])[:, :, None, None]
  return out.astype(q.dtype)


def sparse_kernel(q, k, v, **kwargs):
  """MultiHeadAttention kernel protocol: (out, None)."""
  return sparse_attention(q, k, v, **kwargs), None
