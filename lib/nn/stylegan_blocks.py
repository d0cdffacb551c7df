"""Building blocks shared by the style-based generators and their discriminators (StyleGAN2,
Karras et al. 2020; StyleSwin, Zhang et al. 2022, whose mapping network, tRGB skips and
discriminator epilogue come from StyleGAN2).

- `MappingNetwork`: z normalised to unit second moment (plus a normalised label embedding
  when conditional, as in the official StyleGAN2-ADA code) -> equalized dense layers with
  LeakyReLU(0.2) * sqrt(2) -> w. The label embedding is the official `embed`, an equalized
  dense layer (with bias) on the one-hot label, named `label_embed`; the layers are `fc<i>`:
  the mapping's 0.01 learning-rate multiplier (networks.py: lr_multiplier of the fc layers
  only, `embed` keeps 1) is the optimizer regex `mapping_net/fc\\d+/.*`. With z None it maps
  the label alone (the conditional discriminator's label mapping, z_dim = 0).
- `SynthesisLayer`: modulated 3x3 conv (2x up when `up`), noise input, bias, LeakyReLU(0.2) *
  sqrt(2) (the official SynthesisLayer; StyleGAN2's G, ViTGAN's conv decoder).
- `ToRGB`: 1x1 modulated conv without demodulation, plus bias (skip generator, Fig. 7b).
- `ResidualDownBlock`: conv3x3 -> conv3x3 with 2x down, with a 1x1 skip down; sum *
  sqrt(1/2) (residual discriminator, Fig. 7c). Down is the official [1, 3, 3, 1] blur, then
  stride 2 (the skip: downsample2d, then the 1x1 conv), lib/nn/upfirdn.py.
- `ConvDownBlock`: conv3x3 -> conv3x3 with 2x down, no skip (the 'orig' StyleGAN2 D block;
  StyleSwin's ConvBlock).
- `StyleGANOutput`: D's output layer as the official DiscriminatorEpilogue.out, an equalized
  dense layer (weight gain 1/sqrt(fan_in)); conditional: out = <out(phi), cmap> / sqrt(cmap_dim)
  with cmap the label mapped by its own `MappingNetwork` (networks.py Discriminator.mapping).
- `MinibatchStdDev`: the std over groups of samples as one extra feature map (ProGAN Sec. 3).
  The output of a sample depends on the others of its group: a D using it must be called
  on reals and on fakes separately (`batch_coupled`; the GAN task does so).
- Resampling: `upsample2x` / `downsample2x` are upfirdn2d with the [1, 3, 3, 1] filter and
  the official padding (pixels outside the image are zero; not bilinear at the border).
  `resample` ('fir' default) switches G's upsampling to bilinear and D's blur + stride to a
  2x2 average before the conv, the approximation this project used first (the StyleGAN2
  digits variant measures both).
"""
from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from lib.nn.modulated_conv import (DOWN_RESAMPLE, UP_RESAMPLE, EqualizedConv2D, EqualizedDense,
                                   ModulatedConv2D, NoiseInjection, bilinear_up2x,
                                   check_resample)
from lib.nn.pooling import pool
from lib.nn.upfirdn import downsample2d, upsample2d

SQRT2 = math.sqrt(2.0)


def lrelu(x):
  """LeakyReLU(0.2) with the gain sqrt(2) of the official bias_act."""
  return nn.leaky_relu(x, 0.2) * SQRT2


def normalize_2nd_moment(x, eps: float = 1e-8):
  return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + eps)


def upsample2x(x, resample: str = "fir"):
  """The official upsample2d with [1, 3, 3, 1] (tRGB skips), or bilinear ('bilinear')."""
  check_resample(resample, UP_RESAMPLE, "upsample2x")
  return bilinear_up2x(x) if resample == "bilinear" else upsample2d(x)


def downsample2x(x, resample: str = "fir"):
  """The official downsample2d with [1, 3, 3, 1], or the 2x2 mean ('avg')."""
  check_resample(resample, DOWN_RESAMPLE, "downsample2x")
  return pool(x, 2, "avg") if resample == "avg" else downsample2d(x)


class MappingNetwork(nn.Module):
  w_dim: int = 512
  layers: int = 8
  num_classes: int = 0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z, labels=None, t=None):
    """`t` [B] (Diffusion-GAN's D): the raw timestep joins the label as one more input of
    the embedding, c = [onehot(label), t] (diffusion-stylegan2 networks.py)."""
    x = None if z is None else normalize_2nd_moment(z.astype(jnp.float32))
    if self.num_classes or t is not None:
      parts = [jax.nn.one_hot(labels, self.num_classes, dtype=jnp.float32)] if self.num_classes else []
      parts += [] if t is None else [jnp.asarray(t, jnp.float32).reshape(-1, 1)]
      c = jnp.concatenate(parts, -1)
      e = EqualizedDense(self.w_dim, name="label_embed")(c)          # official `embed`
      e = normalize_2nd_moment(e)
      x = e if x is None else jnp.concatenate([x, e], -1)
    for i in range(self.layers):
      x = lrelu(EqualizedDense(self.w_dim, dtype=self.dtype, name=f"fc{i}")(x))
    return x


