"""StyleGAN2 (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN"),
config E/F at small scale: mapping network, modulated/demodulated convs with noise inputs,
skip generator and residual discriminator (Sec. 4.1, Fig. 7), equalized learning rate.

- Mapping: z normalised to unit second moment (and, when conditional, a normalised label
  embedding concatenated, as in the official code) -> `mapping_layers` equalized dense +
  LeakyReLU(0.2) * sqrt(2) -> w, broadcast to `num_ws` style inputs. The 0.01 learning-rate
  multiplier of the mapping's fc layers (not of its label embedding, as networks.py) is an
  optimizer key (`optimizer_g.lr_multipliers`). A running mean w_avg (beta 0.995) is kept in
  'batch_stats' for truncation w' = w_avg + psi (w - w_avg).
  Style mixing regularization (`mixing_prob`, 0.9 in the paper) when training, as the
  official loss.py run_G: one cutoff per minibatch, drawn from [1, num_ws), used with
  probability `mixing_prob` for the whole minibatch (else no mixing); the second w from a
  fresh z does not update w_avg. `mixed_mapping` is that training-time mapping: the GAN task
  uses it in the path-length pass too (the official Gpl pass calls run_G).
- Synthesis: a learned 4x4 constant; per layer modulated 3x3 conv (Eq. 1-3), noise input,
  bias, LeakyReLU * sqrt(2); per resolution a tRGB (1x1 modulated conv without
  demodulation) added to the upsampled running image (skip architecture). Resampling is the
  official upfirdn2d with the [1, 3, 3, 1] filter (lib/nn/upfirdn.py): the first conv of a
  resolution is a transposed conv with stride 2 followed by the filter (conv2d_resample;
  its kernel runs flipped, as the official weights would), the tRGB skip is upsample2d.
  `resample='bilinear'` (G) and `resample='avg'` (D) restore the approximation used before
  (bilinear 2x, then the conv; a 2x2 average, then the conv): measured on digits, see
  configs/stylegan2.py.
- Discriminator: fromRGB, residual blocks (conv, conv with blur + stride 2; skip: downsample2d
  + 1x1 conv; sum * sqrt(1/2)), minibatch standard deviation (group 4, 1 feature), conv,
  dense, output (lib/nn/stylegan_blocks.StyleGANOutput: equalized dense, and for classes the
  official projection on the label mapped by D's own 8-layer mapping network, cmap,
  (out * cmap).sum / sqrt(cmap_dim); or an AC head). Minibatch std couples the samples of a
  group, so D is `batch_coupled`: the GAN task calls it on reals and on fakes separately, as
  the official loss does (groups are all-real or all-fake).
  `timestep_conditioning` (Diffusion-GAN, diffusion-stylegan2): D(x_t, label, t) with the raw
  t concatenated to the label before the cmap mapping (unconditional: cmap from t alone).
"""
from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from lib.nn.modulated_conv import EqualizedConv2D
from lib.nn.stylegan_blocks import (DiscriminatorEpilogue, MappingNetwork, ResidualDownBlock,
                                    StyleGANOutput, SynthesisLayer, ToRGB, lrelu,
                                    upsample2x)

def num_ws(image_size: int) -> int:
  """Style inputs: one per conv (1 at 4x4, 2 per higher resolution) plus the last tRGB."""
  return 2 * int(math.log2(image_size)) - 2


