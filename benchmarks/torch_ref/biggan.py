"""A PyTorch port of the BigGAN digits-scale G and D as `configs/biggan.py:digits` builds them
(research/biggan/model.py, lib/nn/gan_resblocks.py, lib/nn/conditional_norm.py,
lib/attention/sagan.py, lib/nn/class_head.py), and one hinge-loss D + G Adam update, for the
speed comparison in benchmarks/torch_ref/gan_step_vs_torch.py. Runs in .venv-bench only.

Same layers, widths and work as the JAX step (lib/tasks/gan.py, n_critic 1):
- G: z [B, 64] split in 4 chunks of 16; a shared class embedding (32) concatenated with each
  block's chunk feeds its linear conditional BNs (gain 1 + W_g c, bias W_b c, no bias);
  SN dense 16 -> 4x4x64; GBlocks 64 -> 64 -> 32 -> 16 (BN-ReLU-up-conv3-BN-ReLU-conv3,
  up-conv1 shortcut); SAGAN attention at 16x16; BN-ReLU-SN conv3 -> tanh.
- D: SAGAN ResNet D, widths 16, 32, 64, 64 (down, down, -, -), attention after block 0 at
  16x16, ReLU + sum pooling, SN linear + SN projection embedding.
- Spectral norm on every weight with one power iteration per training call
  (torch.nn.utils.spectral_norm, as flax.linen.SpectralNorm with update_stats); orthogonal
  init; BN momentum 0.1 (= flax 0.9), eps 1e-5.
- Step: D on [reals; fakes] (fakes from G in train mode, no grad), hinge loss, Adam
  (4e-4, b1 0, b2 0.999, eps 1e-6); G: hinge G loss + 1e-4 x BigGAN orthogonal penalty, Adam
  (1e-4); EMA of G's parameters (0.999).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

SN = nn.utils.spectral_norm


def _ortho(m):
  nn.init.orthogonal_(m.weight)
  if getattr(m, "bias", None) is not None:
    nn.init.zeros_(m.bias)
  return m


def conv(cin, cout, k, bias=True):
  return SN(_ortho(nn.Conv2d(cin, cout, k, padding=k // 2, bias=bias)))


def linear(cin, cout, bias=True):
  return SN(_ortho(nn.Linear(cin, cout, bias=bias)))


class LinearCBN(nn.Module):
  def __init__(self, c, cond_dim):
    super().__init__()
    self.bn = nn.BatchNorm2d(c, affine=False, momentum=0.1, eps=1e-5)
    self.gain, self.bias = linear(cond_dim, c, False), linear(cond_dim, c, False)

  def forward(self, x, cond):
    return (1 + self.gain(cond))[:, :, None, None] * self.bn(x) + self.bias(cond)[:, :, None, None]


class GBlock(nn.Module):
  def __init__(self, cin, cout, cond_dim):
    super().__init__()
    self.norm1, self.norm2 = LinearCBN(cin, cond_dim), LinearCBN(cout, cond_dim)
    self.conv1, self.conv2 = conv(cin, cout, 3), conv(cout, cout, 3)
    self.shortcut = conv(cin, cout, 1)

  def forward(self, x, cond):
    h = F.interpolate(F.relu(self.norm1(x, cond)), scale_factor=2, mode="nearest")
    h = self.conv2(F.relu(self.norm2(self.conv1(h), cond)))
    return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class Attention(nn.Module):
  """SAGAN block: theta, phi (C/8), g (C/2) 1x1 SN convs, 2x2 max-pooled keys, unscaled softmax."""

  def __init__(self, c):
    super().__init__()
    self.theta, self.phi = conv(c, c // 8, 1, False), conv(c, c // 8, 1, False)
    self.g, self.o = conv(c, c // 2, 1, False), conv(c // 2, c, 1, False)
    self.gamma = nn.Parameter(torch.zeros(()))

  def forward(self, x):
    b, c, h, w = x.shape
    theta = self.theta(x).flatten(2)                                   # [B, C/8, N]
    phi = F.max_pool2d(self.phi(x), 2).flatten(2)                      # [B, C/8, N/4]
    g = F.max_pool2d(self.g(x), 2).flatten(2)                          # [B, C/2, N/4]
    beta = torch.softmax(torch.bmm(theta.transpose(1, 2), phi), -1)    # [B, N, N/4]
    o = torch.bmm(g, beta.transpose(1, 2)).view(b, c // 2, h, w)
    return x + self.gamma * self.o(o)


class Generator(nn.Module):
  def __init__(self, z_dim=64, shared_dim=32, width=16, mult=(4, 2, 1), classes=10, ch=1):
    super().__init__()
    self.chunk = z_dim // (len(mult) + 1)
    self.c0 = width * mult[0]
    self.shared = nn.Embedding(classes, shared_dim)
    self.project = linear(self.chunk, 16 * self.c0)
    chans = [width * m for m in mult]
    cond = shared_dim + self.chunk
    self.blocks = nn.ModuleList(GBlock(ci, co, cond) for ci, co in zip([self.c0] + chans[:-1], chans))
    self.attn = Attention(chans[1])                                    # after block 1: 16x16
    self.bn = nn.BatchNorm2d(chans[-1], momentum=0.1, eps=1e-5)
    self.out = conv(chans[-1], ch, 3)

  def forward(self, z, y):
    zs = torch.split(z, self.chunk, 1)
    shared = self.shared(y)
    h = self.project(zs[0]).view(-1, 4, 4, self.c0).permute(0, 3, 1, 2)  # NHWC order as in JAX
    for i, blk in enumerate(self.blocks):
      h = blk(h, torch.cat([shared, zs[i + 1]], 1))
      if i == 1:
        h = self.attn(h)
    return torch.tanh(self.out(F.relu(self.bn(h))))


class DBlock(nn.Module):
  def __init__(self, cin, cout, down, preact):
    super().__init__()
    self.conv1, self.conv2 = conv(cin, cout, 3), conv(cout, cout, 3)
    self.down, self.preact = down, preact
    self.shortcut = conv(cin, cout, 1) if (down or cin != cout) else None

  def forward(self, x):
    h = F.relu(x) if self.preact else x
    h = self.conv2(F.relu(self.conv1(h)))
    if self.down:
      h = F.avg_pool2d(h, 2)
    if self.shortcut is None:
      return h + x
    if self.preact:
      sc = self.shortcut(x)
      return h + (F.avg_pool2d(sc, 2) if self.down else sc)
    return h + self.shortcut(F.avg_pool2d(x, 2) if self.down else x)


class Discriminator(nn.Module):
  def __init__(self, width=16, mult=(1, 2, 4, 4), classes=10, ch=1):
    super().__init__()
    chans = [width * m for m in mult]
    downs = (True, True, False, False)
    self.blocks = nn.ModuleList(DBlock(ci, co, d, i > 0) for i, (ci, co, d) in
                                enumerate(zip([ch] + chans[:-1], chans, downs)))
    self.attn = Attention(chans[0])                                    # after block 0: 16x16
    self.psi = linear(chans[-1], 1)
    self.embed = SN(nn.Embedding(classes, chans[-1]))
    nn.init.orthogonal_(self.embed.weight_orig)

  def forward(self, x, y):
    h = x
    for i, blk in enumerate(self.blocks):
      h = blk(h)
      if i == 0:
        h = self.attn(h)
    phi = F.relu(h).sum((2, 3))
    return self.psi(phi)[:, 0] + (self.embed(y) * phi).sum(1)


def orthogonal_penalty(G):
  """sum ||W W^T o (1 - I)||_F^2 over G's >= 2-D weights, [out, -1], embedding excluded."""
  total = 0.0
  for name, w in G.named_parameters():
    if w.ndim < 2 or "shared" in name:
      continue
    w2 = w.reshape(w.shape[0], -1)
    gram = w2 @ w2.t()
    total = total + (gram * (1 - torch.eye(gram.shape[0]))).square().sum()
  return total


