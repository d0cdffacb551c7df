"""Vision Transformer (Dosovitskiy et al., 2021: "An Image is Worth 16x16 Words").

Patch embedding (Eq. 1), a [class] token, learned 1-D position embeddings, pre-LN encoder
blocks (Eq. 2-3: MSA and MLP with residuals), a final LayerNorm and a linear head on the
class token (Eq. 4). Attention goes through the shared multi-head shell, so the weights are
sown for analysis ('intermediates'/'attention_weights') and any kernel of lib/attention fits.

The encoder blocks are the shared family of lib/nn/transformer.py. Options for large models
(defaults keep the param paths `block_<i>/...`):
- `remat`: each encoder block is rematerialised (`nn.remat`: activations recomputed in the
  backward pass instead of stored; same values, more FLOPs, less memory).
- `scan_layers`: the identical blocks run under `nn.scan`, params stacked on a leading axis
  of size `depth` under `blocks/...` (one block compiled instead of `depth`); a checkpoint of
  the unrolled model does not load into it without restacking
  (`lib.nn.transformer.stack_blocks`).
- Activation sharding: the residual stream is constrained to batch over (data, fsdp) and the
  MLP hidden over `model`, only when a mesh with those axes is set (lib/nn/activation_sharding).
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from lib.nn.activation_sharding import BATCH, constrain
from lib.nn.transformer import encoder_stack


class ViT(nn.Module):
  num_classes: int
  patch_size: int = 4
  hidden_size: int = 64
  depth: int = 4
  num_heads: int = 4
  mlp_dim: int = 128
  dropout: float = 0.0
  dtype: Any = jnp.float32
  remat: bool = False        # rematerialise each encoder block in the backward pass
  scan_layers: bool = False  # nn.scan over the blocks, params stacked under blocks/

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
    x = constrain(x + pos.astype(x.dtype), (BATCH, None, None))
    x = self._encoder(x, train)
    x = nn.LayerNorm(dtype=self.dtype, name="encoder_norm")(x)
    if features_only:
      return x
    self.sow("intermediates", "pre_logits", x[:, 0])
    return nn.Dense(self.num_classes, dtype=self.dtype, name="head")(x[:, 0])          # Eq. 4

  def _encoder(self, x, train: bool):
    """The `depth` encoder blocks: unrolled (block_<i>) or scanned (blocks, stacked)."""
    return encoder_stack(x, train, depth=self.depth, num_heads=self.num_heads,
                         mlp_dim=self.mlp_dim, dropout=self.dropout, dtype=self.dtype,
                         remat=self.remat, scan_layers=self.scan_layers)
