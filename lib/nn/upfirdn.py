"""upfirdn2d: upsample, FIR filter, downsample (the resampling op of StyleGAN2 and the GANs
built on it), following stylegan2-ada-pytorch's torch_utils/ops/upfirdn2d.py (its reference
implementation `_upfirdn2d_ref`) and conv2d_resample.py.

For each channel of x [B, H, W, C] (NHWC here; the official code is NCHW):
  1. upsample by inserting up - 1 zeros after each pixel;
  2. pad with zeros (or crop, for negative padding) by (x0, x1, y0, y1);
  3. convolve with the FIR filter f (a true convolution: the filter is flipped unless
     `flip_filter`), scaled by `gain`; pixels outside the image count as zero;
  4. downsample by keeping every down-th pixel.
Filters are given as 1-D taps and used separably (rows, then columns) as the official code
does for [1, 3, 3, 1]; a 2-D filter is also accepted. `setup_filter` normalises them to unit
DC gain. The wrappers add the official padding: `upsample2d` (gain up^2), `downsample2d`,
`filter2d`; `conv2d_resample` is a convolution with up/downsampling by the official fast paths:
  up = 2:   transposed convolution (stride 2), then the filter with gain 4 (the transposed
            convolution runs the kernel flipped relative to a correlation: weights
            [kh, kw, in, out] here equal the official [out, in, kh, kw] transposed);
  down = 2: the filter first, then a stride-2 convolution (a 1x1 kernel: downsample2d, then
            the 1x1 convolution).
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

FIR_1331 = (1.0, 3.0, 3.0, 1.0)           # StyleGAN2's resample filter (binomial, 4 taps)


def setup_filter(f: Sequence[float] | np.ndarray = FIR_1331) -> np.ndarray:
  """Taps normalised to sum 1 (1-D: used separably, so the 2-D filter is f f^T)."""
  f = np.asarray(f, np.float32)
  if f.ndim not in (1, 2):
    raise ValueError(f"FIR filter must be 1-D taps or 2-D, got shape {f.shape}")
  return f / f.sum()


def _parse_padding(padding):
  if isinstance(padding, int):
    return padding, padding, padding, padding
  if len(padding) == 2:
    px, py = padding
    return px, px, py, py
  return tuple(padding)


def _fir_1d(x, taps, axis: int, down: int):
  """sum_c taps[c] * x[..., down * p + c, ...] along `axis` (correlation), strided by down."""
  n_out = (x.shape[axis] - len(taps)) // down + 1
  out = None
  for c, t in enumerate(taps):
    part = jax.lax.slice_in_dim(x, c, c + down * (n_out - 1) + 1, down, axis) * t
    out = part if out is None else out + part
  return out


def upfirdn2d(x, f, up: int = 1, down: int = 1, padding=0, flip_filter: bool = False,
              gain: float = 1.0):
  """Official upfirdn2d for x [B, H, W, C]; padding int | (px, py) | (x0, x1, y0, y1)."""
  f = np.asarray(f, np.float32)
  b, h, w, c = x.shape
  px0, px1, py0, py1 = _parse_padding(padding)
  if up > 1:                                                 # 1. zeros after each pixel
    x = x.reshape(b, h, 1, w, 1, c)
    x = jnp.pad(x, ((0, 0), (0, 0), (0, up - 1), (0, 0), (0, up - 1), (0, 0)))
    x = x.reshape(b, h * up, w * up, c)
  x = jnp.pad(x, ((0, 0), (max(py0, 0), max(py1, 0)), (max(px0, 0), max(px1, 0)), (0, 0)))
  x = x[:, max(-py0, 0): x.shape[1] - max(-py1, 0),          # 2. pad or crop
        max(-px0, 0): x.shape[2] - max(-px1, 0)]
  if not flip_filter:                                        # 3. true convolution
    f = f[::-1] if f.ndim == 1 else f[::-1, ::-1]
  if f.ndim == 1:                                            # separable: rows, then columns
    x = _fir_1d(_fir_1d(x, f * np.float32(gain), 1, down), f, 2, down)
    return x                                                 # 4. strided in _fir_1d
  kernel = jnp.asarray(np.tile((f * gain)[:, :, None, None], (1, 1, 1, c)), x.dtype)
  return jax.lax.conv_general_dilated(x, kernel, (down, down), "VALID",
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                      feature_group_count=c)


def _taps(f):
  return f.shape[-1]


def upsample2d(x, f=None, up: int = 2, padding=0, gain: float | None = None):
  """2x (or up-x) upsampling with the official padding: (fw + up - 1) // 2, (fw - up) // 2."""
  f = setup_filter(FIR_1331 if f is None else f)
  fw = _taps(f)
  px0, px1, py0, py1 = _parse_padding(padding)
  pad = (px0 + (fw + up - 1) // 2, px1 + (fw - up) // 2,
         py0 + (fw + up - 1) // 2, py1 + (fw - up) // 2)
  return upfirdn2d(x, f, up=up, padding=pad, gain=up * up if gain is None else gain)


def downsample2d(x, f=None, down: int = 2, padding=0, flip_filter: bool = False):
  """2x (or down-x) downsampling with the official padding: (fw - down + 1) // 2, (fw - down) // 2."""
  f = setup_filter(FIR_1331 if f is None else f)
  fw = _taps(f)
  px0, px1, py0, py1 = _parse_padding(padding)
  pad = (px0 + (fw - down + 1) // 2, px1 + (fw - down) // 2,
         py0 + (fw - down + 1) // 2, py1 + (fw - down) // 2)
  return upfirdn2d(x, f, down=down, padding=pad, flip_filter=flip_filter)


def filter2d(x, f=None, padding=0, gain: float = 1.0):
  """The filter alone, same size: padding fw // 2, (fw - 1) // 2."""
  f = setup_filter(FIR_1331 if f is None else f)
  fw = _taps(f)
  px0, px1, py0, py1 = _parse_padding(padding)
  pad = (px0 + fw // 2, px1 + (fw - 1) // 2, py0 + fw // 2, py1 + (fw - 1) // 2)
  return upfirdn2d(x, f, padding=pad, gain=gain)


def _conv(x, kernel, stride: int = 1, padding=((0, 0), (0, 0))):
  return jax.lax.conv_general_dilated(x, kernel, (stride, stride), padding,
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))


def conv2d_resample(x, weight, f=None, up: int = 1, down: int = 1, padding: int = 0):
  """Official conv2d_resample for weight [kh, kw, in, out] (square kernels), `padding` the
  convolution's own (kernel_size // 2 in the official layers); up, down in {1, 2}."""
  f = setup_filter(FIR_1331 if f is None else f)
  fw = _taps(f)
  kh, kw = weight.shape[0], weight.shape[1]
  p0 = p1 = padding
  if up > 1 and down > 1:
    raise ValueError("conv2d_resample: up and down together are not implemented")
  if up > 1:
    p0 += (fw + up - 1) // 2 - (kw - 1)
    p1 += (fw - up) // 2 - (kw - up)
    pt = max(min(-p0, -p1), 0)
    # Transposed conv, stride `up`: zeros inserted between pixels, full padding kw - 1 - pt,
    # then a correlation with the spatially flipped kernel.
    y = jax.lax.conv_general_dilated(
        x, weight[::-1, ::-1], (1, 1), ((kh - 1 - pt, kh - 1 - pt), (kw - 1 - pt, kw - 1 - pt)),
        lhs_dilation=(up, up), dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return upfirdn2d(y, f, padding=(p0 + pt, p1 + pt, p0 + pt, p1 + pt), gain=up * up)
  if down > 1:
    p0 += (fw - down + 1) // 2
    p1 += (fw - down) // 2
    if kh == 1 and kw == 1:
      return _conv(upfirdn2d(x, f, down=down, padding=(p0, p1, p0, p1)), weight)
    return _conv(upfirdn2d(x, f, padding=(p0, p1, p0, p1)), weight, stride=down)
  return _conv(x, weight, padding=((padding, padding), (padding, padding)))
