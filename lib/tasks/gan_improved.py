"""Improved Techniques for Training GANs (Salimans et al. 2016; official code
openai/improved-gan), the training-objective parts, one config key each:

- feature matching (Sec. 3.1), `gan.feature_matching_weight`:
    L_FM = || E_x f(x) - E_z f(G(z)) ||_2^2 on D's penultimate features f (the input of its
    last linear layer, sown by lib.nn.class_head.DiscriminatorHead; the official code uses
    the same layer, disc_layers[-2]). Added to the generator's adversarial loss with the
    weight (the paper trains G on L_FM alone; its code uses mean |m1 - m2| instead of the
    squared L2 norm). The real features are constants for G.
- one-sided label smoothing (Sec. 3.4), `gan.label_smoothing` = 1 - alpha: the real targets
    of the non-saturating D loss become alpha (0.9 for 0.1), fakes keep 0:
    L_D = E [alpha softplus(-D(x)) + (1 - alpha) softplus(D(x))] + E softplus(D(G(z)))
    (the cross-entropy with target alpha; the official imagenet/build_model.py uses the KL,
    the same up to the constant entropy of alpha).
- historical averaging (Sec. 3.3), `gan.historical_averaging_weight`: each player adds
    || theta_t - (1/(t+1)) sum_{i<=t} theta_i ||^2 (t updates done; the mean of its parameters
    so far, the current ones included, so the penalty is 0 at the start), kept in
    the GAN state (`stats['hist_G' | 'hist_D']`), a constant for the gradient.
Minibatch discrimination (Sec. 3.2) is a layer: lib/nn/minibatch_discrimination.py.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from lib.errors import ConfigError
from lib.tasks import gan_losses as losses


def check(config):
  g = config.gan
  if g.label_smoothing and g.loss != "nonsaturating":
    raise ConfigError(f"gan.label_smoothing={g.label_smoothing} applies to the non-saturating "
                      f"D loss only, not gan.loss={g.loss!r}: set gan.loss='nonsaturating' or "
                      f"gan.label_smoothing=0")
  if not 0.0 <= g.label_smoothing < 1.0:
    raise ConfigError(f"gan.label_smoothing={g.label_smoothing}: use 0 <= value < 1 "
                      f"(0.1 gives real targets 0.9)")


def smoothed_nonsaturating_loss(real_logits, fake_logits, smoothing: float):
  """One-sided label smoothing: real targets 1 - smoothing, fake targets 0."""
  real, fake = real_logits.astype(jnp.float32), fake_logits.astype(jnp.float32)
  alpha = 1.0 - smoothing
  return (jnp.mean(alpha * jax.nn.softplus(-real) + (1.0 - alpha) * jax.nn.softplus(real))
          + jnp.mean(jax.nn.softplus(fake)))


def discriminator_loss(config, real_logits, fake_logits):
  """`gan.loss` on D's logits, with one-sided label smoothing when `gan.label_smoothing`."""
  g = config.gan
  if g.label_smoothing:
    return smoothed_nonsaturating_loss(real_logits, fake_logits, g.label_smoothing)
  return losses.discriminator_loss(g.loss, real_logits, fake_logits)


def feature_matching_loss(real_features, fake_features):
  """|| E f(x) - E f(G(z)) ||^2 with the real side held constant."""
  m_real = jnp.mean(jax.lax.stop_gradient(real_features.astype(jnp.float32)), axis=0)
  m_fake = jnp.mean(fake_features.astype(jnp.float32), axis=0)
  return jnp.sum(jnp.square(m_real - m_fake))


def running_mean(mean, params, count):
  """The mean of theta_0..theta_count given the mean of theta_0..theta_{count-1}."""
  w = 1.0 / (jnp.asarray(count, jnp.float32) + 1.0)
  return jax.tree.map(lambda m, p: m + w * (p.astype(m.dtype) - m), mean, params)


def historical_penalty(params, mean):
  """|| theta - mean ||^2 over every parameter, the mean a constant."""
  sq = jax.tree.map(lambda p, m: jnp.sum(jnp.square(p - jax.lax.stop_gradient(m))),
                    params, mean)
  return sum(jax.tree.leaves(sq), jnp.zeros((), jnp.float32))
