"""StyleSwin (Zhang et al. 2022, "StyleSwin: Transformer-based GAN for High-resolution Image
Generation"), a small version following the official code (microsoft/StyleSwin,
models/generator.py and models/discriminator.py).

Generator (Sec. 3.2-3.3, Fig. 2): the StyleGAN2 mapping network gives w; a learned 4x4
constant (no positional encoding) is refined stage by stage (4, 8, ..., image_size), each
stage running `blocks_per_stage` StyleSwin blocks:
  x = x + DoubleAttn(AdaIN(x, w));  x = x + MLP(AdaIN(x, w))
AdaIN is instance normalisation over the tokens of one image (eps 1e-5, no affine), then
gamma(w) x + beta(w) with plain gamma from an equalized linear map of w (bias 0, as the
official AdaptiveInstanceNorm). Double attention splits the heads: half attend inside M x M
windows, half inside windows shifted by M // 2 (with Swin's region mask), and their outputs
are concatenated (Sec. 3.2), enlarging the receptive field within one block. Both halves use
Swin's relative position bias. Between stages (the official BilinearUpsample): bilinear 2x
upsampling -> LayerNorm (eps 1e-5) -> bias-free linear map to the next width -> + alpha SPE,
the sinusoidal positional encoding of the new scale (Sec. 3.3) times a learned scalar alpha
initialised at 0. Each stage's output (after the transition) goes through an unmodulated 1x1
conv tRGB, added to the running image upsampled by upfirdn2d [1, 3, 3, 1] (StyleGAN2 skip;
the last stage's tRGB is at the same resolution as the one before it). Linear layers start
from a truncated normal (std 0.02) and the tRGB from Xavier normal with gain 0.02, as the
official `_init_weights`.

Discriminator (Sec. 3.4): the wavelet discriminator of SWAGAN (Gal et al. 2021), official
layout: the image enters as its Haar wavelet sub-bands (LL, LH, HL, HH at half resolution);
non-residual ConvBlocks (conv3x3, then conv3x3 with [1, 3, 3, 1] blur + stride 2); after
every block the image downsampled once more (upfirdn2d) enters again as its sub-bands
through a 1x1 conv and is added (`resample='avg'`: 2x2 means instead of the blurs, for
both, as configs/stylegan2.py measured on digits); then the StyleGAN2 epilogue (minibatch std, conv, dense)
and the output layer, the official final EqualLinear(channels, 1) (equalized lr: weight gain
1/sqrt(fan_in); lib/nn/stylegan_blocks.StyleGANOutput; StyleSwin is unconditional, so class
labels use StyleGAN2-ADA's projection on the mapped label, cmap). Minibatch std couples the
batch (`batch_coupled`): the task calls D on reals and fakes separately.
The tRGB stays a plain 1x1 conv (official nn.Conv2d, Xavier gain 0.02), not equalized.
"""
from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from lib.attention.position_2d import RelativePositionBias2D
from lib.attention.positions import sinusoidal_positions
from lib.attention.swin import shifted_window_mask, window_partition, window_reverse
from lib.nn.modulated_conv import EqualizedConv2D, EqualizedDense
from lib.nn.stylegan_blocks import (ConvDownBlock, DiscriminatorEpilogue, MappingNetwork,
                                    StyleGANOutput, downsample2x, lrelu, upsample2x)

LN_EPS = 1e-5                                   # torch LayerNorm / InstanceNorm default
LINEAR_INIT = nn.initializers.truncated_normal(0.02)   # official _init_weights (nn.Linear)


def haar_dwt(x):
  """Haar wavelet transform of [B, H, W, C] -> [B, H/2, W/2, 4C] (LL, LH, HL, HH in the
  official order: upfirdn2d(x, f, down=2) with the outer products of l = [1, 1] / sqrt(2)
  and h = [-1, 1] / sqrt(2), LH = h^T l across rows, HL = l^T h across columns)."""
  a, b = x[:, 0::2, 0::2], x[:, 0::2, 1::2]
  c, d = x[:, 1::2, 0::2], x[:, 1::2, 1::2]
  ll = (a + b + c + d) / 2
  lh = (a + b - c - d) / 2
  hl = (a - b + c - d) / 2
  hh = (a - b - c + d) / 2
  return jnp.concatenate([ll, lh, hl, hh], -1)


