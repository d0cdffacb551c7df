"""Convolutions fused with the 2x resampling of ResNet GAN blocks (SNGAN, SAGAN, BigGAN).

`UpsampleConv`: nearest-neighbour 2x upsampling, then a k x k conv (SAME).
`ConvAvgPool`:  a k x k conv (SAME), then 2x2 average pooling.

Both hold the same parameters as the `nn.Conv` they replace ('kernel' [k, k, C_in, C_out],
'bias' [C_out]), so spectral norm wraps them unchanged and checkpoints load either way. The
output equals the literal composition up to float rounding; only the arithmetic differs:

- 1 x 1 kernels commute with both resamplings (the conv is per pixel and linear, the bias
  passes through an average and a copy), so the conv runs on the low-resolution side:
  conv(up(x)) = up(conv(x)) and pool(conv(x)) = conv(pool(x)), 4x fewer FLOPs. Any backend.
- 3 x 3 after upsampling (sub-pixel form): the output pixel (2i + a, 2j + b) reads input rows
  {i - 1, i, i} (a = 0) or {i, i, i + 1} (a = 1), so each of the four phases (a, b) is a 2 x 2
  conv of x whose taps are sums of W's taps. One 2 x 2 VALID conv of the padded x with
  4 C_out outputs gives all phases; a depth-to-space interleaves them. 16 instead of 36
  multiply-adds per low-res pixel and channel pair, and no upsampled input is materialised.
- k x k then 2x2 average pooling: pool(conv_W(x)) = conv_K(x) at stride 2 with the (k+1) x
  (k+1) kernel K = W * box / 4 (W convolved with a 2x2 box filter), padding (k - 1) / 2:
  (k+1)^2 / 4 instead of k^2 multiply-adds per input pixel (4 against 9 for k = 3). It runs
  as a stride-1 conv of the space-to-depth input (4 C_in channels, (k+1)/2 taps a side).

The 3 x 3 forms are taken on CPU only (`fused=None`), where they cut the BigGAN/SAGAN digits
step time (benchmarks/results/gan_step_vs_torch.md); on GPU and TPU the literal composition
runs as before (cuDNN). `fused=True/False` forces either. tests/nn/test_resample_conv.py checks
values and gradients against the literal composition.
"""
from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lib.nn.pooling import pool

_DN = ("NHWC", "HWIO", "NHWC")
# Row taps of the 3x3 kernel that each output phase a sums into its 2 taps (sub-pixel form).
_PHASE_TAPS = np.array([[[1., 0., 0.], [0., 1., 1.]],      # a = 0: rows i-1 <- 0; i <- 1, 2
                         [[1., 1., 0.], [0., 0., 1.]]])     # a = 1: rows i <- 0, 1; i+1 <- 2


def _conv(x, w, stride: int = 1, padding="SAME"):
  return jax.lax.conv_general_dilated(x, w, (stride, stride), padding, dimension_numbers=_DN)


def upsample_nearest2x(x):
  """[B, H, W, C] -> [B, 2H, 2W, C], every pixel copied to a 2x2 block."""
  b, h, w, c = x.shape
  return jnp.broadcast_to(x[:, :, None, :, None, :], (b, h, 2, w, 2, c)).reshape(
      b, 2 * h, 2 * w, c)


def upsample_conv3x3_subpixel(x, w):
  """conv3x3_SAME(upsample_nearest2x(x), w) as one 2x2 conv over the 4 output phases."""
  b, h, wd, _ = x.shape
  cout = w.shape[-1]
  taps = jnp.asarray(_PHASE_TAPS, w.dtype)
  # k[u, v, ci, a, b2, co] = sum_{ky, kx} taps[a, u, ky] taps[b2, v, kx] w[ky, kx, ci, co]
  k = jnp.einsum("auy,bvx,yxio->uviabo", taps, taps, w).reshape(2, 2, w.shape[2], 4 * cout)
  y = _conv(jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))), k, padding="VALID")
  y = y.reshape(b, h + 1, wd + 1, 2, 2, cout)
  # phase (a, b2) of output pixel (i, j) sits at y[i + a, j + b2, a, b2]
  rows = [jnp.stack([y[:, a:a + h, c:c + wd, a, c] for c in (0, 1)], axis=3) for a in (0, 1)]
  return jnp.stack(rows, axis=2).reshape(b, 2 * h, 2 * wd, cout)   # [B, H, 2, W, 2, C]


