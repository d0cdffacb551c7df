"""PatchGAN (Isola et al. 2017, "pix2pix", Sec. 3.2.2; the 70x70 NLayerDiscriminator of
junyanz/pytorch-CycleGAN-and-pix2pix) and the multi-scale discriminator (Wang et al. 2018,
"pix2pixHD", Sec. 3.2: the same architecture on the image downsampled 1x, 2x, 4x).

PatchGAN: conv 4x4 stride 2 (no norm) + LeakyReLU 0.2, then `n_layers - 1` such convs with
norm, one stride-1 conv with norm, and a stride-1 conv to one logit per patch; channels
features * min(2^i, 8); zero padding 1. Output: a list of {'logits': [B, h, w, 1]}, one
entry per scale (one for PatchGAN), the form every translation discriminator returns.
"""
from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from lib.nn.image_norm import make_norm

PAD1 = ((1, 1), (1, 1))


class PatchDiscriminator(nn.Module):
  features: int = 64
  n_layers: int = 3
  norm: str = "instance"

  @nn.compact
  def __call__(self, x, train: bool = False):
    h = nn.leaky_relu(nn.Conv(self.features, (4, 4), (2, 2), PAD1)(x), 0.2)
    mult = 1
    for n in range(1, self.n_layers + 1):
      mult = min(2 ** n, 8)
      stride = 2 if n < self.n_layers else 1
      h = nn.Conv(self.features * mult, (4, 4), (stride, stride), PAD1,
                  use_bias=self.norm != "batch")(h)
      h = nn.leaky_relu(make_norm(self.norm, train)(h), 0.2)
    logits = nn.Conv(1, (4, 4), (1, 1), PAD1)(h)
    return [{"logits": logits}]


def downsample_avg(x):
  """3x3 average pool, stride 2, padding 1, padded cells not counted (pix2pixHD)."""
  pad = ((0, 0), (1, 1), (1, 1), (0, 0))
  s = nn.avg_pool(jnp.pad(x, pad), (3, 3), (2, 2))
  ones = jnp.pad(jnp.ones(x.shape[:3] + (1,), x.dtype), pad)
  return s / nn.avg_pool(ones, (3, 3), (2, 2))


class MultiScaleDiscriminator(nn.Module):
  """`num_scales` PatchGANs, the k-th on the image average-pooled k times."""
  features: int = 64
  n_layers: int = 3
  norm: str = "instance"
  num_scales: int = 3

  @nn.compact
  def __call__(self, x, train: bool = False):
    out = []
    for k in range(self.num_scales):
      out += PatchDiscriminator(self.features, self.n_layers, self.norm, name=f"scale_{k}")(
          x, train)
      if k + 1 < self.num_scales:
        x = downsample_avg(x)
    return out
