"""Generative adversarial networks: one task for every GAN config (DESIGN: Task contract).

One jitted `train_step` updates the discriminator `config.gan.n_critic` times, then the
generator once; `state.step` counts generator updates. As in StudioGAN and compare_gan, the
loss, each regularizer, the augmentation and the conditioning are separate keys under
`config.gan` (defaults and meanings: configs/_gan.py), so an ablation changes one key:

  loss          nonsaturating | hinge | wasserstein | relativistic      (gan_losses.py)
  regularizers  gp_weight, r1_gamma/r1_every, r2_gamma/r2_every, lecam_weight (lecam_form,
                lecam_start), ortho_beta, pl_weight/pl_every, weight_clip, bcr_real_weight /
                bcr_fake_weight (bcr_policy) (gan_regularizers.py);
                lazy_reg_separate: lazy penalties as their own optimizer step (StyleGAN2)
  SAN, Salimans et al. 2016
                san, feature_matching_weight, label_smoothing, historical_averaging_weight
                (gan_san.py, gan_improved.py; minibatch discrimination: a D layer)
  augment       none | diffaugment | ada (adaptive p, target r_t 0.6)    (gan_augment.py)
                | diffusion (Diffusion-GAN: x_t of an adaptive-length forward diffusion,
                D told t)                                                (gan_diffusion.py)
  conditioning  none | cbn_projection | acgan (fakes get uniform labels; with the
                relativistic loss, the labels of the reals they are paired with)
  optimizers    config.optimizer_g, config.optimizer_d (TTUR: separate learning rates)
  EMA of G      config.ema_decay (from gan.ema_start, half-life ramp gan.ema_rampup);
                truncation at sampling
  ramps         R3GAN's cosine ramps of gamma, augmentation p and EMA half-life over
                gan.ramp_steps (gan_ramps.py)

Models. The generator `config.generator` and the discriminator `config.discriminator` are
Flax modules named by import path, with a `num_classes` field (set here from
`conditioning`: 0 when unconditional) and, for D, a `class_head` field ('projection' or
'acgan'). Calls:
  G(z [B, z_dim], labels [B] or None, train: bool) -> images [B, H, W, C]
  D(images, labels or None, train: bool) -> (logits [B], class logits [B, K] or None)
`train` selects batch statistics and advances spectral-norm power iterations. Style-based
generators (`style_based = True`) also provide `mapping(z, labels, train) -> w` and
`synthesis(w, train) -> images` (path-length regularization) and take `truncation_psi`.
D is called once on [reals; fakes], or on each separately when its outputs couple the batch
(`batch_coupled`, minibatch std) or BN must not mix them (`gan.separate_d_batches`).
Non-trainable variables (BN statistics, spectral-norm vectors, StyleGAN's w_avg) live in
`state.model_state['G' | 'D']`; randomness inside G (noise inputs) uses the rng stream 'noise'.
"""
from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import optax

from lib.errors import ConfigError
from lib.nn.class_head import head_features
from lib.tasks import gan_augment as aug_lib
from lib.tasks import gan_diffusion as diffusion_gan
from lib.tasks import gan_improved as improved
from lib.tasks import gan_losses as losses
from lib.tasks import gan_ramps as ramps
from lib.tasks import gan_regularizers as regs
from lib.tasks import gan_san as san
from lib.train.ema import ema_decay_at, ema_update
from lib.train.imports import build_model
from lib.train.optim import make_optimizer

CONDITIONINGS = ("none", "cbn_projection", "acgan")


@flax.struct.dataclass
class GANState:
  step: jax.Array          # int32, generator updates done
  params: Any              # {'G': ..., 'D': ...}
  opt_state: Any           # {'G': ..., 'D': ...}
  ema_params: Any          # EMA of params['G'], or None when config.ema_decay == 0
  model_state: Any         # {'G': {...}, 'D': {...}}: batch_stats, spectral-norm u/sigma, w_avg
  ada_p: jax.Array         # ADA augmentation probability (float32 scalar)
  stats: Any               # running statistics: ADA sign sums, LeCam anchors, path-length mean


# --- models and optimizers -------------------------------------------------------------------

