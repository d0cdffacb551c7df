"""MLP generator and discriminator of the 8-Gaussian ring experiments (Metz et al. 2017,
Sec. 3.1; R3GAN, Huang et al. 2024, Sec. 3): 3 hidden layers of 128 ReLU units by default.
Used by benchmarks/gan_rings.py and configs/gan_study.py:rings through lib.tasks.gan."""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from lib.nn.class_head import DiscriminatorHead
from lib.nn.minibatch_discrimination import MinibatchDiscrimination


class MLPGenerator(nn.Module):
  """z -> MLP -> an 'image' of `output_shape` (here [1, 1, 2]: a 2-D point)."""
  output_shape: tuple = (1, 1, 2)
  hidden: int = 128
  depth: int = 3
  num_classes: int = 0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z, labels=None, train: bool = False):
    h = z
    if self.num_classes:
      h = jnp.concatenate([h, nn.Embed(self.num_classes, 8, name="label_embed")(labels)], -1)
    for i in range(self.depth):
      h = nn.relu(nn.Dense(self.hidden, dtype=self.dtype, name=f"fc{i}")(h))
    out = nn.Dense(int(np.prod(self.output_shape)), dtype=self.dtype, name="out")(h)
    return out.reshape((-1,) + tuple(self.output_shape))


class MLPDiscriminator(nn.Module):
  """x (flattened) -> MLP -> (logit [B], class logits or None) via the shared head.
  `minibatch_kernels` > 0 appends minibatch discrimination (Salimans et al. 2016, Sec. 3.2;
  B kernels of dimension `minibatch_dim`) to the last hidden layer, as the official code
  does before the output layer; D then couples the batch (reals, fakes called apart)."""
  hidden: int = 128
  depth: int = 3
  num_classes: int = 0
  class_head: str = "projection"
  minibatch_kernels: int = 0
  minibatch_dim: int = 5
  dtype: Any = jnp.float32

  @property
  def batch_coupled(self) -> bool:
    return self.minibatch_kernels > 0

  @nn.compact
  def __call__(self, x, labels=None, train: bool = False):
    h = x.reshape(x.shape[0], -1)
    for i in range(self.depth):
      h = nn.relu(nn.Dense(self.hidden, dtype=self.dtype, name=f"fc{i}")(h))
    if self.minibatch_kernels:
      h = MinibatchDiscrimination(self.minibatch_kernels, self.minibatch_dim,
                                  name="minibatch")(h)
    return DiscriminatorHead(self.num_classes, self.class_head, spectral_norm=False,
                             kernel_init=nn.initializers.lecun_normal(), name="head")(
                                 h, labels, train)
