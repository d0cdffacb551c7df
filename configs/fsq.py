"""FSQ tokenizer (Mentzer et al. 2023, "Finite Scalar Quantization: VQ-VAE Made Simple"):
the VQGAN autoencoder of configs/vqgan.py with FSQ instead of VQ (the same builder).

Command:
  python launch.py --config configs/fsq.py:digits --workdir runs/fsq_digits
Result when last run: not run yet (only the smoke variant, in tests/test_config_smoke.py).

Paper default: levels [8, 5, 5, 5] (Table 1, codebook 1000), no auxiliary loss; the code
dimension is len(levels) = 4 (the pre-quant 1x1 conv projects to it). The rest as in
configs/vqgan.py. Config arg keys: variant (digits | smoke), steps.
"""
from configs.vqgan import tokenizer_config


def get_config(arg: str | None = None):
  return tokenizer_config(arg, "fsq", "configs/fsq.py")
