"""The CAM attention module of U-GAT-IT (Kim et al. 2020, Sec. 2.1.1 and 2.1.2), after the
official code (taki0112/UGATIT, znxlwm/UGATIT-pytorch).

An auxiliary classifier eta on the encoder feature map E [B, H, W, C], once on its global
average pool and once on its global max pool, each a bias-free linear map to one logit (the
source-vs-target or real-vs-fake domain). Its weights w re-weight the map:
  a = E * w                    (per channel, for both w_gap and w_gmp; paper Eq. 2)
the two re-weighted maps are concatenated and fused by a 1x1 conv and an activation.
Returned: (fused features [B, H, W, C], cam_logit [B, 2] (gap, gmp), aux) where aux holds
  'heatmap': sum over channels of the fused map (what the official code returns and plots),
  'cam':     sum_c w_gap[c] E[..., c], the class activation map of the GAP classifier
             (Zhou et al. 2016) in closed form: its spatial mean equals the GAP logit.
`spectral` (the discriminator's classifiers): w / ||w||_2, which is exactly the spectral
norm of a one-output linear map (no power iteration needed).
"""
from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp


class CAM(nn.Module):
  activation: str = "relu"          # relu (generator) | leaky_relu (discriminator, 0.2)
  spectral: bool = False

  def _weight(self, name: str, c: int):
    w = self.param(name, nn.initializers.lecun_normal(), (c, 1))[:, 0]
    if self.spectral:
      w = w / jnp.maximum(jnp.linalg.norm(w), 1e-12)
    return w

  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    w_gap, w_gmp = self._weight("gap_fc", c), self._weight("gmp_fc", c)
    gap_logit = jnp.mean(x, axis=(1, 2)) @ w_gap                # eta(GAP(E))
    gmp_logit = jnp.max(x, axis=(1, 2)) @ w_gmp                 # eta(GMP(E))
    cam = jnp.einsum("bhwc,c->bhw", x, w_gap)                   # sum_c w_c E_c
    fused = jnp.concatenate([x * w_gap, x * w_gmp], axis=-1)    # a = E * w (Eq. 2)
    fused = nn.Conv(c, (1, 1), name="conv1x1")(fused)
    fused = nn.relu(fused) if self.activation == "relu" else nn.leaky_relu(fused, 0.2)
    cam_logit = jnp.stack([gap_logit, gmp_logit], axis=-1)
    return fused, cam_logit, {"heatmap": jnp.sum(fused, axis=-1), "cam": cam}
