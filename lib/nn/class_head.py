"""The output head of a discriminator, with optional class conditioning.

- unconditional: f(x) = psi(phi(x)), a linear layer on the pooled features phi(x);
- 'projection' (Miyato & Koyama 2018, "cGANs with Projection Discriminator", Eq. 3):
  f(x, y) = psi(phi(x)) + <V e_y, phi(x)>, an inner product of a class embedding with phi;
- 'acgan' (Odena et al. 2017, "Conditional Image Synthesis with Auxiliary Classifier GANs"):
  psi(phi(x)) plus auxiliary class logits from a second linear layer.

Returns (logits [B], class_logits [B, K] or None). Every layer is spectrally normalised with
the discriminator's flag (the embedding too, as in the official projection code).

The head also sows, into 'intermediates' (only when a caller makes that collection mutable,
never at init), its last linear layer as f(x) = <w_y, h(x)> + b: the features h = phi
('head_h', [B, C]; feature matching, Salimans et al. 2016), the effective weight w_y ('head_w',
[B, C]: psi's kernel after spectral norm, plus V e_y with the projection head) and the bias
('head_b', [B]). SAN (lib/tasks/gan_san.py) splits w_y into a direction and a scale; read them
back with `head_features`.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from lib.errors import ConfigError
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
    capture = self.is_mutable_collection("intermediates") and not self.is_initializing()
    w_y = self._psi_weight(phi) if capture else None
    if not self.num_classes:
      if capture:
        self._sow_last_layer(phi, w_y)
      return out, None
    if self.class_head not in CLASS_HEADS:
      raise ValueError(f"class_head {self.class_head!r}: use one of {CLASS_HEADS}")
    if labels is None:
      raise ValueError("a class-conditional discriminator needs labels")
    if self.class_head == "projection":
      embed = wrap(nn.Embed(self.num_classes, phi.shape[-1], embedding_init=self.kernel_init,
                            name="embed"))(labels)
      if capture:                               # f = <w + V e_y, phi> + b (Eq. 3)
        self._sow_last_layer(phi, w_y + embed.astype(jnp.float32))
      return out + jnp.sum(embed.astype(jnp.float32) * phi.astype(jnp.float32), -1), None
    if capture:
      self._sow_last_layer(phi, w_y)
    logits = wrap(nn.Dense(self.num_classes, kernel_init=self.kernel_init, dtype=self.dtype,
                           name="classifier"))(phi)
    return out, logits.astype(jnp.float32)

  def _psi_weight(self, phi):
    """psi's effective kernel [B, C]. Spectral norm of a one-column kernel is its L2 norm (one
    power iteration is exact for a rank-1 [C, 1] matrix), times sigma(W_init) when improved."""
    w = self.variables["params"]["psi"]["kernel"][:, 0].astype(jnp.float32)
    if self.spectral_norm:
      w = w / jnp.maximum(jnp.linalg.norm(w), 1e-12)
      if self.improved_sn:
        w = w * self.variables["batch_stats"]["psi_sn"]["psi/kernel/sigma_init"]
    return jnp.broadcast_to(w, phi.shape)

  def _sow_last_layer(self, phi, w_y):
    b = self.variables["params"]["psi"]["bias"][0].astype(jnp.float32)
    self.sow("intermediates", "head_h", phi.astype(jnp.float32))
    self.sow("intermediates", "head_w", w_y)
    self.sow("intermediates", "head_b", jnp.broadcast_to(b, phi.shape[:1]))


def head_features(intermediates) -> dict:
  """{'h', 'w', 'b'} sown by the DiscriminatorHead found anywhere in a D's 'intermediates'."""
  stack = [intermediates]
  while stack:
    node = stack.pop()
    if isinstance(node, dict) or hasattr(node, "items"):
      if "head_h" in node:
        return {"h": node["head_h"][0], "w": node["head_w"][0], "b": node["head_b"][0]}
      stack.extend(node.values())
  raise ConfigError("the discriminator sowed no last-layer features: gan.san and "
                   "gan.feature_matching_weight need a D ending in "
                   "lib.nn.class_head.DiscriminatorHead")
