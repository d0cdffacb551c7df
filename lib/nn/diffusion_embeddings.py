"""Noise-level and label embeddings of the diffusion transformers (DiT, U-ViT).

- `timestep_embedding`: the sinusoidal embedding of the noise level used by both official
  codes (facebookresearch/DiT models.py, baofff/U-ViT libs/uvit.py): [cos | sin] with max
  period 10000, a zero column appended when dim is odd;
- `TimestepEmbedder`: DiT's MLP over 256 of those frequencies (Linear -> SiLU -> Linear,
  weights N(0, 0.02)); U-ViT feeds the embedding itself as a token (its own optional MLP);
- `LabelEmbedder`: a table of num_classes + 1 rows, the last the null class, when
  dropout_prob > 0; in training each label becomes the null class with that probability (rng
  stream 'dropout'), which trains the unconditional branch of classifier-free guidance (Ho &
  Salimans 2022). Weights N(0, 0.02) (DiT; U-ViT's nn.Embedding is N(0, 1), see its model).
"""
from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

std02 = nn.initializers.normal(0.02)


def timestep_embedding(t, dim: int = 256, max_period: float = 10000.0):
  """[B] -> [B, dim]: cos(t w_k) | sin(t w_k), w_k = max_period^(-k / (dim/2))."""
  half = dim // 2
  freqs = jnp.exp(-math.log(max_period) * jnp.arange(half, dtype=jnp.float32) / half)
  args = t.astype(jnp.float32)[:, None] * freqs[None]
  emb = jnp.concatenate([jnp.cos(args), jnp.sin(args)], axis=-1)
  if dim % 2:
    emb = jnp.concatenate([emb, jnp.zeros_like(emb[:, :1])], axis=-1)
  return emb


class TimestepEmbedder(nn.Module):
  """t -> MLP(sinusoidal(t)): Linear(256, D) -> SiLU -> Linear(D, D)."""
  hidden_size: int
  frequency_embedding_size: int = 256
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, t):
    x = timestep_embedding(t, self.frequency_embedding_size).astype(self.dtype)
    x = nn.Dense(self.hidden_size, kernel_init=std02, dtype=self.dtype, name="mlp_0")(x)
    return nn.Dense(self.hidden_size, kernel_init=std02, dtype=self.dtype,
                    name="mlp_2")(nn.silu(x))


class LabelEmbedder(nn.Module):
  """Labels -> embeddings, with the null class num_classes and label dropout in training."""
  num_classes: int
  hidden_size: int
  dropout_prob: float = 0.1
  dtype: Any = jnp.float32
  embedding_init: Any = std02

  @nn.compact
  def __call__(self, labels, train: bool):
    labels = labels.astype(jnp.int32)
    if train and self.dropout_prob > 0:
      drop = jax.random.uniform(self.make_rng("dropout"), labels.shape) < self.dropout_prob
      labels = jnp.where(drop, self.num_classes, labels)        # y -> null with prob. p
    table = nn.Embed(self.num_classes + int(self.dropout_prob > 0), self.hidden_size,
                     embedding_init=self.embedding_init, dtype=self.dtype,
                     name="embedding_table")
    return table(labels)
