"""pix2pix (Isola et al. 2017): paired translation with a U-Net generator, a conditional
PatchGAN (it sees [input, output]), the GAN loss + lambda 100 L1 to the target (Eq. 4), no
image pool, Adam (2e-4, beta1 0.5), lr constant for the first half then linear to 0.

Command:
  python launch.py --config configs/pix2pix.py:edges --workdir /work/runs/pix2pix_edges
  python launch.py --config configs/pix2pix.py:edges,l1_only=true --workdir /work/runs/pix2pix_edges_l1
Result when last run (2026-12-02, 2-core AMD EPYC CPU, shared; 1 device), both commands above:
  edges -> digits, 1200 steps each (8.1 steps/s, 2m50s and 2m44s wall), eval split (297):
  pix2pix (GAN + 100 L1): domain FID 0.93 (the edge inputs score 43.74), label preservation
  0.956, L1 0.068, PSNR 25.71, SSIM 0.856; L1 only: FID 0.88, labels 0.970, L1 0.066, PSNR
  26.13, SSIM 0.865. The paper's point (the adversarial term sharpens, lower FID) does NOT
  show here: one seed each, a difference of 0.05 FID, and edges -> digits at 32 px is close
  to deterministic (one plausible output per edge map), where L1's blur costs little.
  benchmarks/results/translation_digits.md.

Paper defaults kept: vanilla GAN loss (the official --gan_mode vanilla for pix2pix), lambda_L1
100, D's loss x 0.5, PatchGAN with 3 layers, U-Net skips, dropout 0.5 in the innermost 8F
decoders (none exist at 32 px: num_downs 5), batch norm at batch 1 = instance norm.
Scaled down for a 2-core CPU: 32 px edges -> digits (paper 256 px edges2shoes), U-Net F = 16
with 5 downsamplings (paper 64, 8), PatchGAN F = 32 (paper 64), batch 16 (paper 1).
`l1_only=true` is the L1-only baseline (the paper's Table 1 "L1" row: adv_weight 0).
Config arg keys: variant (edges | digits | shapes | smoke | folder), steps, l1_only.
"""
from configs._translation import set_variant, translation_config
from configs.common import parse_arg


def get_config(arg: str | None = None):
  a = parse_arg(arg, variant="edges", steps=0, l1_only=False)
  c = translation_config()
  c.generator = dict(name="research.pix2pix.model.Generator", out_channels=1, features=16,
                     num_downs=5, norm="instance", dropout=0.5)
  c.discriminator = dict(name="research.pix2pix.model.Discriminator", features=32,
                         n_layers=3, norm="instance")
  t = c.translation
  t.gan_loss = "nonsaturating"
  t.l1_weight = 100.0
  t.conditional_discriminator = True
  t.pool_size = 0
  c.total_steps = 1200
  set_variant(c, a.variant)
  c.data.paired = True                      # pix2pix needs the true targets
  if a.variant == "edges":
    c.eval.evaluators = c.eval.evaluators + ("paired_metrics",)
  if a.variant == "smoke":
    c.generator.update(features=8, num_downs=4)
    c.discriminator.update(features=8, n_layers=2)
  elif a.variant == "folder":
    c.generator.update(features=64, num_downs=8)
    c.discriminator.update(features=64)
    c.total_steps = 200000
  if a.l1_only:
    t.adv_weight = 0.0
  if a.steps:
    c.total_steps = a.steps
  return c
