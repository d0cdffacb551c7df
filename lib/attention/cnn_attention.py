"""Attention modules for convolutional feature maps (NHWC).

- Squeeze-and-Excitation (Hu et al. 2018, Sec. 3): s = sigmoid(W2 relu(W1 GAP(x))), y = s * x.
- CBAM (Woo et al. 2018, Sec. 3): channel attention sigmoid(MLP(AvgPool) + MLP(MaxPool))
  (Eq. 2), then spatial attention sigmoid(conv7x7([AvgPool_c; MaxPool_c])) (Eq. 3), each
  multiplied into the features (Eq. 1).
- Split attention (Zhang et al. 2020, "ResNeSt", Sec. 3): a grouped conv makes `radix`
  splits per cardinal group; their sum is pooled, passed through a grouped two-layer MLP and
  an r-softmax over the splits, which weights the splits.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


class SqueezeExcitation(nn.Module):
  """SE block: reduction r (16 in the paper); hidden width max(C // r, min_hidden)."""
  reduction: int = 16
  min_hidden: int = 1
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    z = jnp.mean(x, axis=(1, 2))                                                # Eq. 2
    s = nn.relu(nn.Dense(max(c // self.reduction, self.min_hidden), dtype=self.dtype,
                         name="fc1")(z))
    s = nn.sigmoid(nn.Dense(c, dtype=self.dtype, name="fc2")(s))                # Eq. 3
    self.sow("intermediates", "attention_weights", s)
    return x * s[:, None, None, :].astype(x.dtype)                              # Eq. 4


def channel_pools(x):
  """Average and max over the channel axis, stacked: [B, H, W, 2] (CBAM Sec. 3)."""
  return jnp.concatenate([jnp.mean(x, -1, keepdims=True), jnp.max(x, -1, keepdims=True)], -1)


class CBAM(nn.Module):
  """Convolutional block attention: channel then spatial attention.

  The paper's spatial map is sigmoid(f^{7x7}([avg; max])); the official code adds a
  BatchNorm after that conv, omitted here (`spatial_bias` gives the conv a bias instead).
  """
  reduction: int = 16
  kernel_size: int = 7
  min_hidden: int = 1
  spatial_bias: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    fc1 = nn.Dense(max(c // self.reduction, self.min_hidden), dtype=self.dtype, name="fc1")
    fc2 = nn.Dense(c, dtype=self.dtype, name="fc2")
    mlp = lambda z: fc2(nn.relu(fc1(z)))                                       # shared MLP
    m_c = nn.sigmoid(mlp(jnp.mean(x, (1, 2))) + mlp(jnp.max(x, (1, 2))))       # Eq. 2
    x = x * m_c[:, None, None, :].astype(x.dtype)                              # Eq. 1
    k = self.kernel_size
    m_s = nn.Conv(1, (k, k), padding="SAME", use_bias=self.spatial_bias, dtype=self.dtype,
                  name="spatial")(channel_pools(x))
    m_s = nn.sigmoid(m_s)                                                      # Eq. 3
    self.sow("intermediates", "channel_attention", m_c)
    self.sow("intermediates", "attention_weights", m_s[..., 0])
    return x * m_s.astype(x.dtype)


def r_softmax(logits, radix: int, cardinality: int):
  """ResNeSt r-softmax: logits [B, cardinality*radix*c'] laid out (cardinality, radix, c');
  softmax over radix (sigmoid when radix == 1); returns [B, radix, cardinality*c']."""
  b = logits.shape[0]
  a = logits.reshape(b, cardinality, radix, -1).astype(jnp.float32)
  a = jax.nn.softmax(a, axis=2) if radix > 1 else jax.nn.sigmoid(a)
  return a.transpose(0, 2, 1, 3).reshape(b, radix, -1)


class SplitAttention(nn.Module):
  """Split-attention conv (ResNeSt Sec. 3.1-3.2, official SplAtConv2d layout).

  conv (groups = cardinality * radix) -> BN -> ReLU gives radix splits U_r [.., channels]
  (split r = output channels [r*channels, (r+1)*channels)); gap = GAP(sum_r U_r);
  fc1 (grouped by cardinality) -> BN -> ReLU -> fc2 (grouped) -> r-softmax a_r;
  V = sum_r a_r * U_r. `train` selects batch statistics in the BatchNorms.
  """
  channels: int
  radix: int = 2
  cardinality: int = 1
  kernel_size: int = 3
  strides: int = 1
  reduction: int = 4
  min_inter: int = 32
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    r, g, c = self.radix, self.cardinality, self.channels
    k = self.kernel_size
    bn = lambda name: nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                                   dtype=self.dtype, name=name)
    u = nn.Conv(c * r, (k, k), strides=self.strides, padding="SAME",
                feature_group_count=g * r, use_bias=False, dtype=self.dtype, name="conv")(x)
    u = nn.relu(bn("bn0")(u))
    b, h, w, _ = u.shape
    splits = u.reshape(b, h, w, r, c)
    gap = jnp.mean(splits.sum(axis=3), axis=(1, 2))[:, None, None, :]  # pooled sum
    inter = max(x.shape[-1] * r // self.reduction, self.min_inter)
    z = nn.Conv(inter, (1, 1), feature_group_count=g, dtype=self.dtype, name="fc1")(gap)
    z = nn.relu(bn("bn1")(z))
    logits = nn.Conv(c * r, (1, 1), feature_group_count=g, dtype=self.dtype, name="fc2")(z)
    a = r_softmax(logits[:, 0, 0], r, g)  # r-softmax over splits
    self.sow("intermediates", "attention_weights", a)
    return jnp.einsum("bhwrc,brc->bhwc", splits, a.astype(splits.dtype))  # sum_r a_r U_r
