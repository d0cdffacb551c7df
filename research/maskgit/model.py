"""The bidirectional transformer over image tokens of MaskGIT (Chang et al. 2022, Sec. 3.1;
the official maskgit/nets/maskgit_transformer.py), its MaskBit variant (Weber et al. 2024,
embedding-free bit tokens; the official markweberdev/maskbit modeling/bert.py `LFQBert`), and
what MAGE (Li et al. 2023) trains on the same task.

Input: tokens [B, N, G] int32 (N = h * w token positions, G groups per position: 1 for
MaskGIT, MaskBit's `codebook_splits` for bits), the id `codebook_size` (K) meaning [MASK];
labels [B] int32 with `num_classes` the null class (classifier-free guidance; an
unconditional model has only the null class).
- `input='embedding'` (MaskGIT, G = 1): one table of K + 1 + num_classes + 1 rows, code ids
  [0, K), [MASK] = K, class c at K + 1 + c (the official shifts the label by the codebook
  size and prepends it as a token), null class last.
- `input='bits'` (MaskBit): each group id is split into its `bits_per_group` bits
  (bit j of weight 2^j, as lib/nn/quantizers/lfq) mapped to +-1, a masked group to 0, the
  G * bits_per_group values projected by a Dense to the width (no token embedding); the class
  token from its own table of num_classes + 1 rows.
The class token is position 0 of the sequence, followed by the N image positions; learned
positions (truncated normal 0.02 as the official), then LayerNorm (the official embeddings_ln /
MaskBit's first layer) and `depth` shared pre-LN blocks (lib/nn/transformer.encoder_stack;
the official BERT blocks are post-LN), a final LayerNorm, and the head of the official
MlmLayer: Dense(width) -> GELU -> LayerNorm -> logits. With `input='embedding'` the logits
are tied to the token table, h E^T + b, over the K code rows only (the official slices the
logits to the codebook at sampling); with bits a Dense to G * K logits (MaskBit's
prediction_layer), one categorical over the 2^bits_per_group values per group.
Output: logits [B, N, G, K] float32; `features=True` returns the final hidden states
[B, 1 + N, width] instead (MAGE's linear probe).
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from lib.errors import ConfigError
from lib.nn.transformer import encoder_stack

INPUTS = ("embedding", "bits")


def bits_of_groups(tokens, bits_per_group: int, mask_id: int):
  """[..., G] group ids -> [..., G * bits_per_group] in {-1, +1}, a masked group all 0."""
  tokens = jnp.asarray(tokens, jnp.int32)
  bits = (tokens[..., None] >> jnp.arange(bits_per_group, dtype=jnp.int32)) & 1
  signed = 2.0 * bits.astype(jnp.float32) - 1.0                   # bit -> +-1
  signed = jnp.where((tokens == mask_id)[..., None], 0.0, signed)  # [MASK] -> 0
  return signed.reshape(tokens.shape[:-1] + (-1,))


class MaskGITTransformer(nn.Module):
  codebook_size: int = 256          # K: values per group (2^bits_per_group for bits)
  num_tokens: int = 64              # N = h * w
  groups: int = 1                   # G
  input: str = "embedding"          # embedding (MaskGIT) | bits (MaskBit)
  num_classes: int = 10             # 0: unconditional (only the null class)
  width: int = 128
  depth: int = 4
  num_heads: int = 4
  mlp_dim: int = 512
  dropout: float = 0.1
  remat: bool = False
  scan_layers: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, tokens, labels, train: bool = False, features: bool = False):
    if self.input not in INPUTS:
      raise ConfigError(f"config.model.input={self.input!r}; use one of {INPUTS}.")
    k, init = self.codebook_size, nn.initializers.truncated_normal(0.02)
    tokens = jnp.asarray(tokens, jnp.int32)
    b = tokens.shape[0]
    labels = jnp.asarray(labels, jnp.int32)
    if self.input == "embedding":
      if self.groups != 1:
        raise ConfigError(f"config.model.groups={self.groups} needs input='bits' (MaskBit); "
                          "the token embedding takes one id per position: set groups=1.")
      table = nn.Embed(k + 1 + self.num_classes + 1, self.width, embedding_init=init,
                       dtype=self.dtype, name="token_embedding")
      x = table(jnp.concatenate([(k + 1 + labels)[:, None], tokens[..., 0]], axis=1))
    else:
      bits_per_group = k.bit_length() - 1
      if 2 ** bits_per_group != k:
        raise ConfigError(f"model codebook_size={k} per group is not a power of two: bit "
                          "tokens need an LFQ tokenizer whose bits divide into the groups.")
      x_img = nn.Dense(self.width, kernel_init=init, dtype=self.dtype, name="bit_projection")(
          bits_of_groups(tokens, bits_per_group, k))
      cls = nn.Embed(self.num_classes + 1, self.width, embedding_init=init, dtype=self.dtype,
                     name="class_embedding")(labels)
      x = jnp.concatenate([cls[:, None], x_img], axis=1)
    positions = self.param("position_embedding", init, (1, 1 + self.num_tokens, self.width))
    x = x + positions.astype(self.dtype)
    x = nn.LayerNorm(epsilon=1e-12, dtype=self.dtype, name="embedding_ln")(x)
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    x = encoder_stack(x, train, depth=self.depth, num_heads=self.num_heads,
                      mlp_dim=self.mlp_dim, dropout=self.dropout, dtype=self.dtype,
                      remat=self.remat, scan_layers=self.scan_layers)
    x = nn.LayerNorm(dtype=self.dtype, name="final_ln")(x)
    if features:
      return x.astype(jnp.float32)
    h = nn.Dense(self.width, kernel_init=init, dtype=self.dtype, name="mlm_dense")(x[:, 1:])
    h = nn.LayerNorm(epsilon=1e-12, dtype=self.dtype, name="mlm_ln")(jax.nn.gelu(h))
    if self.input == "embedding":
      logits = table.attend(h)[..., :k]                            # h E^T over the code rows
      logits = logits + self.param("mlm_bias", nn.initializers.zeros, (k,))
      return logits.astype(jnp.float32)[:, :, None, :]
    logits = nn.Dense(self.groups * k, kernel_init=init, dtype=self.dtype,
                      name="prediction")(h)
    return logits.astype(jnp.float32).reshape(b, self.num_tokens, self.groups, k)
