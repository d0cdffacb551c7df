"""Glow (Kingma & Dhariwal 2018, "Glow: Generative Flow with Invertible 1x1 Convolutions"),
following the official openai/glow `model.py` and `tfops.py` (read for this file, not copied).

One flow step (Sec. 3, Table 1): actnorm -> invertible 1x1 convolution -> affine coupling.
Multi-scale (Dinh et al. 2017, Sec. 3.6 of Glow): x is squeezed (2x2 space-to-depth) once, then
per level K steps; between levels half the channels are split off (z2, scored under a Gaussian
whose mean and log-scale come from a zero-initialised 3x3 conv of the kept half z1) and z1 is
squeezed again. The top latent has a learned prior (a zero-initialised conv of zeros, the
official `learntop`: a learned mean and log-scale per position and channel).

As the official code:
- actnorm (Sec. 3.1): y = (x + b) * exp(logs), log-det H W sum(logs); data-dependent init on the
  first batch: b = -mean(x), logs = log(1 / (std(x) + 1e-6)), per channel; logs is stored
  divided by `logscale_factor` 3 (the official parameterisation, which scales its step size).
  In flax the init pass is `model.init(rng, batch, method=Glow.log_prob)`: the param
  initialisers close over the activations of the batch, so every actnorm is set from the
  statistics of what reaches it (lib/tasks/flow.py runs this pass on the first training batch,
  inside the first train step, because the loop's own init sees a batch of zeros).
- 1x1 conv (Sec. 3.2): W random orthogonal (QR of a Gaussian), log-det H W log|det W|
  (slogdet); `lu_decomposed=True` is the LU form W = P L (U + diag(sign(s) exp(log|s|)))
  with P and sign(s) fixed (the 'constants' collection) and L, U, log|s| learned, log-det
  H W sum(log|s|) (Eq. 10).
- affine coupling (Sec. 3.3): h = NN(z1); shift = h[..., 0::2], scale = sigmoid(h[..., 1::2] + 2)
  (the official code, the paper writes exp(log s)); z2' = (z2 + shift) * scale; log-det
  sum(log scale). NN: 3x3 conv (width) + actnorm + ReLU, 1x1 conv (width) + actnorm + ReLU,
  zero-initialised 3x3 conv ('conv2d_zeros': (conv + b) * exp(3 logs)). The 3x3 convs see the
  official edge padding: a constant channel that is 1 on the zero-padded border.
  `coupling='additive'` is the official flow_coupling=0: z2' = z2 + NN(z1), log-det 0.
- split prior: conv2d_zeros(z1) -> mean h[..., 0::2], log-scale h[..., 1::2].

Discrete data (official `preprocess` and `_f_loss`): bins k in 0..n_bins-1, z = k / n_bins - 0.5
+ u with u ~ U(0, 1 / n_bins); log P(k) >= log p(z) - D log n_bins (a variational bound on the
discrete log-likelihood, D = H W C); bits per dimension = -(log p(z) - D log n_bins) / (D ln 2).
Images here come in [-1, 1]: `to_bins` maps them to n_bins levels (the official n_bits_x
reduction, floor(x / 2^(8 - bits))).
Left out: the class-conditional prior (`ycond`), the shuffle / reverse permutations
(flow_permutation 0 / 1), gradient checkpointing.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lib.errors import ConfigError

COUPLINGS = ("affine", "additive")
LOG_2PI = float(np.log(2.0 * np.pi))


# -- discrete data ------------------------------------------------------------------------------

def to_bins(images, n_bins: int):
  """Images in [-1, 1] -> integer levels 0..n_bins-1 (float32), floor((x + 1) / 2 * n_bins)."""
  k = jnp.floor((images.astype(jnp.float32) + 1.0) * 0.5 * n_bins)
  return jnp.clip(k, 0, n_bins - 1)


def dequantize(bins, n_bins: int, rng):
  """z = k / n_bins - 0.5 + U(0, 1 / n_bins): the official preprocess + uniform noise."""
  return bins / n_bins - 0.5 + jax.random.uniform(rng, bins.shape, maxval=1.0 / n_bins)


def postprocess(z, n_bins: int):
  """Flow space back to images in [-1, 1]: the bin of z (official postprocess), level
  0 -> -1 and n_bins - 1 -> 1."""
  k = jnp.clip(jnp.floor((z + 0.5) * n_bins), 0, n_bins - 1)
  return k / (n_bins - 1) * 2.0 - 1.0


def discrete_log_likelihood(log_pz_continuous, num_dims: int, n_bins: int):
  """log P(k) bound: log p(z) - D log n_bins (nats)."""
  return log_pz_continuous - num_dims * np.log(n_bins)


# -- reshapes -----------------------------------------------------------------------------------

def squeeze2d(x, factor: int = 2):
  """[B, H, W, C] -> [B, H/f, W/f, C f^2], channel order (c, dy, dx) as the official squeeze2d."""
  b, h, w, c = x.shape
  if h % factor or w % factor:
    raise ConfigError(f"Glow: a {h}x{w} input cannot be squeezed by {factor}; use an image size "
                      f"divisible by 2^levels")
  x = x.reshape(b, h // factor, factor, w // factor, factor, c)
  x = x.transpose(0, 1, 3, 5, 2, 4)
  return x.reshape(b, h // factor, w // factor, c * factor * factor)


def unsqueeze2d(x, factor: int = 2):
  """The inverse of squeeze2d."""
  b, h, w, c = x.shape
  x = x.reshape(b, h, w, c // factor ** 2, factor, factor)
  x = x.transpose(0, 1, 4, 2, 5, 3)
  return x.reshape(b, h * factor, w * factor, c // factor ** 2)


def gaussian_log_prob(x, mean, logs):
  """sum over all but the batch of log N(x; mean, exp(logs)^2)."""
  lp = -0.5 * (LOG_2PI + 2.0 * logs + (x - mean) ** 2 * jnp.exp(-2.0 * logs))
  return jnp.sum(lp, axis=tuple(range(1, x.ndim)))


def _edge_pad(x):
  """Zero-pad H and W by 1 and add a channel that is 1 on the padding (official edge_bias)."""
  x = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  border = jnp.pad(jnp.zeros(x.shape[1:3], x.dtype)[1:-1, 1:-1], 1, constant_values=1.0)
  border = jnp.broadcast_to(border[None, :, :, None], x.shape[:3] + (1,))
  return jnp.concatenate([x, border], axis=-1)


# -- layers -------------------------------------------------------------------------------------

class ActNorm(nn.Module):
  """y = (x + b) * exp(logs) per channel (Sec. 3.1), data-dependent init (see module doc)."""
  logscale_factor: float = 3.0
  scale: float = 1.0

  @nn.compact
  def __call__(self, x, logdet=None, reverse: bool = False):
    axes = tuple(range(x.ndim - 1))
    c = x.shape[-1]

    def init_bias(_rng, shape):
      return -jnp.mean(x, axis=axes).reshape(shape)

    b = self.param("b", init_bias, (c,))

    def init_logs(_rng, shape):
      var = jnp.mean((x + b) ** 2, axis=axes)
      return (jnp.log(self.scale / (jnp.sqrt(var) + 1e-6)) / self.logscale_factor).reshape(shape)

    logs = self.param("logs", init_logs, (c,)) * self.logscale_factor
    y = x * jnp.exp(-logs) - b if reverse else (x + b) * jnp.exp(logs)
    if logdet is None:
      return y
    pixels = int(np.prod(x.shape[1:-1]))
    dlogdet = jnp.sum(logs) * pixels                     # H W sum(logs)
    return y, logdet - dlogdet if reverse else logdet + dlogdet


def _random_orthogonal(rng, c: int):
  return jnp.linalg.qr(jax.random.normal(rng, (c, c)))[0]


class InvConv1x1(nn.Module):
  """z' = W z at every position (Sec. 3.2); log-det H W log|det W|, or the LU form (Eq. 10)."""
  lu_decomposed: bool = False

  def _weight(self, c: int):
    """(W, W^-1, log|det W|)."""
    if not self.lu_decomposed:
      w = self.param("W", lambda rng, shape: _random_orthogonal(rng, shape[0]), (c, c))
      return w, jnp.linalg.inv(w), jnp.linalg.slogdet(w)[1]
    if self.is_initializing():
      p0, l0, u0 = jax.scipy.linalg.lu(_random_orthogonal(self.make_rng("params"), c))
    else:   # the initialisers below only give shapes here (flax checks them)
      p0 = l0 = u0 = jnp.eye(c)
    s0 = jnp.diag(u0)
    p = self.variable("constants", "P", lambda: p0).value
    sign_s = self.variable("constants", "sign_S", lambda: jnp.sign(s0)).value
    l_mask = jnp.tril(jnp.ones((c, c)), -1)
    l = self.param("L", lambda _r, _s: l0, (c, c)) * l_mask + jnp.eye(c)
    log_s = self.param("log_S", lambda _r, _s: jnp.log(jnp.abs(s0)), (c,))
    u = self.param("U", lambda _r, _s: jnp.triu(u0, 1), (c, c)) * l_mask.T + jnp.diag(
        sign_s * jnp.exp(log_s))
    w = p @ l @ u                                         # W = P L (U + diag(s))
    w_inv = jnp.linalg.inv(u) @ jnp.linalg.inv(l) @ p.T
    return w, w_inv, jnp.sum(log_s)                       # log|det W| = sum log|s|

  @nn.compact
  def __call__(self, x, logdet, reverse: bool = False):
    w, w_inv, log_abs_det = self._weight(x.shape[-1])
    pixels = int(np.prod(x.shape[1:-1]))
    if reverse:
      return jnp.einsum("...j,ij->...i", x, w_inv), logdet - pixels * log_abs_det
    return jnp.einsum("...j,ij->...i", x, w), logdet + pixels * log_abs_det


