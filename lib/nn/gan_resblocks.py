"""Residual generator and discriminator blocks shared by SNGAN-style ResNet GANs: the
projection cGAN (Miyato & Koyama 2018), SAGAN (Zhang et al. 2019) and BigGAN (Brock et al.
2019). Their 32x32 architectures come from Miyato et al. 2018 ("Spectral Normalization",
App. B, Table 4 / Fig. 8) and Gulrajani et al. 2017 (WGAN-GP ResNet).

GBlock: norm -> ReLU -> upsample (nearest) -> conv3x3 -> norm -> ReLU -> conv3x3, plus a
shortcut upsample -> conv1x1. `norm` is 'bn' (unconditional), 'class_cbn' (per-class gains,
conditioned on labels) or 'linear_cbn' (BigGAN: conditioned on [shared embedding, z chunk]).

DBlock: (ReLU ->) conv3x3 -> ReLU -> conv3x3 -> avgpool 2x2, plus a conv1x1 shortcut. The
first block of a discriminator (`preactivation=False`, SNGAN's "OptimizedBlock") has no
leading ReLU and pools before its shortcut conv.

Each conv next to a resampling is one `lib/nn/resample_conv` layer (UpsampleConv,
ConvAvgPool): the same parameters and, up to float rounding, the same output, computed with
fewer FLOPs on CPU (its docstring).
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from lib.nn.conditional_norm import ClassConditionalBatchNorm, LinearConditionalBatchNorm
from lib.nn.resample_conv import ConvAvgPool, UpsampleConv
from lib.nn.spectral_norm import spectral_norm as sn_wrap

KERNEL_INITS = {
    "xavier": nn.initializers.xavier_uniform(),           # SNGAN / projection cGAN / SAGAN
    "orthogonal": nn.initializers.orthogonal(),           # BigGAN
    "normal002": nn.initializers.normal(0.02),            # DCGAN, BigGAN-PyTorch 'N02'
}


def conv(features: int, kernel: int, name: str, init: str, sn: bool, train: bool, dtype,
         use_bias: bool = True, resample: str = ""):
  """A (spectrally normalised) SAME conv; SN's power iteration advances when `train`.
  `resample`: 'up' (nearest 2x upsampling before it) or 'down' (2x2 average pool after it)."""
  if resample:
    kind = {"up": UpsampleConv, "down": ConvAvgPool}[resample]
    layer = kind(features, kernel, use_bias=use_bias, kernel_init=KERNEL_INITS[init],
                 dtype=dtype, name=name)
  else:
    layer = nn.Conv(features, (kernel, kernel), padding="SAME", use_bias=use_bias,
                    kernel_init=KERNEL_INITS[init], dtype=dtype, name=name)
  return sn_wrap(layer, sn, update_stats=train)


def dense(features: int, name: str, init: str, sn: bool, train: bool, dtype,
          use_bias: bool = True):
  layer = nn.Dense(features, use_bias=use_bias, kernel_init=KERNEL_INITS[init], dtype=dtype,
                   name=name)
  return sn_wrap(layer, sn, update_stats=train)


class GeneratorNorm(nn.Module):
  """The normalisation of a generator block, chosen by `kind`."""
  kind: str = "bn"
  num_classes: int = 0
  spectral_norm: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, cond=None, train: bool = False):
    if self.kind == "bn":
      return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                          dtype=self.dtype, name="bn")(x)
    if self.kind == "class_cbn":
      return ClassConditionalBatchNorm(self.num_classes, dtype=self.dtype, name="cbn")(
          x, cond, train)
    if self.kind == "linear_cbn":
      return LinearConditionalBatchNorm(spectral_norm=self.spectral_norm, dtype=self.dtype,
                                        name="cbn")(x, cond, train)
    if self.kind == "none":
      return x
    raise ValueError(f"generator norm {self.kind!r}: use bn, class_cbn, linear_cbn or none")


class GBlock(nn.Module):
  features: int
  norm: str = "bn"
  num_classes: int = 0
  upsample: bool = True
  spectral_norm: bool = False
  weight_init: str = "xavier"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, cond=None, train: bool = False):
    norm = lambda name: GeneratorNorm(self.norm, self.num_classes, self.spectral_norm,
                                      self.dtype, name=name)
    c = lambda f, k, name, resample="": conv(f, k, name, self.weight_init, self.spectral_norm,
                                             train, self.dtype, resample=resample)
    up = "up" if self.upsample else ""
    h = nn.relu(norm("norm1")(x, cond, train))
    h = c(self.features, 3, "conv1", up)(h)                      # conv3x3(upsample(h))
    h = nn.relu(norm("norm2")(h, cond, train))
    h = c(self.features, 3, "conv2")(h)
    if self.upsample or x.shape[-1] != self.features:
      return h + c(self.features, 1, "shortcut", up)(x)          # conv1x1(upsample(x))
    return h + x


class DBlock(nn.Module):
  features: int
  downsample: bool = True
  preactivation: bool = True
  spectral_norm: bool = True
  weight_init: str = "xavier"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    c = lambda f, k, name, resample="": conv(f, k, name, self.weight_init, self.spectral_norm,
                                             train, self.dtype, resample=resample)
    down = "down" if self.downsample else ""
    h = nn.relu(x) if self.preactivation else x
    h = c(self.features, 3, "conv1")(h)
    h = c(self.features, 3, "conv2", down)(nn.relu(h))          # avgpool(conv3x3(.))
    if not (self.downsample or x.shape[-1] != self.features):
      return h + x
    # conv1x1 then pool (preactivation) or pool then conv1x1 (OptimizedBlock): the same map,
    # computed pool-first either way
    return h + c(self.features, 1, "shortcut", down)(x)