def num_conditional_classes(config) -> int:
  """Classes the generator is conditioned on (0 when unconditional); the evaluators use it."""
  g = config.gan
  if g.conditioning not in CONDITIONINGS:
    raise ValueError(f"config.gan.conditioning={g.conditioning!r}: use one of {CONDITIONINGS}")
  return 0 if g.conditioning == "none" else int(g.num_classes)


def _with(model_config, **kwargs):
  c = ml_collections.ConfigDict(model_config.to_dict())
  c.update(kwargs)
  return c


def generator_of(config):
  return build_model(_with(config.generator, num_classes=num_conditional_classes(config)),
                     config.compute_dtype)


def discriminator_of(config):
  head = "acgan" if config.gan.conditioning == "acgan" else "projection"
  return build_model(_with(config.discriminator, num_classes=num_conditional_classes(config),
                           class_head=head), config.compute_dtype)


def lazy_intervals(config):
  """(G interval, D interval) of the penalties run as their own optimizer step
  (`gan.lazy_reg_separate`): path length every pl_every G steps, R1/R2 every r1_every /
  r2_every D steps; 1 where there is none."""
  g = config.gan
  if not g.lazy_reg_separate:
    return 1, 1
  d_every = {int(e) for gamma, e in ((g.r1_gamma, g.r1_every), (g.r2_gamma, g.r2_every))
             if gamma and e > 1}
  if len(d_every) > 1:
    raise ConfigError(f"gan.lazy_reg_separate: r1_every={g.r1_every} and r2_every={g.r2_every} "
                      "differ; the separate D regularization step needs one interval "
                      "(set them equal)")
  g_every = int(g.pl_every) if (g.pl_weight and g.pl_every > 1) else 1
  return g_every, (d_every.pop() if d_every else 1)


def lazy_optimizer_config(opt_config, every: int):
  """The optimizer of a network regularized lazily every k steps in a separate step
  (StyleGAN2 official training_loop.py): lr * k / (k + 1), betas ** (k / (k + 1)), so that
  the k + 1 steps of an interval move as far as k plain ones would."""
  if every <= 1:
    return opt_config
  ratio = every / (every + 1)
  c = ml_collections.ConfigDict(opt_config.to_dict())
  c.learning_rate = opt_config.learning_rate * ratio
  c.b1, c.b2 = opt_config.b1 ** ratio, opt_config.b2 ** ratio
  if c.get("lr_final"):
    c.lr_final = opt_config.lr_final * ratio
  if c.get("b2_final"):
    c.b2_final = opt_config.b2_final ** ratio
  return c


def optimizers_of(config):
  g_every, d_every = lazy_intervals(config)
  return (make_optimizer(lazy_optimizer_config(config.optimizer_g, g_every), config.total_steps),
          make_optimizer(lazy_optimizer_config(config.optimizer_d, d_every),
                         config.total_steps * config.gan.n_critic))


def apply_model(module, params, model_state, *args, train: bool, rng=None, method=None,
                capture: bool = False, **kwargs):
  """module.apply -> (output, new model_state); the state is returned unchanged unless
  `train` (batch statistics and spectral-norm vectors then advance). `capture`: the output
  is (output, D head's sown features {'h', 'w', 'b'}: lib/nn/class_head.head_features)."""
  variables = {"params": params, **model_state}
  mutable = list(model_state.keys()) if (train and model_state) else []
  mutable = (mutable + ["intermediates"] if capture else mutable) or False
  out = module.apply(variables, *args, train=train, method=method,
                     rngs={"noise": rng} if rng is not None else None,
                     mutable=mutable, **kwargs)
  if mutable:
    out, new_state = out
    new_state = dict(new_state)
    if capture:
      out = (out, head_features(new_state.pop("intermediates", {})))
    return out, {**model_state, **new_state}
  return out, model_state


