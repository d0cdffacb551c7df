"""Projected GAN (Sauer et al. 2021, "Projected GANs Converge Faster"): D sees the images through
a frozen feature network (here the project's own ViT digits classifier as a 4-scale pyramid:
research/projected_gan/feature_network.py says how and why it deviates from the official
EfficientNet-lite0), random frozen CCM + CSM projections and 4 multi-scale discriminators with
spectral norm and BatchNorm; hinge loss; DiffAugment 'color,translation,cutout' on everything D
sees; Adam lr 2e-4, betas (0, 0.99), eps 1e-8 for G and D, EMA of G with a half-life of
batch * 10 / 32 kimg and ramp-up 0.05 (official train.py, FastGAN setting). The generator is
the DCGAN G of configs/dcgan.py (not FastGAN's), so that `d=plain` (the DCGAN D, BatchNorm,
everything else equal) isolates the discriminator.

Command:
  python launch.py --config configs/projected_gan.py:digits --workdir runs/projected_gan
  python launch.py --config configs/projected_gan.py:digits,d=plain --workdir runs/pg_plain
Variants: digits (32x32x1, feature network vit_digits), shapes (32x32x3, vit_shapes),
cifar10 (tfds; vit_shapes, the only RGB classifier here: not a natural-image network), smoke
(16x16, resized to the ViT's 32 px, 4 steps). Keys: d=projected|plain;
--config.discriminator.feature_network=<name> picks another classifier in lib/metrics/weights.
Result when last run (2026-12-03, 2-core AMD EPYC CPU shared with other jobs, 1 device; 800
steps per run, 8.0 min wall for both runs with evaluation):
  flock /tmp/heavy.lock .venv/bin/python -m benchmarks.projected_gan_check --steps 800 --every 200
  domain FID (vit_digits; 1000 EMA samples vs 1000 train digits, seed 0) at 200/400/600/800 steps:
    projected 39.0 / 15.3 / 10.4 / 9.6, plain D 20.2 / 7.2 / 7.2 / 6.7 (vit_digits_thick
    features: projected 37.4 / 18.6 / 16.6 / 9.1, plain 13.1 / 7.4 / 6.7 / 5.0);
  0.32 s/step against 0.18. Here Projected GAN does NOT converge faster than the plain D:
  behind at every evaluated step, in both feature spaces (benchmarks/results/
  projected_gan_check.md). Samples are digit-like but blurrier than the plain D's.
"""
from configs._gan import gan_config, set_data, set_evaluators
from configs.common import parse_arg

EMA_HALF_LIFE_IMAGES_PER_BATCH = 10 / 32 * 1000    # official: ema_kimg = batch * 10 / 32


def get_config(arg: str | None = None):
  a = parse_arg(arg, variant="digits", d="projected")
  c = gan_config()
  c.generator.update(name="research.dcgan.model.Generator", image_size=32, channels=1, width=32)
  if a.d == "projected":
    c.discriminator.update(name="research.projected_gan.model.ProjectedDiscriminator",
                           feature_network="vit_digits", cout=64, width_scale=1.0)
  elif a.d == "plain":
    c.discriminator.update(name="research.dcgan.model.Discriminator", width=32)
  else:
    raise ValueError(f"d={a.d!r}: use projected or plain")
  c.gan.update(loss="hinge", z_dim=100, separate_d_batches=True, augment="diffaugment",
               augment_policy="color,translation,cutout", ema_rampup=0.05)
  for opt in (c.optimizer_g, c.optimizer_d):
    opt.update(name="adam", learning_rate=2e-4, b1=0.0, b2=0.99, eps=1e-8, schedule="constant")
  # EMA decay per step: 0.5 ** (batch / ema_nimg), ema_nimg = batch * 10 / 32 * 1000
  c.ema_decay = 0.5 ** (1.0 / EMA_HALF_LIFE_IMAGES_PER_BATCH)
  set_data(c, a.variant)
  c.generator.image_size, c.generator.channels = c.data.image_size, c.data.channels
  projected = a.d == "projected"
  if a.variant in ("digits", "shapes"):
    c.data.batch_size = 64
    if projected:   # a quarter of the official widths: CCM 16..128, DownBlocks 16..128
      c.discriminator.update(feature_network=f"vit_{a.variant}", cout=16, width_scale=0.25)
    c.total_steps = 3000
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 100, 1000, 1000
  elif a.variant == "cifar10":
    c.data.batch_size = 64
    c.generator.width = 128
    if projected:
      c.discriminator.feature_network = "vit_shapes"
    else:
      c.discriminator.width = 128
    c.total_steps = 100_000
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 200, 5000, 5000
  elif a.variant == "smoke":
    c.generator.width = 8
    c.gan.z_dim = 16
    if projected:
      c.discriminator.update(cout=8, width_scale=1 / 16)
    else:
      c.discriminator.width = 8
  return set_evaluators(c, a.variant)
