"""Spectral normalisation beyond flax.linen.SpectralNorm.

flax.linen.SpectralNorm (Miyato et al. 2018, "Spectral Normalization for GANs", Alg. 1)
divides every >=2-D weight of a wrapped layer by its largest singular value, estimated by
power iteration from a persistent `u` (in 'batch_stats', advanced with `update_stats=True`).
Added here:

- `ImprovedSpectralNorm` (Lee et al. 2022, "ViTGAN", Sec. 4.1, improved spectral
  normalization): W_bar = sigma(W_init) * W / sigma(W). The spectral norm of the initial
  weight is computed once, exactly (SVD), at init and kept as `sigma_init` next to `u`.
- `spectral_norm(layer, enabled, update_stats, improved)`: wraps a layer or returns it as is,
  so that models switch SN on and off with one flag.
"""
from __future__ import annotations

import functools

import flax.linen as nn
import jax.numpy as jnp


def largest_singular_value(w) -> jnp.ndarray:
  """Exact sigma(W) of a weight flattened to [-1, out] (the layout SpectralNorm uses)."""
  w = jnp.asarray(w, jnp.float32)
  return jnp.linalg.norm(w.reshape(-1, w.shape[-1]), ord=2)


class ImprovedSpectralNorm(nn.SpectralNorm):
  """ViTGAN's improved spectral norm: sigma(W_init) * W / sigma(W) for every >=2-D weight.

  W / sigma(W) is flax's power-iteration normalisation (same `u`, `sigma` variables); the
  factor sigma(W_init) lives in the same collection as '<layer>/<param>/sigma_init'.
  (flax.linen.SpectralNorm itself stores W_init / sigma_estimate as the initial weight.)
  """

  def _spectral_normalize(self, path, vs, update_stats):
    value = jnp.asarray(vs)
    normalized = super()._spectral_normalize(path, vs, update_stats)
    if value.ndim <= 1 or self.n_steps < 1:
      return normalized
    name = (self.layer_instance.name + "/" + "/".join(k.key for k in path[1:]) + "/sigma_init")
    sigma_init = self.variable(self.collection_name, name,
                               lambda: largest_singular_value(value).astype(self.param_dtype))
    if self.is_initializing():
      # flax writes the transformed weights back at init; keep W_init itself instead, so
      # that W_bar = W_init at step 0 and sigma_init = sigma(stored W_init) exactly.
      return value.astype(normalized.dtype)
    return normalized * sigma_init.value.astype(normalized.dtype)     # Sec. 4.1, W_bar_ISN


def spectral_norm(layer: nn.Module, enabled: bool, update_stats: bool = False,
                  improved: bool = False, name: str | None = None):
  """`layer` spectrally normalised when `enabled` (a callable taking the layer's inputs)."""
  if not enabled:
    return layer
  wrapper = ImprovedSpectralNorm if improved else nn.SpectralNorm
  name = name or (f"{layer.name}_sn" if layer.name else None)
  return functools.partial(wrapper(layer, name=name), update_stats=update_stats)
