"""StyleGAN2 layers (Karras et al. 2020, "Analyzing and Improving the Image Quality of
StyleGAN", Sec. 2.2): weight modulation and demodulation, noise inputs, equalized learning
rate (Karras et al. 2018, "Progressive Growing of GANs", Sec. 4.1).

Modulation scales the input feature maps of the conv weight per sample: w'_ijk = s_i w_ijk
(Eq. 1); demodulation rescales each output map to unit expected variance:
w''_ijk = w'_ijk / sqrt(sum_{i,k} w'_ijk^2 + eps), eps = 1e-8 (Eq. 3).

Two equivalent executions (the official code has both, `fused_modconv`):
- fused: one grouped convolution with per-sample weights (feature_group_count = batch);
- unfused (default here): x * s, a shared convolution, then * d_j. This keeps the batch a
  plain batch dimension, so it shards over the data axes.
"""
from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from lib.nn.pooling import pool
from lib.nn.upfirdn import conv2d_resample


def demodulation_coefficients(weight, styles, eps: float = 1e-8):
  """d_bj = 1 / sqrt(sum_{i,k} (s_bi w_ijk)^2 + eps) for weight [kh, kw, in, out], styles
  [B, in] -> [B, out] (Eq. 3)."""
  w2 = jnp.sum(jnp.square(weight), axis=(0, 1))                      # [in, out]
  return jax.lax.rsqrt(jnp.square(styles) @ w2 + eps)


def modulated_weights(weight, styles, demodulate: bool = True, eps: float = 1e-8):
  """Per-sample weights [B, kh, kw, in, out]: w' = s w (Eq. 1), then w'' (Eq. 3)."""
  w = weight[None] * styles[:, None, None, :, None]
  if demodulate:
    w = w * jax.lax.rsqrt(jnp.sum(jnp.square(w), axis=(1, 2, 3), keepdims=True) + eps)
  return w


def _conv(x, kernel, padding, groups=1):
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), padding,
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                      feature_group_count=groups)


UP_RESAMPLE = ("fir", "bilinear")
DOWN_RESAMPLE = ("fir", "avg")


def check_resample(resample: str, choices: tuple[str, ...], where: str) -> None:
  if resample not in choices:
    raise ValueError(f"{where}.resample={resample!r}: use one of {choices}")


def bilinear_up2x(x):
  """2x bilinear upsampling (edge-clamped; the [1, 3, 3, 1] filter in the interior)."""
  b, h, w, c = x.shape
  return jax.image.resize(x, (b, 2 * h, 2 * w, c), "bilinear")


def modulated_conv2d(x, weight, styles, *, demodulate: bool = True, fused: bool = False,
                     padding: str = "SAME", eps: float = 1e-8, up: int = 1,
                     resample: str = "fir"):
  """x [B, H, W, in], weight [kh, kw, in, out], styles [B, in] -> [B, H', W', out].

  up=2, resample 'fir': the official upsampling conv (lib/nn/upfirdn.conv2d_resample: a
  transposed conv with the kernel, then the [1, 3, 3, 1] filter), on the unfused path.
  resample 'bilinear': bilinear 2x upsampling, then the conv (equal in the interior up to
  the kernel's flip; differs at the border, where the FIR sees zeros)."""
  check_resample(resample, UP_RESAMPLE, "modulated_conv2d")
  if up > 1 and resample == "bilinear":
    x, up = bilinear_up2x(x), 1
  b, h, w, cin = x.shape
  styles = styles.astype(x.dtype)
  weight = weight.astype(x.dtype)
  if up > 1:
    y = conv2d_resample(x * styles[:, None, None, :], weight, up=up,
                        padding=weight.shape[0] // 2)
    if demodulate:
      y = y * demodulation_coefficients(weight, styles, eps)[:, None, None, :].astype(y.dtype)
    return y
  if fused:
    wb = modulated_weights(weight, styles, demodulate, eps)          # [B, kh, kw, in, out]
    kernel = wb.transpose(1, 2, 3, 0, 4).reshape(wb.shape[1], wb.shape[2], cin, -1)
    y = _conv(x.transpose(1, 2, 0, 3).reshape(1, h, w, b * cin), kernel, padding, groups=b)
    return y.reshape(y.shape[1], y.shape[2], b, -1).transpose(2, 0, 1, 3)
  y = _conv(x * styles[:, None, None, :], weight, padding)
  if demodulate:
    y = y * demodulation_coefficients(weight, styles, eps)[:, None, None, :].astype(y.dtype)
  return y


class EqualizedDense(nn.Module):
  """Dense layer with equalized learning rate: weights ~ N(0, 1), scaled at run time by
  1/sqrt(fan_in) (ProGAN Sec. 4.1). A per-layer learning-rate multiplier is given to the
  optimizer (`optimizer.lr_multipliers`), which for Adam is equivalent to StyleGAN's lr_mul."""
  features: int
  use_bias: bool = True
  bias_init: float = 0.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    kernel = self.param("kernel", nn.initializers.normal(1.0), (x.shape[-1], self.features))
    y = x @ (kernel * (1.0 / math.sqrt(x.shape[-1]))).astype(self.dtype)
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.constant(self.bias_init),
                         (self.features,)).astype(self.dtype)
    return y


