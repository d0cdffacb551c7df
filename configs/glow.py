"""Glow (Kingma & Dhariwal 2018) trained by maximum likelihood on dequantized images
(research/glow/model.py, lib/tasks/flow.py).

Command:
  python launch.py --config configs/glow.py:digits --workdir runs/glow_digits \
      --config.time_budget_s=420
Result when last run (2026-12-02, 2-core AMD EPYC CPU, shared; 1 device, 8m00s wall):
  2400 of the 5000 steps in the 420 s budget (5.7 steps/s). Train bpd 2.95 at step 100 ->
  1.12 at 1000 -> 0.99 at 2400; held-out bpd (297 test digits, 5-bit data, one dequantization
  draw): 1.164 at step 1000, 1.218 at 2000, 1.230 at 2400 (218.3 nats per image): the flow
  (0.8M params) overfits the 1500 training digits after ~1000 steps; the best held-out value
  is at step 1000 (a shorter run, `--config.total_steps=1000`, not rerun). samples/final.png
  (T = 0.7) and samples/temperatures_final.png (rows T = 0, 0.5, 0.7, 0.85, 1) are legible
  digits; T = 0 gives one smooth mean-like image per column.
  Not run: shapes, cifar10, lu=true (only their definitions; the LU form is tested).

Paper / official-code defaults kept: affine coupling with sigmoid(h + 2) scale and zero-init
last conv, actnorm with data-dependent init, invertible 1x1 conv (`model.lu_decomposed` for
the LU form), L = 3 levels with split priors and a learned top prior, Adam lr 1e-3 with a
linear warm-up over about 10 epochs (official: adamax, 10 warm-up epochs; the official train
loop evaluates the raw params, its polyak swap is commented out, so no EMA here), batch 64,
n_bits 5 (32 bins, the official CelebA-HQ setting). The paper's CIFAR-10 model (K = 32,
width 512) is `cifar10` (defined, not trained here).
Scaled down for a 2-core CPU: digits at 16x16 (bilinear from the 8x8 originals, 32 levels),
K = 8 steps per level, coupling width 128.
Variants: digits (16x16x1), shapes (16x16x3), cifar10 (tfds 32x32x3, 8 bits, K 32, width 512),
smoke (a few steps in seconds: tests/test_config_smoke.py).
Config arg keys: variant, steps, lu (true: LU-decomposed 1x1 conv).
"""
import ml_collections

from configs.common import base_config, parse_arg


def get_config(arg: str | None = None):
  a = parse_arg(arg, variant="digits", steps=0, lu=False)
  c = base_config()
  c.task = "lib.tasks.flow"
  c.model.name = "research.glow.model.Glow"
  c.model.update(levels=3, steps_per_level=32, width=512, lu_decomposed=a.lu, coupling="affine")
  c.flow = ml_collections.ConfigDict(dict(
      n_bins=256,            # 2^n_bits levels of the data (official n_bits_x 8)
      temperature=0.7))      # sampling eps std (the paper's samples use T = 0.7)
  c.optimizer.update(name="adam", learning_rate=1e-3, schedule="constant", b1=0.9, b2=0.999)
  c.ema_decay = 0.0
  c.eval.evaluators = ("likelihood", "samples", "temperature_grid")
  c.eval.temperatures = (0.0, 0.5, 0.7, 0.85, 1.0)
  c.eval.num_samples = 64

  if a.variant in ("digits", "shapes"):
    c.data.update(source=a.variant, image_size=16, channels=1 if a.variant == "digits" else 3,
                  batch_size=64)
    c.model.update(steps_per_level=8, width=128)
    c.flow.n_bins = 32
    c.optimizer.warmup_steps = 250     # ~10 epochs of the 1500 training digits
    c.total_steps = 5000
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 100, 1000, 500
  elif a.variant == "cifar10":
    c.data.update(source="tfds", name="cifar10", image_size=32, channels=3, batch_size=64)
    c.optimizer.warmup_steps = 10 * 50000 // 64
    c.total_steps = 1_000_000
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 500, 10_000, 10_000
  elif a.variant == "smoke":
    c.data.update(source="digits", image_size=8, channels=1, batch_size=16)
    c.model.update(levels=2, steps_per_level=1, width=8)
    c.flow.n_bins = 17                 # the digits' own 17 ink levels at 8x8
    c.total_steps = 4
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 2, 1000, 2
    c.eval.batch_size = 512
    c.eval.num_samples = 8
    c.eval.evaluators = ("likelihood", "temperature_grid")   # the grid is the sample PNG
  else:
    raise ValueError(f"configs/glow.py: unknown variant {a.variant!r}; use digits, shapes, "
                     f"cifar10 or smoke")
  if a.steps:
    c.total_steps = a.steps
  return c
