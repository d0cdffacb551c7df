"""Slot Attention (Locatello et al. 2020, "Object-Centric Learning with Slot Attention",
Sec. 2.1, Algorithm 1).

Slots start as samples of a learned Gaussian N(mu, diag(sigma^2)). For T iterations:
attn = softmax over *slots* of k(inputs) q(slots)^T / sqrt(D) (Eq. 1), so slots compete for
inputs; updates = weighted mean of v(inputs) with weights attn normalised over the inputs
(Eq. 2); slots = GRU(slots_prev, updates), then slots += MLP(LayerNorm(slots)).
LayerNorm epsilon 1e-3: the official code (google-research slot_attention/model.py, TF)
uses Keras' LayerNormalization() default, 1e-3 (PyTorch ports use 1e-5; flax's is 1e-6).
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


LN_EPS = 1e-3          # official slot attention (tf.keras LayerNormalization default)


def slot_attention_weights(k, q, eps: float = 1e-8):
  """k [B, N, D] (inputs), q [B, K, D] (slots).

  Returns (attn [B, N, K], softmax over slots, Eq. 1; weights [B, N, K], attn + eps
  normalised over the inputs so each slot takes a weighted mean, Eq. 2).
  """
  logits = jnp.einsum("bnd,bkd->bnk", k, q).astype(jnp.float32) / np.sqrt(q.shape[-1])
  attn = jax.nn.softmax(logits, axis=-1)
  weights = attn + eps
  return attn, weights / jnp.sum(weights, axis=1, keepdims=True)


def sample_slots(rng, mu, log_sigma, batch: int, num_slots: int):
  """slots ~ N(mu, diag(exp(log_sigma)^2)), [batch, num_slots, D] (Sec. 2.1)."""
  noise = jax.random.normal(rng, (batch, num_slots, mu.shape[-1]), mu.dtype)
  return mu + jnp.exp(log_sigma) * noise


class SlotAttention(nn.Module):
  """Slot Attention over inputs [B, N, C] -> slots [B, num_slots, slot_size].

  Initial slots are sampled with the 'slots' rng stream (rngs={'slots': key}) unless given.
  The attention of the last iteration is sown ([B, 1, num_slots, N]: slots as queries).
  """
  num_slots: int
  slot_size: int = 64
  num_iterations: int = 3
  mlp_hidden: int = 128
  epsilon: float = 1e-8
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, inputs, slots=None):
    b, _, _ = inputs.shape
    d = self.slot_size
    inputs = nn.LayerNorm(epsilon=LN_EPS, dtype=self.dtype, name="norm_inputs")(inputs)
    dense = lambda f, name, bias=False: nn.Dense(f, use_bias=bias, dtype=self.dtype, name=name)
    k, v = dense(d, "k")(inputs), dense(d, "v")(inputs)
    if slots is None:
      mu = self.param("slots_mu", nn.initializers.xavier_uniform(), (1, 1, d))
      log_sigma = self.param("slots_log_sigma", nn.initializers.xavier_uniform(), (1, 1, d))
      slots = sample_slots(self.make_rng("slots"), mu, log_sigma, b, self.num_slots)
    q_proj = dense(d, "q")
    norm_slots = nn.LayerNorm(epsilon=LN_EPS, dtype=self.dtype, name="norm_slots")
    norm_mlp = nn.LayerNorm(epsilon=LN_EPS, dtype=self.dtype, name="norm_mlp")
    gru = nn.GRUCell(d, dtype=self.dtype, name="gru")
    mlp1, mlp2 = dense(self.mlp_hidden, "mlp1", True), dense(d, "mlp2", True)
    attn = None
    for _ in range(self.num_iterations):
      slots_prev = slots
      q = q_proj(norm_slots(slots))
      attn, weights = slot_attention_weights(k, q, self.epsilon)              # Eq. 1-2
      updates = jnp.einsum("bnk,bnd->bkd", weights.astype(v.dtype), v)
      slots, _ = gru(slots_prev, updates)
      slots = slots + mlp2(nn.relu(mlp1(norm_mlp(slots))))
    self.sow("intermediates", "attention_weights", jnp.swapaxes(attn, 1, 2)[:, None])
    return slots
