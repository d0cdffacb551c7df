"""VQGAN-style convolutional tokenizer (Esser et al. 2021, "Taming Transformers"; the official
CompVis/taming-transformers `taming/modules/diffusionmodules/model.py` Encoder/Decoder).

Encoder: conv_in -> per level `num_res_blocks` ResnetBlocks at width ch * ch_mult[i] ->
downsample (3x3 stride-2 conv after a (0, 1) pad, as the official Downsample) except at the
last level -> one middle ResnetBlock (official: block, self-attention, block) -> GroupNorm,
swish, conv_out to `embed_dim`.
Decoder mirrors it, upsampling by nearest x2 + 3x3 conv. ResnetBlock: GroupNorm(32 groups),
swish, 3x3 conv, twice, with a 1x1 shortcut when the width changes (h = x + F(x)).
Left out of this small version: the middle self-attention block and its second ResnetBlock,
the attention at the lowest resolution (a follow-up), dropout (0 in the official configs).

`Tokenizer` = encoder -> 1x1 pre-quant conv -> quantizer -> 1x1 post-quant conv -> decoder
(the official quant_conv / post_quant_conv). The quantizer is chosen by `quantizer`
('vq' | 'ema_vq' | 'fsq' | 'lfq', lib/nn/quantizers) with `quantizer_kwargs`; its code
dimension is `embed_dim` for vq/ema_vq, len(levels) for fsq, `bits` for lfq.
"""
from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lib.errors import ConfigError
from lib.nn.quantizers import (FiniteScalarQuantizer, LookupFreeQuantizer, VectorQuantizer,
                               VectorQuantizerEMA)

QUANTIZERS = {"vq": VectorQuantizer, "ema_vq": VectorQuantizerEMA,
              "fsq": FiniteScalarQuantizer, "lfq": LookupFreeQuantizer}


def make_quantizer(kind: str, kwargs: dict, name: str | None = None):
  if kind not in QUANTIZERS:
    raise ConfigError(f"config.model.quantizer={kind!r} is not a quantizer; use one of "
                      f"{sorted(QUANTIZERS)}.")
  kwargs = dict(kwargs or {})
  if "levels" in kwargs:
    kwargs["levels"] = tuple(kwargs["levels"])
  return QUANTIZERS[kind](name=name, **kwargs)


def code_dim(kind: str, kwargs: dict, embed_dim: int) -> int:
  """The channels the quantizer reads: FSQ one per level, LFQ one per bit, VQ embed_dim."""
  if kind == "fsq":
    return len(tuple(kwargs.get("levels", FiniteScalarQuantizer.levels)))
  if kind == "lfq":
    return int(kwargs.get("bits", LookupFreeQuantizer.bits))
  return embed_dim


def codebook_size(kind: str, kwargs: dict) -> int:
  """Number of distinct tokens of the quantizer (the MaskGIT vocabulary)."""
  return int(make_quantizer(kind, kwargs).codebook_size if kind in ("fsq", "lfq")
             else kwargs.get("num_codes", QUANTIZERS[kind].num_codes))


def group_norm(num_groups: int, channels: int, dtype):
  return nn.GroupNorm(num_groups=int(np.gcd(num_groups, channels)), dtype=dtype)


class ResnetBlock(nn.Module):
  """h = x + conv(swish(GN(conv(swish(GN(x))))))  (1x1 shortcut when widths differ)."""
  features: int
  num_groups: int = 32
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    h = nn.swish(group_norm(self.num_groups, x.shape[-1], self.dtype)(x))
    h = nn.Conv(self.features, (3, 3), dtype=self.dtype)(h)
    h = nn.swish(group_norm(self.num_groups, self.features, self.dtype)(h))
    h = nn.Conv(self.features, (3, 3), dtype=self.dtype)(h)
    if x.shape[-1] != self.features:
      x = nn.Conv(self.features, (1, 1), dtype=self.dtype, name="nin_shortcut")(x)
    return x + h


class Encoder(nn.Module):
  ch: int = 64
  ch_mult: Sequence[int] = (1, 2, 2)
  num_res_blocks: int = 1
  out_channels: int = 64
  num_groups: int = 32
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    h = nn.Conv(self.ch, (3, 3), dtype=self.dtype, name="conv_in")(x.astype(self.dtype))
    for i, mult in enumerate(self.ch_mult):
      for _ in range(self.num_res_blocks):
        h = ResnetBlock(self.ch * mult, self.num_groups, self.dtype)(h)
      if i != len(self.ch_mult) - 1:
        h = jnp.pad(h, ((0, 0), (0, 1), (0, 1), (0, 0)))   # the official asymmetric pad
        h = nn.Conv(h.shape[-1], (3, 3), strides=(2, 2), padding="VALID", dtype=self.dtype)(h)
    h = ResnetBlock(h.shape[-1], self.num_groups, self.dtype, name="mid")(h)
    h = nn.swish(group_norm(self.num_groups, h.shape[-1], self.dtype)(h))
    return nn.Conv(self.out_channels, (3, 3), dtype=self.dtype, name="conv_out")(h)


