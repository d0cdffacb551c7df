"""DCGAN (Radford et al. 2016): all-conv G/D with BatchNorm, non-saturating loss, Adam
lr 2e-4, beta1 0.5, batch 128, weights ~ N(0, 0.02) (paper Sec. 4). Unconditional.

Command:
  python launch.py --config configs/dcgan.py:digits --workdir runs/dcgan
Variants: digits (32x32x1), shapes (32x32x3), cifar10 (tfds; paper widths: 4x4x512 in G),
smoke (16x16, tiny widths, 4 steps).
Result when last run (2026-12-01, 2-core x86_64 CPU shared with other jobs, 1 device,
8m34s wall for 3000 steps plus evaluation):
  python launch.py --config configs/dcgan.py:digits --workdir runs/digits_dcgan
  digits: domain FID 3.26, KID 0.082 +- 0.058,
  precision 0.215, recall 0.932, density 0.166, coverage 0.439
  (vit_digits features, 1000 samples of the raw G against 1000 train digits, seed 0).
  Samples are varied and digit-like with rough strokes (no EMA of G in DCGAN).
"""
from configs._gan import gan_config, set_data, set_evaluators
from configs.common import parse_arg


def get_config(arg: str | None = None):
  a = parse_arg(arg, variant="digits")
  c = gan_config()
  c.generator.update(name="research.dcgan.model.Generator", image_size=32, channels=1, width=64)
  c.discriminator.update(name="research.dcgan.model.Discriminator", width=64)
  c.gan.update(loss="nonsaturating", z_dim=100, separate_d_batches=True)
  c.optimizer_g.update(name="adam", learning_rate=2e-4, b1=0.5, b2=0.999, schedule="constant")
  c.optimizer_d.update(name="adam", learning_rate=2e-4, b1=0.5, b2=0.999, schedule="constant")
  set_data(c, a.variant)
  c.generator.image_size, c.generator.channels = c.data.image_size, c.data.channels
  if a.variant in ("digits", "shapes"):
    c.data.batch_size = 64
    c.generator.width, c.discriminator.width = 32, 32
    c.total_steps = 3000
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 100, 1000, 1000
  elif a.variant == "cifar10":
    c.data.batch_size = 128
    c.generator.width, c.discriminator.width = 128, 128
    c.total_steps = 100_000
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 200, 5000, 5000
  elif a.variant == "smoke":
    c.generator.width, c.discriminator.width = 8, 8
    c.gan.z_dim = 16
  return set_evaluators(c, a.variant)
