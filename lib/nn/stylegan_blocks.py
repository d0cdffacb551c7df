"""Building blocks shared by the style-based generators and their discriminators (StyleGAN2,
Karras et al. 2020; StyleSwin, Zhang et al. 2022, whose mapping network, tRGB skips and
discriminator epilogue come from StyleGAN2).

- `MappingNetwork`: z normalised to unit second moment (plus a normalised label embedding
  when conditional, as in the official StyleGAN2-ADA code) -> equalized dense layers with
  LeakyReLU(0.2) * sqrt(2) -> w.
- `ToRGB`: 1x1 modulated conv without demodulation, plus bias (skip generator, Fig. 7b).
- `ResidualDownBlock`: conv3x3 -> conv3x3 with 2x down, with a 1x1 skip down; sum *
  sqrt(1/2) (residual discriminator, Fig. 7c). Down is the official [1, 3, 3, 1] blur, then
  stride 2 (the skip: downsample2d, then the 1x1 conv), lib/nn/upfirdn.py.
- `ConvDownBlock`: conv3x3 -> conv3x3 with 2x down, no skip (the 'orig' StyleGAN2 D block;
  StyleSwin's ConvBlock).
- `MinibatchStdDev`: the std over groups of samples as one extra feature map (ProGAN Sec. 3).
  The output of a sample depends on the others of its group: a D using it must be called
  on reals and on fakes separately (`batch_coupled`; the GAN task does so).
- Resampling: `upsample2x` / `downsample2x` are upfirdn2d with the [1, 3, 3, 1] filter and
  the official padding (pixels outside the image are zero; not bilinear at the border).
"""
from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from lib.nn.modulated_conv import EqualizedConv2D, EqualizedDense, ModulatedConv2D
from lib.nn.upfirdn import downsample2d, upsample2d

SQRT2 = math.sqrt(2.0)


def lrelu(x):
  """LeakyReLU(0.2) with the gain sqrt(2) of the official bias_act."""
  return nn.leaky_relu(x, 0.2) * SQRT2


def normalize_2nd_moment(x, eps: float = 1e-8):
  return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + eps)


def upsample2x(x):
  """The official upsample2d with [1, 3, 3, 1] (tRGB skips)."""
  return upsample2d(x)


def downsample2x(x):
  """The official downsample2d with [1, 3, 3, 1]."""
  return downsample2d(x)


class MappingNetwork(nn.Module):
  w_dim: int = 512
  layers: int = 8
  num_classes: int = 0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z, labels=None):
    x = normalize_2nd_moment(z.astype(jnp.float32))
    if self.num_classes:
      e = nn.Embed(self.num_classes, self.w_dim, embedding_init=nn.initializers.normal(1.0),
                   name="label_embed")(labels)
      x = jnp.concatenate([x, normalize_2nd_moment(e)], -1)
    for i in range(self.layers):
      x = lrelu(EqualizedDense(self.w_dim, dtype=self.dtype, name=f"fc{i}")(x))
    return x


class ToRGB(nn.Module):
  """StyleGAN2's tRGB: modulated 1x1 conv, no demodulation, plus bias."""
  channels: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, w):
    y = ModulatedConv2D(self.channels, 1, demodulate=False, dtype=self.dtype, name="conv")(x, w)
    return y + self.param("bias", nn.initializers.zeros, (self.channels,)).astype(y.dtype)


class ResidualDownBlock(nn.Module):
  features: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    skip = EqualizedConv2D(self.features, 1, use_bias=False, down=2, dtype=self.dtype,
                           name="skip")(x)
    h = lrelu(EqualizedConv2D(x.shape[-1], 3, dtype=self.dtype, name="conv0")(x))
    h = lrelu(EqualizedConv2D(self.features, 3, down=2, dtype=self.dtype, name="conv1")(h))
    return (skip + h) * math.sqrt(0.5)


class ConvDownBlock(nn.Module):
  """conv3x3 (in -> in) -> conv3x3 with 2x down (in -> features), LeakyReLU * sqrt(2) each."""
  features: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    h = lrelu(EqualizedConv2D(x.shape[-1], 3, dtype=self.dtype, name="conv0")(x))
    return lrelu(EqualizedConv2D(self.features, 3, down=2, dtype=self.dtype, name="conv1")(h))


class MinibatchStdDev(nn.Module):
  """Appends the std over groups of `group_size` samples, averaged to one feature map."""
  group_size: int = 4

  @nn.compact
  def __call__(self, x):
    b, h, w, c = x.shape
    g = math.gcd(min(self.group_size, b), b)
    y = x.reshape(g, b // g, h, w, c).astype(jnp.float32)
    y = jnp.sqrt(jnp.var(y, axis=0) + 1e-8)                      # [B/g, H, W, C]
    y = jnp.mean(y, axis=(1, 2, 3))                              # [B/g]
    y = jnp.tile(y, g)[:, None, None, None]                      # sample i: group i % (B/g)
    return jnp.concatenate([x, jnp.broadcast_to(y, (b, h, w, 1)).astype(x.dtype)], -1)


class DiscriminatorEpilogue(nn.Module):
  """4x4 features -> minibatch std -> conv3x3 -> dense -> features for the output head."""
  width: int
  mbstd_group: int = 4
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, h):
    h = MinibatchStdDev(self.mbstd_group, name="mbstd")(h)
    h = lrelu(EqualizedConv2D(self.width, 3, dtype=self.dtype, name="conv")(h))
    return lrelu(EqualizedDense(self.width, dtype=self.dtype, name="fc")(
        h.reshape(h.shape[0], -1)))
