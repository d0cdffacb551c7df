"""Translation evaluators on known inputs: label preservation reads each domain with its own
classifier (digits: vit_digits for thin, vit_digits_thick for thick digits) and scores a
translation against the source label; the CAM object fraction against a brute-force sum."""
import types

import numpy as np
import pytest

from configs import cyclegan, pix2pix
from lib.data.domain_pairs import DomainPairSource
from lib.metrics import domain_classifier
from lib.metrics.extractor import compute_features, signed_to_unit
from lib.train import translation_evaluators as te
from lib.train.evaluators import EvalContext


def _ctx(config):
  task = types.SimpleNamespace(two_way=lambda c: True, translate=lambda *a, **k: None)
  return EvalContext(config=config, task=task, mesh=None, state_shardings=None,
                     workdir=f"/nonexistent/{id(config)}")


def _argmax(name, images):
  logits = compute_features(domain_classifier.load(name), signed_to_unit(images), kind="logits")
  return np.argmax(logits, -1)


@pytest.fixture(scope="module")
def thick_test():
  src = DomainPairSource("digits_thick", "test", 32, paired=True)
  ex = [src[i] for i in range(len(src))]
  return {k: np.stack([e[k] for e in ex]) for k in ("image", "target", "label")}


def test_label_classifiers_per_domain():
  sh = te.shared(_ctx(cyclegan.get_config("digits")))
  assert (sh.classifier("a").name, sh.classifier("b").name) == ("vit_digits", "vit_digits_thick")
  sh = te.shared(_ctx(pix2pix.get_config("edges")))
  assert sh.classifier("a") is sh.extractor() and sh.classifier("b") is sh.extractor()


def test_label_preservation_reads_each_domain_with_its_classifier(thick_test):
  x = thick_test
  n = len(x["label"])
  wrong = (x["label"] + 1 + np.arange(n) % 9) % 10                    # never the true label
  sh = te.shared(_ctx(cyclegan.get_config("digits")))
  # "translations": G(a) = the true thick digit, F(b) = the thin digit shown with wrong labels
  tr = {"a": x["image"], "b": x["target"], "fake_b": x["target"], "fake_a": x["image"],
        "label": x["label"], "target_label": wrong}
  sh.at = lambda state, step: tr
  out = te.label_preservation_evaluator(sh.ctx)(None, 0, True)
  ref_b = np.mean(_argmax("vit_digits_thick", x["target"]) == x["label"])
  ref_a = np.mean(_argmax("vit_digits", x["image"]) == x["label"])
  assert out["label_preservation_ab"] == pytest.approx(ref_b)
  assert out["classifier_acc_b"] == pytest.approx(np.mean(
      _argmax("vit_digits_thick", x["target"]) == wrong))
  assert out["classifier_acc_a"] == pytest.approx(ref_a)
  assert out["label_preservation_ba"] < 0.1                    # labels that are never right
  assert out["protocol/label_classifier_b"] == "vit_digits_thick"
  # the fix: the thick-digit classifier reads real thick digits well, vit_digits does not
  assert ref_b > 0.95
  assert np.mean(_argmax("vit_digits", x["target"]) == x["label"]) < 0.85


def test_heat_inside_against_brute_force():
  rng = np.random.default_rng(0)
  heat = rng.normal(size=(3, 4, 4))
  mask = (rng.uniform(size=(3, 16, 16, 1)) > 0.6).astype(np.float32)
  got = te.heat_inside(heat, mask)
  for i in range(3):
    inside = total = 0.0
    for y in range(16):
      for x in range(16):
        h = max(heat[i, y // 4, x // 4], 0.0)
        total += h
        inside += h * mask[i, y, x, 0]
    assert got[i] == pytest.approx(inside / total)