def conv_avgpool_strided(x, w):
  """avgpool2x(convkxk_SAME(x, w)) as one stride-2 conv with the (k+1)^2 kernel W * box / 4,
  run as a stride-1 conv of the space-to-depth input (XLA:CPU's strided conv gradients are
  slower than plain ones)."""
  k = w.shape[0]
  big = jnp.zeros((k + 1, k + 1) + w.shape[2:], w.dtype)
  for a in (0, 1):
    for c in (0, 1):
      big = big.at[a:a + k, c:c + k].add(w)
  big = big / 4                                                  # K = W * box / 4
  p, t, cin = (k - 1) // 2, (k + 1) // 2, w.shape[2]
  xp = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
  b, h, wd, _ = xp.shape
  # space to depth: pixel (2i + a, 2j + c) -> position (i, j), channel (a, c, ci)
  xs = xp.reshape(b, h // 2, 2, wd // 2, 2, cin).transpose(0, 1, 3, 2, 4, 5)
  ks = big.reshape(t, 2, t, 2, cin, -1).transpose(0, 2, 1, 3, 4, 5)
  return _conv(xs.reshape(b, h // 2, wd // 2, 4 * cin), ks.reshape(t, t, 4 * cin, -1),
               padding="VALID")


def _fuse(fused: bool | None) -> bool:
  return jax.default_backend() == "cpu" if fused is None else fused


class _ResampleConv(nn.Module):
  features: int
  kernel_size: int = 3
  use_bias: bool = True
  kernel_init: Callable = nn.initializers.lecun_normal()
  bias_init: Callable = nn.initializers.zeros_init()
  dtype: Any = None
  fused: bool | None = None

  def params_for(self, x):
    k = self.kernel_size
    if k % 2 != 1:
      raise ValueError(f"{type(self).__name__}: kernel_size {k} must be odd (SAME padding)")
    kernel = self.param("kernel", self.kernel_init, (k, k, x.shape[-1], self.features),
                        jnp.float32)
    bias = (self.param("bias", self.bias_init, (self.features,), jnp.float32)
            if self.use_bias else None)
    x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
    return x, kernel, bias


class UpsampleConv(_ResampleConv):
  """conv_kxk(upsample_nearest2x(x)) + bias, with nn.Conv's parameters (module docstring)."""

  @nn.compact
  def __call__(self, x):
    x, kernel, bias = self.params_for(x)
    if self.kernel_size == 1:
      y = upsample_nearest2x(_conv(x, kernel))                 # 1x1 commutes with copying
    elif self.kernel_size == 3 and _fuse(self.fused):
      y = upsample_conv3x3_subpixel(x, kernel)
    else:
      y = _conv(upsample_nearest2x(x), kernel)
    return y if bias is None else y + bias


class ConvAvgPool(_ResampleConv):
  """avgpool2x(conv_kxk(x) + bias), with nn.Conv's parameters (module docstring)."""

  @nn.compact
  def __call__(self, x):
    x, kernel, bias = self.params_for(x)
    if self.kernel_size == 1:
      y = _conv(pool(x, 2, "avg"), kernel)                     # 1x1 commutes with averaging
    elif _fuse(self.fused):
      y = conv_avgpool_strided(x, kernel)
    else:
      y = pool(_conv(x, kernel), 2, "avg")
    return y if bias is None else y + bias
