"""SSIM (Wang et al. 2004, Eq. 13) with an 11x11 Gaussian window (sigma 1.5), K1 = 0.01,
K2 = 0.03, valid positions only, averaged over positions and channels; numpy, float64.
  SSIM(x, y) = (2 mu_x mu_y + C1)(2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2))
with C_i = (K_i L)^2 and L the data range (2 for images in [-1, 1]). Images smaller than
the window use a window of their size.
"""
from __future__ import annotations

import numpy as np


def gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
  t = np.arange(size) - (size - 1) / 2.0
  g = np.exp(-t ** 2 / (2 * sigma ** 2))
  return g / g.sum()


def _filter(x, g):
  """Separable valid correlation of [N, H, W, C] with the 1-D window g on H and W."""
  k = len(g)
  h = sum(g[i] * x[:, i:x.shape[1] - k + 1 + i] for i in range(k))
  return sum(g[i] * h[:, :, i:h.shape[2] - k + 1 + i] for i in range(k))


def ssim(x, y, data_range: float = 2.0, size: int = 11, sigma: float = 1.5) -> np.ndarray:
  """Per-image SSIM of [N, H, W, C] arrays."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  g = gaussian_window(min(size, x.shape[1], x.shape[2]), sigma)
  c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
  mx, my = _filter(x, g), _filter(y, g)
  sxx = _filter(x * x, g) - mx * mx
  syy = _filter(y * y, g) - my * my
  sxy = _filter(x * y, g) - mx * my
  s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (sxx + syy + c2))
  return s.reshape(len(x), -1).mean(1)