class Decoder(nn.Module):
  ch: int = 64
  ch_mult: Sequence[int] = (1, 2, 2)
  num_res_blocks: int = 1
  out_channels: int = 1
  num_groups: int = 32
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z):
    width = self.ch * self.ch_mult[-1]
    h = nn.Conv(width, (3, 3), dtype=self.dtype, name="conv_in")(z.astype(self.dtype))
    h = ResnetBlock(width, self.num_groups, self.dtype, name="mid")(h)
    for i, mult in reversed(list(enumerate(self.ch_mult))):
      for _ in range(self.num_res_blocks + 1):           # official: num_res_blocks + 1 per level
        h = ResnetBlock(self.ch * mult, self.num_groups, self.dtype)(h)
      if i != 0:
        b, hh, ww, c = h.shape
        h = jax.image.resize(h, (b, 2 * hh, 2 * ww, c), "nearest")   # nearest x2 + conv
        h = nn.Conv(c, (3, 3), dtype=self.dtype)(h)
    h = nn.swish(group_norm(self.num_groups, h.shape[-1], self.dtype)(h))
    return nn.Conv(self.out_channels, (3, 3), dtype=self.dtype, name="conv_out")(h)


class Tokenizer(nn.Module):
  """images [B, H, W, C] -> (reconstruction [B, H, W, C] float32, quantizer aux).
  Tokens are [B, H / 2^(L-1), W / 2^(L-1)] int32 for L = len(ch_mult)."""
  channels: int = 1
  ch: int = 64
  ch_mult: Sequence[int] = (1, 2, 2)
  num_res_blocks: int = 1
  num_groups: int = 32
  embed_dim: int = 64
  quantizer: str = "vq"
  quantizer_kwargs: Any = None
  dtype: Any = jnp.float32

  def setup(self):
    kwargs = dict(self.quantizer_kwargs or {})
    dim = code_dim(self.quantizer, kwargs, self.embed_dim)
    self.encoder = Encoder(self.ch, tuple(self.ch_mult), self.num_res_blocks, self.embed_dim,
                           self.num_groups, self.dtype)
    self.quant_conv = nn.Conv(dim, (1, 1), dtype=self.dtype)
    self.quantize = make_quantizer(self.quantizer, kwargs)
    self.post_quant_conv = nn.Conv(self.embed_dim, (1, 1), dtype=self.dtype)
    self.decoder = Decoder(self.ch, tuple(self.ch_mult), self.num_res_blocks, self.channels,
                           self.num_groups, self.dtype)

  def _quantize(self, images, train: bool):
    return self._quantize_latents(self.encode_latents(images), train)

  def _quantize_latents(self, z, train: bool):
    if self.quantizer == "ema_vq":
      return self.quantize(z, update=train)
    return self.quantize(z)

  def encode_latents(self, images):
    """images -> z [B, h, w, code_dim], the quantizer's input: the latent space a latent
    diffusion model works in (LDM, Rombach et al. 2022, Sec. 3.1: with a VQ-regularised
    autoencoder the diffusion model runs before quantization and the decoder quantizes)."""
    return self.quant_conv(self.encoder(images)).astype(jnp.float32)

  def decode_latents(self, z):
    """z [B, h, w, code_dim] -> images: quantize (no codebook update), then decode (the
    official VQModelInterface.decode of CompVis/latent-diffusion)."""
    return self.decode(self._quantize_latents(z, False)[0])

  def decode(self, quantized):
    return self.decoder(self.post_quant_conv(quantized)).astype(jnp.float32)

  def __call__(self, images, train: bool = False):
    quantized, aux = self._quantize(images, train)
    return self.decode(quantized), aux

  def encode_indices(self, images):
    """images -> int32 tokens [B, h, w]."""
    return self._quantize(images, False)[1]["indices"]

  def decode_indices(self, indices):
    """int32 tokens [B, h, w] -> images [B, H, W, C] (what a second stage decodes)."""
    return self.decode(self.quantize.indices_to_codes(indices))
