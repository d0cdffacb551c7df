"""Projected GAN (Sauer et al. 2021, "Projected GANs Converge Faster"): the discriminator sees
images only through a frozen pretrained feature network F and fixed random projections P
(CCM, CSM), with one small discriminator D_l per feature scale (paper Sec. 3):

  min_G max_{D_l}  sum_l  E_x [log D_l(P_l(F(x)))] + E_z [log(1 - D_l(P_l(F(G(z)))))]

trained with the hinge loss (official training/loss.py `ProjectedGANLoss`) on DiffAugment
'color,translation,cutout' of everything D sees (official discriminator.py line 178).

  feature_network.py   F: one of the project's ViT domain classifiers, frozen, as a
                       4-scale pyramid (the deviation from EfficientNet-lite0 and why)
  projector.py         P: CCM (random 1x1 per scale) and CSM (coarse-to-fine fusion, x2
                       bilinear upsampling, random 1x1), frozen
  model.py             DownBlock, SingleDisc / SingleDiscCond, ProjectedDiscriminator

Mini-discriminators (official discriminator.py `SingleDisc`, lines 12-52, blocks.py
`DownBlock`, lines 173-191): DownBlocks [spectral-normed 4x4 stride-2 conv (bias) ->
BatchNorm -> LeakyReLU(0.2)] from the scale's resolution down to `end_size`, then a
spectral-normed 4x4 conv (no bias, no padding) to one channel: a map of patch logits. The
widths follow the official `channel_dict`, read relative to the end size (official: end 8 of
its nominal 256 px pyramid): a block whose output is at end_size * 2^k has WIDTHS[k] channels
(512, 256, 128, 64, 64, ...) times `width_scale`; the first block reads the projected
features' channels (`nfc[start_sz] = nc`). As officially (projector.py line 70, fixed im_res),
the finest scale gets 4 DownBlocks, then 3, 2, 1. At digits scale (CSM outputs 32, 16, 8, 4
px; end_size 2) the final conv is 2x2 (min(4, end size)) and gives one logit per scale
(officially 4x4 logits per scale from 7x7 maps). Class-conditional (`num_classes` > 0,
`class_head='projection'`): SingleDiscCond (lines 55-111): the final conv gives cmap_dim
channels, dotted with LeakyReLU(Linear(Embed(y))) and divided by sqrt(cmap_dim).

Logits. The official loss flattens every scale's logit map and concatenates them
(MultiScaleD.forward, lines 141-147) into [B, N], and averages relu(1 -+ logits) over all
B x N entries (loss.py lines 79, 92; G: -mean, line 63). `reduction='concat'` (default)
returns that [B, N] array: every loss of lib/tasks/gan_losses.py is a mean over all entries, so
the task's hinge loss and its gradients are the official ones exactly. No [B] reduction can
do the same for D's hinge loss (relu is applied per patch before the mean, and D cannot know
whether its input is real or fake: with patch logits (3, -3) the real term needs
relu(1 - r) = 2, r = -1, the fake term relu(1 + r) = 2, r = 1). `reduction='mean'` returns the
[B] mean over patches and scales: exact for G's hinge loss (linear in the logits) and for D's
when no sample's patch logits straddle a margin (tests/gan/test_projected_gan.py). With
'concat', ADA's r_t averages each image's N signs first (lib/tasks/gan.py), so it stays a
mean over images.

Deviations (besides F): DiffAugment through the task's `gan.augment`, whose cutout is the
DiffAugment paper's half-size square (Projected GAN's pg_modules/diffaug.py uses 0.2); no
separable DownBlocks (official only with the StyleGAN2 G); no blur schedule (off by default
officially). The generator is not FastGAN's: the configs pair this D with the DCGAN G
(research/dcgan/model.py), so that the check benchmarks/projected_gan_check.py compares D only.
"""
from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from lib.errors import ConfigError
from lib.nn.spectral_norm import spectral_norm as sn_wrap
from research.projected_gan.feature_network import FROZEN, FeatureNetwork
from research.projected_gan.projector import RandomProjection, torch_uniform

# official channel_dict {8: 512, 16: 256, 32: 128, 64: 64, 128: 64, 256: 32, 512: 16, 1024: 8}
# indexed by k = log2(resolution / end_sz) (end_sz = 8)
WIDTHS = (512, 256, 128, 64, 64, 32, 16, 8)
# torch Conv2d default kaiming_uniform(a=sqrt(5)): U(+-1/sqrt(fan_in))
TORCH_KERNEL = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def _conv(features, kernel, stride, padding, bias, fan_in, dtype, name):
  return nn.Conv(features, (kernel, kernel), strides=(stride, stride),
                 padding=((padding, padding), (padding, padding)), use_bias=bias,
                 kernel_init=TORCH_KERNEL, bias_init=torch_uniform(fan_in), dtype=dtype,
                 name=name)


class DownBlock(nn.Module):
  """SN conv 4x4 stride 2 -> BatchNorm -> LeakyReLU(0.2): resolution / 2."""
  features: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    conv = _conv(self.features, 4, 2, 1, True, 16 * x.shape[-1], self.dtype, "conv")
    x = sn_wrap(conv, True, update_stats=train)(x)
    x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                     dtype=self.dtype, name="bn")(x)                 # torch momentum 0.1
    return nn.leaky_relu(x, 0.2)