class Conv2dZeros(nn.Module):
  """Official conv2d_zeros: (conv3x3(x) + b) * exp(logscale_factor * logs), all zero at init."""
  features: int
  logscale_factor: float = 3.0

  @nn.compact
  def __call__(self, x):
    h = nn.Conv(self.features, (3, 3), padding="VALID", use_bias=False,
                kernel_init=nn.initializers.zeros)(_edge_pad(x))
    h = h + self.param("b", nn.initializers.zeros, (self.features,))
    return h * jnp.exp(self.param("logs", nn.initializers.zeros, (self.features,))
                       * self.logscale_factor)


class CouplingNN(nn.Module):
  """The official f: conv3x3 + actnorm + ReLU, conv1x1 + actnorm + ReLU, conv2d_zeros."""
  width: int
  out_features: int

  @nn.compact
  def __call__(self, h):
    init = nn.initializers.normal(0.05)
    h = nn.Conv(self.width, (3, 3), padding="VALID", use_bias=False, kernel_init=init)(
        _edge_pad(h))
    h = nn.relu(ActNorm()(h))
    h = nn.Conv(self.width, (1, 1), use_bias=False, kernel_init=init)(h)
    h = nn.relu(ActNorm()(h))
    return Conv2dZeros(self.out_features)(h)


