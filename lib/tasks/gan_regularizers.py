"""GAN regularizers as pure functions; `config.gan.*` keys switch each one on.

- gradient penalty (Gulrajani et al. 2017, "Improved Training of WGANs", Eq. 3):
  lambda * E_{x_hat} (||grad D(x_hat)||_2 - 1)^2, x_hat = eps x + (1 - eps) G(z), eps ~ U[0, 1];
- R1 / R2 (Mescheder et al. 2018, "Which Training Methods for GANs do actually Converge?",
  Eq. 9 and 10): gamma / 2 * E ||grad D||^2 on real (R1) or generated (R2) samples; applied
  lazily every k steps with weight k (StyleGAN2, Sec. 4 "lazy regularization");
- LeCam (Tseng et al. 2021, "Regularizing GANs under Limited Data", Eq. 3):
  E ||D(x) - alpha_F||^2 + E ||D(G(z)) - alpha_R||^2 with EMA anchors alpha_R, alpha_F of the
  real and fake logits ('paper'); the official code (google/lecam-gan, losses.py lecam_reg and
  stylegan2/lecam_loss.py) squares a ReLU: E relu(D(x) - alpha_F)^2 + E relu(alpha_R -
  D(G(z)))^2 ('relu'), so a real logit is pulled down only while above the fake anchor and a
  fake logit up only while below the real anchor;
- orthogonal regularization (Brock et al. 2019, "BigGAN", Sec. 3.1):
  beta * ||W^T W o (1 - I)||_F^2 over the generator's weights, whose gradient is
  4 beta (W W^T o (1 - I)) W; BigGAN-PyTorch (utils.py `ortho`) adds the gradient
  2 beta (W W^T o (1 - I)) W directly, half of it. Followed here: the official code, whose
  beta = 1e-4 the configs use, so the penalty is beta / 2 ||W W^T o (1 - I)||_F^2;
- path length (Karras et al. 2020, StyleGAN2, Eq. 4):
  E_{w, y} (||J_w^T y||_2 - a)^2 with y ~ N(0, I) / sqrt(H W) and a an EMA of the lengths;
- weight clipping (Arjovsky et al. 2017, Alg. 1): critic weights clipped to [-c, c];
- balanced consistency regularization (Zhao et al. 2021, "Improved Consistency
  Regularization for GANs", Eq. 3 and 4; ViTGAN Sec. 4.1): lambda_real E ||D(x) - D(T(x))||^2
  + lambda_fake E ||D(G(z)) - D(T(G(z)))||^2, T a semantics-preserving augmentation; the
  gradient flows through both terms of each difference, as the reference code (compare_gan).
"""
from __future__ import annotations

import re
from typing import Callable

import jax
import jax.numpy as jnp

from lib.errors import ConfigError
from lib.tasks.gan_augment import DIFFAUGMENT_OPS
from lib.train.param_paths import path_str


def input_gradients(d_fn: Callable, x):
  """grad_x of D at every sample: d_fn maps [B, ...] -> logits [B] (samples independent)."""
  return jax.grad(lambda v: jnp.sum(d_fn(v).astype(jnp.float32)))(x)


def squared_gradient_norm(d_fn: Callable, x):
  """||grad_x D(x)||^2 per sample [B] (R1 on reals, R2 on fakes)."""
  g = input_gradients(d_fn, x).astype(jnp.float32)
  return jnp.sum(jnp.square(g).reshape(g.shape[0], -1), axis=-1)


def r1_penalty(d_fn: Callable, x):
  """E ||grad_x D(x)||^2 (Eq. 9 without the gamma / 2 factor)."""
  return jnp.mean(squared_gradient_norm(d_fn, x))


def interpolates(real, fake, eps):
  """x_hat = eps x + (1 - eps) G(z), eps [B] ~ U[0, 1] broadcast over pixels."""
  e = eps.reshape((-1,) + (1,) * (real.ndim - 1)).astype(real.dtype)
  return e * real + (1.0 - e) * fake


def gradient_penalty(d_fn: Callable, real, fake, eps):
  """E (||grad D(x_hat)||_2 - 1)^2 at random interpolates (Eq. 3 without lambda)."""
  g = input_gradients(d_fn, interpolates(real, fake, eps)).astype(jnp.float32)
  norm = jnp.sqrt(jnp.sum(jnp.square(g).reshape(g.shape[0], -1), axis=-1) + 1e-12)
  return jnp.mean(jnp.square(norm - 1.0))


LECAM_FORMS = ("relu", "paper")


