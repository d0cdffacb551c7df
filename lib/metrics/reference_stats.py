"""Writes the reference statistics of a dataset split for FID (mu, sigma as pytorch-fid reads
them) with the protocol recorded: extractor name and hash, samples, split, resize.

  python -m lib.metrics.reference_stats --source digits --split train --extractor vit_digits \
      --out runs/ref/digits_train_vit.npz
"""
from __future__ import annotations

import argparse

import ml_collections
import numpy as np

from configs.common import base_config
from lib import data as data_lib
from lib.metrics.extractor import compute_stats, signed_to_unit


def reference_stats(data_config: ml_collections.ConfigDict, split: str, extractor,
                    max_samples: int | None = None, batch_size: int = 250):
  """RunningStats over every example of `split` (or the first max_samples, in order)."""
  it = data_lib.make_eval_iterator(data_config, split, global_batch_size=batch_size)

  def unit_images():
    for batch in it:
      valid = np.asarray(batch.get("valid", np.ones(len(batch["image"]), bool)))
      yield signed_to_unit(np.asarray(batch["image"])[valid])

  return compute_stats(extractor, unit_images(), batch_size=batch_size, max_samples=max_samples,
                       source=data_config.source, split=split)


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--source", default="digits")
  ap.add_argument("--name", default="", help="tfds dataset name")
  ap.add_argument("--data_dir", default="")
  ap.add_argument("--path", default="", help="image folder")
  ap.add_argument("--image_size", type=int, default=32)
  ap.add_argument("--channels", type=int, default=1)
  ap.add_argument("--split", default="train")
  ap.add_argument("--extractor", default="vit_digits",
                  help="a domain classifier name, or inception:/path/to/weights.npz")
  ap.add_argument("--max_samples", type=int, default=None)
  ap.add_argument("--out", required=True)
  args = ap.parse_args(argv)
  from lib.train.generator_evaluators import load_extractor
  d = base_config().data
  d.update(source=args.source, name=args.name, data_dir=args.data_dir, path=args.path,
           image_size=args.image_size, channels=args.channels)
  stats = reference_stats(d, args.split, load_extractor(args.extractor), args.max_samples)
  stats.save(args.out, **stats.meta)
  print(f"{args.out}: n={stats.n}, dim={stats.dim}, {stats.meta}")


if __name__ == "__main__":
  main()
