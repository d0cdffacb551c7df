"""Shared scaffolding of the SNGAN-style ResNet GANs (projection cGAN, SAGAN, BigGAN): the
discriminator trunk and the generator's output layer. Block lists follow Miyato et al. 2018
("Spectral Normalization", Table 4 for 32x32: three up-blocks in G; an optimized block, a
down-block and two plain blocks in D), widths given as a base width times per-block
multipliers (BigGAN's `arch` dictionaries).
"""
from __future__ import annotations

import math
from typing import Any, Callable

import flax.linen as nn
import jax.numpy as jnp

from lib.nn.gan_resblocks import DBlock, conv


def num_upsamplings(image_size: int, bottom: int = 4) -> int:
  n = int(round(math.log2(image_size / bottom)))
  if bottom * 2 ** n != image_size:
    raise ValueError(f"image_size {image_size} must be {bottom} * 2^n")
  return n


def discriminator_downsamples(image_size: int, num_blocks: int) -> tuple[bool, ...]:
  """Which D blocks halve the resolution: down to 8x8, then plain blocks (SNGAN 32x32:
  down, down, -, -)."""
  n_down = max(num_upsamplings(image_size, 8), 1)
  return tuple(i < n_down for i in range(num_blocks))


class ResNetDiscriminatorTrunk(nn.Module):
  """x -> optimized block -> blocks (-> attention after the block whose output has
  `attention_resolution` pixels a side) -> ReLU -> global sum pooling -> features [B, C]."""
  width: int = 128
  multipliers: tuple = (1, 1, 1, 1)
  spectral_norm: bool = True
  weight_init: str = "xavier"
  attention_resolution: int = 0
  attention: Callable | None = None      # a factory: name -> module taking (x, update_stats)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    downs = discriminator_downsamples(x.shape[1], len(self.multipliers))
    h = x.astype(self.dtype)
    for i, (m, down) in enumerate(zip(self.multipliers, downs)):
      h = DBlock(self.width * m, downsample=down, preactivation=i > 0,
                 spectral_norm=self.spectral_norm, weight_init=self.weight_init, dtype=self.dtype,
                 name=f"block{i}")(h, train)
      if self.attention is not None and h.shape[1] == self.attention_resolution:
        h = self.attention(f"attention{i}")(h, update_stats=train)
    return jnp.sum(nn.relu(h), axis=(1, 2))


class GeneratorOutput(nn.Module):
  """BN -> ReLU -> conv3x3 to the image channels -> tanh (SNGAN / SAGAN / BigGAN)."""
  channels: int = 3
  spectral_norm: bool = False
  weight_init: str = "xavier"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, h, train: bool = False):
    h = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                     dtype=self.dtype, name="bn")(h)
    h = conv(self.channels, 3, "conv", self.weight_init, self.spectral_norm, train, self.dtype)(
        nn.relu(h))
    return jnp.tanh(h)
