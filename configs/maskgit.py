"""MaskGIT (Chang et al. 2022, "MaskGIT: Masked Generative Image Transformer"): a
class-conditional bidirectional transformer over the tokens of a frozen VQ tokenizer
(lib/tasks/masked_tokens.py, research/maskgit/model.py). Also the builder of configs/mage.py
and configs/maskbit.py.

Commands (stage 1, the tokenizer; stage 2, the generator over its frozen tokens):
  python launch.py --config configs/vqgan.py:digits,quantizer=ema_vq --workdir /work/runs/tok_ema_vq --config.time_budget_s=150
  python launch.py --config configs/maskgit.py:digits --workdir /work/runs/maskgit_digits --config.time_budget_s=450 --config.eval.every_steps=3000
Result when last run (2026-12-02, 2-core AMD EPYC CPU, shared; 1 device):
  stage 1: 300 steps of the EMA-VQ tokenizer (2m42s of training at 1.9 steps/s); eval split
  PSNR 31.95 dB, L1 0.0378, 216 of 256 codes used (0.844), perplexity 131.5.
  stage 2: 1400 of the 3000 steps in the 450 s budget (3.0 steps/s with the tokenizer's
  encoder in every step; 8m24s wall with the final evaluation; the cosine lr schedule still
  sized for 3000). Train loss 4.62 (masked-token accuracy 0.14) at step 100 -> 2.75 (0.38) at
  step 1400. Final evaluation (1000 samples, T = 8, choice temperature 4.5, guidance 1.0, no
  EMA): conditional accuracy 1.000 (vit_digits classifier), domain FID 1.57, precision 0.866,
  recall 0.396, density 1.37, coverage 0.866 (vit_digits features against 1000 train
  digits, seed 0), against SAGAN digits' 0.989, 4.84, 0.732, 0.027 (configs/sagan.py).
  samples/final.png: legible digits of the right class in every row, with varied styles.

Paper / official defaults kept: cosine schedule, r ~ U(0, 1) at training, loss on the masked
tokens only with label smoothing 0.1, choice temperature 4.5 (official class-conditional
config), official head (Dense, GELU, LayerNorm, logits tied to the token embedding + bias),
AdamW b2 0.96 with weight decay 0.045, classifier-free guidance by label dropout 0.1 (from
MaskBit/MUSE; the MaskGIT paper has no guidance).
Scaled down for a 2-core CPU: 32x32 digits -> 8x8 = 64 tokens of a 256-code EMA-VQ
tokenizer (paper 16x16 of 1024 codes), width 128, 4 blocks, 4 heads, MLP 512 (paper 24
blocks of 768), T = 8 decoding steps (paper 8 at 256x256), dropout 0.1, lr 1e-3.
Config arg keys: variant (digits | shapes | smoke), steps, tokenizer (a workdir).
smoke: a few steps in seconds on a freshly initialised tokenizer (tests/test_config_smoke.py).
"""
from configs.common import base_config, parse_arg

TOKENIZER_RUNS = {"digits": "/work/runs/tok_ema_vq", "shapes": "/work/runs/tok_shapes"}


def smoke_tokenizer(quantizer: str, quantizer_kwargs: dict) -> dict:
  """A tiny research.vqgan Tokenizer for 16x16 digits (8x8 tokens), initialised at random."""
  return dict(name="research.vqgan.model.Tokenizer", channels=1, ch=8, ch_mult=(1, 2),
              num_res_blocks=1, num_groups=4, embed_dim=8, quantizer=quantizer,
              quantizer_kwargs=quantizer_kwargs)


def masked_config(arg, config_file: str, tokenizer_runs: dict, smoke_quantizer: tuple,
                  **masked):
  """The shared builder: the task, the model, the data and the evaluators by variant."""
  a = parse_arg(arg, variant="digits", steps=0, tokenizer="")
  c = base_config()
  c.task = "lib.tasks.masked_tokens"
  c.model.name = "research.maskgit.model.MaskGITTransformer"
  c.model.input = "embedding"
  c.model.width = 128
  c.model.depth = 4
  c.model.num_heads = 4
  c.model.mlp_dim = 512
  c.model.dropout = 0.1
  c.masked = dict(
      schedule="cosine",            # gamma: cosine | linear | arccos | sqrt | square
      ratio="schedule",             # schedule: gamma(r), r ~ U(0,1); truncated_normal: MAGE
      ratio_mean=0.55, ratio_std=0.25, ratio_min=0.5, ratio_max=1.0,   # MAGE Sec. 3.1
      groups=1,                     # MaskBit: bit groups per token (codebook_splits)
      num_classes=10,               # 0: unconditional
      label_dropout=0.1,            # classifier-free guidance at training
      label_smoothing=0.1,          # the official config
      num_iter=8,                   # T decoding steps
      choice_temperature=4.5,       # the official class-conditional config
      guidance_scale=1.0,           # s: l_c + s (l_c - l_null); 0 = no guidance
  )
  c.masked.update(masked)
  c.tokenizer = dict(workdir="", seed=0, model=dict(name=""))
  c.optimizer.update(name="adamw", learning_rate=1e-3, b1=0.9, b2=0.96, weight_decay=0.045,
                     schedule="cosine", warmup_steps=100, clip_norm=1.0)
  c.ema_decay = 0.0
  c.eval.num_samples = 40
  c.eval.extractor = "vit_digits"
  conditional = ("conditional_accuracy",) if c.masked.num_classes else ()
  c.eval.evaluators = ("samples",) + conditional + ("fid", "pr")

  if a.variant in ("digits", "shapes"):
    c.data.source, c.data.image_size = a.variant, 32
    c.data.channels = 1 if a.variant == "digits" else 3
    c.eval.extractor = f"vit_{a.variant}"
    if a.variant == "shapes" and c.masked.num_classes:
      c.masked.num_classes = 3
    c.tokenizer.workdir = a.tokenizer or tokenizer_runs[a.variant]
    c.data.batch_size = 64
    c.total_steps = 3000
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 100, 1500, 1500
  elif a.variant == "smoke":
    c.data.source, c.data.image_size, c.data.channels = "digits", 16, 1
    c.data.batch_size = 16
    c.tokenizer.workdir = a.tokenizer
    c.tokenizer.model = smoke_tokenizer(*smoke_quantizer)
    c.model.update(width=32, depth=1, num_heads=2, mlp_dim=64)
    c.masked.num_iter = 4
    c.masked.guidance_scale = 1.0 if c.masked.num_classes else 0.0
    c.total_steps = 4
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 2, 1000, 2
    c.eval.num_samples = 20
    c.eval.batch_size = 64
    c.eval.metric_samples = 100
    c.eval.evaluators = ("samples",) + conditional
  else:
    raise ValueError(f"{config_file}: unknown variant {a.variant!r}; use digits, shapes or "
                     "smoke")
  if a.steps:
    c.total_steps = a.steps
  return c


def get_config(arg: str | None = None):
  return masked_config(arg, "configs/maskgit.py", TOKENIZER_RUNS,
                       ("ema_vq", dict(num_codes=16, beta=0.25, decay=0.99)))