class Step:
  """One D + one G update, as lib/tasks/gan.py's train_step with n_critic = 1."""

  def __init__(self, batch: int, z_dim: int = 64, classes: int = 10):
    torch.manual_seed(0)
    self.G, self.D = Generator(z_dim), Discriminator()
    self.G_ema = Generator(z_dim)
    self.G_ema.load_state_dict(self.G.state_dict())
    adam = lambda p, lr: torch.optim.Adam(p, lr=lr, betas=(0.0, 0.999), eps=1e-6)
    self.opt_g, self.opt_d = adam(self.G.parameters(), 1e-4), adam(self.D.parameters(), 4e-4)
    self.b, self.z_dim, self.classes = batch, z_dim, classes
    self.reals = torch.rand(batch, 1, 32, 32) * 2 - 1
    self.labels = torch.randint(0, classes, (batch,))

  def __call__(self):
    b = self.b
    # D step
    z, yf = torch.randn(b, self.z_dim), torch.randint(0, self.classes, (b,))
    with torch.no_grad():
      fake = self.G(z, yf)
    out = self.D(torch.cat([self.reals, fake]), torch.cat([self.labels, yf]))
    d_loss = F.relu(1 - out[:b]).mean() + F.relu(1 + out[b:]).mean()
    self.opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    self.opt_d.step()
    # G step
    z, yf = torch.randn(b, self.z_dim), torch.randint(0, self.classes, (b,))
    g_loss = -self.D(self.G(z, yf), yf).mean() + 1e-4 * orthogonal_penalty(self.G)
    self.opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    self.opt_g.step()
    with torch.no_grad():
      for e, p in zip(self.G_ema.parameters(), self.G.parameters()):
        e.lerp_(p, 1 - 0.999)
    return d_loss.detach(), g_loss.detach()


def param_counts():
  G, D = Generator(), Discriminator()
  count = lambda m: sum(p.numel() for p in m.parameters())
  return count(G), count(D)
