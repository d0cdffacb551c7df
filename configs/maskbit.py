"""MaskBit (Weber et al. 2024, "MaskBit: Embedding-free Image Generation via Bit Tokens"): the
masked-token task of configs/maskgit.py over the bit tokens of an LFQ tokenizer, embedding-free:
each token's bits are split into `masked.groups` groups (the official codebook_splits), a
group's bits go in as +-1 (a masked group as 0) through one Dense projection, and each group
is predicted as a categorical over its 2^(bits/groups) values (the official LFQBert).

Commands (stage 1, an LFQ tokenizer; stage 2):
  python launch.py --config configs/lfq.py:digits --workdir /work/runs/tok_lfq --config.time_budget_s=150
  python launch.py --config configs/maskbit.py:digits --workdir /work/runs/maskbit_digits --config.time_budget_s=420 --config.eval.every_steps=3000
Result when last run (2026-12-02, 2-core AMD EPYC CPU, shared; 1 device):
  stage 1: 300 steps of configs/lfq.py:digits (10 bits) in the 150 s budget; eval split PSNR
  26.5 dB, L1 0.0666, 1020 of 1024 codes used (0.996), perplexity 825.
  stage 2: 1400 of the 3000 steps (about 3 steps/s; 9m06s wall with waiting for the lock and
  the final evaluation). Train loss 3.14 (per-group accuracy 0.15) at step 100 -> 2.07 (0.45)
  at step 1400. Final evaluation (1000 samples, T = 8, arccos, choice temperature 10.5,
  guidance 2.0): conditional accuracy 1.000, domain FID 3.88, precision 0.994, recall 0.021,
  density 2.58, coverage 0.624: clean, right-class digits with little variety (the guidance
  and the high precision / low recall agree; MaskGIT's guidance 1.0 run has recall 0.396).
  Not tried: lower guidance, the paper's guidance annealing.

Defaults from the official maskbit_generator_10bit.yaml: arccos schedule for training and
sampling, 2 groups (10 bits -> 2 x 5 bits, 32 values each), label dropout 0.1, label
smoothing 0.1, choice ("randomize") temperature 10.5; guidance 6.4 with cosine annealing
there, a constant guidance here (`masked.guidance_scale`, 2.0 for digits; no annealing).
Scaled down as configs/maskgit.py. Config arg keys: variant (digits | shapes | smoke), steps,
tokenizer.
"""
from configs.maskgit import masked_config

TOKENIZER_RUNS = {"digits": "/work/runs/tok_lfq", "shapes": "/work/runs/tok_lfq_shapes"}


def get_config(arg: str | None = None):
  c = masked_config(arg, "configs/maskbit.py", TOKENIZER_RUNS,
                    ("lfq", dict(bits=4, entropy_loss_weight=0.1)),
                    schedule="arccos", groups=2, choice_temperature=10.5, guidance_scale=2.0)
  c.model.input = "bits"
  return c
