"""U-GAT-IT (Kim et al. 2020, "U-GAT-IT: Unsupervised Generative Attentional Networks with
Adaptive Layer-Instance Normalization for Image-to-Image Translation"), after the official
code (taki0112/UGATIT, TensorFlow; znxlwm/UGATIT-pytorch).

Generator (Sec. 2.1.1): encoder (reflect pad + conv 7x7, 2 stride-2 convs, `num_blocks`
residual blocks, instance norm, no conv bias) -> CAM (lib/nn/cam.py: auxiliary classifier
eta_s on GAP and GMP, the map re-weighted by its weights) -> gamma, beta from an MLP on the
attention features (`light`: on their global average pool, the official --light option;
else on the flattened map) -> `num_blocks` residual blocks with AdaLIN (lib/nn/
instance_layer_norm.py) -> 2 x (nearest upsample, conv 3x3, LIN, ReLU) -> conv 7x7 + tanh.
Returns (image, {'cam_logit' [B, 2], 'heatmap' [B, h, w], 'cam' [B, h, w]}).

Discriminator (Sec. 2.1.2): a global (n_layers 7 at 256 px) and a local (n_layers 5) critic,
spectral norm on every conv, LeakyReLU 0.2, each with its own CAM (eta_Dt); each returns
{'logits' (patch map), 'cam_logit', 'heatmap'}. The official PyTorch discriminator applies
the CAM's 1x1 conv without spectral norm: kept.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from lib.nn.cam import CAM
from lib.nn.image_norm import reflect_pad
from lib.nn.instance_layer_norm import LIN, AdaLIN


def _instance_norm(x):
  return nn.InstanceNorm(epsilon=1e-5, use_scale=False, use_bias=False)(x)


class ResnetBlock(nn.Module):
  features: int

  @nn.compact
  def __call__(self, x):
    h = nn.Conv(self.features, (3, 3), padding="VALID", use_bias=False)(reflect_pad(x, 1))
    h = nn.relu(_instance_norm(h))
    h = nn.Conv(self.features, (3, 3), padding="VALID", use_bias=False)(reflect_pad(h, 1))
    return x + _instance_norm(h)


class ResnetAdaLINBlock(nn.Module):
  features: int

  @nn.compact
  def __call__(self, x, gamma, beta):
    h = nn.Conv(self.features, (3, 3), padding="VALID", use_bias=False)(reflect_pad(x, 1))
    h = nn.relu(AdaLIN()(h, gamma, beta))
    h = nn.Conv(self.features, (3, 3), padding="VALID", use_bias=False)(reflect_pad(h, 1))
    return x + AdaLIN()(h, gamma, beta)


class Generator(nn.Module):
  out_channels: int = 3
  features: int = 64
  num_blocks: int = 4          # the official --n_res default
  light: bool = False

  @nn.compact
  def __call__(self, x, train: bool = False):
    f = self.features
    h = nn.Conv(f, (7, 7), padding="VALID", use_bias=False)(reflect_pad(x, 3))
    h = nn.relu(_instance_norm(h))
    for i in range(2):
      h = nn.Conv(f * 2 ** (i + 1), (3, 3), (2, 2), padding="VALID", use_bias=False)(
          reflect_pad(h, 1))
      h = nn.relu(_instance_norm(h))
    c = f * 4
    for _ in range(self.num_blocks):
      h = ResnetBlock(c)(h)
    h, cam_logit, aux = CAM(activation="relu", name="cam")(h)
    z = jnp.mean(h, axis=(1, 2)) if self.light else h.reshape(h.shape[0], -1)
    z = nn.relu(nn.Dense(c, use_bias=False)(z))
    z = nn.relu(nn.Dense(c, use_bias=False)(z))
    gamma = nn.Dense(c, use_bias=False, name="gamma")(z)
    beta = nn.Dense(c, use_bias=False, name="beta")(z)
    for _ in range(self.num_blocks):
      h = ResnetAdaLINBlock(c)(h, gamma, beta)
    for i in range(2):
      b, hh, ww, cc = h.shape
      h = jax.image.resize(h, (b, hh * 2, ww * 2, cc), "nearest")
      h = nn.Conv(cc // 2, (3, 3), padding="VALID", use_bias=False)(reflect_pad(h, 1))
      h = nn.relu(LIN()(h))
    out = nn.Conv(self.out_channels, (7, 7), padding="VALID", use_bias=False)(reflect_pad(h, 3))
    return nn.tanh(out), {"cam_logit": cam_logit, **aux}


class CriticWithCAM(nn.Module):
  """One U-GAT-IT critic with `n_layers` (official `Discriminator(n_layers)`)."""
  features: int = 64
  n_layers: int = 5

  @nn.compact
  def __call__(self, x, train: bool = False):
    def sn_conv(h, ch, stride, use_bias=True, name=None):
      conv = nn.Conv(ch, (4, 4), (stride, stride), padding="VALID", use_bias=use_bias)
      return nn.SpectralNorm(conv, name=name)(reflect_pad(h, 1), update_stats=train)

    f = self.features
    h = nn.leaky_relu(sn_conv(x, f, 2), 0.2)
    for i in range(1, self.n_layers - 2):
      h = nn.leaky_relu(sn_conv(h, f * 2 ** i, 2), 0.2)
    h = nn.leaky_relu(sn_conv(h, f * 2 ** (self.n_layers - 2), 1), 0.2)
    h, cam_logit, aux = CAM(activation="leaky_relu", spectral=True, name="cam")(h)
    logits = sn_conv(h, 1, 1, use_bias=False)
    return {"logits": logits, "cam_logit": cam_logit, "heatmap": aux["heatmap"]}


class Discriminator(nn.Module):
  """The global and the local critic: a list of two outputs."""
  features: int = 64
  global_layers: int = 7
  local_layers: int = 5

  @nn.compact
  def __call__(self, x, train: bool = False):
    return [CriticWithCAM(self.features, self.global_layers, name="global")(x, train),
            CriticWithCAM(self.features, self.local_layers, name="local")(x, train)]
