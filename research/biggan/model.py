"""BigGAN (Brock et al. 2019, "Large Scale GAN Training for High Fidelity Natural Image
Synthesis"), the 32x32 architecture of its App. B / BigGAN-PyTorch, scaled by `width`.

G: z is split into one chunk per block plus one for the input ("hierarchical latent space",
Sec. 3 / Fig. 15a); the class enters through a shared embedding (dim `shared_dim`) that is
concatenated with each block's z chunk and projected to that block's BN gains and biases
(LinearConditionalBatchNorm, App. B); self-attention at `attention_resolution`;
orthogonal init (Sec. 3.1); spectral norm in G and D. Orthogonal regularization
(beta 1e-4, `gan.ortho_beta`), EMA of G and truncated z at sampling are task keys.
D: SAGAN-style ResNet with attention and a projection head.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from lib.attention.sagan import SelfAttention2D
from lib.nn.gan_resblocks import GBlock, dense
from lib.nn.resnet_gan import GeneratorOutput, num_upsamplings
from research.sagan import model as sagan


class Generator(nn.Module):
  image_size: int = 32
  channels: int = 3
  width: int = 256
  multipliers: tuple = (1, 1, 1)
  shared_dim: int = 128
  attention_resolution: int = 16
  num_classes: int = 0
  spectral_norm: bool = True
  weight_init: str = "orthogonal"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z, labels=None, train: bool = False):
    n = num_upsamplings(self.image_size)
    if len(self.multipliers) != n:
      raise ValueError(f"{n} generator blocks for {self.image_size}px, got {self.multipliers}")
    chunk = z.shape[-1] // (n + 1)
    if chunk == 0:
      raise ValueError(f"z_dim {z.shape[-1]} too small for {n + 1} chunks")
    zs = [z[:, i * chunk:(i + 1) * chunk] for i in range(n + 1)]         # hierarchical z
    if self.num_classes:
      shared = nn.Embed(self.num_classes, self.shared_dim, name="shared_embed")(labels)
      conds = [jnp.concatenate([shared, zi], -1) for zi in zs[1:]]
    else:
      conds = zs[1:]
    c0 = self.width * self.multipliers[0]
    h = dense(4 * 4 * c0, "project", self.weight_init, self.spectral_norm, train,
              self.dtype)(zs[0])
    h = h.reshape(-1, 4, 4, c0)
    for i, m in enumerate(self.multipliers):
      h = GBlock(self.width * m, "linear_cbn", spectral_norm=self.spectral_norm,
                 weight_init=self.weight_init, dtype=self.dtype, name=f"block{i}")(
                     h, conds[i], train)
      if h.shape[1] == self.attention_resolution:
        h = SelfAttention2D(spectral_norm=self.spectral_norm, dtype=self.dtype,
                            name=f"attention{i}")(h, update_stats=train)
    return GeneratorOutput(self.channels, self.spectral_norm, self.weight_init, dtype=self.dtype,
                           name="out")(h, train)


class Discriminator(sagan.Discriminator):
  """SAGAN's discriminator (ResNet with attention, projection head) at BigGAN's width and
  orthogonal init."""
  width: int = 256
  weight_init: str = "orthogonal"