def discriminator_logits(config, D, params, model_state, x_real, x_fake, y_real, y_fake,
                         train: bool = True, capture: bool = False, kw_real=None, kw_fake=None):
  """D's (real logits, fake logits, real class logits, fake class logits, model_state), and
  with `capture` the head features of the reals and of the fakes after them (SAN).

  One D call on [reals; fakes] when the samples of a batch do not interact; two calls, one
  on the reals and one on the fakes, when they do: `gan.separate_d_batches` (BN in D,
  DCGAN) or a D whose outputs couple the batch (`batch_coupled`: minibatch std, StyleGAN2
  and StyleSwin, whose official losses call D separately), so that every minibatch-std group
  is all-real or all-fake. `kw_real` / `kw_fake`: extra D inputs per sample (Diffusion-GAN's
  timestep {'t': [B]}), concatenated like the images in the one-call case."""
  kw_real, kw_fake = kw_real or {}, kw_fake or {}

  def d_apply(ms, x, y, kw):
    out, ms = apply_model(D, params, ms, x, y, train=train, capture=capture, **kw)
    (o, oc), feats = out if capture else (out, None)
    return (o, oc), feats, ms

  if config.gan.separate_d_batches or getattr(D, "batch_coupled", False):
    (r, rc), hr, ms = d_apply(model_state, x_real, y_real, kw_real)
    (f, fc), hf, ms = d_apply(ms, x_fake, y_fake, kw_fake)
    return (r, f, rc, fc, ms) + ((hr, hf) if capture else ())
  b = x_real.shape[0]
  y = jnp.concatenate([y_real, y_fake]) if y_real is not None else None
  kw = {name: jnp.concatenate([kw_real[name], kw_fake[name]]) for name in kw_real}
  (o, oc), h, ms = d_apply(model_state, jnp.concatenate([x_real, x_fake]), y, kw)
  split = lambda t: (None, None) if t is None else (jax.tree.map(lambda a: a[:b], t),
                                                    jax.tree.map(lambda a: a[b:], t))
  return (*split(o), *split(oc), ms) + (split(h) if capture else ())


def generator_labels(config, rng, real_labels):
  """Labels of the fakes of one step: with the relativistic loss each fake is paired with a
  real (RpGAN), so it gets that real's label (R3GAN's official loss generates with real_c);
  otherwise labels drawn uniformly. None when unconditional."""
  num_classes = num_conditional_classes(config)
  if not num_classes:
    return None
  if config.gan.loss == "relativistic":
    return real_labels
  return jax.random.randint(rng, real_labels.shape, 0, num_classes)


def sample_z(rng, n: int, z_dim: int, truncation: float = 0.0):
  """z ~ N(0, I), or BigGAN's truncated normal (values beyond +-truncation resampled)."""
  if truncation and truncation > 0:
    return jax.random.truncated_normal(rng, -truncation, truncation, (n, z_dim))
  return jax.random.normal(rng, (n, z_dim))


def diffusion_inputs(config, D, n: int) -> dict:
  """D's extra init inputs: {'t': zeros} for Diffusion-GAN, else {}; a D and an augmentation
  that do not fit together stop here, naming the key."""
  timestep_d = getattr(D, "timestep_conditioning", False)
  if config.gan.augment == "diffusion" and not timestep_d:
    raise ConfigError("config.gan.augment='diffusion' (Diffusion-GAN) needs a D told the "
                      "timestep: set config.discriminator.timestep_conditioning=True (a "
                      "StyleGAN2 D: configs/diffusion_gan.py)")
  if timestep_d and config.gan.augment != "diffusion":
    raise ConfigError("config.discriminator.timestep_conditioning=True needs "
                      "config.gan.augment='diffusion' (Diffusion-GAN)")
  return {"t": jnp.zeros((n,), jnp.int32)} if timestep_d else {}


# --- init ------------------------------------------------------------------------------------

