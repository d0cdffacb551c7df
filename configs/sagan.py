"""SAGAN (Zhang et al. 2019): class-conditional ResNet G/D with self-attention, spectral norm
in both networks, conditional BN in G and a projection D, hinge loss, TTUR (G 1e-4,
D 4e-4), Adam b1 = 0, b2 = 0.9 (the paper, Sec. 5; the official code uses b2 = 0.999), one
D step per G step. Attention on G's 32x32 map and after D's first block (16x16; the
authors' TF code attends after D's second block, on a quarter-side map: research/sagan).

Command (the project's default `make run` is the digits variant):
  python launch.py --config configs/sagan.py:digits --workdir runs/sagan
Variants: digits (32x32x1, 10 classes, tuned to finish in minutes on 2 CPU cores: G width
16 x (4, 2, 1) with attention on its 16x16 map (the 32x32 map cost 40% of the step time),
D width 16 x (1, 2, 4, 4), batch 32, G and D lr 4e-4, EMA 0.995, 1200 steps),
shapes (32x32x3, 3 classes), cifar10 (tfds; SNGAN widths G 256, D 128, batch 256 as in the
paper), smoke (16x16, tiny widths, 4 steps).
Result when last run (2026-12-03, 2-core AMD EPYC CPU, 1 device, after the issue-11 fixes;
4m29s wall for 1200 steps at 5.5 steps/s plus evaluation):
  python launch.py --config configs/sagan.py:digits --workdir runs/sagan_digits
  digits: conditional accuracy 0.999 (vit_digits classifier, 1000 samples, EMA G);
  domain FID 3.20, KID 0.033 +- 0.067, precision 0.879, recall 0.039, density 1.323,
  coverage 0.597 (vit_digits features, 1000 samples against 1000 train digits, seed 0).
  Clean digits of every class with little variety within a class, which is what the low
  recall measures (the bar is 0.3). With DiffAugment (`--config.gan.augment=diffaugment
  --config.gan.augment_policy=color,translation,cutout`, 4m21s): accuracy 0.989, FID 4.80,
  precision 0.512, recall 0.122: more varied, still below the bar. DiffAugment plus LeCam
  (`--config.gan.lecam_weight=0.3`, 4m50s): recall 0.523 but accuracy 0.752, FID 10.97,
  precision 0.203: varied, not yet converged at 1200 steps; trained on to 2400 steps
  (11m12s) it converges to the same within-class collapse: accuracy 1.000, FID 4.80,
  precision 0.817, recall 0.011. The early recall was a transient of an unconverged G.
  Grids: benchmarks/results/gan_digits_sagan.png, gan_digits_sagan_diffaug_lecam_2400.png.
  (2026-12-01, the previous machine, before the fixes: accuracy 0.989, FID 4.84, recall 0.027.)
"""
from configs._gan import gan_config, set_data, set_evaluators
from configs.common import parse_arg


def get_config(arg: str | None = None):
  a = parse_arg(arg, variant="digits")
  c = gan_config()
  c.generator.update(name="research.sagan.model.Generator", image_size=32, channels=1,
                     width=256, multipliers=(1, 1, 1), attention_resolution=32,
                     spectral_norm=True)
  c.discriminator.update(name="research.sagan.model.Discriminator", width=128,
                         multipliers=(1, 1, 1, 1), attention_resolution=16, spectral_norm=True)
  c.gan.update(loss="hinge", conditioning="cbn_projection", z_dim=128)
  c.optimizer_g.update(name="adam", learning_rate=1e-4, b1=0.0, b2=0.9, schedule="constant")
  c.optimizer_d.update(name="adam", learning_rate=4e-4, b1=0.0, b2=0.9, schedule="constant")
  set_data(c, a.variant)
  c.generator.image_size, c.generator.channels = c.data.image_size, c.data.channels
  if a.variant in ("digits", "shapes"):
    c.data.batch_size = 32
    c.generator.update(width=16, multipliers=(4, 2, 1), attention_resolution=16)
    c.discriminator.update(width=16, multipliers=(1, 2, 4, 4))
    # The paper's TTUR (G 1e-4, D 4e-4) reached 0.125 conditional accuracy at step 1000 in
    # our digits run; 4e-4 for both reached 0.989 at step 1000 (0.985 at 1500).
    c.optimizer_g.learning_rate = 4e-4
    c.ema_decay = 0.995
    c.total_steps = 1200
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 100, 600, 600
  elif a.variant == "cifar10":
    c.data.batch_size = 256
    c.total_steps = 100_000
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 200, 5000, 5000
  elif a.variant == "smoke":
    c.generator.update(width=8, multipliers=(2, 1), attention_resolution=16)
    c.discriminator.update(width=8, multipliers=(1, 2, 2), attention_resolution=8)
    c.gan.z_dim = 16
    # the one smoke run that covers the generator metrics end to end (100 samples)
    c.eval.evaluators = ("samples", "conditional_accuracy", "fid", "kid", "pr")
  return set_evaluators(c, a.variant)
