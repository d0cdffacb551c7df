"""CUT / FastCUT (Park et al. 2020, "Contrastive Learning for Unpaired Image-to-Image
Translation"): the ResNet generator (lib/nn/resnet_generator.py, whose `encode` gives the
PatchNCE layers), the PatchGAN (lib/nn/patch_discriminator.py) and, here, the projection
head H_l of each layer (Sec. 3.1; `PatchSampleF` with netF='mlp_sample' in
taesungp/contrastive-unpaired-translation): a 2-layer MLP (Dense 256, ReLU, Dense 256) per
layer on the features at the sampled locations, then L2 normalisation.
"""
from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from lib.nn.patch_discriminator import PatchDiscriminator as Discriminator  # noqa: F401
from lib.nn.resnet_generator import ResnetGenerator as Generator  # noqa: F401


class PatchSampleMLP(nn.Module):
  """H_l: list of [B, N, C_l] patch features -> list of L2-normalised [B, N, mlp_dim]."""
  mlp_dim: int = 256

  @nn.compact
  def __call__(self, patches):
    out = []
    for i, p in enumerate(patches):
      h = nn.Dense(self.mlp_dim, name=f"mlp_{i}_0")(p.astype(jnp.float32))
      h = nn.Dense(self.mlp_dim, name=f"mlp_{i}_1")(nn.relu(h))
      norm = jnp.sqrt(jnp.sum(h * h, axis=-1, keepdims=True))
      out.append(h / (norm + 1e-7))                                  # official Normalize(2)
    return out
