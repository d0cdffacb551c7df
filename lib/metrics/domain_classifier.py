"""Domain classifiers: ViTs the project trains on its embedded datasets, kept in the repo as
small weights files, used for conditional accuracy and "domain FID" (comparable only within
this project; every result records the extractor's name and weights hash).

  python -m lib.metrics.domain_classifier --dataset digits   # trains, then writes
  lib/metrics/weights/vit_digits.npz and vit_digits.json (hash, test accuracy, command)

`--dataset digits_thick` trains the same ViT on the thick-stroke digits of the translation
pair digits_thick (lib/data/domain_pairs.py, view 'b'): the label classifier of that domain
for the translation evaluators (vit_digits reads real thick digits at 0.77 only: they are
outside its training data).
"""
from __future__ import annotations

import argparse
import json
import os

import jax.numpy as jnp
import ml_collections
import numpy as np

from lib.metrics.extractor import FeatureExtractor, weights_sha256
from lib.train.imports import build_model
from lib.train.nested_dict import flatten, unflatten

WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")


def export(workdir: str, name: str, command: str) -> str:
  """Writes the run's evaluation params and a JSON card; returns the npz path."""
  from lib.analysis import load_run
  run = load_run(workdir)
  params = jax_to_numpy(run.params)
  with open(os.path.join(workdir, "results.json")) as f:
    results = json.load(f)
  os.makedirs(WEIGHTS_DIR, exist_ok=True)
  path = os.path.join(WEIGHTS_DIR, f"{name}.npz")
  np.savez(path, **flatten(params))
  card = {
      "name": name, "sha256": weights_sha256(params), "test_accuracy": results["accuracy"],
      "eval_examples": results.get("eval_examples"), "command": command,
      "model": run.config.model.to_dict(), "data": run.config.data.to_dict(),
      "step": run.step,
  }
  with open(os.path.join(WEIGHTS_DIR, f"{name}.json"), "w") as f:
    json.dump(card, f, indent=2, sort_keys=True)
  return path


def jax_to_numpy(tree):
  import jax
  return jax.tree.map(np.asarray, jax.device_get(tree))


class MissingWeightsError(FileNotFoundError):
  pass


def load(name: str = "vit_digits", weights_dir: str = WEIGHTS_DIR) -> FeatureExtractor:
  """The domain classifier `name` as a FeatureExtractor (features: the class token after the
  final LayerNorm; logits: the head). Checks the weights against the recorded SHA-256."""
  npz, card_path = (os.path.join(weights_dir, f"{name}{ext}") for ext in (".npz", ".json"))
  if not (os.path.exists(npz) and os.path.exists(card_path)):
    raise MissingWeightsError(
        f"domain classifier {name!r} not found ({npz}); make it with "
        f"`python -m lib.metrics.domain_classifier --dataset {name.split('_', 1)[-1]}`")
  with open(card_path) as f:
    card = json.load(f)
  with np.load(npz) as z:
    params = unflatten({k: z[k] for k in z.files})
  sha = weights_sha256(params)
  if sha != card["sha256"]:
    raise ValueError(f"{npz}: SHA-256 {sha} differs from the recorded {card['sha256']}; the "
                     f"file was changed. Re-create it with: {card['command']}")
  model = build_model(ml_collections.ConfigDict(card["model"]))
  size = (card["data"]["image_size"],) * 2

  def to_model_range(x):  # the extractor hands images in [0, 1]; the classifier saw [-1, 1]
    return x * 2.0 - 1.0

  def features_fn(p, x):
    return model.apply({"params": p}, to_model_range(x), features_only=True)[:, 0]

  def logits_fn(p, x):
    return model.apply({"params": p}, to_model_range(x)).astype(jnp.float32)

  return FeatureExtractor(name=name, sha256=sha, features_fn=features_fn, logits_fn=logits_fn,
                          params=params, input_size=size, channels=card["data"]["channels"],
                          extra={"test_accuracy": card["test_accuracy"],
                                 "command": card["command"]})


# dataset -> (configs/vit.py variant, data keys over it): one domain of a translation pair is
# read through the domain_pair source's single-domain view (paired, so every train digit once)
DATASETS = {
    "digits": ("digits", {}),
    "shapes": ("shapes", {}),
    "digits_thick": ("digits", dict(source="domain_pair", pair="digits_thick", paired=True,
                                    view="b", thick_radius=2, pair_seed=0)),
}


def classifier_config(dataset: str):
  from configs import vit
  variant, data = DATASETS[dataset]
  c = vit.get_config(variant)
  c.data.update(data)
  return c


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__)
  ap.add_argument("--dataset", default="digits", choices=list(DATASETS))
  ap.add_argument("--workdir", default=None)
  args = ap.parse_args(argv)
  from lib.train.loop import train
  workdir = args.workdir or f"runs/domain_{args.dataset}"
  command = f"python -m lib.metrics.domain_classifier --dataset {args.dataset}"
  train(classifier_config(args.dataset), workdir)
  print(export(workdir, f"vit_{args.dataset}", command))


if __name__ == "__main__":
  main()
