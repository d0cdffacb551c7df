"""Finite Scalar Quantization (Mentzer et al. 2023, "Finite Scalar Quantization: VQ-VAE Made
Simple", Sec. 3 and Appendix A.1).

Each of the d = len(levels) channels is bounded to L_i values and rounded, with a
straight-through gradient; the implicit codebook is the grid of prod(levels) points, so there
is no codebook to learn and no auxiliary loss. The bound is
  half_l = (L - 1)(1 + eps) / 2,  offset = 0.5 if L is even else 0,
  shift = atanh(offset / half_l),  bound(z) = tanh(z + shift) * half_l - offset
which puts bound(0) = 0 and, after rounding, L integers in [-(L//2), (L - 1) - L//2]. The
google-research `fsq` notebook (the official code) writes (1 - eps) and tan(offset / half_l);
we follow the corrected form of lucidrains' vector-quantize-pytorch (1 + eps, atanh: bound(0)
= 0 exactly; tan and atanh differ by < 2e-3 here and give the same grid). The rounded values
are divided by L // 2 (the paper's normalisation to [-1, 1]), and codes <-> indices use the
mixed radix basis_i = prod_{j<i} L_j: index = sum_i (zhat_i * (L_i//2) + L_i//2) * basis_i.
Defaults: levels (8, 5, 5, 5) (the paper's ~2^10 codebook), eps 1e-3.
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from lib.errors import ConfigError
from lib.nn.quantizers.code_statistics import as_float32_rows, code_histogram_metrics
from lib.nn.quantizers.straight_through import round_ste


class FiniteScalarQuantizer(nn.Module):
  """z [B, ..., d] -> (zhat in [-1, 1] of z's dtype, aux); aux: indices [B, ...] int32, loss
  (0: FSQ has none), codebook_usage, perplexity."""
  levels: Sequence[int] = (8, 5, 5, 5)
  eps: float = 1e-3

  def _levels(self) -> np.ndarray:
    levels = np.asarray(self.levels, np.int64)
    if levels.ndim != 1 or levels.size == 0 or np.any(levels < 2):
      raise ConfigError(f"FiniteScalarQuantizer: levels={list(self.levels)}; give one integer "
                        ">= 2 per channel, e.g. [8, 5, 5, 5].")
    if np.prod(levels) >= 2 ** 31:
      raise ConfigError(f"FiniteScalarQuantizer: prod(levels) = {np.prod(levels)} does not fit "
                        "an int32 index; use fewer or smaller levels.")
    return levels

  @property
  def codebook_size(self) -> int:
    return int(np.prod(self._levels()))

  def bound(self, z):
    """tanh(z + shift) * half_l - offset (float32, per channel)."""
    levels = self._levels().astype(np.float32)
    half_l = (levels - 1.0) * (1.0 + self.eps) / 2.0
    offset = np.where(levels % 2 == 0, 0.5, 0.0).astype(np.float32)
    shift = np.arctanh(offset / half_l).astype(np.float32)
    return jnp.tanh(z + shift) * half_l - offset

  def codes_to_indices(self, zhat):
    """Normalised codes [..., d] -> int32 indices [...] (mixed radix)."""
    levels = self._levels()
    half_width = (levels // 2).astype(np.float32)
    basis = np.concatenate([[1], np.cumprod(levels[:-1])]).astype(np.float32)
    digits = jnp.round(jnp.asarray(zhat, jnp.float32) * half_width + half_width)
    return jnp.round(jnp.sum(digits * basis, axis=-1)).astype(jnp.int32)

  def indices_to_codes(self, indices):
    """int indices [...] -> normalised codes [..., d] float32."""
    levels = self._levels()
    half_width = (levels // 2).astype(np.float32)
    basis = np.concatenate([[1], np.cumprod(levels[:-1])]).astype(np.int32)
    digits = (jnp.asarray(indices, jnp.int32)[..., None] // basis) % levels.astype(np.int32)
    return (digits.astype(jnp.float32) - half_width) / half_width

  def __call__(self, z):
    levels = self._levels()
    rows = as_float32_rows(z, len(levels), "FiniteScalarQuantizer", "levels")
    zhat = round_ste(self.bound(rows)) / (levels // 2).astype(np.float32)   # Eq. in App. A.1
    indices = self.codes_to_indices(zhat)
    aux = {"indices": indices.reshape(z.shape[:-1]), "loss": jnp.zeros((), jnp.float32),
           **code_histogram_metrics(indices, int(np.prod(levels)))}
    return zhat.reshape(z.shape).astype(z.dtype), aux
