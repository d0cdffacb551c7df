"""Keys every GAN config shares (read by lib/tasks/gan.py); the paper configs fill them in.

`config.generator` / `config.discriminator` name the two Flax modules (import path + kwargs;
`num_classes` and `class_head` are set by the task from `gan.conditioning`);
`config.optimizer_g` / `config.optimizer_d` are two optimizers (TTUR); `config.gan` holds the
objective, one key per choice.
"""
import ml_collections

from configs.common import base_config, optimizer_config


def gan_config() -> ml_collections.ConfigDict:
  c = base_config()
  c.task = "lib.tasks.gan"
  c.generator = ml_collections.ConfigDict(dict(name=""))
  c.discriminator = ml_collections.ConfigDict(dict(name=""))
  c.optimizer_g = optimizer_config(name="adam", learning_rate=2e-4, b1=0.5, b2=0.999,
                                   schedule="constant")
  c.optimizer_d = optimizer_config(name="adam", learning_rate=2e-4, b1=0.5, b2=0.999,
                                   schedule="constant")
  c.model.name = ""          # unused by GANs: see generator / discriminator
  c.eval.evaluators = ("samples",)

  g = c.gan = ml_collections.ConfigDict()
  g.z_dim = 128
  g.num_classes = 10
  g.conditioning = "none"       # none | cbn_projection | acgan
  g.acgan_weight = 1.0          # weight of the auxiliary-classifier cross-entropy
  g.loss = "nonsaturating"      # nonsaturating | hinge | wasserstein | relativistic
  g.n_critic = 1                # D updates per G update; each takes batch_size / n_critic
  g.separate_d_batches = False  # D sees reals and fakes in separate calls (BN in D: DCGAN)
  # regularizers (0 disables)
  g.gp_weight = 0.0             # WGAN-GP lambda (10 in the paper)
  g.r1_gamma = 0.0              # R1 on reals: gamma / 2 E||grad D||^2
  g.r1_every = 1                # lazy interval (StyleGAN2: 16)
  g.r2_gamma = 0.0              # R2 on fakes
  g.r2_every = 1
  g.lecam_weight = 0.0          # LeCam lambda
  g.lecam_decay = 0.99          # EMA decay of its anchors (official: 0.99 StyleGAN2, 0.9 BigGAN)
  g.lecam_form = "relu"         # relu (official code) | paper (Eq. 3, squared distance)
  g.lecam_start = 0             # G steps before the penalty; anchors = batch means until then
                                # (official BigGAN-CIFAR code: 1000)
  g.ortho_beta = 0.0            # BigGAN orthogonal regularization (1e-4), BigGAN-PyTorch scale
  g.lazy_reg_separate = False   # lazy R1/R2 and path length as their own optimizer step, lr
                                # and Adam betas rescaled by k / (k + 1) (StyleGAN2 official)
  g.pl_weight = 0.0             # StyleGAN2 path length (2), style-based generators only
  g.pl_every = 4
  g.pl_decay = 0.01
  g.pl_batch_shrink = 2
  g.weight_clip = 0.0           # WGAN clipping c (0.01)
  g.bcr_real_weight = 0.0       # bCR (Zhao et al. 2021): lambda_real E (D(x) - D(T(x)))^2
  g.bcr_fake_weight = 0.0       # ... + lambda_fake E (D(G(z)) - D(T(G(z))))^2 (ViTGAN: 10, 10)
  g.bcr_policy = "translation"  # T: DiffAugment ops on top of what D sees (paper: flip, shift)
  # SAN and Salimans et al. 2016 (gan_san.py, gan_improved.py; D ending in DiscriminatorHead)
  g.san = False                 # SAN: direction omega on the Wasserstein loss, h on gan.loss
  g.feature_matching_weight = 0.0   # G += w ||E f(x) - E f(G(z))||^2, f: D's penultimate
  g.label_smoothing = 0.0       # one-sided: real targets 1 - value (0.1); nonsaturating only
  g.historical_averaging_weight = 0.0   # both players += w ||theta - mean of past theta||^2
  # augmentation of everything D sees
  g.augment = "none"            # none | diffaugment | ada | diffusion
  g.augment_policy = ""         # diffaugment: 'color,translation,cutout'; ada: ops (default bgc)
  g.ada_p_init = 0.0
  g.ada_adaptive = True         # False keeps p fixed at ada_p_init
  g.ada_target = 0.6            # r_t target
  g.ada_interval = 4            # D steps between p updates
  g.ada_kimg = 500.0            # images for p to move by 1
  # Diffusion-GAN (gan.augment='diffusion'; p of the ADA keys sets T; official: target 0.6,
  # ada_kimg 100; D needs timestep_conditioning): lib/tasks/gan_diffusion.py
  g.diffusion_t_min = 10
  g.diffusion_t_max = 1000
  g.diffusion_noise_std = 0.05  # sigma of x_t = sqrt(abar) x + sqrt(1 - abar) sigma eps
  g.diffusion_beta_start = 1e-4
  g.diffusion_beta_end = 2e-2
  g.diffusion_ts_dist = "priority"   # priority (P(t) ~ t - 1) | uniform
  # sampling
  g.truncation = 0.0            # > 0: BigGAN truncated z at +-truncation
  g.truncation_psi = 1.0        # < 1: StyleGAN truncation in w (style-based generators)
  g.ema_start = 0               # G steps before the EMA starts averaging (copies until then)
  g.ema_rampup = 0.0            # > 0: EMA half-life <= ema_rampup x steps done (StyleGAN2-ADA)
  # R3GAN's cosine ramps over ramp_steps G steps (0: off): lib/tasks/gan_ramps.py; Adam's lr
  # and beta2 ramp in the optimizer (optimizer.lr_final, b2_final, decay_steps)
  g.ramp_steps = 0
  g.r1_gamma_final = 0.0        # r1_gamma -> this
  g.r2_gamma_final = 0.0        # r2_gamma -> this
  g.ada_p_final = 0.0           # ada_p_init -> this (fixed-p ADA: ada_adaptive=False)
  g.ema_halflife_final_kimg = 0.0   # > 0: EMA half-life 0 -> this x 1000 images
  return c


