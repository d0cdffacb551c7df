"""MAGE (Li et al. 2023, "MAGE: MAsked Generative Encoder to Unify Representation Learning and
Image Synthesis"): the masked-token task of configs/maskgit.py, unconditional, with the
training mask ratio drawn from a truncated normal (mean 0.55, std 0.25, truncated to
[0.5, 1.0], Sec. 3.1) and scored both as a generator (samples, domain FID, precision/recall)
and as an encoder (`linear_probe` on the mean of the transformer's final hidden states over
the image tokens of unmasked images; also probed at the run's random init).

Command (stage 1 as configs/maskgit.py, the same tokenizer):
  python launch.py --config configs/mage.py:digits --workdir /work/runs/mage_digits --config.time_budget_s=200 --config.eval.every_steps=3000
Result when last run (2026-12-02, 2-core AMD EPYC CPU, shared; 1 device; the tokenizer of
configs/maskgit.py): 600 of the 3000 steps in the 200 s budget (2.3 steps/s), train loss
4.62 (masked accuracy 0.14) at step 100 -> 2.81 (0.37) at step 600. Final evaluation
(1000 unconditional samples, T = 12): domain FID 8.51, precision 0.252, recall 0.930,
density 0.209, coverage 0.442 (a short run: varied but often malformed digits); linear
probe of the mean-pooled hidden states 0.953 on the 297 test digits (train 1.000) against
0.737 for the same architecture at its random init. A 3x longer run was not tried.

Left out (deviations from the official LTH14/mage): the MAE-style encoder-decoder that drops
the masked tokens from the encoder (one bidirectional transformer here, as MaskGIT), the
contrastive loss of MAGE-C, and the [C0] "fake class" buffer tokens (the null class token
stands in). Decoding as the official gen_img: 12 steps, choice temperature 4.5, cosine.
Config arg keys: variant (digits | shapes | smoke), steps, tokenizer.
"""
from configs.maskgit import TOKENIZER_RUNS, masked_config


def get_config(arg: str | None = None):
  c = masked_config(arg, "configs/mage.py", TOKENIZER_RUNS,
                    ("ema_vq", dict(num_codes=16, beta=0.25, decay=0.99)),
                    ratio="truncated_normal", num_classes=0, label_dropout=0.0,
                    num_iter=12, choice_temperature=4.5, guidance_scale=0.0)
  c.probe = dict(steps=500, learning_rate=0.05, l2=1e-4)
  is_smoke = c.data.image_size == 16
  c.eval.evaluators = ("samples", "linear_probe") if is_smoke else (
      "samples", "fid", "pr", "linear_probe")
  if is_smoke:
    c.probe.steps = 20
    c.masked.num_iter = 4
  return c
