"""U-ViT (Bao et al. 2023): a ViT diffusion backbone with the time and the label as tokens and
long skips between shallow and deep blocks (research/uvit/model.py), trained as DDPM.

Command:
  python launch.py --config configs/uvit.py:digits --workdir /work/runs/uvit_digits
Variants: digits (the 8x8x1 scans, 10 classes; see configs/_diffusion.set_data), shapes
(32x32x3, 3 classes), cifar10 (the paper's recipe, defined, not trained here), smoke (16x16,
a 3-block U-ViT, 4 steps). `size=<S|S-Deep|M|L|H>/<2|4|8>` picks a Table 1 model, e.g.
`configs/uvit.py:cifar10,size=M/2`.
cifar10 follows the official configs/cifar10_uvit_small.py: U-ViT-S/2 (13 blocks, 512 wide,
8 heads, no time MLP, the final conv; 44M params), unconditional as there (num_classes=-1;
FID 3.11 in the paper), AdamW lr 2e-4, weight decay 0.03 on every parameter (the official
optimizer gets all of nnet.parameters(), biases and pos_embed included), betas (0.99, 0.999),
batch 128, 500k steps, linear warm-up then constant (the official 'customized' schedule) over
2500 steps (that config's value; its CelebA and ImageNet configs use 5000), EMA 0.9999, noise
prediction with fixed variance on the linear schedule over 1000 steps (the official VPSDE with
beta 0.1 .. 20 is its continuous-time limit) and 1000-step ancestral sampling (the official
Euler-Maruyama reverse SDE, 1000 steps).
digits: everything but the backbone is configs/dit.py:digits (batch 128, AdamW 1e-3 cosine
with 100 warm-up steps, clip 1, EMA 0.995, learned variance with the hybrid loss, class
dropout 0.1, DDIM 50 with x0 clipped, guidance 1.5, 3000 steps, the same evaluators), so the
row differs from DiT's in the network alone: U-ViT with patch 2 (16 patch tokens + time +
label), width 128, depth 7 (3 in, mid, 3 out), 2 heads of 64: 1.49M params (DiT: 2.83M, most
of the difference its adaLN tables, which act once per image). Compute matched to DiT's: 21.3
GFLOP per training step (XLA's count; DiT's per-token weights give ~22 by 6 N T B); width 192 x
depth 5 (2.4M params) cost 33.6 GFLOP, 1.5x, and ran 2.8 steps/s, too slow for 3000 steps.
Result when last run (2026-12-02, 2-core AMD EPYC CPU, shared; 1 device):
  python launch.py --config configs/uvit.py:digits --workdir /work/runs/uvit_digits
  digits: 3000 steps in 16m12s wall (838 s of training, 3.1-3.8 steps/s on the shared machine,
  two evaluations); final evaluation (EMA, guidance 1.5, DDIM 50, 1000 samples): conditional
  accuracy 0.995 (vit_digits), domain FID 0.58, KID -0.021 +- 0.066, precision 0.787, recall
  0.666, density 1.20, coverage 0.945 (step 1500: accuracy 0.967, FID 0.76). Beside DiT digits
  at the same guidance (benchmarks/results/dit_guidance_digits.md, s = 1.5: accuracy 0.998,
  FID 0.68) U-ViT is level: FID 0.58 vs 0.68 and accuracy 0.995 vs 0.998 are within what one
  seed and 1000 samples separate; not run at guidance 3 (DiT: 1.000, FID 2.00).
"""
from configs._diffusion import diffusion_config, set_data, set_evaluators
from configs.common import parse_arg
from research.uvit.model import uvit_size


def get_config(arg: str | None = None):
  a = parse_arg(arg, variant="digits", size="")
  c = diffusion_config()
  c.model.update(name="research.uvit.model.UViT", image_size=32, channels=3,
                 mlp_time_embed=False, conv=True, skip=True, class_dropout_prob=0.1,
                 **uvit_size("S/2"))
  c.diffusion.ddpm.update(schedule="linear", num_timesteps=1000, learn_sigma=False,
                          sampler="ancestral", sample_steps=0)
  c.optimizer.update(name="adamw", learning_rate=2e-4, weight_decay=0.03, wd_mask=r".*",
                     b1=0.99, b2=0.999, schedule="constant", warmup_steps=2500)
  c.ema_decay = 0.9999
  set_data(c, a.variant)
  c.model.image_size, c.model.channels = c.data.image_size, c.data.channels
  if a.variant in ("digits", "shapes"):
    # 18 tokens; width 128 x depth 7 costs what DiT's 192 x 4 (16 tokens) does per step
    c.model.update(patch_size=2 if a.variant == "digits" else 8, hidden_size=128, depth=7,
                   num_heads=2)
    c.data.batch_size = 128
    c.optimizer.update(learning_rate=1e-3, warmup_steps=100, schedule="cosine", clip_norm=1.0,
                       weight_decay=0.0, wd_mask=r".*kernel$", b1=0.9, b2=0.999)
    c.ema_decay = 0.995
    c.diffusion.ddpm.update(learn_sigma=True, sampler="ddim", sample_steps=50, eta=0.0,
                            clip_denoised=True)
    c.diffusion.guidance_scale = 1.5
    c.total_steps = 3000
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 100, 1500, 500
  elif a.variant == "cifar10":
    c.diffusion.num_classes = 0          # unconditional, as the official cifar10 config
    c.model.class_dropout_prob = 0.0
    c.data.batch_size = 128
    c.total_steps = 500_000
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 200, 10_000, 10_000
  elif a.variant == "smoke":
    c.model.update(patch_size=4, hidden_size=32, depth=3, num_heads=2)
    c.optimizer.warmup_steps = 0
    c.diffusion.ddpm.update(num_timesteps=50, sample_steps=5)
    c.diffusion.guidance_scale = 2.0
    c.ema_decay = 0.99
  if a.size:
    c.model.update(uvit_size(a.size))
  return set_evaluators(c, a.variant)
