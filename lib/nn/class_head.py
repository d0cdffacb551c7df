"""The output head of a discriminator, with optional class conditioning.

- unconditional: f(x) = psi(phi(x)), a linear layer on the pooled features phi(x);
- 'projection' (Miyato & Koyama 2018, "cGANs with Projection Discriminator", Eq. 3):
  f(x, y) = psi(phi(x)) + <V e_y, phi(x)>, an inner product of a class embedding with phi;
- 'acgan' (Odena et al. 2017, "Conditional Image Synthesis with Auxiliary Classifier GANs"):
  psi(phi(x)) plus auxiliary class logits from a second linear layer.

Returns (logits [B], class_logits [B, K] or None). Every layer is spectrally normalised with
the discriminator's flag (the embedding too, as in the official projection code).
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from lib.nn.spectral_norm import spectral_norm as sn_wrap

CLASS_HEADS = ("projection", "acgan")


class DiscriminatorHead(nn.Module):
  num_classes: int = 0
  class_head: str = "projection"
  spectral_norm: bool = True
  improved_sn: bool = False
  kernel_init: Any = nn.initializers.xavier_uniform()
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, phi, labels=None, train: bool = False):
    wrap = lambda layer: sn_wrap(layer, self.spectral_norm, update_stats=train,
                                 improved=self.improved_sn)
    out = wrap(nn.Dense(1, kernel_init=self.kernel_init, dtype=self.dtype, name="psi"))(phi)
    out = out[:, 0].astype(jnp.float32)
    if not self.num_classes:
      return out, None
    if self.class_head not in CLASS_HEADS:
      raise ValueError(f"class_head {self.class_head!r}: use one of {CLASS_HEADS}")
    if labels is None:
      raise ValueError("a class-conditional discriminator needs labels")
    if self.class_head == "projection":
      embed = wrap(nn.Embed(self.num_classes, phi.shape[-1], embedding_init=self.kernel_init,
                            name="embed"))(labels)
      return out + jnp.sum(embed.astype(jnp.float32) * phi.astype(jnp.float32), -1), None
    logits = wrap(nn.Dense(self.num_classes, kernel_init=self.kernel_init, dtype=self.dtype,
                           name="classifier"))(phi)
    return out, logits.astype(jnp.float32)
