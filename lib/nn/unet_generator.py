"""The U-Net generator of pix2pix (Isola et al. 2017, Sec. 3.2.1 and Appendix 6.1.1), as
`UnetGenerator` in junyanz/pytorch-CycleGAN-and-pix2pix.

`num_downs` encoder convs 4x4 stride 2 (LeakyReLU 0.2 before each but the first; norm after
each but the first and the innermost), channels features * min(2^i, 8); the decoder mirrors
them with ReLU + transposed conv 4x4 stride 2 + norm, concatenating the encoder map of the
same size (the skip connections), dropout 0.5 in the `num_downs - 5` innermost 8F decoders
(the paper's noise), and a final ReLU + transposed conv + tanh. unet_256 is num_downs = 8;
32 px images take 5 (down to 1x1). The official default norm is batch norm at batch size 1,
i.e. instance statistics: 'instance' here. Dropout is on in `train` only (the official code
keeps it at test time, as the paper says); it draws from the rng stream 'dropout'.
Calls return (image, aux) with aux = {} (the shared generator form).
"""
from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from lib.nn.image_norm import make_norm

PAD1 = ((1, 1), (1, 1))


class UnetGenerator(nn.Module):
  out_channels: int = 3
  features: int = 64
  num_downs: int = 8
  norm: str = "instance"
  dropout: float = 0.5

  @nn.compact
  def __call__(self, x, train: bool = False):
    n = self.num_downs
    ch = [self.features * min(2 ** i, 8) for i in range(n)]
    skips = []
    h = nn.Conv(ch[0], (4, 4), (2, 2), PAD1)(x)                     # outermost: no norm
    skips.append(h)
    for i in range(1, n):
      h = nn.Conv(ch[i], (4, 4), (2, 2), PAD1)(nn.leaky_relu(h, 0.2))
      if i < n - 1:                                                  # innermost: no norm
        h = make_norm(self.norm, train)(h)
      skips.append(h)
    u = skips[-1]
    for i in range(n - 1, 0, -1):
      u = nn.ConvTranspose(ch[i - 1], (4, 4), (2, 2), padding="SAME")(nn.relu(u))
      u = make_norm(self.norm, train)(u)
      if self.dropout and 4 <= i <= n - 2:                         # the n - 5 dropout blocks
        u = nn.Dropout(self.dropout, deterministic=not train)(u)
      u = jnp.concatenate([skips[i - 1], u], axis=-1)
    out = nn.ConvTranspose(self.out_channels, (4, 4), (2, 2), padding="SAME")(nn.relu(u))
    return nn.tanh(out), {}
