"""Minibatch discrimination (Salimans et al. 2016, "Improved Techniques for Training GANs",
Sec. 3.2; official code: openai/improved-gan, mnist_svhn_cifar10/nn.py MinibatchLayer).

For features f(x_i) in R^A and a learned tensor T in R^{A x B x C}:
  M_i = f(x_i) T in R^{B x C};  c_b(x_i, x_j) = exp(-||M_{i,b} - M_{j,b}||_L1);
  o(x_i)_b = sum_j c_b(x_i, x_j) (+ a bias per kernel b, as in the official layer),
and the layer returns [f(x_i), o(x_i)] in R^{A + B}. As in the official layer the sum leaves
out j = i (its c_b is always 1; the paper's sum keeps it, a constant shift absorbed by the
bias). The official T is weight-normalised with a data-dependent init; here T ~ N(0, 0.05^2)
plainly (the official init scale) and the bias starts at 0. The output of a sample depends
on the whole batch: a D using it must be called on reals and fakes separately
(`batch_coupled`, lib/tasks/gan.py).
"""
from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp


class MinibatchDiscrimination(nn.Module):
  num_kernels: int = 100        # B
  kernel_dim: int = 5           # C
  include_self: bool = False    # the paper's sum over all j; the official code drops j = i

  @nn.compact
  def __call__(self, x):
    f = x.reshape(x.shape[0], -1).astype(jnp.float32)
    t = self.param("T", nn.initializers.normal(0.05),
                   (f.shape[-1], self.num_kernels, self.kernel_dim))
    m = jnp.einsum("na,abc->nbc", f, t)                                  # M_i = f(x_i) T
    l1 = jnp.sum(jnp.abs(m[:, None] - m[None, :]), axis=-1)              # [n, n, B]
    c = jnp.exp(-l1)                                                     # c_b(x_i, x_j)
    if not self.include_self:
      c = c * (1.0 - jnp.eye(f.shape[0], dtype=c.dtype))[:, :, None]
    o = jnp.sum(c, axis=1) + self.param("b", nn.initializers.zeros, (self.num_kernels,))
    return jnp.concatenate([f, o], axis=-1)
