"""Graph attention over edge lists: GAT (Velickovic et al. 2018, "Graph Attention Networks",
Sec. 2.1) and GATv2 (Brody et al. 2022, "How Attentive are Graph Attention Networks?",
Sec. 3-4).

Edges are (senders j, receivers i): node i attends over its incoming edges j -> i.
  GAT   (GAT Eq. 3):    e_ij = LeakyReLU(a^T [W h_i || W h_j])  -- static
  GATv2 (GATv2 Sec. 4): e_ij = a^T LeakyReLU(W [h_i || h_j])    -- dynamic
alpha_ij = softmax over i's incoming edges (segment softmax with segment_max/segment_sum);
h_i' = sum_j alpha_ij W h_j, heads concatenated or averaged. GATv2 follows the official
(PyG GATv2Conv) split W = [W_r | W_l]: the message is W_l h_j, the sender's half.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


def segment_softmax(logits, segment_ids, num_segments: int):
  """Softmax of logits [E, ...] within each segment (edges sharing a receiver)."""
  logits = logits.astype(jnp.float32)
  m = jax.ops.segment_max(logits, segment_ids, num_segments=num_segments)
  e = jnp.exp(logits - jax.lax.stop_gradient(m)[segment_ids])
  z = jax.ops.segment_sum(e, segment_ids, num_segments=num_segments)
  return e / z[segment_ids]


def gat_logits(wh_i, wh_j, a_dst, a_src, negative_slope: float = 0.2):
  """GAT: e_ij = LeakyReLU(a_dst . W h_i + a_src . W h_j); wh [E, heads, F], a [heads, F]."""
  s = jnp.einsum("ehf,hf->eh", wh_i, a_dst) + jnp.einsum("ehf,hf->eh", wh_j, a_src)
  return nn.leaky_relu(s, negative_slope)


def gatv2_logits(wr_i, wl_j, a, negative_slope: float = 0.2):
  """GATv2: e_ij = a . LeakyReLU(W_r h_i + W_l h_j); w* [E, heads, F], a [heads, F]."""
  return jnp.einsum("ehf,hf->eh", nn.leaky_relu(wr_i + wl_j, negative_slope), a)


def aggregate(alpha, messages, receivers, num_nodes: int):
  """h_i' = sum over incoming edges of alpha_ij * message_j: [N, heads, F]."""
  return jax.ops.segment_sum(alpha[..., None] * messages, receivers, num_segments=num_nodes)


class GATConv(nn.Module):
  """One GAT (v2=False) or GATv2 (v2=True) layer. h [N, F_in] -> [N, heads*features] if
  `concat` else [N, features] (mean over heads). Parameters: `W` (GAT) or `W_l`, `W_r`
  (GATv2), attention vector `a` (GATv2) or `a_src`, `a_dst` (GAT), output `bias`."""
  features: int
  num_heads: int = 1
  v2: bool = False
  concat: bool = True
  negative_slope: float = 0.2
  use_bias: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, h, senders, receivers):
    n = h.shape[0]
    hf = (self.num_heads, self.features)
    dense = lambda name: nn.DenseGeneral(hf, use_bias=False, dtype=self.dtype, name=name)
    init = nn.initializers.glorot_uniform()
    if self.v2:
      wl, wr = dense("W_l")(h), dense("W_r")(h)
      a = self.param("a", init, hf)
      e = gatv2_logits(wr[receivers], wl[senders], a, self.negative_slope)  # GATv2 Sec. 4
      messages = wl[senders]
    else:
      wh = dense("W")(h)
      a_src, a_dst = self.param("a_src", init, hf), self.param("a_dst", init, hf)
      e = gat_logits(wh[receivers], wh[senders], a_dst, a_src, self.negative_slope)
      messages = wh[senders]
    alpha = segment_softmax(e, receivers, n)                                      # [E, heads]
    self.sow("intermediates", "attention_weights", alpha)
    out = aggregate(alpha.astype(messages.dtype), messages, receivers, n)
    out = out.reshape(n, -1) if self.concat else out.mean(axis=1)
    if self.use_bias:
      out = out + self.param("bias", nn.initializers.zeros, out.shape[-1:]).astype(out.dtype)
    return out
