"""U-ViT (Bao et al. 2023, "All are Worth Words: A ViT Backbone for Diffusion Models").

Everything is a token: the noise level (a time token), the label (a label token) and the p x p
patches of x [B, H, W, C]; a learned position embedding covers all of them. depth blocks run
as a U-Net without down-sampling: depth // 2 in-blocks, a mid-block, depth // 2 out-blocks,
and out-block i first mixes the stream with the output of in-block depth//2 - 1 - i through a
long skip, h = Linear([h, skip]) (Sec. 3, "concatenation" the best of the skips it compares).
A final LayerNorm and Linear map each patch token back to p*p*C_out values (the extra tokens are
dropped), then a 3x3 conv acts on the unpatchified image.

Follows the official code (baofff/U-ViT libs/uvit.py, class UViT):
- patch_embed: Conv2d with kernel = stride = p (torch's default init, uniform with variance
  1 / (3 fan_in); biases zero here);
- time token: timestep_embedding(t, D) (the sinusoid itself, lib/nn/diffusion_embeddings.py),
  then Linear(D, 4D) -> SiLU -> Linear(4D, D) when `mlp_time_embed` (every official config,
  cifar10 included, has it False);
- label token: an embedding table, N(0, 1) as torch's nn.Embedding, with num_classes + 1 rows
  (the last the null class, trained by label dropout with `class_dropout_prob` in the 'dropout'
  rng stream, as DiT's LabelEmbedder, which it is; the official ImageNet configs get the same
  table by passing num_classes=1001). Token order [label, time, patches];
- pos_embed: a parameter [1, extras + N, D], N(0, 0.02) (timm's trunc_normal_(std=.02) cuts at
  +-2 absolute, i.e. never);
- skip_linear_i (out-block i's Linear(2D, D) on concat[x, skip]), decoder_pred and the time
  MLP: weights N(0, 0.02), biases zero; final LayerNorm `norm` (eps 1e-5, torch's);
- final_layer: Conv2d(C_out, C_out, 3, padding 1) when `conv` (the official cifar10 config;
  off in the ImageNet-256 huge model); `skip=False` removes the long skips (the ablation).
Every block is the shared lib/nn/transformer.EncoderBlock (pre-LN, x + MSA(LN(x)), x +
MLP(LN(x)), the official Block without its skip_linear, which lives beside it here). What the
shared block does differently: its q/k/v projections have biases (the official qkv_bias=False;
+3D params a block, 0.05% of U-ViT-S), GELU is tanh-approximate (timm's Mlp: exact erf), its
LayerNorms use eps 1e-6 (torch 1e-5) and its attention / MLP weights keep that family's init
(Flax LeCun normal, not N(0, 0.02)).

`depth` counts every block, as the paper's Table 1 "#Layers" (odd): U-ViT-S is depth 13, the
official config's depth=12 (12 // 2 in-blocks + mid + 12 // 2 out-blocks). Sizes (Table 1,
depth/width/heads, MLP 4x): S 13/512/8 (44M params), S-Deep 17/512/8 (58M), M 17/768/12
(131M), L 21/1024/16 (287M), H 29/1152/16 (501M); `uvit_size("S/2")` gives the fields.

Called as DiT: `model(x, noise_level, labels, train)`; noise_level is whatever the formulation
passes (DDPM: the timestep in [0, 1000), as the official t * 999; EDM: ln(sigma) / 4).
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from lib.errors import ConfigError
from lib.nn.diffusion_embeddings import LabelEmbedder, std02, timestep_embedding
from lib.nn.patches import table_size, unpatchify
from lib.nn.transformer import EncoderBlock

SIZES = {"S": (13, 512, 8), "S-Deep": (17, 512, 8), "M": (17, 768, 12), "L": (21, 1024, 16),
         "H": (29, 1152, 16)}
PATCHES = (2, 4, 8)
_torch_conv_init = nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform")


def uvit_size(name: str) -> dict:
  """'S/2' -> dict(depth, hidden_size, num_heads, patch_size) of Table 1."""
  return table_size("U-ViT", name, SIZES, PATCHES, "S/2")


class UViT(nn.Module):
  """`__call__(x [B,H,W,C], noise_level [B], labels [B] or None, train)` -> [B,H,W,out_channels]."""
  image_size: int = 32
  channels: int = 3
  patch_size: int = 2
  hidden_size: int = 512
  depth: int = 13                  # every block: depth // 2 in, 1 mid, depth // 2 out (odd)
  num_heads: int = 8
  mlp_ratio: float = 4.0
  mlp_time_embed: bool = False
  conv: bool = True                # the final 3x3 conv
  skip: bool = True                # the long skips (False: the no-skip ablation)
  num_classes: int = 0             # 0: unconditional (no label token)
  class_dropout_prob: float = 0.1
  out_channels: int = 0            # 0: channels (set by the formulation: 2C learns a variance)
  dtype: Any = jnp.float32
  remat: bool = False

  @nn.compact
  def __call__(self, x, noise_level, labels=None, train: bool = False):
    p, d = self.patch_size, self.hidden_size
    if x.shape[1] % p or x.shape[2] % p:
      raise ConfigError(f"U-ViT patch_size={p} does not divide the image "
                        f"{x.shape[1]}x{x.shape[2]}: pick a patch size that does")
    if self.depth % 2 == 0 or self.depth < 1:
      raise ConfigError(f"U-ViT depth={self.depth}: depth counts every block (depth // 2 in, a "
                        "mid block, depth // 2 out), so it is odd: 13 for U-ViT-S (the "
                        "official config's depth=12)")
    out_ch = self.out_channels or self.channels
    h = nn.Conv(d, (p, p), strides=(p, p), padding="VALID", kernel_init=_torch_conv_init,
                dtype=self.dtype, name="patch_embed")(x.astype(self.dtype))
    h = h.reshape(h.shape[0], -1, d)                                   # row-major patches
    time = timestep_embedding(noise_level, d).astype(self.dtype)
    if self.mlp_time_embed:
      time = nn.Dense(4 * d, kernel_init=std02, dtype=self.dtype, name="time_embed_0")(time)
      time = nn.Dense(d, kernel_init=std02, dtype=self.dtype,
                      name="time_embed_2")(nn.silu(time))
    extras = [time[:, None]]
    if self.num_classes:
      if labels is None:
        raise ValueError("a class-conditional U-ViT needs labels (num_classes = the null class)")
      y = LabelEmbedder(self.num_classes, d, self.class_dropout_prob, self.dtype,
                        nn.initializers.normal(1.0), name="label_emb")(labels, train)
      extras = [y[:, None]] + extras
    h = jnp.concatenate(extras + [h], axis=1)                          # [label, time, patches]
    pos = self.param("pos_embed", std02, (1, h.shape[1], d))
    h = h + pos.astype(h.dtype)

    block = nn.remat(EncoderBlock, static_argnums=(2,)) if self.remat else EncoderBlock
    args = (self.num_heads, int(d * self.mlp_ratio), 0.0, self.dtype)
    n, skips = self.depth // 2, []
    for i in range(n):
      h = block(*args, name=f"in_blocks_{i}")(h, train)
      skips.append(h)
    h = block(*args, name="mid_block")(h, train)
    for i in range(n):
      skip = skips.pop()                                  # in-block n-1-i: the U pairing
      if self.skip:
        h = nn.Dense(d, kernel_init=std02, dtype=self.dtype,
                     name=f"skip_linear_{i}")(jnp.concatenate([h, skip], axis=-1))  # W[h; s]+b
      h = block(*args, name=f"out_blocks_{i}")(h, train)

    h = nn.LayerNorm(epsilon=1e-5, dtype=self.dtype, name="norm")(h)
    h = nn.Dense(p * p * out_ch, kernel_init=std02, dtype=self.dtype, name="decoder_pred")(h)
    img = unpatchify(h[:, len(extras):], p, out_ch)                    # drop the extra tokens
    if self.conv:
      img = nn.Conv(out_ch, (3, 3), padding=1, kernel_init=_torch_conv_init, dtype=self.dtype,
                    name="final_layer")(img)
    return img.astype(jnp.float32)
