"""Image preparation: value scaling, crop, channel conversion, resizing."""
import numpy as np
import pytest

from lib.data.preprocess import (center_crop_square, prepare_image, resize_bilinear,
                                 set_channels, uint8_to_signed)


def test_scaling_crop_and_channels():
  np.testing.assert_allclose(uint8_to_signed(np.array([0, 255], np.uint8)), [-1.0, 1.0])
  img = np.arange(6 * 10).reshape(6, 10, 1)
  np.testing.assert_array_equal(center_crop_square(img), img[:, 2:8])
  rgb = np.random.default_rng(0).uniform(-1, 1, (3, 3, 3)).astype(np.float32)
  gray = set_channels(rgb, 1)
  np.testing.assert_allclose(gray[..., 0], 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1]
                             + 0.114 * rgb[..., 2], atol=1e-6)
  np.testing.assert_array_equal(set_channels(gray, 3), np.repeat(gray, 3, -1))
  with pytest.raises(ValueError):
    set_channels(rgb, 2)


def test_resize_keeps_constants_and_prepare_composes():
  const = np.full((7, 5, 2), 0.25, np.float32)
  np.testing.assert_allclose(resize_bilinear(const, 11), 0.25, atol=1e-6)
  u8 = np.zeros((20, 12, 3), np.uint8)
  u8[..., 0] = 255
  out = prepare_image(u8, 8, 1)
  assert out.shape == (8, 8, 1) and out.dtype == np.float32
  np.testing.assert_allclose(out, 0.299 * 1 + 0.701 * -1, atol=1e-5)
  assert prepare_image(u8, None, None).shape == (20, 12, 3)
