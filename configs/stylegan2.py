"""StyleGAN2 (Karras et al. 2020), config F at small scale: mapping network (8 layers,
lr multiplier 0.01 via optimizer_g.lr_multipliers), modulated convolutions with
demodulation, noise inputs, skip G / residual D, non-saturating loss, lazy R1 every 16 D
steps, path-length regularization (weight 2) every 4 G steps, style mixing 0.9, Adam
lr 0.0025, b1 = 0, b2 = 0.99, eps 1e-8, EMA of G (half-life 10k images). Resampling is
the official upfirdn2d with [1, 3, 3, 1] (lib/nn/upfirdn.py: G's transposed-conv upsampling
and tRGB skips, D's blur-then-stride; the digits/shapes D averages instead, measured
below); D runs on reals and fakes separately (minibatch std).
Lazy regularization as the official training_loop.py: R1 (every 16 D steps, weight 16) and
path length (every 4 G steps, weight 4) run as their own optimizer steps
(`gan.lazy_reg_separate`), with each network's Adam lr x k / (k + 1) and betas ** (k / (k + 1))
(lib/tasks/gan.py lazy_optimizer_config). The 0.01 lr multiplier covers the mapping's fc
layers, not its label embedding; D's output layer is equalized and, with classes, projects on
the label mapped by D's own mapping network (its fc layers at 0.01 too), as networks.py.
Style mixing: one cutoff per minibatch, in the path-length pass too (loss.py run_G).
The first result below predates these fixes (2026-12-02, issue 11 second round).

Command:
  python launch.py --config configs/stylegan2.py:digits --workdir runs/stylegan2
Variants: digits (32x32x1, unconditional, width 32, w 64, 4 mapping layers, gamma 0.1),
shapes (32x32x3), cifar10 (tfds; width 512 = the ADA paper's CIFAR widths, R1 gamma 0.01
and 2 mapping layers as in its cifar config, batch 64, PL and mixing kept from the StyleGAN2
paper), smoke
(16x16, width 8, 4 steps).
Result when last run (2026-12-01, 2-core x86_64 CPU shared with other jobs, 1 device,
21m21s wall for 1500 steps plus evaluation):
  python launch.py --config configs/stylegan2.py:digits --workdir runs/digits_stylegan2 \\
      --config.total_steps=1500
  digits: domain FID 7.88, KID 0.208 +- 0.072,
  precision 0.114, recall 0.870, density 0.067, coverage 0.172
  (vit_digits features, 1000 samples (EMA G) against 1000 train digits, seed 0).
  Half of the digits variant's 3000 steps (time budget of the session): smooth, mostly
  recognisable digits, FID still falling (12.7 at step 1000).
After the lazy-step, output-layer and mixing fixes, 2026-12-03, 2-core AMD EPYC CPU, 1 device,
17m34s wall for 1500 steps plus three evaluations, 1.45 steps/s:
  python launch.py --config configs/stylegan2.py:digits --workdir runs/digits_stylegan2 \
      --config.total_steps=1500 --config.eval.every_steps=500
  digits: domain FID 15.20 (24.55 at step 500, 30.16 at 1000), KID 0.441 +- 0.112,
  precision 0.063, recall 0.851, density 0.034, coverage 0.097 (same protocol).
  Worse than the pre-fix 7.88 at the same step count and not monotone (one seed).
The cause, found by 1000-step A/B runs (2026-12-04, 2-core Xeon, same seed; FID at 500 /
1000): D's official blur-then-stride downsampling. All official: 24.55 / 30.16; tRGB skips
bilinear: 19.58 / 29.69; mbstd_group=1: 22.68 / 30.66; G bilinear + D 2x2 average: 18.12 /
15.96; D 2x2 average alone: 16.62 / 14.91. The op matches the official reference (tests),
the blurred D simply learns more slowly here. So the digits and shapes variants set
`discriminator.resample='avg'` (a 2x2 mean, then the conv); G keeps the official FIR, and
cifar10 keeps the official D. With it, 2026-12-04, 2-core Intel Xeon, 1 device, 15m27s wall
for 1500 steps plus three evaluations, 1.65 steps/s:
  python launch.py --config configs/stylegan2.py:digits --workdir runs/digits_stylegan2 \
      --config.total_steps=1500 --config.eval.every_steps=500
  digits: domain FID 9.10 (16.62 at step 500, 14.91 at 1000), KID 0.236 +- 0.098,
  precision 0.091, recall 0.864, density 0.051, coverage 0.133 (same protocol).
  Varied, blurred digits, most recognisable; still above the pre-fix 7.88 and far from FID 5
  at half the variant's 3000 steps. Grid: benchmarks/results/gan_digits_stylegan2.png.
"""
from configs._gan import gan_config, set_data, set_evaluators
from configs.common import parse_arg


def get_config(arg: str | None = None):
  a = parse_arg(arg, variant="digits")
  c = gan_config()
  c.generator.update(name="research.stylegan2.model.Generator", image_size=32, channels=1,
                     width=512, w_dim=512, mapping_layers=8, mixing_prob=0.9,
                     resample="fir")
  c.discriminator.update(name="research.stylegan2.model.Discriminator", width=512,
                         mbstd_group=4, resample="fir")
  c.gan.update(loss="nonsaturating", z_dim=512, r1_gamma=10.0, r1_every=16, pl_weight=2.0,
               pl_every=4, pl_decay=0.01, pl_batch_shrink=2)
  c.gan.lazy_reg_separate = True
  opt = dict(name="adam", learning_rate=0.0025, b1=0.0, b2=0.99, eps=1e-8, schedule="constant")
  c.optimizer_g.update(lr_multipliers=((r"mapping_net/fc\d+/.*", 0.01),), **opt)
  c.optimizer_d.update(lr_multipliers=((r"head/mapping/fc\d+/.*", 0.01),), **opt)
  set_data(c, a.variant)
  c.generator.image_size, c.generator.channels = c.data.image_size, c.data.channels
  batch = 32
  c.ema_decay = 0.5 ** (batch / 10_000)
  if a.variant in ("digits", "shapes"):
    c.generator.update(width=32, w_dim=64, mapping_layers=4)
    c.discriminator.update(width=32, resample="avg")   # measured: the FIR D trails here
    c.gan.update(z_dim=64, r1_gamma=0.1)
    c.optimizer_g.learning_rate = c.optimizer_d.learning_rate = 0.002
    c.total_steps = 3000
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 100, 1000, 1000
  elif a.variant == "cifar10":
    batch = 64
    c.generator.mapping_layers = 2
    c.gan.r1_gamma = 0.01
    c.total_steps = 200_000
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 200, 5000, 5000
  elif a.variant == "smoke":
    c.generator.update(width=8, w_dim=8, mapping_layers=2)
    c.discriminator.width = 8
    c.gan.update(z_dim=8, r1_every=2, pl_every=2)
    batch = 16
  c.data.batch_size = batch
  c.ema_decay = 0.5 ** (batch / 10_000)
  return set_evaluators(c, a.variant)
