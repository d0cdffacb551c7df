"""Long Range Arena-style sequence tasks on offline generated data (lib/data: listops,
pathfinder, digit_pixels); `model.attention` picks the kernel (research/lra/model.py:
dot_product, linear, performer, local, sparse), the model size stays the same.

Commands:
  python launch.py --config configs/lra.py:listops --workdir runs/lra_listops
  python launch.py --config configs/lra.py:pathfinder --config.model.attention=linear --workdir runs/lra_pf
  python launch.py --sweep configs/lra.py:smoke --workdir runs/lra_smoke_study   # study
Study: `make study-lra` (kernels dot_product+linear+performer+local x 3 seeds x listops,
digits, pathfinder at 300 steps, one run at a time), then
`python -m benchmarks.lra_summary runs/lra_study`.
Result when last run (2026-12-02, 2-core CPU, tables in benchmarks/results/studies/
lra_attention/): accuracy listops 0.428 (vanilla) / 0.379 linear / 0.425 performer / 0.406
local; digits 0.465 / 0.609 / 0.395 / 0.696; pathfinder 0.504 / 0.496 / 0.506 / 0.526
(chance: 300 steps is too few there).
Speed at 64-256 tokens: kernels at 0.65-1.5x vanilla's steps/s.
Variants: listops (max_len 128, depth <= 10), pathfinder (16 px; pathfinder32: 32 px),
digits (digits read as 64 pixels), smoke (digits as pixels, 4 steps, tiny model).
"""
from configs.common import base_config, parse_arg


def get_config(arg: str | None = None):
  a = parse_arg(arg, variant="listops")
  c = base_config()
  c.task = "lib.tasks.classify"
  c.label_smoothing = 0.0
  c.model.name = "research.lra.model.SequenceClassifier"
  c.model.update(num_classes=10, attention="dot_product", vocab_size=0, max_len=1024,
                 hidden_size=64, depth=2, num_heads=4, mlp_dim=128, window=16,
                 num_features=64)
  c.data.num_train, c.data.num_test, c.data.seq_seed = 20000, 1000, 0
  c.data.max_len, c.data.max_depth, c.data.distractors = 128, 10, 2
  c.optimizer.learning_rate = 1e-3
  c.optimizer.warmup_steps = 100
  c.optimizer.weight_decay = 1e-4
  c.optimizer.clip_norm = 1.0
  c.eval.evaluators = ("accuracy",)
  c.data.batch_size = 64
  c.total_steps = 3000
  c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 100, 1000, 1000
  if a.variant == "listops":
    c.data.source = "listops"
    c.model.vocab_size, c.model.max_len = 16, 128
  elif a.variant in ("pathfinder", "pathfinder32"):
    c.data.source, c.data.channels = "pathfinder", 1
    c.data.image_size = 32 if a.variant == "pathfinder32" else 16
    c.model.num_classes, c.model.max_len = 2, c.data.image_size ** 2
  elif a.variant in ("digits", "smoke"):
    c.data.source, c.data.image_size, c.data.channels = "digit_pixels", 8, 1
    c.model.max_len = 64
    if a.variant == "smoke":
      c.model.update(hidden_size=16, depth=1, num_heads=2, mlp_dim=32, window=8,
                     num_features=16)
      c.data.batch_size = 16
      c.total_steps = 4
      c.optimizer.warmup_steps = 0
      c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 2, 1000, 2
      c.eval.batch_size = 64
  else:
    raise ValueError(f"configs/lra.py: unknown variant {a.variant!r}; use listops, pathfinder, "
                     f"pathfinder32, digits or smoke")
  return c


def get_sweep(arg: str | None = None):
  """Attention kernel x seeds at a matched step budget.
  arg: the variant, 'kernels=a+b', 'seeds=N', 'steps=N' (e.g. smoke,kernels=dot_product+linear)."""
  from lib.studies.sweep import Sweep, grid
  a = parse_arg(arg, variant="listops", kernels="dot_product+linear+performer+local",
                seeds=3, steps=0)
  steps = a.steps or get_config(a.variant).total_steps
  kernels = a.kernels.split("+")
  return Sweep(config_arg=a.variant,
               settings=grid({"model.attention": kernels}),
               seeds=list(range(a.seeds)), fixed={"total_steps": steps},
               metric="accuracy", mode="max", curve="loss",
               columns=("steps_per_sec", "step_memory_bytes"),
               baseline={"model.attention": "dot_product"} if "dot_product" in kernels else {})
