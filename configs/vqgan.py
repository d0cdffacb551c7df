"""VQGAN tokenizer (Esser et al. 2021, "Taming Transformers") with a chosen quantizer:
the first stage of MaskGIT (issue 14). Also the builder of configs/fsq.py and configs/lfq.py.

Command:
  python launch.py --config configs/vqgan.py:digits --workdir runs/vqgan_digits
  python launch.py --config configs/vqgan.py:digits,quantizer=ema_vq --workdir runs/vqgan_ema
Result when last run (2026-12-02, 2-core AMD EPYC CPU, shared; 1 device):
  digits (vq), with --config.time_budget_s=150: 300 of the 1000 steps (2.0 steps/s, 2m48s
  wall; the cosine schedule still sized for 1000). Train loss 0.920 (recon L1 0.310,
  quantizer 0.610) at step 50 -> 0.195 (L1 0.072, quantizer 0.123) at step 300; eval split
  (297 digits): L1 0.0562, L2 0.00617, PSNR 28.3 dB, 112 of the 256 codes used (0.4375),
  perplexity 43.0; reconstructions in samples/final.png are legible digits.
  digits,quantizer=ema_vq, with --config.time_budget_s=120: 250 steps (2m33s wall). Train
  loss 0.317 (L1 0.292, commitment 0.025) at step 50 -> 0.076 (L1 0.071) at step 250; eval
  split: L1 0.0582, L2 0.00643, PSNR 28.2 dB, 218 of the 256 codes used (0.852), perplexity
  129.8 (the EMA codebook with dead-code restart uses 2x the codes of the gradient VQ).
  Not run yet: the full 1000 steps, configs/fsq.py, configs/lfq.py (only their smoke
  variants, in tests/test_config_smoke.py).

Paper defaults kept: VQ commitment beta 0.25 (VQ-VAE, van den Oord et al. 2017), EMA decay
0.99 (VQ-VAE Appendix A.1), GroupNorm + swish ResNet blocks, nearest + conv upsampling,
Adam (0.5, 0.9) betas of the official VQGAN configs, pixel L1 loss.
Scaled down for a 2-core CPU: 32x32 digits, ch 32, ch_mult (1, 2, 2) (8x8 tokens; the paper
16x16 tokens from 256x256 with ch 128, ch_mult (1, 1, 2, 2, 4)), 1 res block per level
(paper 2), no attention blocks, 256 codes of dim 32 (paper 1024 x 256), lr 1e-3 (paper
4.5e-6 x batch). Not in scope: the perceptual and adversarial losses (a follow-up).
Config arg keys: variant (digits | smoke), quantizer (vq | ema_vq | fsq | lfq), steps.
smoke: a few steps in seconds (tests/test_config_smoke.py).
"""
from configs.common import base_config, parse_arg

# the papers' defaults for each quantizer (lib/nn/quantizers)
QUANTIZER_DEFAULTS = {
    "vq": dict(num_codes=256, beta=0.25),                        # VQ-VAE beta 0.25
    "ema_vq": dict(num_codes=256, beta=0.25, decay=0.99),         # VQ-VAE A.1 decay 0.99
    "fsq": dict(levels=(8, 5, 5, 5)),                             # FSQ Table 1, |C| = 1000
    "lfq": dict(bits=10, entropy_loss_weight=0.1),                # MAGVIT-v2, |C| = 1024
}


def tokenizer_config(arg: str | None, quantizer: str, config_file: str):
  """The shared builder: a Tokenizer with `quantizer` (overridable by the arg key)."""
  a = parse_arg(arg, variant="digits", quantizer=quantizer, steps=0)
  if a.quantizer not in QUANTIZER_DEFAULTS:
    raise ValueError(f"{config_file}: quantizer={a.quantizer!r}; use one of "
                     f"{sorted(QUANTIZER_DEFAULTS)}")
  c = base_config()
  c.task = "lib.tasks.autoencoder"
  c.reconstruction_loss = "l1"
  c.model.name = "research.vqgan.model.Tokenizer"
  c.model.channels = 1
  c.model.ch = 32
  c.model.ch_mult = (1, 2, 2)
  c.model.num_res_blocks = 1
  c.model.num_groups = 8
  c.model.embed_dim = 32
  c.model.quantizer = a.quantizer
  c.model.quantizer_kwargs = dict(QUANTIZER_DEFAULTS[a.quantizer])

  c.optimizer.name = "adam"
  c.optimizer.b1, c.optimizer.b2 = 0.5, 0.9
  c.optimizer.schedule = "cosine"
  c.eval.evaluators = ("reconstruction", "reconstruction_grid")
  c.eval.num_samples = 16

  if a.variant == "digits":
    c.data.source, c.data.image_size, c.data.channels = "digits", 32, 1
    c.data.batch_size = 64
    c.optimizer.learning_rate = 1e-3
    c.optimizer.warmup_steps = 50
    c.total_steps = 1000
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 50, 500, 500
    c.eval.evaluators = ("reconstruction", "reconstruction_grid", "reconstruction_fid")
  elif a.variant == "smoke":
    c.data.source, c.data.image_size, c.data.channels = "digits", 16, 1
    c.data.batch_size = 16
    c.model.update(ch=8, ch_mult=(1, 2), embed_dim=8, num_groups=4)
    if "num_codes" in c.model.quantizer_kwargs:
      c.model.quantizer_kwargs.num_codes = 16
    c.optimizer.learning_rate = 1e-3
    c.total_steps = 4
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 2, 1000, 2
    c.eval.batch_size = 512
    c.eval.num_samples = 4
  else:
    raise ValueError(f"{config_file}: unknown variant {a.variant!r}; use digits or smoke")
  if a.steps:
    c.total_steps = a.steps
  return c


def get_config(arg: str | None = None):
  return tokenizer_config(arg, "vq", "configs/vqgan.py")
