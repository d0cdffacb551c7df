"""The ResNet translation generator of CycleGAN (Zhu et al. 2017, Appendix 7.2; Johnson et
al. 2016), as `ResnetGenerator` in junyanz/pytorch-CycleGAN-and-pix2pix.

c7s1-F (reflect pad 3, conv 7x7, norm, ReLU), `num_downsampling` x (conv 3x3 stride 2, norm,
ReLU; channels x2), `num_blocks` residual blocks (reflect pad, conv 3x3, norm, ReLU, reflect
pad, conv 3x3, norm; + input), `num_downsampling` x (transposed conv 3x3 stride 2, norm, ReLU),
c7s1-C_out + tanh. The paper: 9 blocks at 256 px, 6 at 128 px, F = 64, instance norm.

`encode(x)` returns the encoder's feature maps for CUT's PatchNCE, in the order
[input, stem, down_1 .. down_n, block_1 .. block_k] (CUT's nce_layers 0, 4, 8, 12, 16 of its
sequential resnet_9blocks are the input, the two downsampling convs, blocks 1 and 5: indices
(0, 2, 3, 4, 8) here). Calls return (image, aux) with aux = {} (the shared generator form).
"""
from __future__ import annotations

import flax.linen as nn

from lib.nn.image_norm import make_norm, reflect_pad


class ResnetBlock(nn.Module):
  features: int
  norm: str = "instance"

  @nn.compact
  def __call__(self, x, train: bool = False):
    h = nn.Conv(self.features, (3, 3), padding="VALID")(reflect_pad(x, 1))
    h = nn.relu(make_norm(self.norm, train)(h))
    h = nn.Conv(self.features, (3, 3), padding="VALID")(reflect_pad(h, 1))
    return x + make_norm(self.norm, train)(h)


class ResnetGenerator(nn.Module):
  out_channels: int = 3
  features: int = 64
  num_blocks: int = 9
  num_downsampling: int = 2
  norm: str = "instance"

  def setup(self):
    f = self.features
    self.stem = nn.Conv(f, (7, 7), padding="VALID")
    self.downs = [nn.Conv(f * 2 ** (i + 1), (3, 3), (2, 2), ((1, 1), (1, 1)))
                  for i in range(self.num_downsampling)]
    self.blocks = [ResnetBlock(f * 2 ** self.num_downsampling, self.norm)
                   for _ in range(self.num_blocks)]
    self.ups = [nn.ConvTranspose(f * 2 ** (self.num_downsampling - i - 1), (3, 3), (2, 2),
                                 padding="SAME") for i in range(self.num_downsampling)]
    self.head = nn.Conv(self.out_channels, (7, 7), padding="VALID")
    n = 1 + 2 * self.num_downsampling
    self.norms = [make_norm(self.norm, True, name=f"norm_{i}") for i in range(n)]

  def _norm(self, i, h, train):
    if self.norm == "batch":     # BatchNorm needs the train flag at call time
      return self.norms[i](h, use_running_average=not train)
    return self.norms[i](h)

  def encode(self, x, train: bool = False):
    feats = [x]
    h = nn.relu(self._norm(0, self.stem(reflect_pad(x, 3)), train))
    feats.append(h)
    for i, down in enumerate(self.downs):
      h = nn.relu(self._norm(1 + i, down(h), train))
      feats.append(h)
    for block in self.blocks:
      h = block(h, train)
      feats.append(h)
    return feats

  def __call__(self, x, train: bool = False):
    h = self.encode(x, train)[-1]
    for i, up in enumerate(self.ups):
      h = nn.relu(self._norm(1 + self.num_downsampling + i, up(h), train))
    return nn.tanh(self.head(reflect_pad(h, 3))), {}
