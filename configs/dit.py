"""DiT (Peebles & Xie 2023): a class-conditional diffusion transformer with adaLN-Zero blocks,
trained as DDPM with epsilon prediction, and sampled with classifier-free guidance.

Command:
  python launch.py --config configs/dit.py:digits --workdir /work/runs/dit_digits
Variants: digits (the 8x8x1 scans, 10 classes; see configs/_diffusion.set_data), shapes
(32x32x3, 3 classes), cifar10 (the paper's recipe on tfds cifar10 pixels: DiT-B/2 unless
`size=` says otherwise, defined, not trained here), latent_digits (latent diffusion: the same
DiT on the 8x8x4 latents of a trained FSQ tokenizer of the 32x32 digits; train
`configs/fsq.py:digits` into runs/fsq_digits first, or point `--config.latent.workdir` at one;
run only as the smoke test tests/diffusion/test_latent.py so far), smoke (16x16, a 2-block
DiT, 4 steps).
`size=<S|B|L|XL>/<2|4|8>` picks a Table 1 model, e.g. `configs/dit.py:cifar10,size=XL/2`.
The paper's settings (Sec. 4, official train.py / sample.py): AdamW lr 1e-4, no weight decay,
batch 256, EMA 0.9999, linear schedule over 1000 steps, learned variance with the hybrid
loss, class dropout 0.1, 250 respaced DDPM steps at sampling, guidance 1.5 (4.0 for the grids).
digits: DiT with patch 2 (16 tokens of the 8x8 scans), width 192, depth 4, 3 heads (2.83M
params), batch 128, AdamW 1e-3 cosine with 100 warm-up steps, clip 1, EMA 0.995, 3000 steps;
DDIM 50 steps (eta 0, x0 clipped), guidance 1.5 (the paper's).
Result when last run (2026-12-02, 2-core AMD EPYC CPU, shared; 1 device):
  python launch.py --config configs/dit.py:digits --workdir /work/runs/dit_digits8_p2 \
      --config.diffusion.guidance_scale=3 --config.eval.every_steps=1500
  (the run predates the guidance default of 1.5, hence the flag; same network and data)
  digits: 3000 steps in 9m51s wall with two evaluations (5.3-5.8 steps/s); final evaluation
  (EMA, guidance 3, DDIM 50, 1000 samples): conditional accuracy 1.000 (vit_digits), domain
  FID 2.00, KID 0.007 +- 0.070, precision 0.931, recall 0.231, density 1.77, coverage 0.862
  (step 1500: accuracy 1.000, FID 2.22). Guidance sweep of the same checkpoint
  (benchmarks/results/dit_guidance_digits.md, same noise and labels): s = 1 (no guidance)
  accuracy 0.958, FID 0.50; s = 1.5: 0.998, 0.68; s = 2: 0.999, 1.20; s = 4: 1.000, 2.55.
  Guidance raises conditional accuracy and, past s = 1, costs FID (variety).
  Before (same recipe on the 32x32 upsampled digits, patch 8): accuracy 0.621, FID 8.24 at
  3000 steps (cosine betas: 0.603, 7.27; 16x16 with patch 4, 1500 steps: 0.326, 7.36); the
  samples were noisy: at 32x32 the network must also predict 32x32 i.i.d. noise that carries
  no digit. A first run with EMA 0.999 sampled pure noise at step 1000 (accuracy 0.108): its
  EMA still weighted the zero-output init by a third, hence EMA 0.995.
"""
from configs._diffusion import diffusion_config, set_data, set_evaluators
from configs.common import parse_arg
from research.dit.model import dit_size


def get_config(arg: str | None = None):
  a = parse_arg(arg, variant="digits", size="")
  c = diffusion_config()
  c.model.update(name="research.dit.model.DiT", image_size=32, channels=1,
                 class_dropout_prob=0.1, **dit_size("B/2"))
  c.diffusion.ddpm.update(schedule="linear", num_timesteps=1000, learn_sigma=True,
                          sampler="ancestral", sample_steps=250)
  c.diffusion.guidance_scale = 1.5
  c.optimizer.update(name="adamw", learning_rate=1e-4, weight_decay=0.0, schedule="constant")
  c.ema_decay = 0.9999
  set_data(c, a.variant)
  c.model.image_size, c.model.channels = c.data.image_size, c.data.channels
  if a.variant in ("digits", "latent_digits", "shapes"):
    # 16 tokens: patch 2 of the 8x8 digits (or of the 8x8x4 FSQ latents of the 32x32 digits),
    # patch 8 of the 32x32 shapes (~2.9M params)
    c.model.update(patch_size=8 if a.variant == "shapes" else 2, hidden_size=192, depth=4,
                   num_heads=3)
    c.data.batch_size = 128
    c.optimizer.update(learning_rate=1e-3, warmup_steps=100, schedule="cosine", clip_norm=1.0)
    c.ema_decay = 0.995   # 0.999 still weighted the zero-output init by 26% at step 1344
    c.diffusion.ddpm.update(sampler="ddim", sample_steps=50, eta=0.0,
                            clip_denoised=a.variant != "latent_digits")   # latents: no range
    c.diffusion.guidance_scale = 1.5
    c.total_steps = 3000
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 100, 1500, 500
  elif a.variant == "cifar10":
    c.data.batch_size = 256
    c.total_steps = 400_000
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 200, 10_000, 10_000
  elif a.variant == "smoke":
    c.model.update(patch_size=4, hidden_size=32, depth=2, num_heads=2)
    c.diffusion.ddpm.update(num_timesteps=50, sample_steps=5)
    c.diffusion.guidance_scale = 2.0
    c.ema_decay = 0.99
  if a.size:
    c.model.update(dit_size(a.size))
  return set_evaluators(c, a.variant)
