"""WGAN-GP (Gulrajani et al. 2017, "Improved Training of Wasserstein GANs") image models.

Generator: the DCGAN generator (research/dcgan), as in the paper's CIFAR-10 DCGAN experiments.
Critic: the DCGAN discriminator without batch normalization, which the gradient penalty
forbids (Sec. 4, "No critic batch normalization": the penalty is per sample). The paper
recommends layer normalization as a drop-in replacement (`layer_norm=True`); the official
gan_cifar.py critic uses no normalization at all (the default here). Strided 5x5 convs,
LeakyReLU(0.2), a linear output. The same critic trains with weight clipping (WGAN,
Arjovsky et al. 2017) when `gan.weight_clip` > 0.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from lib.nn.class_head import DiscriminatorHead
from research.dcgan.model import Generator  # noqa: F401  (the paper's generator)
from research.dcgan.model import _levels


class Critic(nn.Module):
  width: int = 128
  layer_norm: bool = False
  num_classes: int = 0
  class_head: str = "projection"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, labels=None, train: bool = False):
    h = x.astype(self.dtype)
    for i in range(_levels(x.shape[1])):
      h = nn.Conv(self.width * 2 ** i, (5, 5), strides=(2, 2), padding="SAME",
                  dtype=self.dtype, name=f"conv{i}")(h)
      if self.layer_norm and i > 0:
        h = nn.LayerNorm(reduction_axes=(1, 2, 3), dtype=self.dtype, name=f"ln{i}")(h)
      h = nn.leaky_relu(h, 0.2)
    return DiscriminatorHead(self.num_classes, self.class_head, spectral_norm=False,
                             kernel_init=nn.initializers.lecun_normal(), dtype=self.dtype,
                             name="head")(h.reshape(h.shape[0], -1), labels, train)
