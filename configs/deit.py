"""DeiT (Touvron et al., 2021, "Training data-efficient image transformers & distillation
through attention"): the ViT of configs/vit.py with a [dist] token, distilled from a teacher.

Commands (the teacher first, then the student):
  python launch.py --config configs/vit.py:digits --workdir runs/vit_digits
  python launch.py --config configs/deit.py:digits --workdir runs/deit_digits
  (another teacher: --config.distill.teacher_workdir=runs/<a classifier run on digits 32x32>)
Result when last run (2026-12-02, 2-core AMD EPYC CPU, shared; 8 simulated devices off):
  teacher runs/vit_digits: test accuracy 0.976 (297 held-out digits, step 1500, 1m15s of steps).
  digits (hard, alpha 0.5): test accuracy 0.976 at step 1500 (1m28s of steps), the average of
  the two heads; the [dist] head agrees with the teacher on every train batch at the end.
  With --config.distill.type=soft --config.distill.tau=3.0 (runs/deit_digits_soft): 0.970.
  No gain over the teacher or the plain ViT (the same 0.976): the teacher is the same
  architecture and fits the train digits exactly (train loss 1e-4), so its hard labels are
  the true labels; DeiT's gain comes from a stronger, convolutional teacher on ImageNet.
  shapes: defined (teacher runs/vit_shapes from configs/vit.py:shapes), not run.
  smoke: 4 steps in seconds with a randomly initialised teacher (distill.teacher_workdir="",
  distill.teacher_model): tests/test_config_smoke.py only calls get_config("smoke"), so the
  variant must not need a trained run; tests/deit trains a 4-step teacher into a tmp workdir
  and distils from it.
"""
import ml_collections

from configs import vit
from configs.common import parse_arg


def get_config(arg: str | None = None):
  a = parse_arg(arg, variant="digits")
  if a.variant not in ("digits", "shapes", "smoke"):
    raise ValueError(f"configs/deit.py: unknown variant {a.variant!r}; use digits, shapes or "
                     "smoke")
  c = vit.get_config(a.variant)
  c.task = "lib.tasks.distill"
  c.model.distillation = True          # the [dist] token and its head
  c.distill = ml_collections.ConfigDict()
  c.distill.type = "hard"              # soft | hard; the paper's best: hard, with [dist]
  c.distill.alpha = 0.5                # (1 - alpha) CE(labels) + alpha L_distill
  c.distill.tau = 1.0                  # soft only: the temperature (official default 1.0)
  c.distill.teacher_workdir = "runs/vit_digits"
  c.distill.teacher_model = ml_collections.ConfigDict({"name": ""})  # random teacher only
  c.distill.teacher_seed = 0
  if a.variant == "shapes":             # teacher: python launch.py --config configs/vit.py:shapes
    c.distill.teacher_workdir = "runs/vit_shapes"
  if a.variant == "smoke":
    c.distill.teacher_workdir = ""
    teacher = c.model.to_dict()
    teacher.pop("distillation")
    c.distill.teacher_model = ml_collections.ConfigDict(teacher)
  return c
