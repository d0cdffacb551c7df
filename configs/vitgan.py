"""ViTGAN (Lee et al. 2022): ViT generator with self-modulated LayerNorm and an implicit
neural representation per patch; ViT discriminator with L2 attention (tied W_q = W_k, the
paper's form, not the public code's), improved spectral normalization and overlapping
patches; non-saturating loss with DiffAugment 'color,translation,cutout' (the official
DiffAugment applies the policies in the order written, this is its default order; the paper
lists translation, color, cutout), Adam lr 0.002, b1 = 0, b2 = 0.99, EMA of G. Balanced
consistency regularization (bCR) is not implemented.
Widths are ours (small); the paper's CIFAR widths are not reproduced.

Command:
  python launch.py --config configs/vitgan.py:digits --workdir runs/vitgan
Variants: digits (32x32x1, patch 4, hidden 64, depth 2), shapes (32x32x3), cifar10 (tfds;
G hidden 384 x 4 blocks x 6 heads, D hidden 192 x 4 x 3, batch 64), smoke (16x16, 4 steps).
Result when last run (2026-12-01, 2-core x86_64 CPU shared with other jobs, 1 device,
7m32s wall for 3000 steps plus evaluation):
  python launch.py --config configs/vitgan.py:digits --workdir runs/digits_vitgan
  digits: domain FID 148.85, KID 9.976 +- 0.216,
  precision 0.000, recall 0.000, density 0.000, coverage 0.000
  (vit_digits features, 1000 samples (EMA G) against 1000 train digits, seed 0).
  Failed: the generator collapsed to one blurry blob (spread over z 0.02 vs 0.35 at init);
  D won from step 500 on (D(real) - D(fake) 2.4 -> 8.0). A retry with lazy R1
  (--config.gan.r1_gamma=0.1 --config.gan.r1_every=4, 15m13s) kept D in check longer and
  reached FID 62.05, precision 0.036, recall 0.000: still collapsed. Not tuned further.
"""
from configs._gan import gan_config, set_data, set_evaluators
from configs.common import parse_arg


def get_config(arg: str | None = None):
  a = parse_arg(arg, variant="digits")
  c = gan_config()
  c.generator.update(name="research.vitgan.model.Generator", image_size=32, channels=1,
                     patch_size=4, hidden=384, depth=4, num_heads=6, w_dim=384,
                     mapping_layers=4, inr_hidden=64, num_freqs=4)
  c.discriminator.update(name="research.vitgan.model.Discriminator", patch_size=4, overlap=2,
                         hidden=192, depth=4, num_heads=3, improved_sn=True)
  c.gan.update(loss="nonsaturating", z_dim=384, augment="diffaugment",
               augment_policy="color,translation,cutout")   # official DiffAugment order
  opt = dict(name="adam", learning_rate=0.002, b1=0.0, b2=0.99, schedule="constant")
  c.optimizer_g.update(**opt)
  c.optimizer_d.update(**opt)
  c.ema_decay = 0.999
  set_data(c, a.variant)
  c.generator.image_size, c.generator.channels = c.data.image_size, c.data.channels
  c.data.batch_size = 64
  if a.variant in ("digits", "shapes"):
    c.generator.update(hidden=64, depth=2, num_heads=4, w_dim=64, mapping_layers=2,
                       inr_hidden=32)
    c.discriminator.update(hidden=64, depth=2, num_heads=4)
    c.gan.update(z_dim=64, ema_rampup=0.05)
    c.optimizer_g.learning_rate = c.optimizer_d.learning_rate = 5e-4
    c.data.batch_size = 32
    c.total_steps = 3000
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 100, 1000, 1000
  elif a.variant == "cifar10":
    c.total_steps = 100_000
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 200, 5000, 5000
  elif a.variant == "smoke":
    c.generator.update(patch_size=4, hidden=16, depth=1, num_heads=2, w_dim=16,
                       mapping_layers=1, inr_hidden=8, num_freqs=2)
    c.discriminator.update(patch_size=4, overlap=1, hidden=16, depth=1, num_heads=2)
    c.gan.z_dim = 16
    c.data.batch_size = 16
  return set_evaluators(c, a.variant)