def lecam_penalty(real_logits, fake_logits, anchor_real, anchor_fake, form: str = "paper"):
  """LeCam: 'paper' Eq. 3, E (D(x) - a_F)^2 + E (D(G(z)) - a_R)^2; 'relu' the official code,
  E relu(D(x) - a_F)^2 + E relu(a_R - D(G(z)))^2."""
  real = real_logits.astype(jnp.float32)
  fake = fake_logits.astype(jnp.float32)
  if form == "relu":
    return (jnp.mean(jnp.square(jax.nn.relu(real - anchor_fake)))
            + jnp.mean(jnp.square(jax.nn.relu(anchor_real - fake))))
  if form != "paper":
    raise ConfigError(f"config.gan.lecam_form={form!r}: use one of {LECAM_FORMS}")
  return jnp.mean(jnp.square(real - anchor_fake)) + jnp.mean(jnp.square(fake - anchor_real))


def ema(old, new, decay: float):
  return decay * old + (1.0 - decay) * new


def orthogonal_penalty(params, exclude: str = r".*(embed|Embed).*"):
  """1/2 sum_W ||W W^T o (1 - I)||_F^2 over >=2-D weights reshaped to [out, -1] (BigGAN's
  modified orthogonal regularization). The 1/2 makes beta times its gradient BigGAN-PyTorch's
  utils.ortho, 2 beta (W W^T o (1 - I)) W; the shared class embedding is excluded, as in its
  blacklist.

  When out > in (BigGAN's z -> 4x4 linear layer: out 1024 or more) the same value comes from
  the smaller Gram matrix: ||W W^T o (1 - I)||^2 = ||W^T W||^2 - sum_i ||w_i||^4, an
  [in, in] product instead of [out, out]. Rows cannot all be orthogonal there (rank <= in),
  so the subtraction does not cancel to zero."""
  rx = re.compile(exclude) if exclude else None
  total = jnp.zeros((), jnp.float32)
  for path, w in jax.tree_util.tree_flatten_with_path(params)[0]:
    if w.ndim < 2 or (rx is not None and rx.fullmatch(path_str(path))):
      continue
    w2 = jnp.asarray(w, jnp.float32).reshape(-1, w.shape[-1]).T               # [out, in]
    if w2.shape[0] > w2.shape[1]:
      row_sq = jnp.sum(jnp.square(w2), axis=1)                                # diag(W W^T)
      total = total + jnp.sum(jnp.square(w2.T @ w2)) - jnp.sum(jnp.square(row_sq))
      continue
    gram = w2 @ w2.T
    total = total + jnp.sum(jnp.square(gram * (1.0 - jnp.eye(gram.shape[0]))))
  return 0.5 * total                                  # d/dW = 2 (W W^T o (1 - I)) W


def path_lengths(synthesis: Callable, w, y):
  """||J_w^T y|| per sample, for images = synthesis(w) and y [B, H, W, C].

  w is [B, num_ws, w_dim] or [B, w_dim]; as in the official code the squared gradient is
  summed over w_dim and averaged over the broadcast copies of w before the square root."""
  g = jax.grad(lambda v: jnp.sum(synthesis(v).astype(jnp.float32) * y))(w)
  g = jnp.square(g.astype(jnp.float32))
  if g.ndim == 3:
    return jnp.sqrt(jnp.mean(jnp.sum(g, axis=2), axis=1))
  return jnp.sqrt(jnp.sum(g, axis=-1))


def path_length_noise(rng, shape, dtype=jnp.float32):
  """y ~ N(0, I) / sqrt(H W) for images of `shape` [B, H, W, C] (Eq. 4)."""
  return jax.random.normal(rng, shape, dtype) / jnp.sqrt(float(shape[1] * shape[2]))


def clip_weights(params, c: float):
  """WGAN's weight clipping of every critic parameter to [-c, c]."""
  return jax.tree.map(lambda p: jnp.clip(p, -c, c), params)


def consistency_penalty(logits, logits_t):
  """E ||D(x) - D(T(x))||^2 (bCR, one side of Eq. 3/4 without lambda): mean over the batch of
  the squared difference of the logits, summed over extra logit axes (Projected GAN's)."""
  d = (logits - logits_t).astype(jnp.float32)
  return jnp.mean(jnp.sum(jnp.square(d).reshape(d.shape[0], -1), axis=-1))


def check_bcr(g):
  """ConfigError for a bCR weight below 0 or a policy DiffAugment does not know."""
  for name in ("bcr_real_weight", "bcr_fake_weight"):
    if g[name] < 0:
      raise ConfigError(f"config.gan.{name}={g[name]}: use a weight >= 0 (ViTGAN: 10)")
  if g.bcr_real_weight or g.bcr_fake_weight:
    ops = [op for op in g.bcr_policy.split(",") if op]
    bad = [op for op in ops if op not in DIFFAUGMENT_OPS]
    if bad or not ops:
      raise ConfigError(f"config.gan.bcr_policy={g.bcr_policy!r}: use DiffAugment ops "
                        f"{', '.join(DIFFAUGMENT_OPS)} separated by commas "
                        "(bCR paper: translation)")
