"""Class-conditional GAN with a projection discriminator (Miyato & Koyama 2018): SNGAN ResNet
G with class-conditional BatchNorm, spectral-norm ResNet D with the projection head, hinge
loss, Adam lr 2e-4, b1 = 0, b2 = 0.9, n_dis = 5, batch 64 (the paper's CIFAR-10 setting,
widths G 256, D 128). `conditioning=acgan` swaps the projection for an auxiliary classifier.

Command:
  python launch.py --config configs/cgan.py:digits --workdir runs/cgan
Variants: digits (32x32x1, small widths, n_dis 1 to fit a CPU budget), shapes (32x32x3, 3
classes), cifar10 (tfds, paper setting), smoke (16x16, tiny widths, 4 steps).
Result when last run (2026-12-01, 2-core x86_64 CPU shared with other jobs, 1 device,
6m26s wall for 2000 steps plus evaluation):
  python launch.py --config configs/cgan.py:digits --workdir runs/digits_cgan
  digits: conditional accuracy 0.624 (vit_digits); domain FID 5.28, KID 0.123 +- 0.054,
  precision 0.132, recall 0.912, density 0.099, coverage 0.235
  (vit_digits features, 1000 EMA samples against 1000 train digits, seed 0).
  Samples are recognisable but blurry: the linearly decayed lr (2e-4 -> 0) and n_dis 1 leave
  this small model short of converged at 2000 steps.
"""
from configs._gan import gan_config, set_data, set_evaluators
from configs.common import parse_arg


def get_config(arg: str | None = None):
  a = parse_arg(arg, variant="digits", conditioning="cbn_projection")
  c = gan_config()
  c.generator.update(name="research.cgan.model.Generator", image_size=32, channels=1,
                     width=256, multipliers=(1, 1, 1))
  c.discriminator.update(name="research.cgan.model.Discriminator", width=128,
                         multipliers=(1, 1, 1, 1))
  c.gan.update(loss="hinge", conditioning=a.conditioning, z_dim=128, n_critic=5)
  c.optimizer_g.update(name="adam", learning_rate=2e-4, b1=0.0, b2=0.9, schedule="linear")
  c.optimizer_d.update(name="adam", learning_rate=2e-4, b1=0.0, b2=0.9, schedule="linear")
  set_data(c, a.variant)
  c.generator.image_size, c.generator.channels = c.data.image_size, c.data.channels
  per_step = 64
  if a.variant in ("digits", "shapes"):
    c.generator.update(width=16, multipliers=(4, 2, 1))
    c.discriminator.update(width=16, multipliers=(1, 2, 4, 4))
    c.gan.n_critic = 1
    per_step = 32
    c.ema_decay = 0.999
    c.gan.ema_rampup = 0.05   # StyleGAN2-ADA's ramp: without it init keeps 0.999^2000 = 13.5%
    c.total_steps = 2000
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 100, 500, 500
  elif a.variant == "cifar10":
    c.total_steps = 50_000
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 200, 5000, 5000
  elif a.variant == "smoke":
    c.generator.update(width=8, multipliers=(2, 1))
    c.discriminator.update(width=8, multipliers=(1, 2, 2))
    c.gan.update(z_dim=16, n_critic=1)
    per_step = 16
  c.data.batch_size = per_step * c.gan.n_critic
  return set_evaluators(c, a.variant)
