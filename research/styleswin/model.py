"""StyleSwin (Zhang et al. 2022, "StyleSwin: Transformer-based GAN for High-resolution Image
Generation"), a small faithful version.

Generator (Sec. 3.2-3.3, Fig. 2): the StyleGAN2 mapping network gives w; a learned 4x4
constant is refined stage by stage (4, 8, ..., image_size), each stage adding a sinusoidal
positional encoding of its own scale (SPE, Sec. 3.3) and running `blocks_per_stage`
StyleSwin blocks:
  x = x + DoubleAttn(AdaIN(x, w));  x = x + MLP(AdaIN(x, w))
Style injection is AdaIN on the tokens (instance normalisation over the tokens of one image,
per channel, then a scale and bias from w). Double attention splits the heads: half attend
inside M x M windows, half inside windows shifted by M // 2 (with Swin's region mask), and
their outputs are concatenated (Sec. 3.2), enlarging the receptive field within one block.
Both halves use Swin's relative position bias. Between stages: bilinear 2x upsampling and a
linear map to the next width. Each stage has a tRGB (StyleGAN2 skip).

Discriminator (Sec. 3.4): the wavelet discriminator of SWAGAN (Gal et al. 2021): the image
enters as its Haar wavelet sub-bands (LL, LH, HL, HH at half resolution); every residual
down-block's output is joined by the wavelet sub-bands of the input at that scale, then the
StyleGAN2 epilogue (minibatch std, conv, dense) and the output head.
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
from lib.nn.class_head import DiscriminatorHead
from lib.nn.modulated_conv import EqualizedConv2D
from lib.nn.stylegan_blocks import (DiscriminatorEpilogue, MappingNetwork, ResidualDownBlock,
                                    ToRGB, downsample2x, lrelu, upsample2x)


def haar_dwt(x):
  """Haar wavelet transform of [B, H, W, C] -> [B, H/2, W/2, 4C] (LL, LH, HL, HH)."""
  a, b = x[:, 0::2, 0::2], x[:, 0::2, 1::2]
  c, d = x[:, 1::2, 0::2], x[:, 1::2, 1::2]
  ll = (a + b + c + d) / 2
  lh = (a - b + c - d) / 2
  hl = (a + b - c - d) / 2
  hh = (a - b - c + d) / 2
  return jnp.concatenate([ll, lh, hl, hh], -1)


def sinusoidal_positions_2d(h: int, w: int, dim: int) -> jnp.ndarray:
  """[H, W, dim]: half the channels encode the row, half the column (SPE)."""
  rows = sinusoidal_positions(h, dim // 2)
  cols = sinusoidal_positions(w, dim // 2)
  return jnp.concatenate([jnp.broadcast_to(rows[:, None], (h, w, dim // 2)),
                          jnp.broadcast_to(cols[None, :], (h, w, dim // 2))], -1)


class AdaIN(nn.Module):
  """Instance norm over the tokens of each image, then (1 + gamma(w)) x + beta(w)."""

  @nn.compact
  def __call__(self, x, w):                      # x [B, H, W, C], w [B, D]
    c = x.shape[-1]
    mu = jnp.mean(x, axis=(1, 2), keepdims=True)
    var = jnp.var(x, axis=(1, 2), keepdims=True)
    x = (x - mu) * jax.lax.rsqrt(var + 1e-5)
    style = nn.Dense(2 * c, name="style")(w)
    gamma, beta = jnp.split(style, 2, -1)
    return (1 + gamma)[:, None, None, :] * x + beta[:, None, None, :]


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
    qkv = nn.Dense(3 * c, dtype=self.dtype, name="qkv")(x)      # [B, H, W, 3C]
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
    return nn.Dense(c, dtype=self.dtype, name="proj")(jnp.concatenate(outs, -1))


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
    y = nn.gelu(nn.Dense(int(x.shape[-1] * self.mlp_ratio), dtype=self.dtype, name="fc1")(y))
    return x + nn.Dense(x.shape[-1], dtype=self.dtype, name="fc2")(y)


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
      if s > 0:
        x = nn.Dense(self.widths[s], dtype=self.dtype, name=f"up{s}")(upsample2x(x))
      x = x + sinusoidal_positions_2d(x.shape[1], x.shape[2], x.shape[3]).astype(x.dtype)
      for i in range(self.blocks_per_stage):
        x = StyleSwinBlock(self.num_heads[s], self.window_size, dtype=self.dtype,
                           name=f"stage{s}_block{i}")(x, w)
      rgb = ToRGB(self.channels, self.dtype, name=f"to_rgb{s}")(x, w)
      img = rgb if img is None else upsample2x(img) + rgb
    return img


class Discriminator(nn.Module):
  width: int = 512
  mbstd_group: int = 4
  num_classes: int = 0
  class_head: str = "projection"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, labels=None, train: bool = False):
    x = x.astype(self.dtype)
    h = lrelu(EqualizedConv2D(self.width, 1, dtype=self.dtype, name="from_wavelet0")(
        haar_dwt(x)))
    scale, i = x, 0
    while h.shape[1] > 4:
      h = ResidualDownBlock(self.width, self.dtype, name=f"block{i}")(h)
      scale = downsample2x(scale)
      h = h + lrelu(EqualizedConv2D(self.width, 1, dtype=self.dtype,
                                    name=f"from_wavelet{i + 1}")(haar_dwt(scale)))
      i += 1
    h = DiscriminatorEpilogue(self.width, self.mbstd_group, self.dtype, name="epilogue")(h)
    return DiscriminatorHead(self.num_classes, self.class_head, spectral_norm=False,
                             kernel_init=nn.initializers.lecun_normal(), dtype=self.dtype,
                             name="head")(h, labels, train)
