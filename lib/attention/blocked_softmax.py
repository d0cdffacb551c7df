"""Blocked dense attention with an online softmax, for long sequences on CPU.

softmax(Q K^T * scale) V computed one (query block, key block) tile at a time so the
[heads, T, S] logits never exist: the forward keeps a running row maximum m, row sum l and
unnormalised output per query block and rescales them as each key block arrives (online
softmax, Milakov & Gimelshein 2018; FlashAttention, Dao et al. 2022, Alg. 1, in the loop
order of FlashAttention-2, Dao 2023, Alg. 1: query blocks outside, key blocks inside). It
stores only the output and the row log-sum-exp L = m + log l. The backward (a custom_vjp)
recomputes each tile's probabilities P = exp(S - L) from L instead of storing them, with
D = rowsum(dO * O) (FlashAttention-2, Alg. 2: key blocks outside, query blocks inside; dK, dV
of a key block accumulate locally, dQ accumulates in place).

Masks are structures, not arrays: causal (top-left aligned, query i sees keys j <= i, as in
`jax.nn`) and padding lengths. Causal tiles above the diagonal and key blocks past the longest
kv length are skipped by the loop bounds, so causal attention does about half the work.
Padded queries (q_lengths) and rows with no visible key return zeros, like the other paths of
`dot_product.dot_product_attention`. GQA/MQA: the G query heads of a kv head are folded into
the rows of one matmul against that kv head, so k and v are never repeated. Matmuls take the
input dtype with fp32 results; m, l, the output accumulator and all gradients accumulate in
fp32, and P / dS are cast to the input dtype before their matmuls (as FlashAttention does).

Why it exists: on CPU, XLA's `jax.nn.dot_product_attention` writes the logits, the
probabilities and their gradients to memory as separate [B, N, T, S] passes, which are
memory-bound once they leave the caches; the tiles here stay in cache. Tiles are 512 queries
x 256 keys over all heads of a batch chunk (a lax.map over batch chunks keeps a tile within
TILE_ELEMENTS); a sequence splits into equal blocks of at most that size. XLA:CPU ran a
matmul contracting the first dimension of its left operand about 4x slower than the other
layouts, so the backward computes transposed tiles (S^T = K Q^T) and no matmul needs it.
Selected by `dot_product.chosen_implementation` on the CPU backend when the logits would
reach `dot_product.BLOCKED_MIN_LOGITS` elements; benchmarks/attention.py (suite "dense",
`--vs-torch`) measures it against XLA's path and torch's scaled_dot_product_attention.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

BLOCK_Q = 512
BLOCK_K = 256
# Largest tile, in logits, that one step computes for a chunk of the batch (all its heads):
# 8 heads x 512 x 256, 4 MiB in fp32. Measured on a 2-core AMD EPYC (2 MiB L2 per core,
# 32 MiB L3): 512 x 256 tiles beat 256 x 256 in the forward (bigger matmuls ran at ~1.8x the
# GFLOP/s), the backward was indifferent to the tile within the noise; batch 16 x 12 heads
# at 196-400 tokens ran 1.2-2.1x faster with the batch chunked than as one tile.
TILE_ELEMENTS = 8 * 512 * 256
_NEG_INF = -jnp.inf


def _ceil_div(a, b):
  return -(-a // b)


def _to_blocks(x, block: int, groups: int):
  """[B, L, N, H] -> [L / block, B, K, block * G, H] with N = K * G (L already padded)."""
  b, length, n, h = x.shape
  x = x.reshape(b, length // block, block, n // groups, groups, h)
  return x.transpose(1, 0, 3, 2, 4, 5).reshape(length // block, b, n // groups, block * groups, h)


def _from_blocks(x, groups: int):
  """[L / block, B, K, block * G, H] -> [B, L, K * G, H] (inverse of `_to_blocks`)."""
  nb, b, kh, rows, h = x.shape
  block = rows // groups
  x = x.reshape(nb, b, kh, block, groups, h).transpose(1, 0, 3, 2, 4, 5)
  return x.reshape(b, nb * block, kh * groups, h)


class _Config:
  """The tiling of one pass (hashable: custom_vjp's nondiff argument)."""

  def __init__(self, *, t, s, groups, block_q, block_k, causal, masked_keys):
    # t, s: the lengths padded to whole blocks; masked_keys: kv lengths apply (given, or
    # keys were padded).
    self.t, self.s, self.groups = t, s, groups
    self.block_q, self.block_k = block_q, block_k
    self.num_q_blocks, self.num_k_blocks = t // block_q, s // block_k
    self.causal = causal
    self.masked_keys = masked_keys
    self._key = (t, s, groups, block_q, block_k, causal, masked_keys)

  def __hash__(self):
    return hash(self._key)

  def __eq__(self, other):
    return isinstance(other, _Config) and self._key == other._key

  def visible(self, i, j, kv_lengths):
    """Bool [B|1, 1, block_k, rows]: key (row) visible from query (column) in the transposed
    tile (key block j, query block i)."""
    rows = i * self.block_q + jnp.repeat(jnp.arange(self.block_q), self.groups)   # query index
    cols = j * self.block_k + jnp.arange(self.block_k)                              # key index
    ok = jnp.ones((1, 1, self.block_k, rows.shape[0]), bool)
    if self.causal:
      ok = ok & (cols[:, None] <= rows[None, :])[None, None]
    if self.masked_keys:
      ok = ok & (cols[None, None, :, None] < kv_lengths[:, None, None, None])
    return ok

  def key_blocks(self, i, kv_lengths):
    """Key blocks of query block i: [0, full) need no mask, [full, hi) need one, hi.. unseen."""
    hi, full = jnp.int32(self.num_k_blocks), jnp.int32(self.num_k_blocks)
    if self.causal:
      hi = jnp.minimum(hi, _ceil_div((i + 1) * self.block_q, self.block_k))
      full = jnp.minimum(full, (i * self.block_q + 1) // self.block_k)
    if self.masked_keys:
      hi = jnp.minimum(hi, _ceil_div(jnp.max(kv_lengths), self.block_k))
      full = jnp.minimum(full, jnp.min(kv_lengths) // self.block_k)
    return jnp.minimum(full, hi), hi

  def query_blocks(self, j, kv_lengths):
    """Query blocks that see key block j: [lo, full) need a mask, [full, hi) need none."""
    lo, hi = jnp.int32(0), jnp.int32(self.num_q_blocks)
    full = lo
    if self.causal:
      lo = (j * self.block_k) // self.block_q
      full = _ceil_div((j + 1) * self.block_k - 1, self.block_q)
    if self.masked_keys:
      hi = jnp.where(j * self.block_k < jnp.max(kv_lengths), hi, lo)
      full = jnp.where((j + 1) * self.block_k <= jnp.min(kv_lengths), full, hi)
    full = jnp.clip(full, lo, hi)
    return lo, full, hi


def _forward(cfg: _Config, qb, kb, vb, kv_lengths):
  """qb [nq, B, K, R, H] (scaled), kb/vb [nk, B, K, bk, H] -> (out [nq, B, K, R, H] fp32,
  lse [nq, B, K, R] fp32)."""
  _, b, kh, rows, h = qb.shape

  def query_block(args):
    i, qi = args

    def key_block(masked, j, carry):
      acc, m, l = carry
      s = jnp.einsum("bkrh,bksh->bkrs", qi, kb[j], preferred_element_type=jnp.float32)
      if masked:
        s = jnp.where(jnp.swapaxes(cfg.visible(i, j, kv_lengths), -1, -2), s, _NEG_INF)
      m_new = jnp.maximum(m, jnp.max(s, axis=-1))
      if masked:
        m_use = jnp.where(m_new == _NEG_INF, 0.0, m_new)      # a row with nothing seen yet
      else:
        m_use = m_new
      p = jnp.exp(s - m_use[..., None])
      alpha = jnp.exp(m - m_use)
      l = alpha * l + jnp.sum(p, axis=-1)
      pv = jnp.einsum("bkrs,bksh->bkrh", p.astype(vb.dtype), vb[j],
                      preferred_element_type=jnp.float32)
      return alpha[..., None] * acc + pv, m_new, l

    carry = (jnp.zeros((b, kh, rows, h), jnp.float32),
             jnp.full((b, kh, rows), _NEG_INF, jnp.float32),
             jnp.zeros((b, kh, rows), jnp.float32))
    full, hi = cfg.key_blocks(i, kv_lengths)
    carry = lax.fori_loop(0, full, functools.partial(key_block, False), carry)
    acc, m, l = lax.fori_loop(full, hi, functools.partial(key_block, True), carry)
    seen = l > 0
    out = acc / jnp.where(seen, l, 1.0)[..., None]
    lse = jnp.where(seen, m + jnp.log(jnp.where(seen, l, 1.0)), 0.0)
    return out, lse

  return lax.map(query_block, (jnp.arange(cfg.num_q_blocks), qb))


def _backward(cfg: _Config, qb, kb, vb, kv_lengths, dob, lseb, deltab):
  """Gradients (dq [nq, ...] w.r.t. the scaled q, dk, dv [nk, ...]) in fp32.

  Each tile is computed transposed, S^T = K_j Q_i^T [bk, rows], so that every matmul
  contracts either both last dimensions or (last, first): XLA's CPU backend runs a matmul
  that contracts the first dimension of its left operand several times slower. dQ is
  accumulated transposed, dQ_i^T += K_j^T dS^T.
  """
  dtype = qb.dtype
  ktb = jnp.swapaxes(kb, -1, -2)                                          # [nk, B, K, H, bk]

  def key_block(dqt, args):
    j, kj, ktj, vj = args

    def query_block(masked, i, carry):
      dqt, dk, dv = carry
      qi, doi = qb[i], dob[i]
      st = jnp.einsum("bksh,bkrh->bksr", kj, qi, preferred_element_type=jnp.float32)
      if masked:
        st = jnp.where(cfg.visible(i, j, kv_lengths), st, _NEG_INF)
      pt = jnp.exp(st - lseb[i][:, :, None, :])                         # P = exp(S - L)
      dv = dv + jnp.einsum("bksr,bkrh->bksh", pt.astype(dtype), doi,
                           preferred_element_type=jnp.float32)           # dV += P^T dO
      dpt = jnp.einsum("bksh,bkrh->bksr", vj, doi, preferred_element_type=jnp.float32)
      dst = (pt * (dpt - deltab[i][:, :, None, :])).astype(dtype)       # dS = P (dP - D)
      dk = dk + jnp.einsum("bksr,bkrh->bksh", dst, qi,
                           preferred_element_type=jnp.float32)           # dK += dS^T Q
      dqt = dqt.at[i].add(jnp.einsum("bkhs,bksr->bkhr", ktj, dst,
                                     preferred_element_type=jnp.float32))  # dQ += dS K
      return dqt, dk, dv

    zeros = jnp.zeros(kj.shape, jnp.float32)
    lo, full, hi = cfg.query_blocks(j, kv_lengths)
    carry = lax.fori_loop(lo, full, functools.partial(query_block, True), (dqt, zeros, zeros))
    dqt, dk, dv = lax.fori_loop(full, hi, functools.partial(query_block, False), carry)
    return dqt, (dk, dv)

  nq, b, kh, rows, h = qb.shape
  dqt0 = jnp.zeros((nq, b, kh, h, rows), jnp.float32)
  dqt, (dk, dv) = lax.scan(key_block, dqt0, (jnp.arange(cfg.num_k_blocks), kb, ktb, vb))
  return jnp.swapaxes(dqt, -1, -2), dk, dv


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _attention(cfg: _Config, q, k, v, kv_lengths):
  """q (scaled) [B, T, N, H], k/v [B, S, K, H], lengths padded to whole blocks
  -> out [B, T, N, H] in q's dtype."""
  return _attention_fwd(cfg, q, k, v, kv_lengths)[0]


def _attention_fwd(cfg, q, k, v, kv_lengths):
  g = cfg.groups
  out, lse = _forward(cfg, _to_blocks(q, cfg.block_q, g), _to_blocks(k, cfg.block_k, 1),
                      _to_blocks(v, cfg.block_k, 1), kv_lengths)
  out = _from_blocks(out, g).astype(q.dtype)
  return out, (q, k, v, kv_lengths, out, lse)


def _attention_bwd(cfg, res, dout):
  q, k, v, kv_lengths, out, lse = res
  b, t, n, _ = q.shape
  g = cfg.groups
  delta = jnp.sum(dout.astype(jnp.float32) * out.astype(jnp.float32), axis=-1)  # rowsum(dO O)
  delta = delta.reshape(b, t // cfg.block_q, cfg.block_q, n // g, g)
  delta = delta.transpose(1, 0, 3, 2, 4).reshape(lse.shape)                      # as lse
  dq, dk, dv = _backward(
      cfg, _to_blocks(q, cfg.block_q, g), _to_blocks(k, cfg.block_k, 1),
      _to_blocks(v, cfg.block_k, 1), kv_lengths, _to_blocks(dout.astype(q.dtype), cfg.block_q, g),
      lse, delta)
  return (_from_blocks(dq, g).astype(q.dtype), _from_blocks(dk, 1).astype(k.dtype),
          _from_blocks(dv, 1).astype(v.dtype), None)


_attention.defvjp(_attention_fwd, _attention_bwd)


def _block_size(length: int, block: int, align: int = 8) -> int:
  """The block actually used: as many blocks as `block` needs, made equal and rounded up to
  `align` rows, so a sequence is padded by fewer than `align` rows per block."""
  if length <= block:
    return length
  num = _ceil_div(length, block)
  return _ceil_div(_ceil_div(length, num), align) * align


def _batch_chunk(batch: int, tile: int) -> int:
  """Batch elements per step: the largest divisor of `batch` whose tiles (`tile` logits per
  element) stay within TILE_ELEMENTS, at least 1; under a mesh of M devices (jax.set_mesh)
  that divides the batch, a multiple of M, so that each step holds the same number of
  elements of every batch shard (see `blocked_attention`)."""
  mesh = jax.sharding.get_abstract_mesh()
  devices = 1 if mesh.empty or batch % mesh.size else mesh.size
  limit = max(TILE_ELEMENTS // tile, devices)
  return max(c for c in range(devices, min(batch, limit) + 1, devices) if batch % c == 0)


def blocked_attention(q, k, v, *, is_causal: bool = False, q_lengths=None, kv_lengths=None,
                      scale: float | None = None, block_q: int = BLOCK_Q,
                      block_k: int = BLOCK_K):
  """softmax(q k^T * scale) v on q [B, T, N, H], k/v [B, S, K, H] (N a multiple of K).

  is_causal: query i sees keys j <= i. q_lengths / kv_lengths [B]: valid prefixes (padded
  queries and rows with no visible key output zeros). block_q / block_k: the largest tile; a
  sequence is split into equal blocks of at most that size (rounded up to 8 rows, the few
  padded keys masked). Returns [B, T, N, H] in q's dtype; differentiable in q, k, v.
  """
  b, t, n, h = q.shape
  s, kv_heads = k.shape[1], k.shape[2]
  if n % kv_heads:
    raise ValueError(f"num heads {n} is not a multiple of kv heads {kv_heads}")
  bq, bk = _block_size(t, block_q), _block_size(s, block_k)
  tp, sp = _ceil_div(t, bq) * bq, _ceil_div(s, bk) * bk
  cfg = _Config(t=tp, s=sp, groups=n // kv_heads, block_q=bq, block_k=bk, causal=is_causal,
                masked_keys=kv_lengths is not None or sp != s)
  scale = 1.0 / np.sqrt(h) if scale is None else scale
  pad = lambda x, length: jnp.pad(x, ((0, 0), (0, length - x.shape[1]), (0, 0), (0, 0)))
  kv_len = jnp.full((b,), s, jnp.int32) if kv_lengths is None else jnp.minimum(
      jnp.asarray(kv_lengths, jnp.int32), s)
  args = (pad(q * jnp.asarray(scale, q.dtype), tp), pad(k, sp), pad(v, sp), kv_len)
  chunk = _batch_chunk(b, n * bq * bk)
  if chunk == b:
    out = _attention(cfg, *args)
  else:
    # A loop over chunks of the batch keeps each tile within TILE_ELEMENTS. Step j takes the
    # elements i * (b // chunk) + j, i < chunk: the batch axis splits as [chunk, b // chunk]
    # and the loop runs over the second, so a batch sharded in contiguous blocks over M
    # devices (chunk a multiple of M) keeps its sharding on the first axis and every device
    # loops over its own elements; looping over the sharded axis would gather the batch.
    split = lambda x: jnp.swapaxes(x.reshape((chunk, b // chunk) + x.shape[1:]), 0, 1)
    out = lax.map(lambda a: _attention(cfg, *a), tuple(split(x) for x in args))
    out = jnp.swapaxes(out, 0, 1).reshape((b,) + out.shape[2:])
  out = out[:, :t]
  if q_lengths is not None:
    valid = jnp.arange(t)[None, :] < jnp.asarray(q_lengths)[:, None]
    out = jnp.where(valid[:, :, None, None], out, jnp.zeros((), out.dtype))
  return out
