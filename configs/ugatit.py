"""U-GAT-IT (Kim et al. 2020): unpaired translation with CAM attention in the generator and
the critics and AdaLIN in the decoder; LSGAN on the patch and the CAM logits of a global and
a local critic, cycle 10, identity 10, CAM 1000 (the official weights), Adam (1e-4, 0.5,
0.999), lr linear to 0 over the second half, rho clipped to [0, 1].

Command:
  python launch.py --config configs/ugatit.py:digits --workdir /work/runs/ugatit_digits
  python launch.py --config configs/ugatit.py:shapes,steps=500 --workdir /work/runs/ugatit_shapes
Result when last run (2026-12-02, 2-core AMD EPYC CPU, shared; 1 device): digits (thin <->
  thick, unpaired), 1200 steps, 12m30s wall (training 11m32s, 1.7 steps/s); eval split (297
  digits): domain FID (vit_digits) A -> B 2.24 (inputs 12.97; CycleGAN 1.36, CUT 1.46 at
  the same steps), B -> A 1.34; cycle L1 0.101; label preservation A -> B 0.973
  (vit_digits_thick; real thick 0.966), B -> A 0.963 (vit_digits; real thin 0.983); CAM heat
  inside the ink 0.327 against an ink area of 0.304 (no concentration on digits).
  shapes (shapes_palette), 500 steps, 5m55s wall (training 4m51s): FID A -> B 2.16 (inputs
  34.2), B -> A 7.09, cycle L1 0.170; CAM heat inside the objects 0.168 against their area
  0.108 (1.55x the uniform share: the heat leans to the objects, but most of it is still on
  the background, which also changes between the domains); grid of input | heatmap:
  benchmarks/results/translation_ugatit_shapes_cam.png. Label preservation on shapes (0.31)
  is not meaningful: vit_shapes reads the repainted B scenes at 0.31 (chance 0.33).

Paper defaults kept: adv 1, cycle 10, identity 10, CAM 1000, LSGAN, no image pool, lr 1e-4,
4 residual blocks, AdaLIN rho init 0.9 / LIN rho 0, spectral norm in the critics, D's loss
not halved. Differences: Adam without the official weight decay 1e-4 (torch's coupled L2);
32 px (paper 256), F = 16 (paper 64), the `light` generator (MLP on the pooled attention
features, the official --light option), critics with 5 and 4 layers (paper 7 and 5 at 256
px), batch 16 (paper 1). folder: the paper's networks at 256 px (defined, not trained here).
Config arg keys: variant (digits | shapes | edges | smoke | folder), steps.
"""
from configs._translation import set_variant, translation_config
from configs.common import parse_arg


def get_config(arg: str | None = None):
  a = parse_arg(arg, variant="digits", steps=0)
  c = translation_config()
  c.generator = dict(name="research.ugatit.model.Generator", out_channels=1, features=16,
                     num_blocks=4, light=True)
  c.discriminator = dict(name="research.ugatit.model.Discriminator", features=16,
                         global_layers=5, local_layers=4)
  c.optimizer_g.learning_rate = c.optimizer_d.learning_rate = 1e-4
  t = c.translation
  t.d_loss_scale = 1.0
  t.cycle_weight = 10.0
  t.identity_weight = 10.0
  t.cam_weight = 1000.0
  t.pool_size = 0
  c.total_steps = 1200
  set_variant(c, a.variant)
  if a.variant in ("digits", "shapes", "edges"):
    c.eval.evaluators = c.eval.evaluators + ("cam_heatmaps",)
  if a.variant == "smoke":
    c.generator.update(features=4, num_blocks=1)
    c.discriminator.update(features=4, global_layers=4, local_layers=3)
    c.eval.evaluators = ("translation_grid", "cam_heatmaps")
  elif a.variant == "folder":
    c.generator.update(features=64, light=False)
    c.discriminator.update(features=64, global_layers=7, local_layers=5)
    c.total_steps = 1000000
  if a.steps:
    c.total_steps = a.steps
  return c
