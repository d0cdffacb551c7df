"""Vision Transformer (Dosovitskiy et al., 2021: "An Image is Worth 16x16 Words").

Patch embedding (Eq. 1), a [class] token, learned 1-D position embeddings, pre-LN encoder
blocks (Eq. 2-3: MSA and MLP with residuals), a final LayerNorm and a linear head on the
class token (Eq. 4). Attention goes through the shared multi-head shell, so the weights are
sown for analysis ('intermediates'/'attention_weights') and any kernel of lib/attention fits.

Options for large models (defaults keep the param paths `block_<i>/...`):
- `remat`: each encoder block is rematerialised (`nn.remat`: activations recomputed in the
  backward pass instead of stored; same values, more FLOPs, less memory).
- `scan_layers`: the identical blocks run under `nn.scan`, params stacked on a leading axis
  of size `depth` under `blocks/...` (one block compiled instead of `depth`); a checkpoint of
  the unrolled model does not load into it without restacking (`stack_blocks`).
- Activation sharding: the residual stream is constrained to batch over (data, fsdp) and the
  MLP hidden over `model`, only when a mesh with those axes is set (lib/nn/activation_sharding).
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from lib.attention.multihead import MultiHeadAttention
from lib.nn.activation_sharding import BATCH, MODEL, constrain


class MlpBlock(nn.Module):
  mlp_dim: int
  dropout: float = 0.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    d = x.shape[-1]
    x = nn.Dense(self.mlp_dim, dtype=self.dtype, name="fc1")(x)
    x = constrain(x, (BATCH,) + (None,) * (x.ndim - 2) + (MODEL,))  # hidden over `model`
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
    x = x + nn.Dropout(self.dropout, deterministic=not train)(y)
    return constrain(x, (BATCH, None, None))  # the residual stream: batch over data x fsdp


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
    args = (self.num_heads, self.mlp_dim, self.dropout, self.dtype)
    if not self.scan_layers:
      block = nn.remat(EncoderBlock, static_argnums=(2,)) if self.remat else EncoderBlock
      for i in range(self.depth):
        x = block(*args, name=f"block_{i}")(x, train)
      return x

    def step(block, carry, _):
      return block(carry, train), None

    if self.remat:
      step = nn.remat(step)
    scan = nn.scan(step, variable_axes={"params": 0, "intermediates": 0},
                   split_rngs={"params": True, "dropout": True}, length=self.depth)
    x, _ = scan(EncoderBlock(*args, name="blocks"), x, None)
    return x


def stack_blocks(params: dict, depth: int) -> dict:
  """Params of the unrolled ViT (block_0 .. block_<depth-1>) -> those of `scan_layers=True`
  (one `blocks` subtree, each leaf stacked on a new leading axis)."""
  out = {k: v for k, v in params.items() if not k.startswith("block_")}
  out["blocks"] = jax.tree.map(lambda *xs: jnp.stack(xs), *[params[f"block_{i}"]
                                                            for i in range(depth)])
  return out


def unstack_blocks(params: dict) -> dict:
  """The inverse of `stack_blocks`."""
  out = {k: v for k, v in params.items() if k != "blocks"}
  depth = jax.tree.leaves(params["blocks"])[0].shape[0]
  for i in range(depth):
    out[f"block_{i}"] = jax.tree.map(lambda x: x[i], params["blocks"])
  return out
