"""lib/nn/upfirdn.py against a numpy transcription of stylegan2-ada-pytorch's
`_upfirdn2d_ref` (zero insertion, zero padding or cropping, true convolution with the
filter, decimation) and of conv2d_resample's transposed convolution (scatter form)."""
import numpy as np
import pytest

import jax.numpy as jnp

from lib.nn import upfirdn as U


def ref_upfirdn2d(x, f, up=1, down=1, pad=(0, 0, 0, 0), flip_filter=False, gain=1.0):
  """x [B, H, W, C]; f 2-D; pad (x0, x1, y0, y1); plain loops over the output."""
  b, h, w, c = x.shape
  z = np.zeros((b, h * up, w * up, c), np.float64)
  z[:, ::up, ::up] = x
  x0, x1, y0, y1 = pad
  z = np.pad(z, ((0, 0), (max(y0, 0), max(y1, 0)), (max(x0, 0), max(x1, 0)), (0, 0)))
  z = z[:, max(-y0, 0): z.shape[1] - max(-y1, 0), max(-x0, 0): z.shape[2] - max(-x1, 0)]
  f = np.asarray(f, np.float64) * gain
  if not flip_filter:
    f = f[::-1, ::-1]
  fh, fw = f.shape
  out = np.zeros((b, z.shape[1] - fh + 1, z.shape[2] - fw + 1, c))
  for i in range(out.shape[1]):
    for j in range(out.shape[2]):
      out[:, i, j] = np.einsum("bhwc,hw->bc", z[:, i:i + fh, j:j + fw], f)
  return out[:, ::down, ::down]


def ref_conv_transpose(x, w, stride=2):
  """PyTorch conv_transpose2d(x, w^T, stride), padding 0: out[s i + a] += x[i] w[a]."""
  b, h, wd, _ = x.shape
  kh, kw, _, cout = w.shape
  out = np.zeros((b, (h - 1) * stride + kh, (wd - 1) * stride + kw, cout))
  for i in range(h):
    for j in range(wd):
      out[:, stride * i: stride * i + kh, stride * j: stride * j + kw] += np.einsum(
          "bc,hwco->bhwo", x[:, i, j], w)
  return out


def ref_correlate(x, w, stride=1, pad=0):
  x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  kh, kw = w.shape[:2]
  ho, wo = (x.shape[1] - kh) // stride + 1, (x.shape[2] - kw) // stride + 1
  out = np.zeros((x.shape[0], ho, wo, w.shape[-1]))
  for i in range(ho):
    for j in range(wo):
      out[:, i, j] = np.einsum("bhwc,hwco->bo", x[:, stride * i: stride * i + kh,
                                                   stride * j: stride * j + kw], w)
  return out


F2 = np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0
rng = np.random.default_rng(0)
X = rng.normal(size=(2, 6, 5, 3)).astype(np.float32)


@pytest.mark.parametrize("up,down,pad", [(1, 1, (1, 2, 0, 1)), (2, 1, (2, 1, 2, 1)),
                                         (1, 2, (1, 1, 1, 1)), (2, 2, (-1, 2, 1, -1))])
def test_upfirdn2d_matches_reference(up, down, pad):
  want = ref_upfirdn2d(X, F2, up, down, pad, gain=up * up)
  got = U.upfirdn2d(jnp.asarray(X), U.setup_filter(), up, down, pad, gain=up * up)
  np.testing.assert_allclose(np.asarray(got), want, atol=1e-5)
  # a non-symmetric 2-D filter checks the flip (true convolution) and the 2-D path
  f = rng.normal(size=(3, 2))
  for flip in (False, True):
    got = U.upfirdn2d(jnp.asarray(X), f, up, down, pad, flip_filter=flip)
    np.testing.assert_allclose(np.asarray(got), ref_upfirdn2d(X, f, up, down, pad, flip),
                               atol=1e-5)


def test_upsample2d_zero_border_not_bilinear():
  """Official padding (2, 1) for 4 taps, gain 4; a constant image is 1 inside and falls
  off at the border (pixels outside are zero): 0.75 at an edge, 0.5625 at a corner."""
  got = np.asarray(U.upsample2d(jnp.asarray(X)))
  np.testing.assert_allclose(got, ref_upfirdn2d(X, F2, 2, 1, (2, 1, 2, 1), gain=4), atol=1e-5)
  ones = np.asarray(U.upsample2d(jnp.ones((1, 4, 4, 1))))[0, :, :, 0]
  assert ones.shape == (8, 8)
  np.testing.assert_allclose(ones[2:6, 2:6], 1.0, atol=1e-6)
  np.testing.assert_allclose([ones[0, 4], ones[0, 0]], [0.75, 0.5625], atol=1e-6)


def test_downsample2d_and_filter2d_match_reference():
  np.testing.assert_allclose(np.asarray(U.downsample2d(jnp.asarray(X[:, :6, :4]))),
                             ref_upfirdn2d(X[:, :6, :4], F2, 1, 2, (1, 1, 1, 1)), atol=1e-5)
  np.testing.assert_allclose(np.asarray(U.filter2d(jnp.asarray(X))),
                             ref_upfirdn2d(X, F2, 1, 1, (2, 1, 2, 1)), atol=1e-5)


def test_conv2d_resample_up_is_transposed_conv_then_filter():
  """up=2, 3x3, padding 1 (the official SynthesisLayer): conv_transpose2d with stride 2 and
  padding 0, then upfirdn2d with padding 1 and gain 4 -> exactly 2H x 2W."""
  w = rng.normal(size=(3, 3, 3, 4)).astype(np.float32)
  want = ref_upfirdn2d(ref_conv_transpose(X, w), F2, 1, 1, (1, 1, 1, 1), gain=4)
  got = np.asarray(U.conv2d_resample(jnp.asarray(X), jnp.asarray(w), up=2, padding=1))
  assert got.shape == (2, 12, 10, 4)
  np.testing.assert_allclose(got, want, atol=1e-4)
  # the kernel is not run as a correlation of the bilinear-upsampled input
  flipped = ref_upfirdn2d(ref_conv_transpose(X, w[::-1, ::-1]), F2, 1, 1, (1, 1, 1, 1), gain=4)
  assert np.abs(got - flipped).max() > 1e-2


def test_conv2d_resample_down_is_blur_then_stride():
  x = X[:, :6, :4]
  w = rng.normal(size=(3, 3, 3, 4)).astype(np.float32)
  want = ref_correlate(ref_upfirdn2d(x, F2, 1, 1, (2, 2, 2, 2)), w, stride=2)
  got = np.asarray(U.conv2d_resample(jnp.asarray(x), jnp.asarray(w), down=2, padding=1))
  assert got.shape == (2, 3, 2, 4)
  np.testing.assert_allclose(got, want, atol=1e-4)
  w1 = rng.normal(size=(1, 1, 3, 4)).astype(np.float32)
  want1 = ref_correlate(ref_upfirdn2d(x, F2, 1, 2, (1, 1, 1, 1)), w1)
  np.testing.assert_allclose(np.asarray(U.conv2d_resample(jnp.asarray(x), jnp.asarray(w1),
                                                          down=2)), want1, atol=1e-4)