def init(config, rng, batch) -> GANState:
  g = config.gan
  improved.check(config)
  regs.check_bcr(g)
  ramps.check(config)
  G, D = generator_of(config), discriminator_of(config)
  tx_g, tx_d = optimizers_of(config)
  image_shape = tuple(batch["image"].shape[1:])
  n = 2
  labels = jnp.zeros((n,), jnp.int32) if num_conditional_classes(config) else None
  kg, kn, kd = jax.random.split(rng, 3)
  d_kw = diffusion_inputs(config, D, n)
  gv = dict(G.init({"params": kg, "noise": kn}, jnp.zeros((n, g.z_dim)), labels, train=False))
  dv = dict(D.init({"params": kd}, jnp.zeros((n,) + image_shape), labels, train=False, **d_kw))
  pg, pd = gv.pop("params"), dv.pop("params")
  f32 = lambda v: jnp.asarray(v, jnp.float32)
  stats = {"ada_sign_sum": f32(0.0), "ada_count": f32(0.0), "ada_r_t": f32(0.0),
           "lecam_real": f32(0.0), "lecam_fake": f32(0.0), "pl_mean": f32(0.0)}
  if g.historical_averaging_weight:                       # Salimans et al. 2016, Sec. 3.3
    stats.update(hist_G=pg, hist_D=pd)
  return GANState(step=jnp.zeros((), jnp.int32), params={"G": pg, "D": pd},
                  opt_state={"G": tx_g.init(pg), "D": tx_d.init(pd)},
                  ema_params=pg if config.ema_decay else None,
                  model_state={"G": gv, "D": dv}, ada_p=f32(g.ada_p_init), stats=stats)


# --- one step --------------------------------------------------------------------------------

def _augment(config, x, rng, p):
  """(what D sees of x, D's extra inputs): the augmented images and {} or, for Diffusion-GAN
  (`gan.augment='diffusion'`, p setting T), x_t and {'t': t}."""
  g = config.gan
  if g.augment == "diffusion":
    x_t, t = diffusion_gan.diffuse(
        x, rng, p, t_min=int(g.diffusion_t_min), t_max=int(g.diffusion_t_max),
        noise_std=g.diffusion_noise_std, beta_start=g.diffusion_beta_start,
        beta_end=g.diffusion_beta_end, ts_dist=g.diffusion_ts_dist)
    return x_t, {"t": t}
  return aug_lib.augment(x, rng, g.augment, p, g.augment_policy), {}


