"""MAE (He et al. 2022, "Masked Autoencoders Are Scalable Vision Learners") pre-training.

Command:
  python launch.py --config configs/mae.py:digits --workdir runs/mae_digits
  python -m benchmarks.mae_probe runs/mae_digits      # the probe against random inits
  python -m benchmarks.mae_fine_tune runs/mae_digits  # end-to-end fine-tuning vs random init
Result when last run (2026-12-02, 2-core AMD EPYC CPU, shared; 1 device):
  digits: 2000 steps in 5m01s wall (4m49s of training), masked-patch loss (norm-pix units)
  1.05 at step 100 -> 0.161 at step 2000. Linear probe of the frozen encoder's [class] token
  (softmax regression on the 1500 train digits, accuracy on the 297 held-out ones): 0.976
  (0.980 at step 1000) vs 0.953 for the same encoder at the run's random init (0.960 and
  0.949 for two other init seeds); mean-pooled tokens 0.970 vs 0.943-0.946; the same probe
  on the raw 32x32 pixels: 0.963 (benchmarks/results/mae_probe_digits.md). A small margin: the
  digits are almost linearly separable as pixels, so any encoder starts near the ceiling.
  The masked train step is 2.25x faster than the same model with all tokens through the
  encoder (mask_ratio 0), 3.46x with an 8-block x 128 encoder (benchmarks/results/
  mae_step_cpu.md; the paper: 3x or more for ViT-L/H).
  Fine-tuning (evaluator fine_tune, 300 steps of batch 128, 178 s for both): 0.993 from the
  MAE checkpoint vs 0.976 from random init (benchmarks/results/mae_fine_tune_digits.md).

The paper's defaults (Sec. 4, Appendix A.1; `paper` variant, ImageNet-sized, not run here):
ViT-L/16 encoder (1024 wide, 24 blocks, 16 heads), decoder 8 blocks x 512 wide (16 heads),
mask_ratio 0.75, norm_pix_loss True, AdamW betas (0.9, 0.95), weight decay 0.05, base lr
1.5e-4 scaled as lr = base_lr * batch / 256 (batch 4096 -> 2.4e-3), cosine decay, 40 warm-up
epochs, 800 epochs, random-resized-crop only.
digits/shapes scale this down for a 2-core CPU: 32x32 images, patch 4 (64 tokens, 16 visible),
a 4-block x 64 encoder and a 2-block x 32 decoder (the decoder stays light, as in the paper);
same mask ratio, target, betas and weight decay. The lr keeps the linear batch scaling with a
larger base lr (2e-3 -> 1e-3 at batch 128): the paper's 1.5e-4 gives 7.5e-5, far too slow for
a run of minutes.
smoke: 4 steps in seconds (tests/test_config_smoke.py).
"""
from configs.common import base_config, parse_arg

PAPER_BASE_LR = 1.5e-4


def scaled_lr(base_lr: float, batch_size: int) -> float:
  """The paper's linear scaling rule: lr = base_lr * batch_size / 256."""
  return base_lr * batch_size / 256


def get_config(arg: str | None = None):
  a = parse_arg(arg, variant="digits")
  c = base_config()
  c.task = "research.mae.task"
  c.model.name = "research.mae.model.MAE"
  c.model.patch_size = 4
  c.model.channels = 1
  c.model.hidden_size = 64
  c.model.depth = 4
  c.model.num_heads = 4
  c.model.mlp_dim = 256
  c.model.decoder_hidden_size = 32
  c.model.decoder_depth = 2
  c.model.decoder_num_heads = 4
  c.model.decoder_mlp_dim = 128
  c.model.mask_ratio = 0.75
  c.model.norm_pix_loss = True
  c.model.remat = False
  c.model.scan_layers = False

  c.optimizer.name = "adamw"
  c.optimizer.b1, c.optimizer.b2 = 0.9, 0.95
  c.optimizer.weight_decay = 0.05
  c.optimizer.schedule = "cosine"

  # linear probe of the frozen encoder (evaluator `linear_probe`): the [class] token as the
  # paper's linear probing (or 'mean' over patch tokens); full-batch Adam on the train split
  c.probe = dict(pool="cls", steps=500, learning_rate=0.05, l2=1e-4)
  # end-to-end fine-tuning of a copy of the encoder (evaluator `fine_tune`; add it to
  # eval.evaluators): the paper's AdamW, weight decay 0.05 and label smoothing 0.1, a CPU budget
  # of steps, no layer-wise lr decay, drop path or mixup
  c.fine_tune = dict(steps=300, batch_size=128, learning_rate=1e-3, weight_decay=0.05,
                     label_smoothing=0.1, num_classes=10)
  c.eval.evaluators = ("mae_reconstructions", "linear_probe")
  c.eval.num_samples = 8

  if a.variant in ("digits", "shapes"):
    c.data.source, c.data.image_size = a.variant, 32
    c.data.channels = c.model.channels = 1 if a.variant == "digits" else 3
    c.fine_tune.num_classes = 10 if a.variant == "digits" else 3
    c.data.batch_size = 128
    c.optimizer.learning_rate = scaled_lr(2e-3, c.data.batch_size)
    c.optimizer.warmup_steps = 100
    c.total_steps = 2000
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 100, 1000, 1000
  elif a.variant == "paper":
    c.data.source, c.data.image_size, c.data.channels = "tfds", 224, 3
    c.data.name = "imagenet2012"
    c.data.augment = True
    c.data.batch_size = 4096
    c.model.update(patch_size=16, channels=3, hidden_size=1024, depth=24, num_heads=16,
                   mlp_dim=4096, decoder_hidden_size=512, decoder_depth=8,
                   decoder_num_heads=16, decoder_mlp_dim=2048)
    c.optimizer.learning_rate = scaled_lr(PAPER_BASE_LR, c.data.batch_size)
    steps_per_epoch = 1_281_167 // c.data.batch_size
    c.optimizer.warmup_steps = 40 * steps_per_epoch
    c.total_steps = 800 * steps_per_epoch
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 100, 10_000, 5000
  elif a.variant == "smoke":
    c.data.source, c.data.image_size, c.data.channels = "digits", 16, 1
    c.data.batch_size = 16
    c.model.update(patch_size=4, hidden_size=16, depth=1, num_heads=2, mlp_dim=32,
                   decoder_hidden_size=16, decoder_depth=1, decoder_num_heads=2,
                   decoder_mlp_dim=32)
    c.optimizer.learning_rate = 1e-3
    c.probe.steps = 20
    c.fine_tune.steps, c.fine_tune.batch_size = 3, 32
    c.total_steps = 4
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 2, 1000, 2
    c.eval.batch_size = 512
    c.eval.num_samples = 4
  else:
    raise ValueError(f"configs/mae.py: unknown variant {a.variant!r}; use digits, shapes, "
                     "paper or smoke")
  return c
