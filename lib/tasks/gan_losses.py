"""Adversarial losses on discriminator logits, one config key (`config.gan.loss`) each.

Every function takes the logits of real and generated samples ([B] float32) and returns a
scalar to minimise. With softplus(t) = log(1 + e^t):

- 'nonsaturating' (Goodfellow et al. 2014, Sec. 3 "-log D trick"):
    L_D = E softplus(-D(x)) + E softplus(D(G(z)));   L_G = E softplus(-D(G(z)))
- 'hinge' (Lim & Ye 2017; Miyato et al. 2018, Eq. 16 of the projection paper):
    L_D = E relu(1 - D(x)) + E relu(1 + D(G(z)));    L_G = -E D(G(z))
- 'wasserstein' (Arjovsky et al. 2017, Eq. 3; Gulrajani et al. 2017, Alg. 1):
    L_D = E D(G(z)) - E D(x);                          L_G = -E D(G(z))
- 'lsgan' (Mao et al. 2017, LSGAN Eq. 2 with a = 0, b = c = 1; the loss of CycleGAN,
  U-GAT-IT and CUT):  L_D = E (D(x) - 1)^2 + E D(G(z))^2;   L_G = E (D(G(z)) - 1)^2
- 'relativistic' (Jolicoeur-Martineau 2019 RpGAN; Huang et al. 2024 R3GAN, Eq. 2), paired
  samples: L_D = E softplus(-(D(x) - D(G(z))));        L_G = E softplus(-(D(G(z)) - D(x)))
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

LOSSES = ("nonsaturating", "hinge", "wasserstein", "relativistic", "lsgan")


def _check(name: str):
  if name not in LOSSES:
    raise ValueError(f"config.gan.loss={name!r}: use one of {LOSSES}")


def discriminator_loss(name: str, real_logits, fake_logits):
  _check(name)
  real, fake = real_logits.astype(jnp.float32), fake_logits.astype(jnp.float32)
  if name == "nonsaturating":
    return jnp.mean(jax.nn.softplus(-real)) + jnp.mean(jax.nn.softplus(fake))
  if name == "hinge":
    return jnp.mean(jax.nn.relu(1.0 - real)) + jnp.mean(jax.nn.relu(1.0 + fake))
  if name == "wasserstein":
    return jnp.mean(fake) - jnp.mean(real)
  if name == "lsgan":
    return jnp.mean(jnp.square(real - 1.0)) + jnp.mean(jnp.square(fake))
  return jnp.mean(jax.nn.softplus(-(real - fake)))                    # RpGAN, paired


def generator_loss(name: str, real_logits, fake_logits):
  """`real_logits` is used by the relativistic loss only (and may be None otherwise)."""
  _check(name)
  fake = fake_logits.astype(jnp.float32)
  if name == "nonsaturating":
    return jnp.mean(jax.nn.softplus(-fake))
  if name in ("hinge", "wasserstein"):
    return -jnp.mean(fake)
  if name == "lsgan":
    return jnp.mean(jnp.square(fake - 1.0))
  real = real_logits.astype(jnp.float32)
  return jnp.mean(jax.nn.softplus(-(fake - real)))


def needs_real_logits_for_generator(name: str) -> bool:
  return name == "relativistic"


def auxiliary_classifier_loss(class_logits, labels):
  """AC-GAN's log-likelihood of the correct class, as a mean cross-entropy (Odena et al.
  2017, Eq. 2, L_C)."""
  return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(
      class_logits.astype(jnp.float32), labels))