def train_step(config, state: GANState, batch, rng):
  g = config.gan
  G, D = generator_of(config), discriminator_of(config)
  tx_g, tx_d = optimizers_of(config)
  num_classes = num_conditional_classes(config)
  acgan = g.conditioning == "acgan"
  improved.check(config)
  k = int(g.n_critic)
  images = batch["image"]
  if images.shape[0] % k:
    raise ValueError(f"data.batch_size={images.shape[0]} must be a multiple of "
                     f"gan.n_critic={k}: each critic step takes its own slice")
  b = images.shape[0] // k
  reals = images.reshape((k, b) + images.shape[1:])
  labels = batch.get("label")
  if labels is None:
    if num_classes:
      raise ValueError("gan.conditioning needs labels: the batch has no 'label'")
    labels = jnp.zeros((images.shape[0],), jnp.int32)
  real_labels = labels.astype(jnp.int32).reshape(k, b)
  params_g, ms_g = state.params["G"], state.model_state["G"]
  rng_d, rng_g = jax.random.split(rng)

  def d_apply(pd, ms, x, y, train=True, **kw):
    return apply_model(D, pd, ms, x, y, train=train, **kw)

  def d_aug(pd, ms, x, y, ka, p):   # D on the augmented x: (logits, class logits), state
    x_aug, kw = _augment(config, x, ka, p)
    return d_apply(pd, ms, x_aug, y, **kw)

  def d_forward(pd, ms, xr, xf, yr, yf, kw_r, kw_f):
    return discriminator_logits(config, D, pd, ms, xr, xf, yr, yf, capture=g.san,
                                kw_real=kw_r, kw_fake=kw_f)

  # -- discriminator steps, one per slice of the batch ----------------------------------------
  def d_step(carry, xs):
    pd, opt_d, ms_d, stats, ada_p, i = carry
    x_real, y_real, key = xs
    y_real = y_real if num_classes else None
    kz, ky, kn, ka_r, ka_f, keps, ka_gp = jax.random.split(key, 7)
    y_fake = generator_labels(config, ky, y_real)
    z = sample_z(kz, b, g.z_dim)
    fake, _ = apply_model(G, params_g, ms_g, z, y_fake, train=True, rng=kn)
    fake = jax.lax.stop_gradient(fake)
    hist_d = (improved.running_mean(stats["hist_D"], pd, i)
              if g.historical_averaging_weight else None)

    def loss_fn(pd):
      xr, kw_r = _augment(config, x_real, ka_r, ada_p)
      xf, kw_f = _augment(config, fake, ka_f, ada_p)
      real_logits, fake_logits, real_cls, fake_cls, new_ms, *feats = d_forward(
          pd, ms_d, xr, xf, y_real, y_fake, kw_r, kw_f)
      base = lambda r, f: improved.discriminator_loss(config, r, f)
      loss = san.discriminator_loss(base, *feats) if g.san else base(real_logits, fake_logits)
      terms = {"d_adv_loss": loss}
      if g.historical_averaging_weight:
        ha = improved.historical_penalty(pd, hist_d)
        loss = loss + g.historical_averaging_weight * ha                 # Salimans Sec. 3.3
        terms["d_hist_avg"] = ha
      new_stats = dict(stats)
      if acgan:
        ac = (losses.auxiliary_classifier_loss(real_cls, y_real)
              + losses.auxiliary_classifier_loss(fake_cls, y_fake))
        loss = loss + g.acgan_weight * ac
        terms["d_acgan_loss"] = ac
        terms["d_class_acc"] = jnp.mean(jnp.argmax(real_cls, -1) == y_real)
      d_of = lambda x, y, ka: d_aug(pd, ms_d, x, y, ka, ada_p)[0][0]
      if g.gp_weight:
        gp = regs.gradient_penalty(lambda x: d_of(x, y_real, ka_gp), x_real, fake,
                                   jax.random.uniform(keps, (b,)))
        loss = loss + g.gp_weight * gp                                   # WGAN-GP Eq. 3
        terms["gp"] = gp
      for name, on, gamma, every, x, y, ka in (
          ("r1", g.r1_gamma, r1_gamma, g.r1_every, x_real, y_real, ka_r),
          ("r2", g.r2_gamma, r2_gamma, g.r2_every, fake, y_fake, ka_f)):
        if on and not (d_lazy > 1 and every > 1):         # else: the separate step below
          pen = lambda x=x, y=y, ka=ka: regs.r1_penalty(lambda v: d_of(v, y, ka), x)
          if every > 1:   # lazy regularization: every k-th D step, weighted by k
            pen_val = jax.lax.cond(i % every == 0, pen, lambda: jnp.zeros((), jnp.float32))
          else:
            pen_val = pen()
          loss = loss + 0.5 * gamma * every * pen_val                   # R1/R2: gamma / 2
          terms[name] = pen_val
      if g.bcr_real_weight or g.bcr_fake_weight:   # bCR, Zhao et al. 2021 Eq. 3-4
        kb_r, kb_f = jax.random.split(jax.random.fold_in(key, 1))
        for name, lam, x, y, kw, lg, kb in (("bcr_real", g.bcr_real_weight, xr, y_real, kw_r,
                                             real_logits, kb_r),
                                            ("bcr_fake", g.bcr_fake_weight, xf, y_fake, kw_f,
                                             fake_logits, kb_f)):
          if lam:
            x_t = aug_lib.diffaugment(x, kb, g.bcr_policy)
            pen = regs.consistency_penalty(lg, d_apply(pd, ms_d, x_t, y, **kw)[0][0])
            loss = loss + lam * pen
            terms[name] = pen
      if g.lecam_weight:
        # Anchors as google/lecam-gan's ema_losses: updated with this batch before use, decay
        # 0 (the batch mean) while itr < lecam_start and at the first update; the penalty
        # once itr > lecam_start (itr = G iteration, from 1).
        itr = state.step + 1
        decay = jnp.where(itr < max(int(g.lecam_start), 2), 0.0, g.lecam_decay)
        a_r = regs.ema(stats["lecam_real"], jnp.mean(real_logits), decay)
        a_f = regs.ema(stats["lecam_fake"], jnp.mean(fake_logits), decay)
        lc = regs.lecam_penalty(real_logits, fake_logits, jax.lax.stop_gradient(a_r),
                                jax.lax.stop_gradient(a_f), g.lecam_form)
        lc = jnp.where(itr > g.lecam_start, lc, 0.0)
        loss = loss + g.lecam_weight * lc
        terms["lecam"] = lc
        new_stats.update(lecam_real=jax.lax.stop_gradient(a_r),
                         lecam_fake=jax.lax.stop_gradient(a_f))
      terms.update(d_real=jnp.mean(real_logits), d_fake=jnp.mean(fake_logits),
                   d_real_sign=jnp.mean(jnp.sign(real_logits)))   # ADA's r_t of this batch
      return loss, (terms, new_ms, new_stats, real_logits)

    (loss, (terms, ms_d, stats, real_logits)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(pd)
    if g.historical_averaging_weight:
      stats = {**stats, "hist_D": hist_d}
    updates, opt_d = tx_d.update(grads, opt_d, pd)
    pd = optax.apply_updates(pd, updates)
    if d_lazy > 1:   # StyleGAN2's Dreg phase: its own optimizer step every d_lazy D steps
      lazy_terms = [(name, gamma, x, y, ka) for name, on, gamma, every, x, y, ka in (
          ("r1", g.r1_gamma, r1_gamma, g.r1_every, x_real, y_real, ka_r),
          ("r2", g.r2_gamma, r2_gamma, g.r2_every, fake, y_fake, ka_f)) if on and every > 1]

      def reg_step(operand):
        pd, opt_d = operand

        def reg_loss(pd):
          d_of = lambda x, y, ka: d_aug(pd, ms_d, x, y, ka, ada_p)[0][0]
          vals = {name: regs.r1_penalty(lambda v, y=y, ka=ka: d_of(v, y, ka), x)
                  for name, _, x, y, ka in lazy_terms}
          return sum(0.5 * gamma * d_lazy * vals[name]                    # R1/R2: gamma / 2
                     for name, gamma, *_ in lazy_terms), vals

        reg_grads, vals = jax.grad(reg_loss, has_aux=True)(pd)
        upd, opt_d = tx_d.update(reg_grads, opt_d, pd)
        return optax.apply_updates(pd, upd), opt_d, vals

      def no_reg(operand):
        return (*operand, {name: jnp.zeros((), jnp.float32) for name, *_ in lazy_terms})

      pd, opt_d, vals = jax.lax.cond(i % d_lazy == 0, reg_step, no_reg, (pd, opt_d))
      terms = {**terms, **vals}
    if g.weight_clip:
      pd = regs.clip_weights(pd, g.weight_clip)                          # WGAN Alg. 1
    if g.augment in ("ada", "diffusion") and g.ada_adaptive:   # ADA's p; Diffusion-GAN's T
      stats = dict(stats)
      stats["ada_sign_sum"] = stats["ada_sign_sum"] + aug_lib.real_sign_sum(real_logits)
      stats["ada_count"] = stats["ada_count"] + b
      due = (i + 1) % g.ada_interval == 0
      new_p, r_t = aug_lib.ada_adjust(ada_p, stats["ada_sign_sum"], stats["ada_count"],
                                      g.ada_target, g.ada_kimg)
      ada_p = jnp.where(due, new_p, ada_p)
      stats["ada_r_t"] = jnp.where(due, r_t, stats["ada_r_t"])
      stats["ada_sign_sum"] = jnp.where(due, 0.0, stats["ada_sign_sum"])
      stats["ada_count"] = jnp.where(due, 0.0, stats["ada_count"])
    terms = {"d_loss": loss, **terms}
    return (pd, opt_d, ms_d, stats, ada_p, i + 1), terms

  g_lazy, d_lazy = lazy_intervals(config)
  d_start = state.step * k
  r1_gamma, r2_gamma = ramps.gammas(g, state.step)                # R3GAN's ramps, if on
  carry = (state.params["D"], state.opt_state["D"], state.model_state["D"], state.stats,
           ramps.augment_p(g, state.step, state.ada_p), d_start)
  # The critic steps are unrolled, not a lax.scan: XLA:CPU runs convolutions inside a
  # while-loop body about 20x slower than the same straight-line code (measured here).
  d_keys = jax.random.split(rng_d, k) if k > 1 else rng_d[None]
  d_terms = []
  for j in range(k):
    carry, terms = d_step(carry, (reals[j], real_labels[j], d_keys[j]))
    d_terms.append(terms)
  pd, opt_d, ms_d, stats, ada_p, _ = carry
  metrics = {name: jnp.mean(jnp.stack([t[name] for t in d_terms])) for name in d_terms[0]}

  # -- generator step ----------------------------------------------------------------------------
  kz, ky, kn, ka_f, ka_r, kpl_z, kpl_y, kpl_n = jax.random.split(rng_g, 8)
  x_real = reals[-1]
  y_real = real_labels[-1] if num_classes else None
  y_fake = generator_labels(config, ky, y_real)
  z = sample_z(kz, b, g.z_dim)
  need_real = losses.needs_real_logits_for_generator(g.loss)
  real_logits = None
  if need_real:
    real_logits = jax.lax.stop_gradient(
        d_aug(pd, ms_d, x_real, y_real, ka_r, ada_p)[0][0])

  fm = g.feature_matching_weight
  if fm:   # Salimans et al. 2016 Sec. 3.1: D's features of the reals, a constant for G
    xr_aug, kw_r = _augment(config, x_real, ka_r, ada_p)
    (_, real_feats), _ = apply_model(D, pd, ms_d, xr_aug, y_real, train=True, capture=True,
                                     **kw_r)
  hist_g = (improved.running_mean(stats["hist_G"], params_g, state.step)
            if g.historical_averaging_weight else None)

  def g_loss_fn(pg):
    fake, new_ms_g = apply_model(G, pg, ms_g, z, y_fake, train=True, rng=kn)
    xf_aug, kw_f = _augment(config, fake, ka_f, ada_p)
    out, _ = apply_model(D, pd, ms_d, xf_aug, y_fake, train=True, capture=bool(fm), **kw_f)
    (fake_logits, fake_cls), fake_feats = out if fm else (out, None)
    loss = losses.generator_loss(g.loss, real_logits, fake_logits)   # SAN: the same logit
    terms = {"g_adv_loss": loss}
    if fm:
      fm_loss = improved.feature_matching_loss(real_feats["h"], fake_feats["h"])
      loss = loss + fm * fm_loss
      terms["g_feature_matching"] = fm_loss
    if g.historical_averaging_weight:
      ha = improved.historical_penalty(pg, hist_g)
      loss = loss + g.historical_averaging_weight * ha                   # Salimans Sec. 3.3
      terms["g_hist_avg"] = ha
    pl_mean = stats["pl_mean"]
    if acgan:
      ac = losses.auxiliary_classifier_loss(fake_cls, y_fake)
      loss = loss + g.acgan_weight * ac
      terms["g_acgan_loss"] = ac
    if g.ortho_beta:
      ortho = regs.orthogonal_penalty(pg)
      loss = loss + g.ortho_beta * ortho                                 # BigGAN Sec. 3.1
      terms["ortho"] = ortho
    if g.pl_weight:
      if not getattr(G, "style_based", False):
        raise ValueError("gan.pl_weight needs a style-based generator (mapping + synthesis)")
      pl_fn = lambda: pl_penalty(pg, new_ms_g, pl_mean)

      if g_lazy > 1:                                 # the separate step after the update
        pen = jnp.zeros((), jnp.float32)
      elif g.pl_every > 1:
        pen, pl_mean = jax.lax.cond(state.step % g.pl_every == 0, pl_fn,
                                    lambda: (jnp.zeros((), jnp.float32), stats["pl_mean"]))
      else:
        pen, pl_mean = pl_fn()
      loss = loss + g.pl_weight * g.pl_every * pen
      terms["pl"] = pen
    return loss, (terms, new_ms_g, pl_mean)

  def pl_penalty(pg, ms, pl_mean):
    """E (||J_w^T y|| - a)^2 and the new a (StyleGAN2 Eq. 4), on pl_batch_shrink times fewer
    fresh z, with style mixing as in training (official Gpl pass: run_G)."""
    n_pl = max(b // g.pl_batch_shrink, 1)
    z_pl = sample_z(kpl_z, n_pl, g.z_dim)
    y_pl = y_fake[:n_pl] if num_classes else None
    if hasattr(G, "mixed_mapping"):
      w, _ = apply_model(G, pg, ms, z_pl, y_pl, train=True, method="mixed_mapping",
                         rng=jax.random.fold_in(kpl_n, 1))        # w_avg update dropped
    else:
      w, _ = apply_model(G, pg, ms, z_pl, y_pl, train=False, method="mapping")
    synth = lambda v: apply_model(G, pg, ms, v, train=False, rng=kpl_n, method="synthesis")[0]
    y = regs.path_length_noise(kpl_y, (n_pl,) + tuple(x_real.shape[1:]))
    lengths = regs.path_lengths(synth, w, y)
    mean = regs.ema(pl_mean, jnp.mean(jax.lax.stop_gradient(lengths)), 1.0 - g.pl_decay)
    return jnp.mean(jnp.square(lengths - mean)), mean                 # StyleGAN2 Eq. 4

  (g_loss, (g_terms, ms_g, pl_mean)), grads = jax.value_and_grad(
      g_loss_fn, has_aux=True)(params_g)
  updates, opt_g = tx_g.update(grads, state.opt_state["G"], params_g)
  params_g = optax.apply_updates(params_g, updates)
  if g_lazy > 1 and g.pl_weight:   # StyleGAN2's Greg phase: its own step every g_lazy G steps
    def pl_step(operand):
      pg, opt_g = operand

      def pl_loss(pg):
        pen, mean = pl_penalty(pg, ms_g, stats["pl_mean"])
        return g.pl_weight * g_lazy * pen, (pen, mean)

      pl_grads, (pen, mean) = jax.grad(pl_loss, has_aux=True)(pg)
      upd, opt_g = tx_g.update(pl_grads, opt_g, pg)
      return optax.apply_updates(pg, upd), opt_g, pen, mean

    params_g, opt_g, pen, pl_mean = jax.lax.cond(
        state.step % g_lazy == 0, pl_step,
        lambda op: (*op, jnp.zeros((), jnp.float32), stats["pl_mean"]), (params_g, opt_g))
    g_terms = {**g_terms, "pl": pen}
  stats = {**stats, "pl_mean": pl_mean}
  if g.historical_averaging_weight:
    stats["hist_G"] = hist_g
  ema = state.ema_params
  if config.ema_decay:
    decay = ramps.ema_decay(g, state.step, images.shape[0])
    if decay is None:
      decay = ema_decay_at(state.step, config.ema_decay, g.ema_start, g.ema_rampup)
    ema = ema_update(state.ema_params, params_g, decay)
  metrics.update(g_loss=g_loss, **g_terms)
  if g.augment == "ada":
    metrics.update(ada_p=ada_p, ada_r_t=stats["ada_r_t"])
  if g.augment == "diffusion":
    metrics.update(diffusion_p=ada_p, diffusion_r_d=stats["ada_r_t"],
                   diffusion_T=diffusion_gan.current_T(ada_p, int(g.diffusion_t_min),
                                                       int(g.diffusion_t_max)))
  if g.pl_weight:
    metrics["pl_mean"] = pl_mean
  if ramps.active(g):
    metrics.update(r1_gamma=r1_gamma, r2_gamma=r2_gamma)
  new_state = state.replace(
      step=state.step + 1, params={"G": params_g, "D": pd}, opt_state={"G": opt_g, "D": opt_d},
      ema_params=ema, model_state={"G": ms_g, "D": ms_d}, ada_p=ada_p, stats=stats)
  return new_state, metrics


# --- sampling --------------------------------------------------------------------------------

def sample(config, state: GANState, rng, n: int, labels=None):
  """n images [n, H, W, C] in [-1, 1] from the EMA generator when kept. Truncation:
  `gan.truncation` > 0 resamples z beyond +-truncation (BigGAN); `gan.truncation_psi` < 1
  pulls w towards its running mean (style-based generators)."""
  g = config.gan
  G = generator_of(config)
  params = state.ema_params if state.ema_params is not None else state.params["G"]
  kz, ky, kn = jax.random.split(rng, 3)
  num_classes = num_conditional_classes(config)
  if num_classes and labels is None:
    labels = jax.random.randint(ky, (n,), 0, num_classes)
  if not num_classes:
    labels = None
  else:
    labels = jnp.asarray(labels, jnp.int32)
  z = sample_z(kz, n, g.z_dim, g.truncation)
  kwargs = {"truncation_psi": g.truncation_psi} if getattr(G, "style_based", False) else {}
  images, _ = apply_model(G, params, state.model_state["G"], z, labels, train=False, rng=kn,
                          **kwargs)
  return jnp.clip(images.astype(jnp.float32), -1.0, 1.0)
