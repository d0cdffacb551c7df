"""WGAN-GP (Gulrajani et al. 2017): Wasserstein loss with a gradient penalty at random
interpolates, lambda = 10, n_critic = 5, Adam lr 1e-4, b1 = 0, b2 = 0.9, batch 64 per critic
step (paper, Algorithm 1). DCGAN generator and a normalization-free DCGAN critic.
`reg=clip` trains the original WGAN instead (Arjovsky et al. 2017): weight clipping
c = 0.01, lr 5e-5 (the paper's RMSProp is replaced by Adam with b1 = 0, b2 = 0.999, i.e.
RMSProp with bias correction: the shared optimizer module has no RMSProp).

Command:
  python launch.py --config configs/wgan_gp.py:digits --workdir runs/wgan_gp
  python launch.py --config configs/wgan_gp.py:variant=digits,reg=clip --workdir runs/wgan_clip
Variants: digits (32x32x1, widths 16, 32 images per critic step), shapes (32x32x3),
cifar10 (tfds; gan_cifar.py widths, DIM 128), smoke (16x16, tiny widths, 4 steps).
data.batch_size = n_critic x the batch of one critic step.
Result when last run (2026-12-01, 2-core x86_64 CPU shared with other jobs, 1 device,
8m30s wall for 2000 steps plus evaluation):
  python launch.py --config configs/wgan_gp.py:digits --workdir runs/digits_wgan_gp
  digits: domain FID 4.70, KID 0.078 +- 0.060,
  precision 0.068, recall 0.990, density 0.043, coverage 0.162
  (vit_digits features, 1000 samples (raw G) against 1000 train digits, seed 0).
  Varied but blurry, half-formed digits (precision 0.068, recall 0.990): the critic at width 16
  and 2000 G steps (10000 critic steps) leaves WGAN-GP early in training.
"""
from configs._gan import gan_config, set_data, set_evaluators
from configs.common import parse_arg


def get_config(arg: str | None = None):
  a = parse_arg(arg, variant="digits", reg="gp")
  c = gan_config()
  c.generator.update(name="research.wgan_gp.model.Generator", image_size=32, channels=1,
                     width=128)
  c.discriminator.update(name="research.wgan_gp.model.Critic", width=128, layer_norm=False)
  c.gan.update(loss="wasserstein", n_critic=5, z_dim=128)
  if a.reg == "gp":
    c.gan.gp_weight = 10.0
    opt = dict(name="adam", learning_rate=1e-4, b1=0.0, b2=0.9, schedule="constant")
  elif a.reg == "clip":
    c.gan.weight_clip = 0.01
    opt = dict(name="adam", learning_rate=5e-5, b1=0.0, b2=0.999, schedule="constant")
  else:
    raise ValueError(f"configs/wgan_gp.py: reg={a.reg!r}: use gp or clip")
  c.optimizer_g.update(**opt)
  c.optimizer_d.update(**opt)
  set_data(c, a.variant)
  c.generator.image_size, c.generator.channels = c.data.image_size, c.data.channels
  per_step = 64
  if a.variant in ("digits", "shapes"):
    c.generator.width, c.discriminator.width = 16, 16
    per_step = 32
    c.total_steps = 2000
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 100, 500, 500
  elif a.variant == "cifar10":
    c.total_steps = 100_000
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 200, 5000, 5000
  elif a.variant == "smoke":
    c.generator.width, c.discriminator.width = 8, 8
    c.gan.z_dim = 16
    c.gan.n_critic = 2
    per_step = 8
  c.data.batch_size = per_step * c.gan.n_critic
  return set_evaluators(c, a.variant)