class AffineCoupling(nn.Module):
  """z2' = (z2 + shift) * sigmoid(raw + 2), (shift, raw) = NN(z1) interleaved (Sec. 3.3)."""
  width: int
  coupling: str = "affine"

  @nn.compact
  def __call__(self, z, logdet, reverse: bool = False):
    if self.coupling not in COUPLINGS:
      raise ConfigError(f"config.model.coupling={self.coupling!r}; use one of {COUPLINGS}")
    c = z.shape[-1]
    z1, z2 = z[..., :c // 2], z[..., c // 2:]
    if self.coupling == "additive":
      shift = CouplingNN(self.width, c - c // 2)(z1)
      z2 = z2 - shift if reverse else z2 + shift
      return jnp.concatenate([z1, z2], -1), logdet
    h = CouplingNN(self.width, 2 * (c - c // 2))(z1)
    shift, scale = h[..., 0::2], jax.nn.sigmoid(h[..., 1::2] + 2.0)
    dlogdet = jnp.sum(jnp.log(scale), axis=tuple(range(1, z.ndim)))
    if reverse:
      return jnp.concatenate([z1, z2 / scale - shift], -1), logdet - dlogdet
    return jnp.concatenate([z1, (z2 + shift) * scale], -1), logdet + dlogdet


class FlowStep(nn.Module):
  """actnorm -> invertible 1x1 conv -> coupling; the reverse runs them backwards."""
  width: int
  lu_decomposed: bool = False
  coupling: str = "affine"

  def setup(self):
    self.actnorm = ActNorm()
    self.invconv = InvConv1x1(self.lu_decomposed)
    self.coupler = AffineCoupling(self.width, self.coupling)

  def __call__(self, z, logdet, reverse: bool = False):
    if reverse:
      z, logdet = self.coupler(z, logdet, reverse=True)
      z, logdet = self.invconv(z, logdet, reverse=True)
      return self.actnorm(z, logdet, reverse=True)
    z, logdet = self.actnorm(z, logdet)
    z, logdet = self.invconv(z, logdet)
    return self.coupler(z, logdet)


class SplitPrior(nn.Module):
  """p(z2 | z1) = N(mean, exp(logs)^2), (mean, logs) = conv2d_zeros(z1) interleaved."""

  @nn.compact
  def __call__(self, z1):
    h = Conv2dZeros(2 * z1.shape[-1])(z1)
    return h[..., 0::2], h[..., 1::2]


class TopPrior(nn.Module):
  """The learned top prior (official learntop): conv2d_zeros of zeros -> (mean, logs)."""

  @nn.compact
  def __call__(self, shape):
    c = shape[-1]
    h = Conv2dZeros(2 * c)(jnp.zeros(tuple(shape[:-1]) + (2 * c,)))
    return h[..., :c], h[..., c:]


class Glow(nn.Module):
  """Glow with `levels` (L) levels of `steps_per_level` (K) flow steps, coupling width `width`.

  encode(x) -> (zs, log_det, log_pz): zs the split-off latents of levels 0..L-2 and the top
  latent (together D numbers, the whole bijection's output), log_det the log |det dz/dx| of
  the bijection, log_pz = log p(zs) under the split and top priors (nats per example).
  decode(zs) inverts encode exactly; sample(rng, n, shape, temperature) draws zs from the
  priors with every eps scaled by the temperature; log_prob(x) = log_pz + log_det.
  """
  levels: int = 3
  steps_per_level: int = 32
  width: int = 512
  lu_decomposed: bool = False
  coupling: str = "affine"

  def setup(self):
    if self.levels < 1 or self.steps_per_level < 1:
      raise ConfigError(f"Glow needs levels >= 1 and steps_per_level >= 1, got "
                        f"{self.levels} and {self.steps_per_level}")
    self.steps = [FlowStep(self.width, self.lu_decomposed, self.coupling)
                  for _ in range(self.levels * self.steps_per_level)]
    self.split_priors = [SplitPrior() for _ in range(self.levels - 1)]
    self.top_prior = TopPrior()

  def _level(self, i: int, z, logdet, reverse: bool):
    k = self.steps_per_level
    steps = self.steps[i * k:(i + 1) * k]
    for step in (reversed(steps) if reverse else steps):
      z, logdet = step(z, logdet, reverse=reverse)
    return z, logdet

  def encode(self, x):
    z = squeeze2d(x)
    logdet = jnp.zeros(x.shape[:1], jnp.float32)
    log_pz = jnp.zeros(x.shape[:1], jnp.float32)
    zs = []
    for i in range(self.levels):
      z, logdet = self._level(i, z, logdet, reverse=False)
      if i < self.levels - 1:
        c = z.shape[-1]
        z1, z2 = z[..., :c // 2], z[..., c // 2:]
        mean, logs = self.split_priors[i](z1)
        log_pz = log_pz + gaussian_log_prob(z2, mean, logs)
        zs.append(z2)
        z = squeeze2d(z1)
    mean, logs = self.top_prior(z.shape)
    log_pz = log_pz + gaussian_log_prob(z, mean, logs)
    zs.append(z)
    return zs, logdet, log_pz

  def log_prob(self, x):
    """log p(x) of the continuous (dequantized) input, nats per example: log p(z) + log-det."""
    _, logdet, log_pz = self.encode(x)
    return log_pz + logdet

  def _decode(self, top, z2_of):
    """The inverse pass from the top latent; z2_of(i, z1) gives the split-off half of level i."""
    z = top
    logdet = jnp.zeros(top.shape[:1], jnp.float32)
    for i in reversed(range(self.levels)):
      if i < self.levels - 1:
        z1 = unsqueeze2d(z)
        z = jnp.concatenate([z1, z2_of(i, z1)], axis=-1)
      z, logdet = self._level(i, z, logdet, reverse=True)
    return unsqueeze2d(z)

  def decode(self, zs):
    """The exact inverse of encode: zs (as encode returns them) -> x."""
    return self._decode(zs[-1], lambda i, z1: zs[i])

  def sample(self, rng, n: int, image_shape, temperature: float = 1.0):
    """n samples in flow space [n, H, W, C]: every prior eps ~ N(0, temperature^2)
    (official eps_std), top first, then each split prior given the level above."""
    h, w, c = image_shape
    f = 2 ** self.levels
    top_shape = (n, h // f, w // f, c * 2 ** (self.levels + 1))
    keys = jax.random.split(rng, self.levels)
    mean, logs = self.top_prior(top_shape)
    top = mean + jnp.exp(logs) * temperature * jax.random.normal(keys[-1], top_shape)

    def z2_of(i, z1):
      m, s = self.split_priors[i](z1)
      return m + jnp.exp(s) * temperature * jax.random.normal(keys[i], m.shape)

    return self._decode(top, z2_of)

  def __call__(self, x):
    return self.log_prob(x)
