"""DiT (Peebles & Xie 2023, "Scalable Diffusion Models with Transformers").

x [B, H, W, C] is cut into p x p patches, each embedded linearly, plus fixed 2-D sin-cos
positions; the conditioning c = t_emb(noise_level) + y_emb(label) drives adaLN-Zero blocks
(the shared family of lib/nn/transformer.py with `conditioning="adaln_zero"`); a final
adaLN-modulated LayerNorm and Linear map each token back to p*p*C_out values, unpatchified.

Follows the official code (facebookresearch/DiT models.py):
- TimestepEmbedder: 256 sinusoidal frequencies, [cos | sin] with max period 10000, then
  Linear -> SiLU -> Linear, weights N(0, 0.02) (it and LabelEmbedder live in
  lib/nn/diffusion_embeddings.py, shared with U-ViT);
- LabelEmbedder: a table of num_classes + 1 rows (the last is the null class) when
  class_dropout_prob > 0; in training each label is replaced by the null class with that
  probability (rng stream 'dropout'); weights N(0, 0.02);
- blocks: mlp_ratio 4, tanh-approximate GELU, LayerNorm eps 1e-6 without affine, qkv bias;
- zero init of every adaLN modulation and of the final layer's modulation and linear, so each
  block is the identity and the whole network outputs zero at init (Sec. 3.2);
- x_embedder (Conv2d with kernel = stride = p, the same map as a Linear on the patches) with
  Xavier-uniform weights.
Differences: the attention and MLP weights of the shared blocks keep that family's init (Flax
LeCun normal), not the official Xavier uniform; the sin-cos positions are a constant, not a
(frozen) parameter, so the parameter count is the official one minus N x hidden_size.

`noise_level` is whatever the formulation passes (DDPM: the timestep in [0, 1000); EDM:
ln(sigma) / 4); the network does not know which. Labels in [0, num_classes], num_classes being
the null class (unconditional output, for classifier-free guidance).

Sizes (Table 1): S 12/384/6, B 12/768/12, L 24/1024/16, XL 28/1152/16 (depth, width, heads);
`dit_size("XL/2")` gives the fields of DiT-XL/2.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from lib.errors import ConfigError
from lib.nn.adaln_zero import AdaLNModulation, modulate, plain_layer_norm
from lib.nn.diffusion_embeddings import (LabelEmbedder, TimestepEmbedder,  # noqa: F401
                                         timestep_embedding)
from lib.nn.patches import patchify, sincos_2d, table_size, unpatchify
from lib.nn.transformer import encoder_stack

SIZES = {"S": (12, 384, 6), "B": (12, 768, 12), "L": (24, 1024, 16), "XL": (28, 1152, 16)}
PATCHES = (2, 4, 8)


def dit_size(name: str) -> dict:
  """'XL/2' -> dict(depth, hidden_size, num_heads, patch_size) of Table 1."""
  return table_size("DiT", name, SIZES, PATCHES, "XL/2")


class FinalLayer(nn.Module):
  """adaLN-modulated LayerNorm, then Linear to p*p*C_out; modulation and linear zero-init."""
  out_features: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, c):
    shift, scale = AdaLNModulation(x.shape[-1], 2, self.dtype, name="adaLN_modulation")(c)
    x = modulate(plain_layer_norm(self.dtype, "norm_final")(x), shift, scale)
    return nn.Dense(self.out_features, kernel_init=nn.initializers.zeros, dtype=self.dtype,
                    name="linear")(x)


class DiT(nn.Module):
  """`__call__(x [B,H,W,C], noise_level [B], labels [B] or None, train)` -> [B,H,W,out_channels]."""
  image_size: int = 32
  channels: int = 4
  patch_size: int = 2
  hidden_size: int = 1152
  depth: int = 28
  num_heads: int = 16
  mlp_ratio: float = 4.0
  num_classes: int = 1000          # 0: unconditional (no label embedding)
  class_dropout_prob: float = 0.1
  out_channels: int = 0            # 0: channels (set by the formulation: 2C learns a variance)
  dtype: Any = jnp.float32
  remat: bool = False
  scan_layers: bool = False

  @nn.compact
  def __call__(self, x, noise_level, labels=None, train: bool = False):
    if x.shape[1] % self.patch_size or x.shape[2] % self.patch_size:
      raise ConfigError(f"DiT patch_size={self.patch_size} does not divide the image "
                        f"{x.shape[1]}x{x.shape[2]}: pick a patch size that does")
    out_ch = self.out_channels or self.channels
    p = self.patch_size
    tokens = patchify(x.astype(self.dtype), p)
    h = nn.Dense(self.hidden_size, kernel_init=nn.initializers.xavier_uniform(),
                 dtype=self.dtype, name="x_embedder")(tokens)
    grid = x.shape[1] // p
    h = h + jnp.asarray(sincos_2d(self.hidden_size, grid, cls_token=False), h.dtype)[None]
    c = TimestepEmbedder(self.hidden_size, dtype=self.dtype, name="t_embedder")(noise_level)
    if self.num_classes:
      if labels is None:
        raise ValueError("a class-conditional DiT needs labels (num_classes = the null class)")
      c = c + LabelEmbedder(self.num_classes, self.hidden_size, self.class_dropout_prob,
                            self.dtype, name="y_embedder")(labels, train)   # c = t + y
    h = encoder_stack(h, train, depth=self.depth, num_heads=self.num_heads,
                      mlp_dim=int(self.hidden_size * self.mlp_ratio), dtype=self.dtype,
                      remat=self.remat, scan_layers=self.scan_layers,
                      conditioning="adaln_zero", cond=c)
    h = FinalLayer(p * p * out_ch, self.dtype, name="final_layer")(h, c)
    return unpatchify(h, p, out_ch).astype(jnp.float32)
