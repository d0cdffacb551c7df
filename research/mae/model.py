"""Masked Autoencoders (He et al., 2022: "Masked Autoencoders Are Scalable Vision Learners").

An image is cut into N non-overlapping patches; a random subset of keep = int(N (1 - mask_ratio))
patches per image is embedded and run through a ViT encoder (the masked patches are removed,
not replaced: the encoder never sees them, Sec. 3 "MAE encoder"); a light decoder receives the
encoded visible tokens plus a shared learned mask token at every removed position, each with
its position embedding, and predicts the pixels of every patch; the loss is the mean squared
error on the removed patches only (Sec. 3 "Reconstruction target"), optionally against the
per-patch normalised pixels (`norm_pix_loss`).

Follows the official code (facebookresearch/mae, models_mae.py) where the paper leaves a
choice open:
- masking: argsort of uniform noise per sample, the first `keep` of `ids_shuffle` are kept,
  `ids_restore = argsort(ids_shuffle)` puts the decoder's tokens back in order (static shapes);
- fixed 2-D sin-cos position embeddings (util/pos_embed.py: the first half of the channels
  encodes the column index, the second half the row index; the [class] position is zeros),
  for the encoder and, at the decoder's width, for the decoder;
- a [class] token through the encoder, dropped before the prediction head of the decoder;
- the patch embedding is a linear map of the patchified pixels (the official Conv2d with
  stride p is the same map); it, `decoder_embed` and `decoder_pred` use Xavier-uniform init
  as the official code; cls and mask tokens N(0, 0.02);
- norm_pix_loss: target = (x - mean) / sqrt(var + 1e-6) per patch, with torch's default
  *unbiased* variance (ddof=1), as `target.var(dim=-1)` computes it.
Encoder and decoder blocks are the shared pre-LN family (lib/nn/transformer.py), so their
init is that family's (Flax defaults), not timm's Xavier init: a documented difference.

With mask_ratio 0 (keep = N) no patch is removed; the loss then averages over every patch (the
official formula would divide by zero). That is the "full-token" baseline of
benchmarks/mae_step.py: the same encoder and decoder, all tokens through both.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from lib.nn.patches import patchify, sincos_1d, sincos_2d, unpatchify  # noqa: F401 (re-exported)
from lib.nn.transformer import encoder_stack


def num_kept(num_patches: int, mask_ratio: float) -> int:
  """keep = int(N (1 - mask_ratio)), the official count (static)."""
  return int(num_patches * (1 - mask_ratio))


def random_masking(noise, keep: int):
  """Per-sample random masking by argsort of noise [B, N] (small noise is kept).

  Returns ids_keep [B, keep], mask [B, N] (0 kept, 1 removed, in the original order) and
  ids_restore [B, N] (argsort of ids_shuffle: position i of the image is token ids_restore[i]
  of [kept..., removed...])."""
  ids_shuffle = jnp.argsort(noise, axis=1)
  ids_restore = jnp.argsort(ids_shuffle, axis=1)
  n = noise.shape[1]
  shuffled_mask = (jnp.arange(n) >= keep).astype(jnp.float32)   # [0]*keep + [1]*(N - keep)
  mask = jnp.take_along_axis(jnp.broadcast_to(shuffled_mask, noise.shape), ids_restore, axis=1)
  return ids_shuffle[:, :keep], mask, ids_restore


def pixel_target(patches, norm_pix_loss: bool):
  """The reconstruction target: the patch pixels, or (x - mean) / sqrt(var + 1e-6) per patch
  with the unbiased variance (official `target.var(dim=-1)`)."""
  if not norm_pix_loss:
    return patches
  mean = patches.mean(-1, keepdims=True)
  var = patches.var(-1, keepdims=True, ddof=1)
  return (patches - mean) / jnp.sqrt(var + 1e-6)


def masked_mse(pred, target, mask):
  """L = sum_i m_i mean_j (pred_ij - target_ij)^2 / sum_i m_i: the mean squared error on the
  removed patches (m_i = 1) only."""
  per_patch = jnp.mean((pred.astype(jnp.float32) - target.astype(jnp.float32)) ** 2, axis=-1)
  return jnp.sum(per_patch * mask) / jnp.sum(mask)


_xavier = nn.initializers.xavier_uniform()
_token = nn.initializers.normal(0.02)


class MaeEncoder(nn.Module):
  """Patch embedding + fixed position embedding, the visible tokens only, [class] token, ViT
  blocks, final LayerNorm. ids_keep None: every token (the `features` path)."""
  patch_size: int
  hidden_size: int
  depth: int
  num_heads: int
  mlp_dim: int
  dtype: Any = jnp.float32
  remat: bool = False
  scan_layers: bool = False

  @nn.compact
  def __call__(self, images, ids_keep=None, train: bool = False):
    patches = patchify(images.astype(self.dtype), self.patch_size)
    b, n, _ = patches.shape
    x = nn.Dense(self.hidden_size, kernel_init=_xavier, dtype=self.dtype,
                 name="embedding")(patches)                                  # E x_p
    pos = jnp.asarray(sincos_2d(self.hidden_size, int(round(n ** 0.5))), x.dtype)
    x = x + pos[None, 1:]                                                    # + E_pos (fixed)
    if ids_keep is not None:                                                 # visible only
      x = jnp.take_along_axis(x, ids_keep[..., None], axis=1)
    cls = self.param("cls", _token, (1, 1, self.hidden_size)).astype(x.dtype) + pos[None, :1]
    x = jnp.concatenate([jnp.broadcast_to(cls, (b, 1, self.hidden_size)), x], axis=1)
    x = encoder_stack(x, train, depth=self.depth, num_heads=self.num_heads,
                      mlp_dim=self.mlp_dim, dtype=self.dtype, remat=self.remat,
                      scan_layers=self.scan_layers)
    return nn.LayerNorm(dtype=self.dtype, name="norm")(x)


class MaeDecoder(nn.Module):
  """decoder_embed, mask tokens put back in order by ids_restore, fixed decoder positions,
  blocks, LayerNorm, and the per-patch pixel prediction (the [class] output is dropped)."""
  patch_dim: int
  hidden_size: int
  depth: int
  num_heads: int
  mlp_dim: int
  dtype: Any = jnp.float32
  remat: bool = False
  scan_layers: bool = False

  @nn.compact
  def __call__(self, latent, ids_restore, train: bool = False):
    x = nn.Dense(self.hidden_size, kernel_init=_xavier, dtype=self.dtype,
                 name="decoder_embed")(latent)
    b, n = ids_restore.shape
    mask_token = self.param("mask_token", _token, (1, 1, self.hidden_size)).astype(x.dtype)
    tokens = jnp.concatenate(
        [x[:, 1:], jnp.broadcast_to(mask_token, (b, n + 1 - x.shape[1], self.hidden_size))], 1)
    tokens = jnp.take_along_axis(tokens, ids_restore[..., None], axis=1)     # unshuffle
    x = jnp.concatenate([x[:, :1], tokens], axis=1)
    x = x + jnp.asarray(sincos_2d(self.hidden_size, int(round(n ** 0.5))), x.dtype)[None]
    x = encoder_stack(x, train, depth=self.depth, num_heads=self.num_heads,
                      mlp_dim=self.mlp_dim, dtype=self.dtype, remat=self.remat,
                      scan_layers=self.scan_layers, prefix="decoder_block")
    x = nn.LayerNorm(dtype=self.dtype, name="decoder_norm")(x)
    x = nn.Dense(self.patch_dim, kernel_init=_xavier, dtype=self.dtype, name="decoder_pred")(x)
    return x[:, 1:]


class MAE(nn.Module):
  """`__call__(images, train, noise=None)` -> {'loss', 'pred', 'mask', 'ids_restore'};
  `features(images)` -> the encoder's tokens [B, 1 + N, hidden] with nothing masked.

  The masking noise is `noise` [B, N] when given (tests), else uniform from the 'masking' rng.
  """
  patch_size: int = 4
  channels: int = 1
  hidden_size: int = 64
  depth: int = 4
  num_heads: int = 4
  mlp_dim: int = 256
  decoder_hidden_size: int = 64
  decoder_depth: int = 2
  decoder_num_heads: int = 4
  decoder_mlp_dim: int = 256
  mask_ratio: float = 0.75
  norm_pix_loss: bool = True
  dtype: Any = jnp.float32
  remat: bool = False
  scan_layers: bool = False

  def setup(self):
    common = dict(dtype=self.dtype, remat=self.remat, scan_layers=self.scan_layers)
    self.encoder = MaeEncoder(self.patch_size, self.hidden_size, self.depth, self.num_heads,
                              self.mlp_dim, **common)
    self.decoder = MaeDecoder(self.patch_size ** 2 * self.channels, self.decoder_hidden_size,
                              self.decoder_depth, self.decoder_num_heads,
                              self.decoder_mlp_dim, **common)

  def __call__(self, images, train: bool = False, noise=None):
    b, h, w, _ = images.shape
    n = (h // self.patch_size) * (w // self.patch_size)
    if noise is None:
      noise = jax.random.uniform(self.make_rng("masking"), (b, n))
    keep = num_kept(n, self.mask_ratio)
    ids_keep, mask, ids_restore = random_masking(noise, keep)
    latent = self.encoder(images, ids_keep, train)
    pred = self.decoder(latent, ids_restore, train)
    target = pixel_target(patchify(images.astype(jnp.float32), self.patch_size),
                          self.norm_pix_loss)
    # mask_ratio 0 (nothing removed, the full-token baseline): the loss is over every patch
    loss = masked_mse(pred, target, mask if keep < n else jnp.ones_like(mask))
    return {"loss": loss, "pred": pred, "mask": mask, "ids_restore": ids_restore}

  def features(self, images):
    """Every token through the encoder (no masking), after its final LayerNorm."""
    return self.encoder(images, None, False)