class Generator(nn.Module):
  """`style_based`: the GAN task uses mapping / synthesis for path-length regularization."""
  image_size: int = 32
  channels: int = 3
  width: int = 512                 # channels at every resolution (the official cbase cap)
  w_dim: int = 512
  mapping_layers: int = 8
  mixing_prob: float = 0.9
  w_avg_beta: float = 0.995
  resample: str = "fir"            # 'fir': official upfirdn2d; 'bilinear': resize, then conv
  num_classes: int = 0
  dtype: Any = jnp.float32

  style_based = True

  def setup(self):
    self.mapping_net = MappingNetwork(self.w_dim, self.mapping_layers, self.num_classes,
                                      self.dtype)
    n = int(math.log2(self.image_size)) - 1         # resolutions 4, 8, ..., image_size
    self.const = self.param("const", nn.initializers.normal(1.0), (4, 4, self.width))
    self.convs = [SynthesisLayer(self.width, up=(i > 0 and j == 0), resample=self.resample,
                                 dtype=self.dtype)
                  for i in range(n) for j in range(1 if i == 0 else 2)]
    self.torgbs = [ToRGB(self.channels, self.dtype) for _ in range(n)]
    self.w_avg = self.variable("batch_stats", "w_avg", jnp.zeros, (self.w_dim,))

  def mapping(self, z, labels=None, train: bool = False, truncation_psi: float = 1.0,
              update_w_avg: bool = True):
    """z -> w [B, num_ws, w_dim]; updates w_avg when training, truncates when psi < 1."""
    w = self.mapping_net(z, labels)
    w_avg = self.w_avg
    if train and update_w_avg and not self.is_initializing():
      w_avg.value = (self.w_avg_beta * w_avg.value
                     + (1 - self.w_avg_beta) * jnp.mean(jax.lax.stop_gradient(w), 0))
    if truncation_psi != 1.0:
      w = w_avg.value + truncation_psi * (w - w_avg.value)
    return jnp.broadcast_to(w[:, None], (w.shape[0], num_ws(self.image_size), self.w_dim))

  def synthesis(self, ws, train: bool = False):
    x = jnp.broadcast_to(self.const, (ws.shape[0],) + self.const.shape).astype(self.dtype)
    img, k, conv_i = None, 0, 0
    n = len(self.torgbs)
    for i in range(n):
      for _ in range(1 if i == 0 else 2):
        x = self.convs[conv_i](x, ws[:, k])
        conv_i += 1
        k += 1
      y = self.torgbs[i](x, ws[:, k])        # tRGB shares its w with the next block's conv
      img = y if img is None else upsample2x(img, self.resample) + y
    return img

  def mixed_mapping(self, z, labels=None, train: bool = False):
    """The training-time mapping (official loss.py run_G): w, with style mixing when
    training: one cutoff ~ U{1, ..., num_ws - 1} for the minibatch, kept with probability
    `mixing_prob` (else num_ws: no mixing); ws[:, cutoff:] from a fresh z (no w_avg update)."""
    ws = self.mapping(z, labels, train)
    if train and self.mixing_prob > 0:      # style mixing regularization (StyleGAN Sec. 3.1)
      k1, k2, k3 = jax.random.split(self.make_rng("noise"), 3)
      ws2 = self.mapping(jax.random.normal(k1, z.shape, z.dtype), labels, train,
                         update_w_avg=False)
      n = ws.shape[1]
      cutoff = jax.random.randint(k2, (), 1, n)                       # one per minibatch
      cutoff = jnp.where(jax.random.uniform(k3, ()) < self.mixing_prob, cutoff, n)
      ws = jnp.where(jnp.arange(n)[None, :, None] < cutoff, ws, ws2)
    return ws

  def __call__(self, z, labels=None, train: bool = False, truncation_psi: float = 1.0):
    if train:
      ws = self.mixed_mapping(z, labels, train)
    else:
      ws = self.mapping(z, labels, train, truncation_psi)
    return self.synthesis(ws, train)


class Discriminator(nn.Module):
  """`batch_coupled`: minibatch std mixes the samples of a group (call on reals and fakes
  separately)."""
  width: int = 512
  mbstd_group: int = 4
  cmap_mapping_layers: int = 8     # layers of the label mapping (official MappingNetwork default)
  timestep_conditioning: bool = False   # Diffusion-GAN: D(x_t, label, t), t into cmap's mapping
  resample: str = "fir"            # 'fir': official blur + stride 2; 'avg': 2x2 mean, then conv
  num_classes: int = 0
  class_head: str = "projection"
  dtype: Any = jnp.float32

  batch_coupled = True

  @nn.compact
  def __call__(self, x, labels=None, train: bool = False, t=None):
    h = lrelu(EqualizedConv2D(self.width, 1, dtype=self.dtype, name="from_rgb")(
        x.astype(self.dtype)))
    i = 0
    while h.shape[1] > 4:
      h = ResidualDownBlock(self.width, self.dtype, self.resample, name=f"block{i}")(h)
      i += 1
    h = DiscriminatorEpilogue(self.width, self.mbstd_group, self.dtype, name="epilogue")(h)
    return StyleGANOutput(self.num_classes, self.class_head, self.width,
                          self.cmap_mapping_layers, self.timestep_conditioning, dtype=self.dtype,
                          name="head")(h, labels, train, t)
