"""ViT (An Image is Worth 16x16 Words) on the embedded datasets; also the domain classifier.

Command:
  python launch.py --config configs/vit.py:digits --workdir runs/vit_digits
Result when last run (2026-11-28, 2-core x86 CPU, 1 device, shared with other jobs):
  digits: test accuracy 0.983 on the 297 held-out digits at step 1500, 1m58s wall
  (the committed domain classifier lib/metrics/weights/vit_digits.npz is this run, made by
  `python -m lib.metrics.domain_classifier --dataset digits`).
  shapes (2026-12-01, same machine): test accuracy 0.713 on 1000 held-out scenes (3 classes;
  the label is the class of the largest of 1-3 shapes), step 2000, 1m59s wall; this is
  lib/metrics/weights/vit_shapes.npz (`python -m lib.metrics.domain_classifier --dataset
  shapes`). With the default 10k train scenes it fit train at 0.96 and test at 0.59.
  smoke: 4 steps in seconds (tests/train).
"""
from configs.common import base_config, parse_arg


def get_config(arg: str | None = None):
  a = parse_arg(arg, variant="digits")
  c = base_config()
  c.task = "lib.tasks.classify"
  c.label_smoothing = 0.0
  c.model.name = "research.vit.model.ViT"
  c.model.num_classes = 10
  c.model.patch_size = 4
  c.model.hidden_size = 64
  c.model.depth = 4
  c.model.num_heads = 4
  c.model.mlp_dim = 128
  c.model.dropout = 0.0
  c.model.remat = False         # recompute each block in the backward pass (memory for FLOPs)
  c.model.scan_layers = False   # nn.scan over the blocks; params stacked under blocks/

  c.optimizer.name = "adamw"
  c.optimizer.learning_rate = 1e-3
  c.optimizer.warmup_steps = 100
  c.optimizer.weight_decay = 1e-4
  c.optimizer.clip_norm = 1.0
  c.eval.evaluators = ("accuracy", "samples")

  if a.variant == "digits":
    c.data.source, c.data.image_size, c.data.channels = "digits", 32, 1
    c.data.batch_size = 128
    c.model.patch_size = 8  # 16 tokens: each 8x8 patch covers 2x2 pixels of the 8x8 original
    c.data.augment = False
    c.total_steps = 1500
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 100, 500, 500
  elif a.variant == "shapes":
    c.data.source, c.data.image_size, c.data.channels = "shapes", 32, 3
    c.data.batch_size = 128
    c.model.patch_size = 8
    c.model.num_classes = 3
    # scenes are free to render: 10x more than the default 10k train scenes, so 2000 steps of
    # 128 see each scene about once (with 10k the ViT fit train at 0.96 and test at 0.59)
    c.data.num_train = 100_000
    c.total_steps = 2000
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 100, 500, 500
  elif a.variant == "smoke":
    c.data.source, c.data.image_size, c.data.channels = "digits", 16, 1
    c.data.batch_size = 16
    c.model.update(patch_size=4, hidden_size=16, depth=1, num_heads=2, mlp_dim=32)
    c.total_steps = 4
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 2, 1000, 2
    c.eval.batch_size = 64
    c.eval.num_samples = 16
  else:
    raise ValueError(f"configs/vit.py: unknown variant {a.variant!r}; use digits, shapes or smoke")
  return c
