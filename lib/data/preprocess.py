"""Turning decoded images into the pipeline's float32 [H, W, C] arrays in [-1, 1].

Resizing is bilinear with half-pixel centers (PIL's BILINEAR on float images): an exact
linear interpolation with edge clamping when upsampling, area-antialiased when downsampling.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

# ITU-R BT.601 luma weights, used when an RGB image is asked for with one channel.
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def uint8_to_signed(image: np.ndarray) -> np.ndarray:
  """uint8 pixels 0..255 -> float32 in [-1, 1]."""
  return np.asarray(image, np.float32) / 127.5 - 1.0


def center_crop_square(image: np.ndarray) -> np.ndarray:
  """The largest centered square of an [H, W, C] image."""
  h, w = image.shape[:2]
  s = min(h, w)
  top, left = (h - s) // 2, (w - s) // 2
  return image[top:top + s, left:left + s]


def resize_bilinear(image: np.ndarray, size: int) -> np.ndarray:
  """Resizes a float [H, W, C] image to [size, size, C] (bilinear, half-pixel centers)."""
  image = np.asarray(image, np.float32)
  if image.shape[0] == size and image.shape[1] == size:
    return image
  channels = [np.asarray(Image.fromarray(np.ascontiguousarray(image[..., c]))
                         .resize((size, size), Image.BILINEAR))
              for c in range(image.shape[-1])]
  return np.stack(channels, axis=-1).astype(np.float32)


def set_channels(image: np.ndarray, channels: int) -> np.ndarray:
  """Makes an [H, W, C] image have `channels` channels: 1 -> 3 repeats, 3 -> 1 takes luma,
  4 (RGBA) drops alpha first."""
  c = image.shape[-1]
  if c == 4:
    image, c = image[..., :3], 3
  if c == channels:
    return image
  if c == 1 and channels == 3:
    return np.repeat(image, 3, axis=-1)
  if c == 3 and channels == 1:
    return (image @ _LUMA)[..., None].astype(np.float32)
  raise ValueError(f"cannot turn an image with {c} channels into {channels} channels")


def prepare_image(image: np.ndarray, image_size: int | None, channels: int | None) -> np.ndarray:
  """uint8 [H, W] or [H, W, C] -> float32 [S, S, C'] in [-1, 1]: center crop to a square and
  resize when `image_size` is given (else the native size), then set the channel count."""
  image = np.asarray(image)
  if image.ndim == 2:
    image = image[..., None]
  out = uint8_to_signed(image)
  if channels:
    out = set_channels(out, channels)
  if image_size:
    out = resize_bilinear(center_crop_square(out), image_size)
  return out