class SynthesisLayer(nn.Module):
  features: int
  up: bool = False
  resample: str = "fir"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, w):
    x = ModulatedConv2D(self.features, 3, up=2 if self.up else 1, resample=self.resample,
                        dtype=self.dtype, name="conv")(x, w)
    x = NoiseInjection(name="noise")(x)
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    return lrelu(x + bias.astype(x.dtype))


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
  resample: str = "fir"            # 'fir' (official blur + stride 2) or 'avg' (2x2 mean first)

  @nn.compact
  def __call__(self, x):
    skip = EqualizedConv2D(self.features, 1, use_bias=False, down=2, resample=self.resample,
                           dtype=self.dtype, name="skip")(x)
    h = lrelu(EqualizedConv2D(x.shape[-1], 3, dtype=self.dtype, name="conv0")(x))
    h = lrelu(EqualizedConv2D(self.features, 3, down=2, resample=self.resample,
                              dtype=self.dtype, name="conv1")(h))
    return (skip + h) * math.sqrt(0.5)


class ConvDownBlock(nn.Module):
  """conv3x3 (in -> in) -> conv3x3 with 2x down (in -> features), LeakyReLU * sqrt(2) each."""
  features: int
  dtype: Any = jnp.float32
  resample: str = "fir"

  @nn.compact
  def __call__(self, x):
    h = lrelu(EqualizedConv2D(x.shape[-1], 3, dtype=self.dtype, name="conv0")(x))
    return lrelu(EqualizedConv2D(self.features, 3, down=2, resample=self.resample,
                                 dtype=self.dtype, name="conv1")(h))


CLASS_HEADS = ("projection", "acgan")


class StyleGANOutput(nn.Module):
  """D's output (official DiscriminatorEpilogue.out, networks.py): an equalized dense layer on
  the features phi [B, C] -> logits [B], class logits or None.

  Unconditional: out(phi) with one output. 'projection': out has `cmap_dim` outputs (default
  C, the 4x4 channels) and logit = sum(out(phi) * cmap) / sqrt(cmap_dim), cmap = the label's
  `MappingNetwork` (z_dim 0, `mapping_layers` layers; its fc layers take the 0.01 lr
  multiplier in the official code: optimizer regex `head/mapping/fc\\d+/.*`). 'acgan': out
  with one output plus an equalized classifier. Sows the last layer as f = <w_y, phi> + b_y
  ('head_h', 'head_w', 'head_b' in 'intermediates', as lib/nn/class_head.DiscriminatorHead)."""
  num_classes: int = 0
  class_head: str = "projection"
  cmap_dim: int = 0
  mapping_layers: int = 8
  timestep_conditioning: bool = False   # Diffusion-GAN: t joins the label in cmap's mapping
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, phi, labels=None, train: bool = False, t=None):
    del train
    c = phi.shape[-1]
    if self.num_classes and self.class_head not in CLASS_HEADS:
      raise ValueError(f"class_head {self.class_head!r}: use one of {CLASS_HEADS}")
    if self.num_classes and labels is None:
      raise ValueError("a class-conditional discriminator needs labels")
    if self.timestep_conditioning and (t is None or self.class_head != "projection"):
      raise ValueError("a timestep-conditioned discriminator (Diffusion-GAN) needs t and the "
                       "projection head: set config.gan.augment='diffusion' and "
                       "gan.conditioning to none or cbn_projection")
    projection = (bool(self.num_classes) and self.class_head == "projection"
                  or self.timestep_conditioning)
    n_out = (self.cmap_dim or c) if projection else 1
    out = EqualizedDense(n_out, dtype=self.dtype, name="out")(phi).astype(jnp.float32)
    capture = self.is_mutable_collection("intermediates") and not self.is_initializing()
    kernel = self.variables["params"]["out"]["kernel"].astype(jnp.float32) / math.sqrt(c)
    bias = self.variables["params"]["out"]["bias"].astype(jnp.float32)
    logits_c = None
    if projection:
      cmap = MappingNetwork(n_out, self.mapping_layers, self.num_classes, name="mapping")(
          None, labels, t if self.timestep_conditioning else None)
      cmap = cmap.astype(jnp.float32) / math.sqrt(n_out)
      logits = jnp.sum(out * cmap, -1)                  # (x * cmap).sum / sqrt(cmap_dim)
      w_y, b_y = cmap @ kernel.T, cmap @ bias
    else:
      logits = out[:, 0]
      w_y, b_y = jnp.broadcast_to(kernel[:, 0], phi.shape), jnp.broadcast_to(bias[0], out.shape[:1])
      if self.num_classes:
        logits_c = EqualizedDense(self.num_classes, dtype=self.dtype, name="classifier")(
            phi).astype(jnp.float32)
    if capture:
      self.sow("intermediates", "head_h", phi.astype(jnp.float32))
      self.sow("intermediates", "head_w", w_y)
      self.sow("intermediates", "head_b", b_y)
    return logits, logits_c


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
