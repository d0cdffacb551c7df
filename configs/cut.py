"""CUT and FastCUT (Park et al. 2020): one-way unpaired translation with PatchNCE between
the input and the translation at encoder layers 0, 4, 8, 12, 16 of the ResNet generator
(256 patches, tau 0.07, 2-layer MLP heads of 256), LSGAN, no cycle and no image pool,
Adam (2e-4, 0.5, 0.999), lr linear to 0 over the second half.

Command:
  python launch.py --config configs/cut.py:digits --workdir /work/runs/cut_digits
  python launch.py --config configs/cut.py:digits,fast=true --workdir /work/runs/fastcut_digits
Result when last run (2026-12-02, 2-core AMD EPYC CPU, shared; 1 device): CUT digits (thin
  -> thick, unpaired), 1200 steps, 11m10s wall (training 10m23s, 1.9 steps/s). PatchNCE
  loss 3.85 at step 50 -> 1.49 at 600 -> 1.43 at 1200 (identity NCE 3.91 -> 1.14); eval
  split (297 digits): domain FID (vit_digits) A -> B 1.46 against thick train digits (the
  untranslated inputs: 12.97; CycleGAN at 1200 steps: 1.36), label preservation A -> B 0.990
  (vit_digits_thick, which reads real thick digits at 0.966). FastCUT: not run.

Paper defaults kept: CUT lambda_NCE 1 with the identity NCE on real B (nce_idt, the mean of
the two NCE terms); FastCUT (fast=true) lambda_NCE 10 without it. Not kept: FastCUT's flip
equivariance augmentation, the anti-aliased down/upsampling of CUT's generator (plain
strided convs as CycleGAN's), and the official D/G update order is kept (D first).
Scaled down: 32 px, generator F = 16 with 4 residual blocks (paper 64, 9), the NCE layers
(0, 2, 3, 4, 6) of lib/nn/resnet_generator.py's `encode` list (input, the two downsampling
convs, blocks 1 and 3: the paper's 0, 4, 8, 12, 16 on a 4-block encoder), PatchGAN F = 32,
batch 16 (paper 1). Config arg keys: variant (digits | shapes | edges | smoke | folder),
steps, fast.
"""
from configs._translation import set_variant, translation_config
from configs.common import parse_arg


def get_config(arg: str | None = None):
  a = parse_arg(arg, variant="digits", steps=0, fast=False)
  c = translation_config()
  c.generator = dict(name="research.cut.model.Generator", out_channels=1, features=16,
                     num_blocks=4, num_downsampling=2, norm="instance")
  c.discriminator = dict(name="research.cut.model.Discriminator", features=32, n_layers=3,
                         norm="instance")
  t = c.translation
  t.nce_weight = 10.0 if a.fast else 1.0
  t.nce_idt = not a.fast
  t.nce_layers = (0, 2, 3, 4, 6)
  t.pool_size = 0
  c.total_steps = 1200
  set_variant(c, a.variant)
  if a.variant == "smoke":
    c.generator.update(features=8, num_blocks=2)
    c.discriminator.update(features=8, n_layers=2)
    t.nce_layers = (0, 2, 3, 4)
    t.nce_num_patches = 16
    c.nce_head.mlp_dim = 16
  elif a.variant == "folder":
    c.generator.update(features=64, num_blocks=9)
    c.discriminator.update(features=64)
    t.nce_layers = (0, 2, 3, 4, 8)
    c.total_steps = 400000
  if a.steps:
    c.total_steps = a.steps
  return c
