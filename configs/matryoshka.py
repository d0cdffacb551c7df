"""Matryoshka Representation Learning (Kusupati et al., 2022) on the ViT of configs/vit.py:
one linear head per prefix z[:m] of the pre-logits z (d = 64), m in (4, 8, 16, 32, 64), the
loss the sum of their cross-entropies (lib/nn/matryoshka.py, lib/tasks/classify.py);
`--config.matryoshka.efficient=true` is MRL-E (one weight-tied head).

Commands:
  python launch.py --config configs/matryoshka.py:digits --workdir runs/mrl_digits
  python launch.py --config configs/vit.py:digits --workdir runs/vit_digits   # the baseline
  python -m benchmarks.matryoshka_digits --mrl runs/mrl_digits --standard runs/vit_digits
Result when last run (2026-12-02, 2-core AMD EPYC CPU, shared):
  digits: test accuracy 0.980 (largest head, 297 held-out digits) at step 1500, 1m15s of
  steps. benchmarks/results/matryoshka_digits.md, test accuracy at m dims:
    m   MRL own head   standard ViT (runs/vit_digits) z[:m] + linear probe
    4   0.976          0.875
    8   0.976          0.960
    16  0.980          0.973
  The claim holds on digits: the low-dimensional slices beat truncating a standard
  embedding (clearly at 4 dims, by 1-2 test images of 297 at 8 and 16).
  shapes: not run.
  smoke: 4 steps in seconds (tests/test_config_smoke.py), nesting (4, 8, 16) of d = 16.
"""
import ml_collections

from configs import vit
from configs.common import parse_arg


def get_config(arg: str | None = None):
  a = parse_arg(arg, variant="digits")
  if a.variant not in ("digits", "shapes", "smoke"):
    raise ValueError(f"configs/matryoshka.py: unknown variant {a.variant!r}; use digits, "
                     "shapes or smoke")
  c = vit.get_config(a.variant)
  c.matryoshka = ml_collections.ConfigDict()
  c.matryoshka.nesting = (4, 8, 16, 32, 64)   # M: nested dims, the largest = hidden_size
  c.matryoshka.efficient = False              # MRL-E: one weight-tied head
  c.matryoshka.weights = ()                   # c_m per dim; () = 1 each (the paper's code)
  c.matryoshka.pool = "first"                 # z = the [class] token after the final norm
  if a.variant == "smoke":
    c.matryoshka.nesting = (4, 8, 16)         # hidden_size 16
  return c
