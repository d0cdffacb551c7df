"""Vision Transformer (Dosovitskiy et al., 2021: "An Image is Worth 16x16 Words").

Patch embedding (Eq. 1), a [class] token, learned 1-D position embeddings, pre-LN encoder
blocks (Eq. 2-3: MSA and MLP with residuals), a final LayerNorm and a linear head on the
class token (Eq. 4). Attention goes through the shared multi-head shell, so the weights are
sown for analysis ('intermediates'/'attention_weights') and any kernel of lib/attention fits.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from lib.attention.multihead import MultiHeadAttention


class MlpBlock(nn.Module):
  mlp_dim: int
  dropout: float = 0.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    d = x.shape[-1]
    x = nn.Dense(self.mlp_dim, dtype=self.dtype, name="fc1")(x)
    x = nn.gelu(x)
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return nn.Dense(d, dtype=self.dtype, name="fc2")(x)


class EncoderBlock(nn.Module):
  num_heads: int
  mlp_dim: int
  dropout: float = 0.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    y = nn.LayerNorm(dtype=self.dtype, name="ln1")(x)
    y = MultiHeadAttention(num_heads=self.num_heads, dtype=self.dtype, name="attn")(y)  # Eq. 2
    x = x + nn.Dropout(self.dropout, deterministic=not train)(y)
    y = nn.LayerNorm(dtype=self.dtype, name="ln2")(x)
    y = MlpBlock(self.mlp_dim, self.dropout, self.dtype, name="mlp")(y, train)         # Eq. 3
    return x + nn.Dropout(self.dropout, deterministic=not train)(y)


class ViT(nn.Module):
  num_classes: int
  patch_size: int = 4
  hidden_size: int = 64
  depth: int = 4
  num_heads: int = 4
  mlp_dim: int = 128
  dropout: float = 0.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, images, train: bool = False, features_only: bool = False):
    """Logits [B, num_classes]; with features_only, the tokens after the final LayerNorm
    [B, 1 + N, hidden] (token 0 is [class])."""
    p = self.patch_size
    x = nn.Conv(self.hidden_size, (p, p), strides=(p, p), padding="VALID", dtype=self.dtype,
                name="embedding")(images.astype(self.dtype))                          # Eq. 1
    b, h, w, d = x.shape
    x = x.reshape(b, h * w, d)
    cls = self.param("cls", nn.initializers.zeros, (1, 1, d))
    x = jnp.concatenate([jnp.broadcast_to(cls, (b, 1, d)).astype(x.dtype), x], axis=1)
    pos = self.param("pos_embedding", nn.initializers.normal(0.02), (1, 1 + h * w, d))
    x = x + pos.astype(x.dtype)
    for i in range(self.depth):
      x = EncoderBlock(self.num_heads, self.mlp_dim, self.dropout, self.dtype,
                       name=f"block_{i}")(x, train)
    x = nn.LayerNorm(dtype=self.dtype, name="encoder_norm")(x)
    if features_only:
      return x
    self.sow("intermediates", "pre_logits", x[:, 0])
    return nn.Dense(self.num_classes, dtype=self.dtype, name="head")(x[:, 0])          # Eq. 4
