"""BigGAN (Brock et al. 2019): class-conditional ResNet G/D with self-attention, a shared
class embedding concatenated with z chunks feeding every conditional BN, spectral norm in G
and D, orthogonal init and orthogonal regularization (beta 1e-4 at BigGAN-PyTorch's scale:
gradient 2 beta (W W^T o (1 - I)) W, half the paper formula's; the result below used the
paper formula's, twice this), hinge loss, Adam b1 = 0,
b2 = 0.999, G 5e-5 / D 2e-4 with 2 D steps per G step, EMA of G (0.9999), truncated z at
sampling (paper Sec. 3-4 and App. C, ImageNet settings; batch scaled down).

Command:
  python launch.py --config configs/biggan.py:digits --workdir runs/biggan
Variants: digits (32x32x1, small widths, G 1e-4 / D 4e-4 and EMA 0.999 for a short CPU run),
shapes (32x32x3, 3 classes), cifar10 (tfds; BigGAN-PyTorch's 32px arch, widths 256, batch
50 x 2 D steps, attention at 16x16), smoke (16x16, tiny widths, 4 steps).
`--config.gan.truncation=0.5` samples with truncated z (0 = off).
Result when last run (2026-12-01, 2-core x86_64 CPU shared with other jobs, 1 device,
6m19s wall for 2000 steps plus evaluation):
  python launch.py --config configs/biggan.py:digits --workdir runs/digits_biggan
  digits: conditional accuracy 0.944 (vit_digits); domain FID 1.67, KID 0.019 +- 0.062,
  precision 0.486, recall 0.669, density 0.478, coverage 0.723
  (vit_digits features, 1000 EMA samples against 1000 train digits, seed 0).
  Truncation trades recall for precision on this run: benchmarks/results/truncation_digits_biggan.md.
"""
from configs._gan import gan_config, set_data, set_evaluators
from configs.common import parse_arg


def get_config(arg: str | None = None):
  a = parse_arg(arg, variant="digits")
  c = gan_config()
  c.generator.update(name="research.biggan.model.Generator", image_size=32, channels=1,
                     width=256, multipliers=(1, 1, 1), shared_dim=128, attention_resolution=16)
  c.discriminator.update(name="research.biggan.model.Discriminator", width=256,
                         multipliers=(1, 1, 1, 1), attention_resolution=16)
  c.gan.update(loss="hinge", conditioning="cbn_projection", z_dim=120, n_critic=2,
               ortho_beta=1e-4, ema_start=1000)
  c.ema_decay = 0.9999
  c.optimizer_g.update(name="adam", learning_rate=5e-5, b1=0.0, b2=0.999, eps=1e-6,
                       schedule="constant")
  c.optimizer_d.update(name="adam", learning_rate=2e-4, b1=0.0, b2=0.999, eps=1e-6,
                       schedule="constant")
  set_data(c, a.variant)
  c.generator.image_size, c.generator.channels = c.data.image_size, c.data.channels
  per_step = 50
  if a.variant in ("digits", "shapes"):
    c.generator.update(width=16, multipliers=(4, 2, 1), shared_dim=32)
    c.discriminator.update(width=16, multipliers=(1, 2, 4, 4))
    c.gan.update(z_dim=64, n_critic=1, ema_start=200, ema_rampup=0.05)
    c.optimizer_g.learning_rate, c.optimizer_d.learning_rate = 1e-4, 4e-4
    c.ema_decay = 0.999
    per_step = 32
    c.total_steps = 2000
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 100, 500, 500
  elif a.variant == "cifar10":
    c.total_steps = 100_000
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 200, 5000, 5000
  elif a.variant == "smoke":
    c.generator.update(width=8, multipliers=(2, 1), shared_dim=8, attention_resolution=8)
    c.discriminator.update(width=8, multipliers=(1, 2, 2), attention_resolution=8)
    c.gan.update(z_dim=24, n_critic=1, ema_start=0)
    c.ema_decay = 0.9
    per_step = 16
  c.data.batch_size = per_step * c.gan.n_critic
  return set_evaluators(c, a.variant)
