"""Class-conditional GAN with a projection discriminator (Miyato & Koyama 2018, "cGANs with
Projection Discriminator"; the conditional generator of Mirza & Osindero 2014 realised with
conditional BatchNorm, de Vries et al. 2017).

G (Sec. 5 and App.: the SNGAN ResNet): z -> linear to 4x4xC -> ResBlocks up with
class-conditional BN (per-class gains and biases) -> BN-ReLU-conv3x3-tanh. Without classes
the BN is unconditional.
D: SNGAN ResNet with spectral norm everywhere -> ReLU -> global sum pooling phi(x) ->
psi(phi) + <V e_y, phi> (Eq. 3), or an auxiliary classifier head (AC-GAN), per `class_head`.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from lib.nn.class_head import DiscriminatorHead
from lib.nn.gan_resblocks import KERNEL_INITS, GBlock, dense
from lib.nn.resnet_gan import GeneratorOutput, ResNetDiscriminatorTrunk, num_upsamplings


class Generator(nn.Module):
  image_size: int = 32
  channels: int = 3
  width: int = 256
  multipliers: tuple = (1, 1, 1)
  num_classes: int = 0
  spectral_norm: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z, labels=None, train: bool = False):
    n = num_upsamplings(self.image_size)
    if len(self.multipliers) != n:
      raise ValueError(f"{n} generator blocks for {self.image_size}px, got multipliers "
                       f"{self.multipliers}")
    c0 = self.width * self.multipliers[0]
    h = dense(4 * 4 * c0, "project", "xavier", self.spectral_norm, train, self.dtype)(z)
    h = h.reshape(-1, 4, 4, c0)
    norm = "class_cbn" if self.num_classes else "bn"
    for i, m in enumerate(self.multipliers):
      h = GBlock(self.width * m, norm, self.num_classes, spectral_norm=self.spectral_norm,
                 dtype=self.dtype, name=f"block{i}")(h, labels, train)
    return GeneratorOutput(self.channels, self.spectral_norm, dtype=self.dtype, name="out")(
        h, train)


class Discriminator(nn.Module):
  width: int = 128
  multipliers: tuple = (1, 1, 1, 1)
  num_classes: int = 0
  class_head: str = "projection"
  spectral_norm: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, labels=None, train: bool = False):
    phi = ResNetDiscriminatorTrunk(self.width, self.multipliers, self.spectral_norm,
                                   dtype=self.dtype, name="trunk")(x, train)
    return DiscriminatorHead(self.num_classes, self.class_head, self.spectral_norm,
                             kernel_init=KERNEL_INITS["xavier"], dtype=self.dtype,
                             name="head")(phi, labels, train)
