"""Matryoshka slices vs a truncated standard embedding (Kusupati et al., 2022, Sec. 4.1 /
Fig. 2: MRL against fixed-feature baselines at each dimension m).

For each m in --dims, test accuracy on the held-out digits of:
  (a) mrl_head: the Matryoshka model's own head for z[:m] (trained jointly, lib/nn/matryoshka);
  (b) standard_probe: a linear probe (lib.analysis.linear_probe) on the first m dims of a
      standard ViT's pre-logits (the [class] token after the final LayerNorm), fit on train;
  (c) mrl_probe: the same probe on the first m dims of the Matryoshka model's representation
      (separates the representation from its heads).
Usage (after the two runs of configs/matryoshka.py's docstring):
  python -m benchmarks.matryoshka_digits --mrl runs/mrl_digits --standard runs/vit_digits
writes benchmarks/results/matryoshka_digits.{csv,md} with the machine line.
"""
from __future__ import annotations

import argparse
import csv
import os

import jax
import numpy as np

from benchmarks.machine import machine
from lib import data as data_lib
from lib.analysis import linear_probe, load_run
from lib.tasks import classify

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def split_arrays(config, split: str):
  """(images, labels) of every example of `split`, in order."""
  it = data_lib.make_eval_iterator(config.data, split, global_batch_size=256)
  images, labels = [], []
  for batch in it:
    valid = np.asarray(batch.get("valid", np.ones(len(batch["label"]), bool)), bool)
    images.append(np.asarray(batch["image"])[valid])
    labels.append(np.asarray(batch["label"])[valid])
  return np.concatenate(images), np.concatenate(labels)


def representation(run, images):
  """(z [n, d] the pre-logits, nested logits [G, n, C] or None) of the run's model."""
  model = classify.model_of(run.config)
  variables = {"params": run.params, **(getattr(run.state, "model_state", None) or {})}
  if classify.nesting_of(run.config):
    fn = jax.jit(lambda x: model.apply(variables, x, mutable=["intermediates"]))
    outs = [fn(images[i:i + 256]) for i in range(0, len(images), 256)]
    nested = np.concatenate([np.asarray(o[0]) for o in outs], axis=1)
    z = np.concatenate([np.asarray(o[1]["intermediates"]["representation"][0]) for o in outs])
    return z, nested
  fn = jax.jit(lambda x: model.apply(variables, x, features_only=True)[:, 0])
  return np.concatenate([np.asarray(fn(images[i:i + 256])) for i in range(0, len(images), 256)]), None


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--mrl", required=True, help="workdir of a configs/matryoshka.py run")
  ap.add_argument("--standard", required=True, help="workdir of a configs/vit.py run")
  ap.add_argument("--dims", default="4,8,16")
  ap.add_argument("--out", default=os.path.join(RESULTS, "matryoshka_digits"))
  args = ap.parse_args(argv)
  dims = [int(m) for m in args.dims.split(",")]
  mrl, standard = load_run(args.mrl), load_run(args.standard)
  nesting = classify.nesting_of(mrl.config)
  (xtr, ytr), (xte, yte) = (split_arrays(mrl.config, s) for s in ("train", "test"))
  z_mrl_tr, _ = representation(mrl, xtr)
  z_mrl_te, nested_te = representation(mrl, xte)
  z_std_tr, _ = representation(standard, xtr)
  z_std_te, _ = representation(standard, xte)
  num_classes = mrl.config.model.num_classes
  rows = []
  for m in dims:
    head = (float(np.mean(nested_te[nesting.index(m)].argmax(-1) == yte))
            if m in nesting else float("nan"))
    std = linear_probe(z_std_tr[:, :m], ytr, z_std_te[:, :m], yte, num_classes)["accuracy"]
    own = linear_probe(z_mrl_tr[:, :m], ytr, z_mrl_te[:, :m], yte, num_classes)["accuracy"]
    rows.append({"dims": m, "mrl_head": head, "standard_probe": std, "mrl_probe": own})
    print(rows[-1], flush=True)
  full = z_std_te.shape[1]
  rows.append({"dims": full,
               "mrl_head": float(np.mean(nested_te[-1].argmax(-1) == yte)),
               "standard_probe": linear_probe(z_std_tr, ytr, z_std_te, yte, num_classes)["accuracy"],
               "mrl_probe": linear_probe(z_mrl_tr, ytr, z_mrl_te, yte, num_classes)["accuracy"]})
  os.makedirs(os.path.dirname(args.out), exist_ok=True)
  with open(args.out + ".csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
  line = machine()
  with open(args.out + ".md", "w") as f:
    f.write(f"# Matryoshka slices vs a truncated standard ViT embedding (digits test, "
            f"{len(yte)} images)\n\n")
    f.write(f"MRL run `{args.mrl}` (step {mrl.step}, nesting {nesting}, efficient="
            f"{bool(mrl.config.matryoshka.efficient)}); standard run `{args.standard}` "
            f"(step {standard.step}). Test accuracy; probes: lib.analysis.linear_probe on the "
            f"first m dims of the pre-logits, fit on the {len(ytr)} train digits.\n\n")
    f.write("| m | MRL own head | standard ViT, truncated + probe | MRL, truncated + probe |\n")
    f.write("|---|---|---|---|\n")
    for r in rows:
      f.write(f"| {r['dims']} | {r['mrl_head']:.3f} | {r['standard_probe']:.3f} | "
              f"{r['mrl_probe']:.3f} |\n")
    f.write(f"\nCommand: `python -m benchmarks.matryoshka_digits --mrl {args.mrl} "
            f"--standard {args.standard} --dims {args.dims}`\n\nMachine: {line}\n")
  print(f"wrote {args.out}.csv and .md")


if __name__ == "__main__":
  main()