def set_data(c, variant: str):
  """Data of the shared variants: digits 32x32x1, shapes 32x32x3, cifar10 (tfds), smoke 16x16x1."""
  if variant == "digits":
    c.data.update(source="digits", image_size=32, channels=1)
    c.gan.num_classes = 10
  elif variant == "shapes":
    c.data.update(source="shapes", image_size=32, channels=3)
    c.gan.num_classes = 3
  elif variant == "cifar10":
    c.data.update(source="tfds", name="cifar10", image_size=32, channels=3,
                  eval_split="test")
    c.gan.num_classes = 10
  elif variant == "smoke":
    c.data.update(source="digits", image_size=16, channels=1, batch_size=16)
    c.gan.num_classes = 10
    c.total_steps = 4
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 2, 1000, 2
    c.eval.num_samples = 20
    c.eval.batch_size = 64
    c.eval.metric_samples = 100
  else:
    raise ValueError(f"unknown variant {variant!r}; use digits, shapes, cifar10 or smoke")
  return c


def set_evaluators(c, variant: str):
  """Evaluators by variant. digits and shapes: the sample grid, conditional accuracy when the
  model is class-conditional, and domain FID, KID, precision/recall, density/coverage on the
  features of the project's own classifier for that dataset (lib/metrics/weights/vit_<data>).
  cifar10 and smoke keep what the paper config chose; for Inception FID on cifar10 add
  `--config.eval.extractor=inception:/path/to/pt_inception-2015-12-05.npz
  --config.eval.evaluators="('samples','fid','kid','pr')"`."""
  if variant in ("digits", "shapes"):
    c.eval.extractor = f"vit_{variant}"
    conditional = ("conditional_accuracy",) if c.gan.conditioning != "none" else ()
    c.eval.evaluators = ("samples",) + conditional + ("fid", "kid", "pr")
  return c