def sinusoidal_positions_2d(h: int, w: int, dim: int) -> jnp.ndarray:
  """[H, W, dim]: half the channels encode the row, half the column (SPE)."""
  rows = sinusoidal_positions(h, dim // 2)
  cols = sinusoidal_positions(w, dim // 2)
  return jnp.concatenate([jnp.broadcast_to(rows[:, None], (h, w, dim // 2)),
                          jnp.broadcast_to(cols[None, :], (h, w, dim // 2))], -1)


class AdaIN(nn.Module):
  """Instance norm over the tokens of each image, then gamma(w) x + beta(w) (official
  AdaptiveInstanceNorm: EqualLinear(w) -> (gamma, beta), bias 0)."""

  @nn.compact
  def __call__(self, x, w):                      # x [B, H, W, C], w [B, D]
    c = x.shape[-1]
    mu = jnp.mean(x, axis=(1, 2), keepdims=True)
    var = jnp.var(x, axis=(1, 2), keepdims=True)
    x = (x - mu) * jax.lax.rsqrt(var + LN_EPS)
    style = EqualizedDense(2 * c, dtype=x.dtype, name="style")(w)
    gamma, beta = jnp.split(style, 2, -1)
    return gamma[:, None, None, :] * x + beta[:, None, None, :]


class BilinearUpsample(nn.Module):
  """Official transition: bilinear 2x -> LayerNorm -> bias-free linear -> + alpha * SPE."""
  features: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    b, h, w, c = x.shape
    x = jax.image.resize(x, (b, 2 * h, 2 * w, c), "bilinear")    # = torch bilinear, 2x
    x = nn.LayerNorm(epsilon=LN_EPS, dtype=self.dtype, name="norm")(x)
    x = nn.Dense(self.features, use_bias=False, kernel_init=LINEAR_INIT, dtype=self.dtype,
                 name="reduction")(x)
    alpha = self.param("alpha", nn.initializers.zeros, ())
    spe = sinusoidal_positions_2d(2 * h, 2 * w, self.features)
    return x + (alpha * spe).astype(x.dtype)


class ToRGB(nn.Module):
  """Official StyleSwin tRGB: an unmodulated 1x1 conv with bias (Xavier normal, gain 0.02)."""
  channels: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    init = nn.initializers.variance_scaling(0.02 ** 2, "fan_avg", "normal")
    return nn.Conv(self.channels, (1, 1), kernel_init=init, dtype=self.dtype, name="conv")(x)


class DoubleAttention(nn.Module):
  """Half the heads in windows, half in shifted windows; outputs concatenated."""
  num_heads: int
  window_size: int = 8
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    b, h, w, c = x.shape
    m = min(self.window_size, h, w)
    shift = m // 2 if min(h, w) > self.window_size else 0       # no shift when map <= window
    heads = self.num_heads // 2
    hd = c // self.num_heads
    qkv = nn.Dense(3 * c, kernel_init=LINEAR_INIT, dtype=self.dtype, name="qkv")(x)      # [B, H, W, 3C]
    outs = []
    for g, s in enumerate((0, shift)):
      part = qkv.reshape(b, h, w, 3, 2, heads * hd)[:, :, :, :, g].reshape(b, h, w, 3 * heads * hd)
      if s:
        part = jnp.roll(part, (-s, -s), axis=(1, 2))
      win = window_partition(part, m).reshape(-1, m * m, 3, heads, hd)
      bias = RelativePositionBias2D(m, heads, name=f"rel_pos{g}")()[None]   # [1, heads, N, N]
      if s:                                   # windows are ordered image-major: tile over B
        mask = jnp.asarray(shifted_window_mask(h, w, m, s))                  # [nW, N, N]
        bias = jnp.tile(bias + mask[:, None], (b, 1, 1, 1))                 # [B*nW, heads, N, N]
      o = jax.nn.dot_product_attention(win[:, :, 0], win[:, :, 1], win[:, :, 2],
                                       bias=bias.astype(win.dtype))
      o = window_reverse(o.reshape(-1, m * m, heads * hd), m, h, w)
      if s:
        o = jnp.roll(o, (s, s), axis=(1, 2))
      outs.append(o)
    return nn.Dense(c, kernel_init=LINEAR_INIT, dtype=self.dtype, name="proj")(
        jnp.concatenate(outs, -1))


class StyleSwinBlock(nn.Module):
  num_heads: int
  window_size: int = 8
  mlp_ratio: float = 4.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, w):
    x = x + DoubleAttention(self.num_heads, self.window_size, self.dtype, name="attn")(
        AdaIN(name="norm1")(x, w))
    y = AdaIN(name="norm2")(x, w)
    y = nn.gelu(nn.Dense(int(x.shape[-1] * self.mlp_ratio), kernel_init=LINEAR_INIT,
                         dtype=self.dtype, name="fc1")(y))
    return x + nn.Dense(x.shape[-1], kernel_init=LINEAR_INIT, dtype=self.dtype, name="fc2")(y)


class Generator(nn.Module):
  image_size: int = 32
  channels: int = 3
  widths: tuple = (512, 512, 512, 512)     # per stage, 4x4 first
  num_heads: tuple = (16, 16, 16, 16)      # even: half window, half shifted
  blocks_per_stage: int = 2
  window_size: int = 8
  w_dim: int = 512
  mapping_layers: int = 8
  num_classes: int = 0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z, labels=None, train: bool = False):
    n = int(math.log2(self.image_size)) - 1
    if len(self.widths) != n or len(self.num_heads) != n:
      raise ValueError(f"{n} stages for {self.image_size}px: widths {self.widths}, "
                       f"heads {self.num_heads}")
    w = MappingNetwork(self.w_dim, self.mapping_layers, self.num_classes, self.dtype,
                       name="mapping_net")(z, labels)
    const = self.param("const", nn.initializers.normal(1.0), (4, 4, self.widths[0]))
    x = jnp.broadcast_to(const[None], (z.shape[0],) + const.shape).astype(self.dtype)
    img = None
    for s in range(n):
      for i in range(self.blocks_per_stage):
        x = StyleSwinBlock(self.num_heads[s], self.window_size, dtype=self.dtype,
                           name=f"stage{s}_block{i}")(x, w)
      if s < n - 1:
        x = BilinearUpsample(self.widths[s + 1], self.dtype, name=f"up{s + 1}")(x)
      rgb = ToRGB(self.channels, self.dtype, name=f"to_rgb{s}")(x)
      if img is not None and img.shape[1] < rgb.shape[1]:
        img = upsample2x(img)
      img = rgb if img is None else img + rgb
    return img


class Discriminator(nn.Module):
  """`batch_coupled`: minibatch std (call on reals and fakes separately)."""
  width: int = 512
  mbstd_group: int = 4
  cmap_mapping_layers: int = 8
  resample: str = "fir"            # 'fir': official blur + stride 2; 'avg': 2x2 mean first
  num_classes: int = 0
  class_head: str = "projection"
  dtype: Any = jnp.float32

  batch_coupled = True

  @nn.compact
  def __call__(self, x, labels=None, train: bool = False):
    x = x.astype(self.dtype)
    h = lrelu(EqualizedConv2D(self.width, 1, dtype=self.dtype, name="from_wavelet0")(
        haar_dwt(x)))
    scale, i = x, 0
    while h.shape[1] > 4:
      h = ConvDownBlock(self.width, self.dtype, self.resample, name=f"block{i}")(h)
      scale = downsample2x(scale, self.resample)
      h = h + lrelu(EqualizedConv2D(self.width, 1, dtype=self.dtype,
                                    name=f"from_wavelet{i + 1}")(haar_dwt(scale)))
      i += 1
    h = DiscriminatorEpilogue(self.width, self.mbstd_group, self.dtype, name="epilogue")(h)
    return StyleGANOutput(self.num_classes, self.class_head, self.width,
                          self.cmap_mapping_layers, dtype=self.dtype, name="head")(h, labels, train)