class EqualizedConv2D(nn.Module):
  """Conv with equalized learning rate (weights ~ N(0, 1) scaled by 1/sqrt(k*k*in)).
  down=2, resample 'fir': the official downsampling conv ([1, 3, 3, 1] blur, then stride 2;
  a 1x1 kernel after downsample2d), lib/nn/upfirdn.conv2d_resample. resample 'avg': 2x2
  average pooling, then the conv at the low resolution."""
  features: int
  kernel_size: int = 3
  use_bias: bool = True
  down: int = 1
  resample: str = "fir"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    k, cin = self.kernel_size, x.shape[-1]
    kernel = self.param("kernel", nn.initializers.normal(1.0), (k, k, cin, self.features))
    kernel = (kernel * (1.0 / math.sqrt(k * k * cin))).astype(self.dtype)
    check_resample(self.resample, DOWN_RESAMPLE, "EqualizedConv2D")
    if self.down > 1 and self.resample == "avg":
      y = _conv(pool(x, self.down, "avg"), kernel, "SAME")
    elif self.down > 1:
      y = conv2d_resample(x, kernel, down=self.down, padding=k // 2)
    else:
      y = _conv(x, kernel, "SAME")
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,)).astype(self.dtype)
    return y


class NoiseInjection(nn.Module):
  """x + strength * n with n ~ N(0, 1) per pixel (one map broadcast over channels) and a
  learned per-layer strength, zero at init (StyleGAN2 official); needs rng stream 'noise'."""

  @nn.compact
  def __call__(self, x, noise=None):
    strength = self.param("strength", nn.initializers.zeros, ())
    if noise is None:
      noise = jax.random.normal(self.make_rng("noise"), x.shape[:-1] + (1,), x.dtype)
    return x + strength.astype(x.dtype) * noise


class ModulatedConv2D(nn.Module):
  """StyleGAN2 modulated conv: s = A(w) (affine with bias 1), then `modulated_conv2d`.

  Weights ~ N(0, 1) with the equalized-lr scale 1/sqrt(k*k*in) folded in at run time
  (`equalized_lr`), or He-initialised and used as stored.
  """
  features: int
  kernel_size: int = 3
  demodulate: bool = True
  fused: bool = False
  equalized_lr: bool = True
  up: int = 1
  resample: str = "fir"            # up=2: 'fir' (official) or 'bilinear'
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, w):
    k, cin = self.kernel_size, x.shape[-1]
    styles = EqualizedDense(cin, bias_init=1.0, dtype=self.dtype, name="affine")(w)
    scale = 1.0 / math.sqrt(k * k * cin)
    if self.equalized_lr:
      weight = self.param("kernel", nn.initializers.normal(1.0), (k, k, cin, self.features))
      weight = weight * scale
    else:
      weight = self.param("kernel", nn.initializers.normal(scale), (k, k, cin, self.features))
    return modulated_conv2d(x, weight, styles, demodulate=self.demodulate, fused=self.fused,
                            up=self.up, resample=self.resample)
