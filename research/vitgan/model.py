"""ViTGAN (Lee et al. 2022, "ViTGAN: Training GANs with Vision Transformers"), in miniature.

Generator (Sec. 4.2, Fig. 2): a mapping MLP turns z into w (as the official
mlpc-ucsd/ViTGAN vit_generator.py: StyleGAN2's, z normalised to unit second moment, then
equalized-lr fc layers with leaky ReLU, lr multiplier 0.01 in the config); the transformer's input is the
learned position embedding E_pos alone (one token per P x P patch), and w enters every
block through self-modulated LayerNorm, SLN(h, w) = gamma(w) * LN(h) + beta(w) (Eq. 7):
  h' = MSA(SLN(h, w)) + h;  h = MLP(SLN(h', w)) + h'.
The official G also spectrally normalises the blocks' attention and MLP maps
(`spectral_norm`, on by default here; the paper does not say); its L2 attention in G is not
followed (the paper's G uses standard self-attention).
Each output token y_i is decoded into its patch by an implicit neural representation
(Sec. 4.2, Eq. 9): Fourier features of the pixel coordinates inside the patch go through a
2-layer MLP whose first layer is modulated by y_i (StyleGAN2 weight modulation, the
modulated 1x1 conv of lib/nn) with a sine activation (SIREN): `decoder='inr'`.
`decoder='conv'` is the official release's default instead (vit_generator.py,
use_nerf_proj=False): the [n, n] token grid, after the final SLN, goes through StyleGAN2
synthesis layers modulated by w (per 2x: a layer with FIR up, then one without; noise inputs;
`lib/nn/stylegan_blocks.SynthesisLayer`) up to the image size, then one tRGB without skips.
The official input tokens are learned Fourier features of the coordinates and its G uses L2
attention; here the input is E_pos and the attention dot-product, as the paper's text.

Discriminator (Sec. 4.1): overlapping patches (P + 2o pixels, stride P: a strided conv),
a class token, learned positions, pre-LN transformer blocks whose self-attention is L2
attention with tied W_q = W_k (Eq. 5; lib/attention/l2.py's `l2_attention`), and improved
spectral normalization W_bar = sigma(W_init) W / sigma(W) (Eq. 6) on every linear map.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lib.attention.l2 import l2_attention
from lib.nn.class_head import DiscriminatorHead
from lib.nn.modulated_conv import ModulatedConv2D
from lib.nn.self_modulated_ln import SelfModulatedLayerNorm
from lib.nn.spectral_norm import spectral_norm as sn_wrap
from lib.nn.stylegan_blocks import MappingNetwork, SynthesisLayer, ToRGB


SLN_EPS = 1e-3   # the official SelfModulatedLayerNorm's LayerNorm epsilon


def fourier_features(patch: int, num_freqs: int) -> np.ndarray:
  """[P, P, 4 * num_freqs]: sin/cos of 2^k pi x and 2^k pi y, coordinates in [-1, 1]."""
  c = (np.arange(patch) + 0.5) / patch * 2 - 1
  y, x = np.meshgrid(c, c, indexing="ij")
  f = 2.0 ** np.arange(num_freqs) * np.pi
  parts = [fn(v[..., None] * f) for v in (x, y) for fn in (np.sin, np.cos)]
  return np.concatenate(parts, -1).astype(np.float32)


class GeneratorBlock(nn.Module):
  """Paper (Eq. 7-8, pre-norm): h' = MSA(SLN(h, w)) + h; out = MLP(SLN(h', w)) + h'.
  `residual_from_sln` (official vit_generator.py TransformerBlock): x = SLN(x, w);
  x = MSA(x) + x; x = SLN(x, w); x = MLP(x) + x, so the stream itself is re-normalised and
  modulated by w in every block."""
  num_heads: int
  mlp_ratio: float = 4.0
  spectral_norm: bool = True
  residual_from_sln: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, h, w, train: bool = False):
    b, t, d = h.shape
    dense = lambda f, name: sn_wrap(nn.Dense(f, dtype=self.dtype, name=name),
                                    self.spectral_norm, update_stats=train)
    x = SelfModulatedLayerNorm(SLN_EPS, dtype=self.dtype, name="sln1")(h, w)
    qkv = dense(3 * d, "qkv")(x).reshape(b, t, 3, self.num_heads, -1)
    o = jax.nn.dot_product_attention(qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2])
    h = (x if self.residual_from_sln else h) + dense(d, "proj")(o.reshape(b, t, d))
    x = SelfModulatedLayerNorm(SLN_EPS, dtype=self.dtype, name="sln2")(h, w)
    y = dense(d, "fc2")(nn.gelu(dense(int(d * self.mlp_ratio), "fc1")(x)))
    return (x if self.residual_from_sln else h) + y


class Generator(nn.Module):
  image_size: int = 32
  channels: int = 3
  patch_size: int = 4
  hidden: int = 384
  depth: int = 4
  num_heads: int = 6
  w_dim: int = 384
  mapping_layers: int = 4
  inr_hidden: int = 64
  num_freqs: int = 4
  spectral_norm: bool = True       # on the blocks' linear maps, as the official G
  residual_from_sln: bool = False  # the official block form (GeneratorBlock)
  decoder: str = "inr"             # 'inr' (paper Eq. 9) | 'conv' (official default decoder)
  num_classes: int = 0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z, labels=None, train: bool = False):
    p, n = self.patch_size, self.image_size // self.patch_size
    w = MappingNetwork(self.w_dim, self.mapping_layers, self.num_classes, dtype=self.dtype,
                       name="mapping_net")(z, labels if self.num_classes else None)
    pos = self.param("E_pos", nn.initializers.normal(0.02), (n * n, self.hidden))
    h = jnp.broadcast_to(pos[None], (z.shape[0],) + pos.shape).astype(self.dtype)
    for i in range(self.depth):
      h = GeneratorBlock(self.num_heads, spectral_norm=self.spectral_norm,
                         residual_from_sln=self.residual_from_sln, dtype=self.dtype,
                         name=f"block{i}")(h, w, train)
    y = SelfModulatedLayerNorm(SLN_EPS, dtype=self.dtype, name="sln_out")(h, w)      # [B, L, D]
    b = z.shape[0]
    if self.decoder == "conv":
      if p & (p - 1):
        raise ValueError(f"ViTGAN generator: decoder='conv' upsamples 2x per stage; "
                         f"patch_size={p} must be a power of 2")
      x = y.reshape(b, n, n, self.hidden)
      for i in range(int(np.log2(p))):                  # n -> image_size, 2x per stage
        x = SynthesisLayer(self.hidden, up=True, dtype=self.dtype, name=f"conv{i}_up")(x, w)
        x = SynthesisLayer(self.hidden, dtype=self.dtype, name=f"conv{i}")(x, w)
      return ToRGB(self.channels, self.dtype, name="to_rgb")(x, w)
    if self.decoder != "inr":
      raise ValueError(f"ViTGAN generator: decoder={self.decoder!r}; use 'inr' or 'conv'")
    fou = jnp.asarray(fourier_features(p, self.num_freqs), self.dtype)
    x = jnp.broadcast_to(fou[None], (b * n * n,) + fou.shape)               # [B*L, P, P, F]
    hid = ModulatedConv2D(self.inr_hidden, 1, dtype=self.dtype, name="inr_mod")(
        x, y.reshape(b * n * n, -1))
    bias = self.param("inr_bias", nn.initializers.zeros, (self.inr_hidden,))
    hid = jnp.sin(hid + bias)                                                  # SIREN
    pix = nn.Dense(self.channels, dtype=self.dtype, name="inr_out")(hid)      # [B*L, P, P, C]
    pix = pix.reshape(b, n, n, p, p, self.channels).transpose(0, 1, 3, 2, 4, 5)
    return pix.reshape(b, self.image_size, self.image_size, self.channels)


class DiscriminatorBlock(nn.Module):
  num_heads: int
  mlp_ratio: float = 4.0
  improved_sn: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, h, train: bool = False):
    b, t, d = h.shape
    dense = lambda f, name: sn_wrap(nn.Dense(f, dtype=self.dtype, name=name), True,
                                    update_stats=train, improved=self.improved_sn)
    x = nn.LayerNorm(dtype=self.dtype, name="ln1")(h)
    qk = dense(d, "query_key")(x).reshape(b, t, self.num_heads, -1)          # W_q = W_k
    v = dense(d, "value")(x).reshape(b, t, self.num_heads, -1)
    o, weights = l2_attention(qk, qk, v, return_weights=True)                  # Eq. 5
    self.sow("intermediates", "attention_weights", weights)
    h = h + dense(d, "proj")(o.reshape(b, t, d))
    x = nn.LayerNorm(dtype=self.dtype, name="ln2")(h)
    x = dense(d, "fc2")(nn.gelu(dense(int(d * self.mlp_ratio), "fc1")(x)))
    return h + x


class Discriminator(nn.Module):
  patch_size: int = 4
  overlap: int = 2                 # o: each patch sees P + 2o pixels
  hidden: int = 192
  depth: int = 4
  num_heads: int = 3
  improved_sn: bool = True
  num_classes: int = 0
  class_head: str = "projection"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, labels=None, train: bool = False):
    p, o = self.patch_size, self.overlap
    embed = nn.Conv(self.hidden, (p + 2 * o, p + 2 * o), strides=(p, p),
                    padding=((o, o), (o, o)), dtype=self.dtype, name="patch_embed")
    h = sn_wrap(embed, True, update_stats=train, improved=self.improved_sn)(x.astype(self.dtype))
    b = h.shape[0]
    h = h.reshape(b, -1, self.hidden)
    cls = self.param("cls", nn.initializers.zeros, (1, 1, self.hidden))
    h = jnp.concatenate([jnp.broadcast_to(cls, (b, 1, self.hidden)).astype(h.dtype), h], 1)
    h = h + self.param("pos", nn.initializers.normal(0.02), h.shape[1:]).astype(h.dtype)
    for i in range(self.depth):
      h = DiscriminatorBlock(self.num_heads, improved_sn=self.improved_sn, dtype=self.dtype,
                             name=f"block{i}")(h, train)
    phi = nn.LayerNorm(dtype=self.dtype, name="ln_out")(h[:, 0])
    return DiscriminatorHead(self.num_classes, self.class_head, True, self.improved_sn,
                             kernel_init=nn.initializers.lecun_normal(), dtype=self.dtype,
                             name="head")(phi, labels, train)
