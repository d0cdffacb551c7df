"""SAN: Slicing Adversarial Network (Takida et al. 2024, "SAN: Inducing Metrizability of GAN
with Discriminative Normalized Linear Layer"; official code sony/san, simple-san/ and
stylesan-xl/pg_modules/san_modules.py SANLinear, stylesan-xl/training/loss.py).

D's last linear layer f(x) = <w, h(x)> + b is read as a direction omega = w / ||w|| (unit
norm, a slice) and a function h. The two are trained on different objectives:
  fun = ||w|| <h(x), sg(omega)> + b     the chosen GAN loss (hinge, non-saturating, ...):
                                        trains h (and the scale ||w||, the bias)
  dir = sg(||w||) <sg(h(x)), omega>     the Wasserstein objective E_q dir - E_p dir:
                                        trains the direction omega only
(sg = stop_gradient), so L_D = L_base(fun(x), fun(G(z))) + E dir(G(z)) - E dir(x) (SAN Eq. 12,
the official `compute_loss_san` and `out = [out_fun * scale, out_dir * scale.detach()]`).
G sees the plain logit ||w|| <h, omega> + b = f(x): the base generator loss is unchanged.

The task applies it to any D that ends in lib.nn.class_head.DiscriminatorHead: the head
sows (h, w_y, b), with w_y the effective weight after spectral norm and, with the projection
head, plus V e_y (the per-class direction of simple-san's class-conditional SAN). Difference
from SANLinear: its bias is a vector added to h (so inside the function part); here the
scalar bias of psi is added to `fun` (the Wasserstein term is blind to a constant).
With spectral norm on psi (SNGAN, SAGAN, BigGAN heads) ||w|| is 1 (sigma(W_init) with the
improved norm) and fixed: SAN then trains the direction and h only.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

sg = jax.lax.stop_gradient


def split_weight(w):
  """w [B, C] -> (omega = w / ||w|| [B, C], scale ||w|| [B])."""
  scale = jnp.linalg.norm(w, axis=-1)
  return w / jnp.maximum(scale, 1e-12)[:, None], scale


def san_logits(h, omega, scale, b):
  """(fun, dir) logits [B] of features h, unit directions omega, scales and biases."""
  fun = scale * jnp.sum(h * sg(omega), -1) + b                        # trains h, scale, b
  dir_ = sg(scale) * jnp.sum(sg(h) * omega, -1)                       # trains omega
  return fun, dir_


def logits_of(features):
  """(fun, dir) of the head features {'h', 'w', 'b'} a DiscriminatorHead sows."""
  omega, scale = split_weight(features["w"])
  return san_logits(features["h"], omega, scale, features["b"])


def direction_loss(real_dir, fake_dir):
  """The Wasserstein objective on the direction: E_q <h, omega> - E_p <h, omega>."""
  return jnp.mean(fake_dir) - jnp.mean(real_dir)


def discriminator_loss(base_loss, real_features, fake_features):
  """SAN's L_D: `base_loss(real_fun, fake_fun)` + the direction's Wasserstein loss."""
  real_fun, real_dir = logits_of(real_features)
  fake_fun, fake_dir = logits_of(fake_features)
  return base_loss(real_fun, fake_fun) + direction_loss(real_dir, fake_dir)
