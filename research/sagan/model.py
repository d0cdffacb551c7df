"""SAGAN (Zhang et al. 2019, "Self-Attention Generative Adversarial Networks").

The projection-cGAN ResNet G and D (conditional BN in G, projection D) with spectral norm in
both networks (Sec. 4.1) and the self-attention block of lib/attention/sagan.py
(y = x + gamma * o, gamma = 0 at init, Eq. 3). Placement (`attention_resolution`): the
paper's ablation (Table 1, 128px) found attention on the larger feature maps (feat32,
feat64) best; PAPERS.md asks for the 32x32 feature map, so for 32px images G attends on its
32x32 map, after the last up-block. D attends after the block whose output has
`attention_resolution` pixels a side: 16 by default, after its first block for 32px images.
The official code places it differently: the authors' TF code (brain-research/
self-attention-gan, discriminator.py / generator.py `*_test`, 128px) has one attention layer
in D after its second block, on the 32x32 map (a quarter of the image side), and one in G
after its third block, on the 32x32 map; heykeetae/Self-Attention-GAN (PyTorch, 64px DCGAN
layers) has two in each: G after its 3rd and 4th layers (16x16, 32x32), D after its 3rd and
4th convs (8x8, 4x4). At 32px no post-block D map is 32x32 wide, so the default keeps the
largest one; `attention_resolution=8` is the authors' quarter-side placement.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from lib.attention.sagan import SelfAttention2D
from lib.nn.class_head import DiscriminatorHead
from lib.nn.gan_resblocks import KERNEL_INITS, GBlock, dense
from lib.nn.resnet_gan import GeneratorOutput, ResNetDiscriminatorTrunk, num_upsamplings


class Generator(nn.Module):
  image_size: int = 32
  channels: int = 3
  width: int = 256
  multipliers: tuple = (1, 1, 1)
  attention_resolution: int = 32
  num_classes: int = 0
  spectral_norm: bool = True
  weight_init: str = "xavier"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z, labels=None, train: bool = False):
    n = num_upsamplings(self.image_size)
    if len(self.multipliers) != n:
      raise ValueError(f"{n} generator blocks for {self.image_size}px, got {self.multipliers}")
    c0 = self.width * self.multipliers[0]
    h = dense(4 * 4 * c0, "project", self.weight_init, self.spectral_norm, train, self.dtype)(z)
    h = h.reshape(-1, 4, 4, c0)
    norm = "class_cbn" if self.num_classes else "bn"
    for i, m in enumerate(self.multipliers):
      h = GBlock(self.width * m, norm, self.num_classes, spectral_norm=self.spectral_norm,
                 weight_init=self.weight_init, dtype=self.dtype, name=f"block{i}")(h, labels, train)
      if h.shape[1] == self.attention_resolution:
        h = SelfAttention2D(spectral_norm=self.spectral_norm, dtype=self.dtype,
                            name=f"attention{i}")(h, update_stats=train)
    return GeneratorOutput(self.channels, self.spectral_norm, self.weight_init, dtype=self.dtype,
                           name="out")(h, train)


class Discriminator(nn.Module):
  width: int = 128
  multipliers: tuple = (1, 1, 1, 1)
  attention_resolution: int = 16
  num_classes: int = 0
  class_head: str = "projection"
  spectral_norm: bool = True
  weight_init: str = "xavier"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, labels=None, train: bool = False):
    attn = lambda name: SelfAttention2D(spectral_norm=self.spectral_norm, dtype=self.dtype,
                                        name=name)
    phi = ResNetDiscriminatorTrunk(self.width, self.multipliers, self.spectral_norm,
                                   self.weight_init, self.attention_resolution, attn,
                                   dtype=self.dtype, name="trunk")(x, train)
    return DiscriminatorHead(self.num_classes, self.class_head, self.spectral_norm,
                             kernel_init=KERNEL_INITS[self.weight_init], dtype=self.dtype,
                             name="head")(phi, labels, train)
