"""Sequence classifier for the Long Range Arena-style tasks (Tay et al. 2021): embedding +
the shared pre-LN encoder blocks (lib/nn/transformer.py) whose attention kernel is chosen by
one field, `attention`, with the same model size for every kernel. Inputs: int tokens [B, L] (ListOps), pixel sequences [B, L, C], or
images [B, H, W, C] read row by row (Pathfinder). Mean-pooled over positions, then a linear head.
"""
from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from lib.attention.linear import linear_kernel
from lib.attention.local import local_kernel
from lib.attention.multihead import dot_product_kernel
from lib.attention.performer import performer_kernel
from lib.attention.sparse import sparse_kernel
from lib.nn.transformer import encoder_stack


def kernel_for(name: str, window: int, num_features: int):
  kernels = {
      "dot_product": dot_product_kernel,
      "linear": linear_kernel,
      "performer": functools.partial(performer_kernel, num_features=num_features),
      "local": functools.partial(local_kernel, window=window, is_causal=False),
      "sparse": sparse_kernel,                                       # causal-only variant
  }
  if name not in kernels:
    raise ValueError(f"model.attention={name!r}; known: {sorted(kernels)}")
  return kernels[name]


class SequenceClassifier(nn.Module):
  num_classes: int = 10
  attention: str = "dot_product"
  vocab_size: int = 0          # > 0: int tokens; 0: continuous values per position
  max_len: int = 1024
  hidden_size: int = 64
  depth: int = 2
  num_heads: int = 4
  mlp_dim: int = 128
  window: int = 16             # local attention (left, right) half width
  num_features: int = 64       # Performer random features
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    if self.vocab_size:
      h = nn.Embed(self.vocab_size, self.hidden_size, name="embed")(x.astype(jnp.int32))
    else:
      x = x.reshape(x.shape[0], -1, x.shape[-1]) if x.ndim == 4 else x
      h = nn.Dense(self.hidden_size, name="embed")(x.astype(jnp.float32))
    length = h.shape[1]
    pos = self.param("pos_embedding", nn.initializers.normal(0.02),
                     (self.max_len, self.hidden_size))
    h = (h + pos[None, :length]).astype(self.dtype)
    kernel = kernel_for(self.attention, self.window, self.num_features)
    h = encoder_stack(h, train, depth=self.depth, num_heads=self.num_heads,
                      mlp_dim=self.mlp_dim, dtype=self.dtype, kernel=kernel)
    h = nn.LayerNorm(name="ln_final")(h).mean(axis=1)
    return nn.Dense(self.num_classes, name="head")(h)
