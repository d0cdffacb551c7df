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

DeiT (Touvron et al., 2021: "Training data-efficient image transformers & distillation through
attention", Sec. 4): `distillation=True` appends a [dist] token after [class] (param `dist`,
its own position embedding, so `pos_embedding` covers 2 + N tokens) with its own linear head
`head_dist`, as the official DistilledVisionTransformer (facebookresearch/deit models.py). In
training the model returns both heads' logits (class, dist) for lib/tasks/distill.py; at
inference the average of the two heads' logits, (z_cls + z_dist) / 2, as the official code
does (the paper's "late fusion" of the two softmax outputs is approximated there by the
logits' mean). Off by default: the params and outputs are then those of the plain ViT.
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
  distillation: bool = False  # DeiT: a [dist] token after [class] with its own head

  @nn.compact
  def __call__(self, images, train: bool = False, features_only: bool = False):
    """Logits [B, num_classes]; with features_only, the tokens after the final LayerNorm
    [B, 1 + N, hidden] (token 0 is [class]; with distillation [B, 2 + N, hidden], token 1 is
    [dist]). With distillation and train=True, the pair (class logits, dist logits)."""
    p = self.patch_size
    x = nn.Conv(self.hidden_size, (p, p), strides=(p, p), padding="VALID", dtype=self.dtype,
                name="embedding")(images.astype(self.dtype))                          # Eq. 1
    b, h, w, d = x.shape
    x = x.reshape(b, h * w, d)
    tokens = [self.param("cls", nn.initializers.zeros, (1, 1, d))]
    if self.distillation:  # DeiT: [dist] after [class], trunc_normal(0.02) in the official code
      tokens.append(self.param("dist", nn.initializers.normal(0.02), (1, 1, d)))
    x = jnp.concatenate([jnp.broadcast_to(t, (b, 1, d)).astype(x.dtype) for t in tokens] + [x],
                        axis=1)
    pos = self.param("pos_embedding", nn.initializers.normal(0.02),
                     (1, len(tokens) + h * w, d))
    x = constrain(x + pos.astype(x.dtype), (BATCH, None, None))
    x = self._encoder(x, train)
    x = nn.LayerNorm(dtype=self.dtype, name="encoder_norm")(x)
    if features_only:
      return x
    self.sow("intermediates", "pre_logits", x[:, 0])
    logits = nn.Dense(self.num_classes, dtype=self.dtype, name="head")(x[:, 0])        # Eq. 4
    if not self.distillation:
      return logits
    self.sow("intermediates", "pre_logits_dist", x[:, 1])
    logits_dist = nn.Dense(self.num_classes, dtype=self.dtype, name="head_dist")(x[:, 1])
    if train:
      return logits, logits_dist
    return (logits + logits_dist) / 2  # DeiT inference: the mean of the two heads' logits

  def _encoder(self, x, train: bool):
    """The `depth` encoder blocks: unrolled (block_<i>) or scanned (blocks, stacked)."""
    return encoder_stack(x, train, depth=self.depth, num_heads=self.num_heads,
                         mlp_dim=self.mlp_dim, dropout=self.dropout, dtype=self.dtype,
                         remat=self.remat, scan_layers=self.scan_layers)
