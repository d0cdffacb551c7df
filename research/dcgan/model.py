"""DCGAN (Radford et al. 2016, "Unsupervised Representation Learning with Deep Convolutional
GANs", Sec. 3 and Fig. 1): all-convolutional G and D, strided convolutions instead of
pooling, BatchNorm in both (not on G's output nor D's input layer), ReLU in G with tanh
output, LeakyReLU(0.2) in D, weights ~ N(0, 0.02).

G: z -> linear to 4x4x(ch*2^(n-1)) -> BN-ReLU -> n x [transposed conv 4x4 stride 2 -> BN-ReLU]
(the last one to `channels` with tanh), n = log2(image_size / 4). D mirrors it with strided
4x4 convs. Class conditioning (optional): z is concatenated with a learned label embedding
(Mirza & Osindero 2014) and D uses the shared head (projection or auxiliary classifier).
"""
from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from lib.nn.class_head import DiscriminatorHead
from lib.nn.spectral_norm import spectral_norm as sn_wrap

INIT = nn.initializers.normal(0.02)


def _levels(image_size: int) -> int:
  n = int(math.log2(image_size // 4))
  if 4 * 2 ** n != image_size:
    raise ValueError(f"image_size {image_size} must be 4 * 2^n")
  return n


class Generator(nn.Module):
  image_size: int = 32
  channels: int = 1
  width: int = 64               # channels of the last hidden layer (ngf)
  num_classes: int = 0
  spectral_norm: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z, labels=None, train: bool = False):
    n = _levels(self.image_size)
    bn = lambda name: nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                                   dtype=self.dtype, name=name)
    sn = lambda layer: sn_wrap(layer, self.spectral_norm, update_stats=train)
    h = z.astype(self.dtype)
    if self.num_classes:
      h = jnp.concatenate([h, nn.Embed(self.num_classes, z.shape[-1], name="label_embed")(
          labels).astype(self.dtype)], -1)
    ch = self.width * 2 ** (n - 1)
    h = sn(nn.Dense(4 * 4 * ch, kernel_init=INIT, dtype=self.dtype, name="project"))(h)
    h = nn.relu(bn("bn0")(h.reshape(-1, 4, 4, ch)))
    for i in range(n):
      last = i == n - 1
      out = self.channels if last else ch // 2 ** (i + 1)
      h = sn(nn.ConvTranspose(out, (4, 4), strides=(2, 2), padding="SAME", kernel_init=INIT,
                              use_bias=last, dtype=self.dtype, name=f"deconv{i}"))(h)
      h = jnp.tanh(h) if last else nn.relu(bn(f"bn{i + 1}")(h))
    return h


class Discriminator(nn.Module):
  width: int = 64               # channels of the first conv (ndf)
  num_classes: int = 0
  class_head: str = "projection"
  spectral_norm: bool = False
  batch_norm: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, labels=None, train: bool = False):
    n = _levels(x.shape[1])
    sn = lambda layer: sn_wrap(layer, self.spectral_norm, update_stats=train)
    h = x.astype(self.dtype)
    for i in range(n):
      h = sn(nn.Conv(self.width * 2 ** i, (4, 4), strides=(2, 2), padding="SAME",
                     kernel_init=INIT, use_bias=i == 0 or not self.batch_norm,
                     dtype=self.dtype, name=f"conv{i}"))(h)
      if i > 0 and self.batch_norm:
        h = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                         dtype=self.dtype, name=f"bn{i}")(h)
      h = nn.leaky_relu(h, 0.2)
    return DiscriminatorHead(self.num_classes, self.class_head, self.spectral_norm,
                             kernel_init=INIT, dtype=self.dtype, name="head")(
                                 h.reshape(h.shape[0], -1), labels, train)
