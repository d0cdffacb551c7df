"""CycleGAN (Zhu et al. 2017): unpaired translation with two ResNet generators, two PatchGAN
discriminators, LSGAN, cycle consistency (lambda 10) and identity (0.5 x lambda), a pool of
50 past fakes, Adam (2e-4, beta1 0.5), lr constant for the first half and linear to 0 after.

Command:
  python launch.py --config configs/cyclegan.py:digits --workdir /work/runs/cyclegan_digits
Result when last run (2026-12-02, 2-core AMD EPYC CPU, shared; 1 device): digits (thin <->
  thick digits, unpaired), 1200 steps, 10m40s wall (training 10m01s, 2.0 steps/s; an earlier
  run of the same config took 8m41s on a quieter machine and gave the same figures). Train
  cycle loss (both directions, L1 in [-1, 1]) 0.769 at step 50 -> 0.152 at 600 -> 0.118 at
  1200; eval split (297 digits): domain FID (vit_digits) A -> B 1.36 against thick train
  digits (the untranslated inputs score 12.97), B -> A 0.74; cycle reconstruction
  |F(G(a)) - a| = 0.056 (bound stated: < 0.1). Label preservation, each direction read by a
  classifier of its target domain: A -> B 0.976 (vit_digits_thick, which reads real thick
  digits at 0.966 and thin ones at 0.838), B -> A 0.976 (vit_digits, real thin digits 0.983).
  With vit_digits for both, as before, A -> B read 0.785 against 0.771 on real thick digits.
  Grid: benchmarks/results/translation_digits.png; table: translation_digits.md.

Paper defaults kept: LSGAN, lambda_cyc 10, lambda_idt 0.5 x 10, pool 50, Adam(2e-4, 0.5,
0.999), linear decay over the second half, instance norm, reflection padding, D's loss x 0.5.
Scaled down for a 2-core CPU: 32 px (paper 256), generator F = 16 with 3 residual blocks
(paper 64 and 9 blocks at 256 px, 6 at 128 px), PatchGAN F = 32 with 3 layers (paper 64),
batch 16 (paper 1), 1200 steps. folder: the paper's networks at 256 px, batch 1, 200 epochs'
worth of steps left to the user (defined, not trained here).
Config arg keys: variant (digits | shapes | edges | smoke | folder), steps.
"""
from configs._translation import set_variant, translation_config
from configs.common import parse_arg


def get_config(arg: str | None = None):
  a = parse_arg(arg, variant="digits", steps=0)
  c = translation_config()
  c.generator = dict(name="research.cyclegan.model.Generator", out_channels=1, features=16,
                     num_blocks=3, num_downsampling=2, norm="instance")
  c.discriminator = dict(name="research.cyclegan.model.Discriminator", features=32,
                         n_layers=3, norm="instance")
  t = c.translation
  t.cycle_weight = 10.0
  t.identity_weight = 5.0        # 0.5 x cycle_weight
  t.pool_size = 50
  c.total_steps = 1200
  set_variant(c, a.variant)
  if a.variant == "smoke":
    c.generator.update(features=8, num_blocks=1)
    c.discriminator.update(features=8, n_layers=2)
    t.pool_size = 4
  elif a.variant == "folder":
    c.generator.update(features=64, num_blocks=9)
    c.discriminator.update(features=64)
    c.total_steps = 200000
  if a.steps:
    c.total_steps = a.steps
  return c
