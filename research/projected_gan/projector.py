"""Projected GAN's random projections (Sauer et al. 2021, Sec. 3.2), fixed after init.

- Cross-Channel Mixing (CCM): a random 1x1 convolution per scale, channels -> cout * 2^i
  with `expand` (64, 128, 256, 512 for cout 64), else cout (official projector.py
  `_make_scratch_ccm`, lines 7-18).
- Cross-Scale Mixing (CSM): from the coarsest scale up, each level adds the (already fused)
  coarser level, upsamples x2 bilinearly (align_corners=True) and applies a random 1x1
  convolution halving the channels with `expand` (not at the finest level), so every output
  has twice the resolution of its input (official blocks.py `FeatureFusionBlock`, lines
  221-248, and projector.py `_make_scratch_csm` / `F_RandomProj.forward`, lines 21-30 and
  143-147). The paper describes CSM with 3x3 convolutions; the official code defines a 3x3
  `ResidualConvUnit` but never calls it, and its `out_conv` is 1x1: the code is followed.

Both are random and never trained: the official training loop switches the whole feature
network off (training_loop.py line 299: `feature_network.requires_grad_(False)` in the D
phases; G's phases train only G). Here their weights live in the discriminator's
non-trainable collection 'frozen', drawn at init with PyTorch's default Conv2d init
(kaiming_uniform(a=sqrt(5)) = U(+-1/sqrt(fan_in)) for weight and bias), as the official
modules are.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from research.projected_gan.feature_network import FROZEN


def torch_uniform(fan_in: int):
  """PyTorch's default conv/linear init: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
  bound = 1.0 / np.sqrt(fan_in)
  return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype,
                                                                  -bound, bound)


class FrozenConv1x1(nn.Module):
  """y = x W + b over channels (a 1x1 convolution), W and b in the 'frozen' collection."""
  features: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    cin = x.shape[-1]
    init = torch_uniform(cin)
    w = self.variable(FROZEN, "kernel", lambda: init(self.make_rng("params"),
                                                     (cin, self.features))).value
    b = self.variable(FROZEN, "bias", lambda: init(self.make_rng("params"),
                                                   (self.features,))).value
    return (jnp.einsum("bhwc,cd->bhwd", x.astype(self.dtype), w.astype(self.dtype))
            + b.astype(self.dtype))


def upsample2_align_corners(x):
  """Bilinear x2 upsampling of [B, h, w, C] with align_corners=True (torch
  F.interpolate(scale_factor=2, mode='bilinear', align_corners=True)): output pixel j of
  2n samples the input at j (n - 1) / (2n - 1)."""
  def matrix(n):
    m = 2 * n
    pos = np.arange(m) * ((n - 1) / (m - 1) if m > 1 else 0.0)
    lo = np.clip(np.floor(pos).astype(int), 0, n - 1)
    hi = np.clip(lo + 1, 0, n - 1)
    frac = pos - lo
    a = np.zeros((m, n), np.float32)
    a[np.arange(m), lo] += 1.0 - frac
    a[np.arange(m), hi] += frac
    return jnp.asarray(a, x.dtype)
  _, h, w, _ = x.shape
  return jnp.einsum("ih,jw,bhwc->bijc", matrix(h), matrix(w), x)


def ccm_channels(cout: int, expand: bool, n: int = 4) -> tuple[int, ...]:
  return tuple(cout * 2 ** i for i in range(n)) if expand else (cout,) * n


def csm_channels(cout: int, expand: bool, n: int = 4) -> tuple[int, ...]:
  """CSM output channels, finest first: (cout, cout, 2 cout, 4 cout) with expand."""
  return (cout,) + tuple(cout * 2 ** (i - 1) for i in range(1, n)) if expand else (cout,) * n


class RandomProjection(nn.Module):
  """P = CSM o CCM on the pyramid (finest first); proj_type 0: identity, 1: CCM only,
  2: CCM and CSM (the official default, train.py line 246)."""
  cout: int = 64
  expand: bool = True
  proj_type: int = 2
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, maps):
    if self.proj_type == 0:
      return list(maps)
    n = len(maps)
    mixed = [FrozenConv1x1(c, self.dtype, name=f"ccm_{i}")(m)          # CCM: 1x1 per scale
             for i, (c, m) in enumerate(zip(ccm_channels(self.cout, self.expand, n), maps))]
    if self.proj_type == 1:
      return mixed
    out = [None] * n
    fused = None
    for i in reversed(range(n)):                        # coarsest first (official lines 144-147)
      h = mixed[i] if fused is None else mixed[i] + fused      # skip add of the coarser level
      h = upsample2_align_corners(h)                           # x2, align_corners=True
      halve = self.expand and i > 0                            # the finest level keeps cout
      fused = FrozenConv1x1(h.shape[-1] // 2 if halve else h.shape[-1], self.dtype,
                            name=f"csm_{i}")(h)
      out[i] = fused
    return out
