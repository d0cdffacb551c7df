"""R3GAN (Huang et al. 2024, "The GAN is dead; long live the GAN! A Modern Baseline GAN"),
Sec. 4 "a roadmap to a new baseline" (config E): normalization-free ResNets for G and D.

- Residual block (Fig. 4): 1x1 conv expanding by `expansion` -> LeakyReLU(0.2) -> 3x3
  grouped conv (`cardinality` groups) -> LeakyReLU -> 1x1 conv back; no normalization.
  Fix-up initialization: the last conv of every branch starts at zero and the others are
  scaled by L^(-1/(2m-2)) (L residual blocks, m = 3 convs per branch).
- Transitions (official UpsampleLayer / DownsampleLayer): a bias-free 1x1 conv for the
  channel change and upfirdn2d resampling with the official filter [1, 2, 1] * [1, 1] =
  [1, 3, 3, 1] (lib/nn/upfirdn.py; G: conv then upsample2d; D: downsample2d then conv).
  D's `resample='avg'` swaps the FIR for a 2x2 mean (a measured deviation, as StyleGAN2's
  digits variant; the parameters are the same either way).
- G basis: a learned 4x4 constant modulated channel-wise by a bias-free linear map of z,
  concatenated with the class embedding when conditional (a bias-free linear map of the
  one-hot label, std 1/sqrt(K)); the output is a 1x1 conv to the image channels.
- D basis: a bias-free 4x4 depthwise conv over the final 4x4 map, then a bias-free linear map
  to 1 logit, or, when conditional, to an embedding of the final width whose inner product
  with the class embedding is the logit (official Discriminator: no separate unconditional
  term; the embedding's init std is (1/sqrt(dim)) / sqrt(K), activation gain 1/sqrt(dim)).
The objective is a task key: RpGAN + gamma/2 (R1 + R2), `gan.loss='relativistic'`.
"""
from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from lib.nn.stylegan_blocks import downsample2x
from lib.nn.upfirdn import upsample2d

RESAMPLE_FILTER = (1.0, 3.0, 3.0, 1.0)       # official [1, 2, 1] convolved with [1, 1]


