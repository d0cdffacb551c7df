"""LFQ tokenizer (Yu et al. 2023, MAGVIT-v2, "Language Model Beats Diffusion"): the VQGAN
autoencoder of configs/vqgan.py with Lookup-Free Quantization (the same builder).

Command:
  python launch.py --config configs/lfq.py:digits --workdir runs/lfq_digits
Result when last run: not run yet (only the smoke variant, in tests/test_config_smoke.py).

Paper defaults: entropy loss weight 0.1, commitment 0.25, diversity gamma 1; 10 bits here
(codebook 2^10 = 1024; the paper 2^18), code dimension = bits. The rest as in
configs/vqgan.py. Config arg keys: variant (digits | smoke), steps.
"""
from configs.vqgan import tokenizer_config


def get_config(arg: str | None = None):
  return tokenizer_config(arg, "lfq", "configs/lfq.py")