def block_widths(resolution: int, end_size: int, width_scale: float) -> tuple[int, ...]:
  """Output channels of the DownBlocks from `resolution` down to `end_size`."""
  out, r = [], resolution
  while r > end_size:
    r //= 2
    k = int(math.log2(r // end_size))
    out.append(max(int(WIDTHS[min(k, len(WIDTHS) - 1)] * width_scale), 1))
  return tuple(out)


class SingleDisc(nn.Module):
  """D_l on one projected scale -> patch logits [B, n, n] (conditional: projection)."""
  widths: tuple[int, ...]
  num_classes: int = 0
  cmap_dim: int = 64
  embedding_dim: int = 128
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, h, labels, train: bool):
    for i, w in enumerate(self.widths):
      h = DownBlock(w, self.dtype, name=f"down_{i}")(h, train)
    k = min(4, h.shape[1])
    out_ch = self.cmap_dim if self.num_classes else 1
    conv = _conv(out_ch, k, 1, 0, False, k * k * h.shape[-1], self.dtype, "out")
    out = sn_wrap(conv, True, update_stats=train)(h)
    if not self.num_classes:
      return out[..., 0]
    # SingleDiscCond: cmap = LeakyReLU(Linear(Embed(y))); <out, cmap> / sqrt(cmap_dim)
    e = nn.Embed(self.num_classes, self.embedding_dim, embedding_init=nn.initializers.normal(1.0),
                 name="embed")(labels)
    cmap = nn.leaky_relu(nn.Dense(self.cmap_dim, kernel_init=TORCH_KERNEL,
                                  bias_init=torch_uniform(self.embedding_dim), dtype=self.dtype,
                                  name="embed_proj")(e), 0.2)
    return jnp.sum(out * cmap[:, None, None, :], axis=-1) / math.sqrt(self.cmap_dim)


class ProjectedDiscriminator(nn.Module):
  """D(images [B, H, W, C] in [-1, 1], labels [B] or None, train) -> (logits, None):
  logits [B, N] (the scales' patch logits concatenated, `reduction='concat'`) or [B]
  (`reduction='mean'`). The task calls it on reals and fakes separately (`batch_coupled`:
  BatchNorm in every D_l; the official loss.py calls D on fakes and reals apart)."""
  num_classes: int = 0
  class_head: str = "projection"
  feature_network: str = "vit_digits"   # a domain classifier in lib/metrics/weights
  weights_dir: str = ""                 # '' = lib/metrics/weights
  blocks: tuple[int, ...] = ()          # ViT block per scale; () = spread over the depth
  pyramid_scales: tuple[float, ...] = (4.0, 2.0, 1.0, 0.5)   # of the ViT's token map
  cout: int = 64                        # CCM base channels (official 64)
  expand: bool = True                   # CCM channels cout * 2^i, CSM halving (official)
  proj_type: int = 2                    # 0 none, 1 CCM, 2 CCM + CSM (official 2)
  num_discs: int = 4                    # D_l on the first (finest) num_discs scales
  end_size: int = 2                     # DownBlocks down to this size (official 8 at 256 px)
  width_scale: float = 1.0              # multiplies the official DownBlock widths
  cmap_dim: int = 64
  embedding_dim: int = 128
  reduction: str = "concat"             # concat: [B, N] as the official loss | mean: [B]
  dtype: Any = jnp.float32

  batch_coupled = True

  def _check(self):
    if self.num_classes and self.class_head != "projection":
      raise ConfigError(f"ProjectedDiscriminator supports class_head='projection' "
                        f"(SingleDiscCond), not {self.class_head!r}: use "
                        "gan.conditioning='cbn_projection' or 'none'")
    if self.reduction not in ("concat", "mean"):
      raise ConfigError(f"config.discriminator.reduction={self.reduction!r}: use concat or mean")
    if not 1 <= self.num_discs <= len(self.pyramid_scales):
      raise ConfigError(f"config.discriminator.num_discs={self.num_discs}: between 1 and "
                        f"{len(self.pyramid_scales)} (the pyramid's scales)")

  def features(self, images):   # called from __call__ (its compact context)
    maps = FeatureNetwork(self.feature_network, self.weights_dir, tuple(self.blocks),
                          tuple(self.pyramid_scales), self.dtype, name="feature_network")(images)
    return RandomProjection(self.cout, self.expand, self.proj_type, self.dtype,
                            name="projection")(maps)

  @nn.compact
  def __call__(self, images, labels=None, train: bool = False, features_only: bool = False):
    """(logits, None); with `features_only` the projected pyramid P(F(x)), finest first."""
    self._check()
    feats = self.features(images)
    if features_only:
      return feats
    feats = feats[:self.num_discs]
    logits = []
    for i, f in enumerate(feats):
      widths = block_widths(f.shape[1], self.end_size, self.width_scale)
      d = SingleDisc(widths, self.num_classes, self.cmap_dim, self.embedding_dim, self.dtype,
                     name=f"disc_{i}")
      logits.append(d(f, labels if self.num_classes else None, train).reshape(f.shape[0], -1))
    out = jnp.concatenate(logits, axis=1).astype(jnp.float32)  # [B, N] (official torch.cat)
    self.sow("intermediates", "scale_logits", tuple(logits))
    return (out if self.reduction == "concat" else jnp.mean(out, axis=1)), None


__all__ = ["FROZEN", "ProjectedDiscriminator", "SingleDisc", "DownBlock", "block_widths"]