def block_diagonal_kernel(kernel, groups: int):
  """A grouped-conv kernel [kh, kw, in/groups, out] as the equivalent dense kernel
  [kh, kw, in, out] (zero outside each group's block), for feature_group_count semantics:
  output channel o reads the input channels of group o // (out / groups)."""
  kh, kw, cin_g, cout = kernel.shape
  mask = jnp.kron(jnp.eye(groups), jnp.ones((cin_g, cout // groups)))       # [in, out]
  return jnp.tile(kernel, (1, 1, groups, 1)) * mask.astype(kernel.dtype)


class GroupedConv(nn.Module):
  """3x3 grouped conv. `as_dense` runs it as a dense conv with a block-diagonal kernel: the
  same function and parameters, but XLA:CPU differentiates a feature_group_count conv ~25x
  slower than a dense one (measured here); on accelerators set as_dense=False."""
  features: int
  groups: int
  kernel_init: Any = nn.initializers.lecun_normal()
  as_dense: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    cin = x.shape[-1]
    kernel = self.param("kernel", self.kernel_init, (3, 3, cin // self.groups, self.features))
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    k = kernel.astype(self.dtype)
    groups = self.groups
    if self.as_dense:
      k, groups = block_diagonal_kernel(k, self.groups), 1
    y = jax.lax.conv_general_dilated(x.astype(self.dtype), k, (1, 1), "SAME",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                     feature_group_count=groups)
    return y + bias.astype(self.dtype)


def msr_init(gain: float = 1.0):
  """The official MSRInitializer: N(0, (gain / sqrt(fan_in))^2)."""
  return nn.initializers.variance_scaling(gain ** 2, "fan_in", "normal")


class ResidualBlock(nn.Module):
  expansion: int = 2
  cardinality: int = 4
  num_blocks_total: int = 1        # L of the fix-up scaling
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    hidden = c * self.expansion
    scale = self.num_blocks_total ** (-1.0 / (2 * 3 - 2))
    init = nn.initializers.variance_scaling(2.0 * scale ** 2, "fan_in", "normal")   # He * scale
    groups = math.gcd(self.cardinality, hidden)
    h = nn.Conv(hidden, (1, 1), kernel_init=init, dtype=self.dtype, name="expand")(x)
    h = nn.leaky_relu(h, 0.2)
    h = GroupedConv(hidden, groups, kernel_init=init, dtype=self.dtype, name="grouped")(h)
    h = nn.leaky_relu(h, 0.2)
    h = nn.Conv(c, (1, 1), use_bias=False, kernel_init=nn.initializers.zeros,
                dtype=self.dtype, name="project")(h)
    return x + h


class Generator(nn.Module):
  image_size: int = 32
  channels: int = 3
  widths: tuple = (768, 768, 768, 768)     # per stage, 4x4 first
  blocks_per_stage: int = 2
  expansion: int = 2
  cardinality: int = 96
  embed_dim: int = 64
  num_classes: int = 0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z, labels=None, train: bool = False):
    n_stages = int(math.log2(self.image_size)) - 1
    if len(self.widths) != n_stages:
      raise ValueError(f"{n_stages} stages for {self.image_size}px, got widths {self.widths}")
    total = n_stages * self.blocks_per_stage
    h = z
    if self.num_classes:                   # Linear(one-hot, bias=False), MSR: std 1/sqrt(K)
      e = nn.Embed(self.num_classes, self.embed_dim,
                   embedding_init=nn.initializers.normal(1.0 / math.sqrt(self.num_classes)),
                   name="label_embed")(labels)
      h = jnp.concatenate([h, e.astype(h.dtype)], -1)
    basis = self.param("basis", nn.initializers.normal(1.0), (4, 4, self.widths[0]))
    mod = nn.Dense(self.widths[0], use_bias=False, kernel_init=msr_init(), dtype=self.dtype,
                   name="basis_linear")(h)
    x = basis[None] * mod[:, None, None, :]
    for s, width in enumerate(self.widths):
      if s > 0:
        if width != x.shape[-1]:
          x = nn.Conv(width, (1, 1), use_bias=False, kernel_init=msr_init(), dtype=self.dtype,
                      name=f"up{s}")(x)
        x = upsample2d(x, RESAMPLE_FILTER)
      for b in range(self.blocks_per_stage):
        x = ResidualBlock(self.expansion, self.cardinality, total, self.dtype,
                          name=f"stage{s}_block{b}")(x)
    return nn.Conv(self.channels, (1, 1), dtype=self.dtype, name="to_rgb")(x)


class Discriminator(nn.Module):
  widths: tuple = (768, 768, 768, 768)     # per stage, full resolution first
  blocks_per_stage: int = 2
  expansion: int = 2
  cardinality: int = 96
  num_classes: int = 0
  class_head: str = "projection"
  dtype: Any = jnp.float32
  resample: str = "fir"                    # 'fir' (official upfirdn2d) | 'avg' (2x2 mean)

  @nn.compact
  def __call__(self, x, labels=None, train: bool = False):
    n_stages = int(math.log2(x.shape[1])) - 1
    if len(self.widths) != n_stages:
      raise ValueError(f"{n_stages} stages for {x.shape[1]}px, got widths {self.widths}")
    total = n_stages * self.blocks_per_stage
    h = nn.Conv(self.widths[0], (1, 1), dtype=self.dtype, name="from_rgb")(x.astype(self.dtype))
    for s, width in enumerate(self.widths):
      for b in range(self.blocks_per_stage):
        h = ResidualBlock(self.expansion, self.cardinality, total, self.dtype,
                          name=f"stage{s}_block{b}")(h)
      if s < n_stages - 1:
        h = downsample2x(h, self.resample)          # FIR: downsample2d with RESAMPLE_FILTER
        if self.widths[s + 1] != h.shape[-1]:
          h = nn.Conv(self.widths[s + 1], (1, 1), use_bias=False, kernel_init=msr_init(),
                      dtype=self.dtype, name=f"down{s}")(h)
    c = h.shape[-1]
    h = nn.Conv(c, (4, 4), padding="VALID", feature_group_count=c, use_bias=False,
                kernel_init=msr_init(), dtype=self.dtype,
                name="basis")(h).reshape(h.shape[0], c)                 # 4x4 depthwise
    out_dim = c if self.num_classes else 1
    h = nn.Dense(out_dim, use_bias=False, kernel_init=msr_init(), dtype=self.dtype,
                 name="basis_linear")(h).astype(jnp.float32)
    if not self.num_classes:
      return h[:, 0], None
    if self.class_head != "projection":
      raise ValueError(f"R3GAN's discriminator has the official conditional head only; "
                       f"gan.conditioning='acgan' is not supported (use cbn_projection)")
    if labels is None:
      raise ValueError("a class-conditional discriminator needs labels")
    # Linear(one-hot, bias=False), MSR init with activation gain 1/sqrt(dim)
    e = nn.Embed(self.num_classes, c, embedding_init=nn.initializers.normal(
        1.0 / math.sqrt(c) / math.sqrt(self.num_classes)), name="label_embed")(labels)
    return jnp.sum(h * e.astype(jnp.float32), -1), None                # <D(x), e_y>
